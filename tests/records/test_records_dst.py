"""The indicators by hour on the nights the clocks change in Europe/Paris, on SQLite and on
PostgreSQL: the autumn night has two hours 02:xx (summer time, then winter time), each its own row,
told apart by `hour_start` (the hour's first instant, with its offset); the spring night has no 02:xx
at all."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from acd.api.handlers import SERVICE
from acd.api.schemas import IndicatorsView
from acd.config import Config
from tests.records.test_records_day import day_config


def always_open() -> Config:
    data: dict[str, Any] = day_config().model_dump(mode="json")
    data["calendar"] = {"always_open": True}
    return Config.model_validate(data)


async def _abandon_at(platform, clock, call_id: str, at: str, wait_s: float = 30.0) -> None:
    start = datetime.fromisoformat(at)
    clock.t = start.timestamp()
    await platform.offer(call_id, ts=start.isoformat())
    clock.advance(wait_s)
    end = start + timedelta(seconds=wait_s)
    await platform.send("call.ended", call_id=call_id, reason="abandoned", ts=end.isoformat())


async def _by_hour(platform, day: str) -> list[dict[str, Any]]:
    await platform.client.app[SERVICE].records.flush()
    status, body = await platform.get(f"/v1/reports/indicators?from={day}&to={day}&by=hour")
    assert status == 200, body
    IndicatorsView.model_validate(body)
    return body["rows"]


async def test_the_autumn_night_s_two_2_am_hours_are_two_rows(make_platform, clock, backend):
    platform = await make_platform(config=always_open(), **backend.settings())
    # 25 October 2026: at 03:00 summer time (+02:00) the clocks go back to 02:00 winter time (+01:00)
    await _abandon_at(platform, clock, "before", "2026-10-25T01:30:00+02:00")
    await _abandon_at(platform, clock, "summer1", "2026-10-25T02:10:00+02:00")
    await _abandon_at(platform, clock, "summer2", "2026-10-25T02:50:00+02:00")
    await _abandon_at(platform, clock, "winter", "2026-10-25T02:10:00+01:00")
    await _abandon_at(platform, clock, "after", "2026-10-25T03:05:00+01:00")
    rows = await _by_hour(platform, "2026-10-25")
    assert [(r["day"], r["hour"], r["hour_start"], r["abandoned"]) for r in rows] == [
        ("2026-10-25", 1, "2026-10-25T01:00:00+02:00", 1),
        ("2026-10-25", 2, "2026-10-25T02:00:00+02:00", 2),
        ("2026-10-25", 2, "2026-10-25T02:00:00+01:00", 1),
        ("2026-10-25", 3, "2026-10-25T03:00:00+01:00", 1),
    ]
    # the by-day row is their sum
    status, body = await platform.get("/v1/reports/indicators?from=2026-10-25&to=2026-10-25&by=day")
    assert status == 200 and body["rows"][0]["abandoned"] == 5


async def test_survey_scores_follow_their_hour_on_the_autumn_night(make_platform, clock, backend):
    platform = await make_platform(config=always_open(), **backend.settings())
    for call_id, at, score in (
        ("s1", "2026-10-25T02:20:00+02:00", 5),
        ("w1", "2026-10-25T02:20:00+01:00", 1),
    ):
        start = datetime.fromisoformat(at)
        clock.t = start.timestamp()
        await platform.agent("a1", "available", ts=start.isoformat())
        assert (await platform.offer(call_id, ts=start.isoformat()))["action"] == "connect"
        clock.advance(5)
        answered = (start + timedelta(seconds=5)).isoformat()
        await platform.send("call.answered", call_id=call_id, agent_id="a1", ts=answered)
        clock.advance(60)
        ended = (start + timedelta(seconds=65)).isoformat()
        await platform.send("call.ended", call_id=call_id, reason="completed", ts=ended)
        await platform.send("survey.result", call_id=call_id, score=score)
    rows = await _by_hour(platform, "2026-10-25")
    assert [(r["hour_start"], r["answered"], r["satisfaction"]["mean"]) for r in rows] == [
        ("2026-10-25T02:00:00+02:00", 1, 5.0),
        ("2026-10-25T02:00:00+01:00", 1, 1.0),
    ]


async def test_the_spring_night_has_no_2_am_hour(make_platform, clock, backend):
    platform = await make_platform(config=always_open(), **backend.settings())
    # 29 March 2026: at 02:00 winter time (+01:00) the clocks go forward to 03:00 summer time (+02:00)
    await _abandon_at(platform, clock, "before", "2026-03-29T01:59:00+01:00")
    await _abandon_at(platform, clock, "after", "2026-03-29T03:00:00+02:00")
    rows = await _by_hour(platform, "2026-03-29")
    assert [(r["hour"], r["hour_start"], r["abandoned"]) for r in rows] == [
        (1, "2026-03-29T01:00:00+01:00", 1),
        (3, "2026-03-29T03:00:00+02:00", 1),
    ]
