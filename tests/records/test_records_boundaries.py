"""The indicators' thresholds as the records publish them: a wait is compared as its record gives it,
to the millisecond, on SQLite and on PostgreSQL alike (times from `ts` carry microseconds, and
their difference as floats lands a few tenths of a microsecond either side of the second)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from acd.api.handlers import SERVICE
from tests.records.test_records_day import DAY, PARIS, day_config, records_of

#: Instants with microseconds (as the platform's `ts` carry them), 10:00 in Paris and after.
STARTS = [
    datetime(2026, 3, 2, 10, 0, 6, us, tzinfo=PARIS) for us in (0, 463638, 472040, 123457, 777777, 999999)
]


async def indicators(platform) -> dict:
    await platform.client.app[SERVICE].records.flush()
    status, body = await platform.get(f"/v1/reports/indicators?from={DAY}&to={DAY}")
    assert status == 200, body
    return body["rows"][0]


async def test_a_caller_who_hangs_up_within_5_s_is_a_short_abandon(make_platform, clock, backend):
    """`short_abandoned`: hung up within 5 s of waiting, 5.0 s included, whatever the microseconds."""
    platform = await make_platform(config=day_config(), **backend.settings())
    for i, start in enumerate(STARTS):
        await platform.offer(f"s{i}", ts=start.isoformat())
        end = start + timedelta(seconds=5)
        await platform.send("call.ended", call_id=f"s{i}", reason="abandoned", ts=end.isoformat())
    await platform.offer("long", ts=STARTS[0].isoformat())
    end = STARTS[0] + timedelta(seconds=5, milliseconds=1)
    await platform.send("call.ended", call_id="long", reason="abandoned", ts=end.isoformat())
    records = {r["call_id"]: r for r in await records_of(platform)}
    assert {records[f"s{i}"]["wait_s"] for i in range(len(STARTS))} == {5.0}
    assert records["long"]["wait_s"] == 5.001
    row = await indicators(platform)
    assert (row["short_abandoned"], row["abandoned"], row["offered"]) == (len(STARTS), 1, 1)


async def test_a_call_answered_at_the_threshold_is_within_the_service_level(make_platform, clock, backend):
    """`service_level`: answered within `service_level_s` (20 s here) of waiting, 20.0 s included."""
    platform = await make_platform(config=day_config(), **backend.settings())
    for i, start in enumerate(STARTS):
        agent = f"x{i}"
        status, _ = await platform.request(
            "PUT",
            f"/v1/agents/{agent}",
            {"site": "lille", "skills": {"impot_revenu": 3}, "target": f"sip:{agent}@x"},
        )
        assert status in (200, 201)
        await platform.offer(f"a{i}", ts=start.isoformat())
        await platform.agent(agent, "available", ts=(start + timedelta(seconds=19)).isoformat())
        answered = start + timedelta(seconds=20)
        await platform.send("call.answered", call_id=f"a{i}", agent_id=agent, ts=answered.isoformat())
        await platform.send(
            "call.ended",
            call_id=f"a{i}",
            reason="completed",
            ts=(answered + timedelta(seconds=30)).isoformat(),
        )
    records = {r["call_id"]: r for r in await records_of(platform)}
    assert {records[f"a{i}"]["wait_s"] for i in range(len(STARTS))} == {20.0}
    row = await indicators(platform)
    assert (row["offered"], row["answered"], row["service_level"]) == (len(STARTS), len(STARTS), 1.0)


async def test_a_full_year_is_one_request_from_its_first_local_instant_to_its_last(
    make_platform, clock, backend
):
    """A year of records in one request: the call offered at midnight on 1 January (local) and the
    one a second before midnight on 31 December are in it, those a second outside are not; `to`
    before `from` is refused; the widest range is 800 days."""
    from tests.records.test_records_dst import _abandon_at, always_open

    platform = await make_platform(config=always_open(), **backend.settings())
    for call_id, at in (
        ("before", "2025-12-31T23:59:59+01:00"),
        ("first", "2026-01-01T00:00:00+01:00"),
        ("last", "2026-12-31T23:59:59+01:00"),
        ("after", "2027-01-01T00:00:00+01:00"),
    ):
        await _abandon_at(platform, clock, call_id, at)
    await platform.client.app[SERVICE].records.flush()
    status, text = await platform.request("GET", "/v1/records?from=2026-01-01&to=2026-12-31")
    assert status == 200, text
    assert [json.loads(line)["call_id"] for line in text.splitlines()] == ["first", "last"]
    status, body = await platform.get("/v1/reports/indicators?from=2026-01-01&to=2026-12-31&by=day")
    assert status == 200, body
    assert [(r["day"], r["abandoned"]) for r in body["rows"]] == [("2026-01-01", 1), ("2026-12-31", 1)]
    status, body = await platform.get("/v1/reports/indicators?from=2026-12-31&to=2026-01-01")
    assert status == 422 and body["error"]["details"]["field"] == "to"
    status, _ = await platform.get("/v1/reports/indicators?from=2025-01-01&to=2027-03-12")  # 800 days
    assert status == 200
    status, body = await platform.get("/v1/reports/indicators?from=2025-01-01&to=2027-03-13")
    assert status == 422 and body["error"]["details"]["field"] == "to"
