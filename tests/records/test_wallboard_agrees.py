"""The wallboard's figures of the day say what the records' indicators say under the same names
(docs/records.md): `offered` leaves out closed-hours calls and short abandons, `abandoned` the short
abandons, `answered` counts a call on the day it was offered (through its callback too), and the
`answer_rate` is answered / offered. Checked on the scripted day of `test_records_day` and on a
callback answered the morning after, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from acd.api.handlers import SERVICE
from acd.api.wallboard import snapshot
from tests.records.test_records_day import DAY, PARIS, day_config, play_day, tick

_FIELDS = ("offered", "answered", "abandoned", "short_abandoned", "overflowed", "answer_rate")


async def indicators(platform: Any, day: str, by: str | None = None) -> list[dict[str, Any]]:
    await platform.client.app[SERVICE].records.flush()
    query = f"/v1/reports/indicators?from={day}&to={day}" + (f"&by={by}" if by else "")
    status, body = await platform.get(query)
    assert status == 200, body
    return body["rows"]


async def evening_callback_answered_next_morning(p: Any, clock: Any, call_id: str = "c1") -> None:
    """18:50: the call waits 20 s and its caller accepts a callback (the line closes at 19:00);
    08:30 the next morning `a1` logs in, is reserved for it, and the callback is answered and
    ends 120 s later."""
    clock.t = datetime(2026, 3, 2, 18, 50, tzinfo=PARIS).timestamp()
    assert (await p.offer(call_id))["action"] == "queue"
    clock.advance(20)
    await p.send("callback.accepted", call_id=call_id)
    clock.t = datetime(2026, 3, 3, 8, 30, tzinfo=PARIS).timestamp()
    await tick(p)
    await p.agent("a1", "available")
    clock.advance(5)
    await p.send("callback.result", callback_id=f"cb-{call_id}", outcome="answered")
    clock.advance(120)
    await p.send("call.ended", call_id=call_id, reason="completed")


async def test_the_wallboard_s_day_is_the_records_day(make_platform, clock, backend):
    platform = await make_platform(config=day_config(), **backend.settings())
    await play_day(platform, clock)
    board = snapshot(platform.client.app[SERVICE])
    assert board["day"] == DAY
    [row] = await indicators(platform, DAY)
    today = board["total"]["today"]
    assert {f: today[f] for f in _FIELDS} == {f: row[f] for f in _FIELDS}
    assert today["closed"] == 1  # c7, shown apart, as before
    by_skill = {r["skill"]: r for r in await indicators(platform, DAY, "skill")}
    for tile in board["skills"]:
        row = by_skill.get(tile["skill"])
        if row is None:
            assert tile["today"]["offered"] == tile["today"]["answered"] == 0
            assert tile["today"]["answer_rate"] is None
        else:
            fields = ("offered", "answered", "abandoned", "short_abandoned", "answer_rate")
            assert {f: tile["today"][f] for f in fields} == {f: row[f] for f in fields}


async def test_a_callback_answered_the_next_morning_counts_on_the_day_of_its_call(
    make_platform, clock, backend
):
    platform = await make_platform(config=day_config(), **backend.settings())
    p = platform
    # c1 waits at 18:50 (nobody logged in) and is called back and answered the next morning
    await evening_callback_answered_next_morning(p, clock)
    await p.agent("a1", "paused")
    # one new call this morning, waiting
    assert (await p.offer("c2"))["action"] == "queue"
    board = snapshot(p.client.app[SERVICE])
    assert board["day"] == "2026-03-03"
    today = board["total"]["today"]
    [yesterday] = await indicators(p, "2026-03-02")
    assert (yesterday["offered"], yesterday["answered"]) == (1, 1)  # counted on the day of c1
    [empty] = await indicators(p, "2026-03-03")  # c2 has not ended: no record yet, a total of zeros
    assert (empty["offered"], empty["answered"], empty["answer_rate"]) == (0, 0, None)
    # this morning: one call offered, none answered (not 1 of 1, nor a rate above 100 %)
    assert (today["offered"], today["answered"], today["answer_rate"]) == (1, 0, 0.0)


async def test_a_callback_s_record_begins_when_its_caller_accepted_it_as_the_platform_dated_it(
    make_platform, clock, backend
):
    """The acceptance's `ts`, not the instant acd heard of it: a callback answered starts where a
    callback failed or cancelled starts (its `created_at`), on the day its caller accepted it."""
    p = await make_platform(config=day_config(), **backend.settings())
    clock.t = datetime(2026, 3, 2, 18, 50, tzinfo=PARIS).timestamp()
    assert (await p.offer("c1"))["action"] == "queue"
    accepted = clock.t + 10
    clock.advance(40)  # the acceptance reaches acd 30 s after the platform saw it
    iso = datetime.fromtimestamp(accepted, PARIS).isoformat()
    await p.send("callback.accepted", call_id="c1", ts=iso)
    clock.t = datetime(2026, 3, 3, 8, 30, tzinfo=PARIS).timestamp()
    await tick(p)
    await p.agent("a1", "available")
    clock.advance(5)
    await p.send("callback.result", callback_id="cb-c1", outcome="answered")
    clock.advance(120)
    await p.send("call.ended", call_id="c1", reason="completed")
    service = p.client.app[SERVICE]
    await service.records.flush()
    status, text = await p.request("GET", f"/v1/records?from={DAY}&to=2026-03-03")
    assert status == 200, text
    rows = {(r["call_id"], r["kind"]): r for r in map(json.loads, text.splitlines()) if r}
    callback = rows[("cb-c1", "callback")]
    assert callback["outcome"] == "answered"
    assert datetime.fromisoformat(callback["offered_at"]).timestamp() == pytest.approx(accepted, abs=1e-3)
    assert datetime.fromisoformat(rows[("c1", "call")]["ended_at"]).timestamp() == pytest.approx(
        accepted, abs=1e-3
    )
