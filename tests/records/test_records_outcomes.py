"""Every outcome of the contract leaves a record whose fields hold together, on SQLite and on
PostgreSQL: `answered_at` (and the agent) only when answered, `ended_at` never before `offered_at`
(but an appointment cancelled before its slot: `offered_at` is the slot), `wait_s` for the inbound
calls only, the skill and department as offered, and a site only where an agent answered (or the
appointment's slot). The scripted day of test_records_day, then the afternoon's other endings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from acd.api.handlers import SERVICE
from acd.records.model import OUTCOMES
from tests.records.test_records_day import DAY, PARIS, day_config, play_day, records_of


async def afternoon(p: Any, clock: Any) -> dict[str, str]:
    """`lost` (reconciliation), `failed` (waiting and ringing), a callback that fails, one requested
    and cancelled, one requested and answered, an appointment cancelled. Returns ids by name."""
    service = p.client.app[SERVICE]
    clock.t = datetime(2026, 3, 2, 15, 0, tzinfo=PARIS).timestamp()
    await p.agent("a1", "paused")
    await p.offer("x1", department="2A")
    clock.advance(20)
    await p.send("platform.sync", calls=[], agents={})  # x1: lost
    await p.offer("x2", department="971")
    clock.advance(15)
    await p.send("call.ended", call_id="x2", reason="failed")  # failed while waiting
    await p.agent("a1", "available")
    assert (await p.offer("x3"))["action"] == "connect"
    clock.advance(5)
    await p.send("call.ended", call_id="x3", reason="failed")  # failed while ringing
    await p.agent("a1", "paused")
    await p.offer("x4", department="59")
    clock.advance(10)
    await p.send("callback.accepted", call_id="x4")
    await p.agent("a1", "available")
    clock.advance(3)
    await p.send("callback.result", callback_id="cb-x4", outcome="no_answer")  # one attempt: failed
    await p.agent("a1", "paused")
    status, cancelled = await p.request(
        "POST", "/v1/callbacks", {"number": "+33612345678", "skill": "impot_revenu", "department": "2A"}
    )
    assert status == 201, cancelled
    status, _ = await p.request("DELETE", f"/v1/callbacks/{cancelled['callback_id']}")
    assert status in (200, 204)
    status, requested = await p.request(
        "POST", "/v1/callbacks", {"number": "+33612345679", "skill": "paiement"}
    )
    assert status == 201, requested
    await p.agent("a2", "available")
    clock.advance(4)
    await p.send("callback.result", callback_id=requested["callback_id"], outcome="answered")
    clock.advance(30)
    [dial] = [c.id for c in service.engine.calls.values() if c.callback_id == requested["callback_id"]]
    await p.send("call.ended", call_id=dial, reason="completed")
    status, ap = await p.request(
        "POST",
        "/v1/appointments",
        {"number": "+33622222229", "skill": "impot_revenu", "start": f"{DAY}T17:00:00+01:00"},
    )
    assert status == 201, ap
    status, _ = await p.request("DELETE", f"/v1/appointments/{ap['appointment_id']}")
    assert status in (200, 204)
    return {
        "requested": requested["callback_id"],
        "cancelled": cancelled["callback_id"],
        "ap": ap["appointment_id"],
    }


async def test_every_outcome_leaves_a_record_whose_fields_hold_together(make_platform, clock, backend):
    platform = await make_platform(config=day_config(), **backend.settings())
    await play_day(platform, clock)
    ids = await afternoon(platform, clock)
    records = await records_of(platform)
    by_key = {(r["call_id"], r["kind"]): r for r in records}
    assert {r["outcome"] for r in records} == set(OUTCOMES)  # every one, `cancelled` included
    assert by_key[(ids["requested"], "callback")]["outcome"] == "answered"
    assert by_key[(ids["requested"], "callback")]["skill"] == "paiement"
    assert by_key[(ids["cancelled"], "callback")]["department"] == "2A"
    assert {c: by_key[(c, "call")]["department"] for c in ("x1", "x2", "x4")} == {
        "x1": "2A",
        "x2": "971",
        "x4": "59",
    }
    assert by_key[("cb-x4", "callback")]["department"] == "59"  # the call's, carried to its callback
    for r in records:
        what = (r["call_id"], r["kind"], r["outcome"])
        answered = r["outcome"] == "answered"
        assert (r["answered_at"] is not None) == answered, what
        assert (r["agent_id"] is not None) == answered, what
        if r["site"] is not None:
            assert answered or r["kind"] == "appointment" or r["outcome"] == "callback", what
        elif answered:
            raise AssertionError(f"{what}: answered, no site")
        offered, ended = (datetime.fromisoformat(r[k]) for k in ("offered_at", "ended_at"))
        if (r["kind"], r["outcome"]) == ("appointment", "cancelled"):
            assert ended < offered, what  # cancelled ahead of its slot
        else:
            assert ended >= offered, what
        if answered:
            assert offered <= datetime.fromisoformat(r["answered_at"]) <= ended, what
        assert (r["wait_s"] is not None) == (r["kind"] == "call"), what
        assert r["skill"] in ("impot_revenu", "paiement"), what
