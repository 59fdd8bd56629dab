"""`GET /v1/calls/{id}` says what the call's record says (docs/records.md): its `wait_s` is the
caller's wait until an agent answered, they hung up, the call went to a local service, they took a
callback, or acd refused it in closed hours; it does not go on growing once the call has left the
line."""

from __future__ import annotations

from tests.records.test_records_day import day_config, play_day, records_of


async def test_every_call_s_wait_is_its_record_s_wait(make_platform, clock, backend):
    platform = await make_platform(config=day_config(), **backend.settings())
    await play_day(platform, clock)
    clock.advance(3600)  # an hour later: nothing of these calls moves any more
    records = [r for r in await records_of(platform) if r["kind"] == "call"]
    outcomes = {r["outcome"] for r in records}
    assert {"answered", "abandoned", "overflowed", "callback", "closed"} <= outcomes
    for record in records:
        status, view = await platform.get(f"/v1/calls/{record['call_id']}")
        assert status == 200, view
        assert (record["call_id"], view["wait_s"]) == (record["call_id"], record["wait_s"])
