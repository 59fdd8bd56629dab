"""A call id offered again once the engine has forgotten the first call (past
`routing.ended_call_retention`, or a restart of the memory state) is another contact: both calls
keep their records, the first one's survey score stays on it, and the first day's figures do not
change. Records are keyed by `(call_id, kind, offered_ts)` (docs/records.md)."""

from __future__ import annotations

import json
from dataclasses import replace

from acd.api.handlers import SERVICE
from acd.config import Config
from acd.records.model import Record
from tests.records.test_records_day import DAY, day_config


def retention_config(keep: int = 1) -> Config:
    base = day_config().model_dump()
    base["routing"]["ended_call_retention"] = keep
    return Config.model_validate(base)


async def all_records(platform) -> list[dict]:
    await platform.client.app[SERVICE].records.flush()
    status, text = await platform.request("GET", f"/v1/records?from={DAY}&to={DAY}")
    assert status == 200, text
    return [json.loads(line) for line in text.splitlines() if line]


async def test_a_call_id_offered_again_keeps_both_calls_records(make_platform, clock, backend):
    platform = await make_platform(config=retention_config(), **backend.settings())
    p = platform
    await p.agent("a1", "available")
    assert (await p.offer("r1"))["action"] == "connect"
    clock.advance(10)
    await p.send("call.answered", call_id="r1", agent_id="a1")
    clock.advance(60)
    await p.send("call.ended", call_id="r1", reason="completed")
    await p.send("survey.result", call_id="r1", score=5)
    await p.client.app[SERVICE].records.flush()
    _, before = await p.get(f"/v1/reports/indicators?from={DAY}&to={DAY}")
    # another call ends: r1 leaves the engine's memory (retention 1)
    assert (await p.offer("other"))["action"] == "connect"
    clock.advance(20)
    await p.send("call.ended", call_id="other", reason="abandoned")
    assert "r1" not in p.client.app[SERVICE].engine.calls
    # the platform offers the id r1 again: another caller, who hangs up after 30 s
    clock.advance(600)
    await p.agent("a1", "paused")
    assert (await p.offer("r1"))["action"] == "queue"
    clock.advance(30)
    await p.send("call.ended", call_id="r1", reason="abandoned")

    records = [r for r in await all_records(p) if r["call_id"] == "r1"]
    assert [(r["outcome"], r["survey_score"], r["wait_s"]) for r in records] == [
        ("answered", 5, 10.0),
        ("abandoned", None, 30.0),
    ]
    status, after = await p.get(f"/v1/reports/indicators?from={DAY}&to={DAY}")
    assert status == 200
    total = after["rows"][0]
    assert total["answered"] == before["rows"][0]["answered"] == 1
    assert total["satisfaction"] == before["rows"][0]["satisfaction"]
    assert total["offered"] == 3  # r1, other, r1 again


async def test_a_late_answer_and_a_score_reach_the_latest_contact_of_the_id(make_platform, clock, backend):
    """The rewrites of a record reach the record of the same contact; a score known only by its
    call id (an older snapshot's) goes on the latest contact with that id."""
    platform = await make_platform(config=day_config(), **backend.settings())
    db = platform.client.app[SERVICE].records.db

    def record(offered_at: float, outcome: str, **kw) -> Record:
        base = Record(
            "x",
            "call",
            "impot_revenu",
            None,
            None,
            None,
            0,
            "",
            offered_at,
            None,
            None,
            None,
            offered_at + 40,
            40.0,
            outcome,
        )
        return replace(base, **kw)

    first, second = 1772442000.0, 1772445600.0
    await db.write([("record", record(first, "answered", survey_score=4))])
    await db.write([("record", record(second, "lost"))])
    await db.write([("record", record(second, "answered", site="lille", agent_id="a1"))])  # late answer
    await db.write([("survey", ("x", "call", 2))])  # only the id is known: the latest contact
    await db.write([("survey", ("x", "call", 1, first))])  # the first already has its score
    rows = backend.rows(
        "SELECT offered_ts, outcome, site, survey_score FROM call_records ORDER BY offered_ts"
    )
    assert rows == [(first, "answered", None, 4), (second, "answered", "lille", 2)]


async def test_each_contact_of_a_reused_id_counts_its_own_callback(make_platform, clock, backend):
    """A caller of the first contact accepted a callback that was answered; the id's second
    contact accepted one that failed (both callbacks `cb-x`): one call answered through its
    callback, not two, and not none."""
    platform = await make_platform(config=day_config(), **backend.settings())
    db = platform.client.app[SERVICE].records.db
    first, second = 1772442000.0, 1772445600.0

    def call(offered_at: float) -> Record:
        return Record(
            "x",
            "call",
            "impot_revenu",
            None,
            None,
            None,
            0,
            "",
            offered_at,
            None,
            None,
            None,
            offered_at + 30,
            30.0,
            "callback",
            end_reason="callback",
            callback_id="cb-x",
        )

    def callback(offered_at: float, outcome: str) -> Record:
        return Record(
            "cb-x",
            "callback",
            "impot_revenu",
            None,
            None,
            None,
            0,
            "",
            offered_at,
            None,
            None,
            None,
            offered_at + 600,
            None,
            outcome,
            callback_id="cb-x",
            origin_call_id="x",
        )

    await db.write([("record", call(first)), ("record", callback(first + 30, "answered"))])
    await db.write([("record", call(second)), ("record", callback(second + 30, "failed"))])
    assert backend.rows("SELECT COUNT(*) FROM call_records") == [(4,)]
    _, body = await platform.get(f"/v1/reports/indicators?from={DAY}&to={DAY}&by=day")
    row = body["rows"][0]
    assert (row["offered"], row["answered"], row["callbacks_answered"]) == (2, 1, 1)
