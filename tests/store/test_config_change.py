"""A restart with Redis under a changed config/ (in-process instances, a real Redis): the log
written under the old configuration is replayed under it, then the state is fitted to the new one
(docs/state.md, "A changed configuration"), whether or not a snapshot covers the log."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from acd.clock import ManualClock
from acd.config import Config
from acd.model import AgentState
from acd.store import snapshot as snap
from tests.conftest import T0
from tests.store.conftest import leader_of
from tests.store.helpers import agent_state, config_without_a1_a3_and_paiement, eid, offered, store_config

DB = 7


async def test_a_crash_then_a_restart_under_a_changed_config_keeps_what_the_log_acknowledged(
    cluster, caplog
) -> None:
    """Before, the log was replayed under the new config/: the removed agent's `available` and its
    call's `call.answered` were skipped, so the call it was talking on went back in line (to be
    rung on another agent), and the removed skill's waiting call was half-applied (queued, in no
    line, for ever)."""
    clock = ManualClock(T0)
    [first] = await cluster(config=store_config(), clock=clock)
    await first.events(agent_state("a1", "available"))
    await first.events(offered("c1"))
    assert first.service.engine.calls["c1"].agent_id == "a1"
    await first.events({"id": eid(), "type": "call.answered", "call_id": "c1", "agent_id": "a1"})
    await first.events(offered("c2", skill="paiement"), offered("c3"))
    await first.crash()  # no snapshot: the whole day is in the log

    with caplog.at_level(logging.WARNING):
        [second] = await cluster(config=config_without_a1_a3_and_paiement(), clock=clock)
        await leader_of([second])
    engine = second.service.engine
    c1, c2, c3 = (engine.calls[c] for c in ("c1", "c2", "c3"))
    assert (c1.status, c1.agent_id) == ("answered", "a1")  # a1 stays until its call ends
    assert c2.status == "ended" and c2.end_reason == "lost"
    assert "skill paiement no longer exists" in caplog.text
    assert c3.status == "queued" and c3.waiting
    _, queues = await second.request("GET", "/v1/queues")
    assert {q["skill"]: q["waiting"] for q in queues["queues"]}["impot_revenu"] == 1
    await second.events({"id": eid(), "type": "call.ended", "call_id": "c1", "reason": "completed"})
    a1 = engine.agents["a1"]
    assert engine.agent_state(a1) is AgentState.LOGGED_OUT and a1.reason == "removed"


async def test_a_snapshot_then_a_log_under_the_old_config_then_a_restart_under_the_new_one(
    cluster, raw_redis
) -> None:
    """The snapshot covers the start of the day, the log the rest; the new leader replays that log
    under the old configuration, fits, snapshots before its first write (so the log after the
    snapshot is all under its own configuration), and a later restart under it is exact."""
    clock = ManualClock(T0)
    [first] = await cluster(config=store_config(), clock=clock)
    await first.events(agent_state("a1", "available"))
    first.service.store.writer.maybe_snapshot(force=True)  # type: ignore[attr-defined]
    await first.service.store.snapshots.settle()  # type: ignore[attr-defined]
    await first.events(offered("c1"))
    await first.events({"id": eid(), "type": "call.answered", "call_id": "c1", "agent_id": "a1"})
    await first.events(offered("c2", skill="paiement"))
    await first.crash()

    changed = config_without_a1_a3_and_paiement()
    [second] = await cluster(config=changed, clock=clock)
    await leader_of([second])
    engine = second.service.engine
    assert (engine.calls["c1"].status, engine.calls["c1"].agent_id) == ("answered", "a1")
    assert engine.calls["c2"].end_reason == "lost"
    header = json.loads(raw_redis.hget("acd:snapshot", "header"))  # before writing under it:
    assert header["config"] == snap.config_fingerprint(changed)  # the log after is all its own
    await second.events(offered("c3"))
    await second.crash()

    [third] = await cluster(config=changed, clock=clock)
    await leader_of([third])
    again = third.service.engine
    assert third.service.store.replica.same_config  # type: ignore[attr-defined]
    assert (again.calls["c1"].status, again.calls["c3"].status) == ("answered", "queued")


def _with_paiement_slots(config: Config) -> Config:
    data: dict[str, Any] = config.model_dump(mode="json")
    data["appointments"]["capacity"].append(
        {"site": "lille", "skill": "paiement", "morning": 2, "afternoon": 2}
    )
    return Config.model_validate(data)


@pytest.mark.parametrize("written", ["log", "snapshot"])
async def test_the_contacts_a_removed_skill_ends_at_a_restart_leave_their_records(
    cluster, raw_redis, written
) -> None:
    """Every call, callback and appointment leaves a record when it ends (CONTRACT.md), those a
    restart under a config/ without their skill ends too: fitted after the log's replay, or
    when the snapshot is loaded (a log of unknown configuration: an earlier release's). Before,
    the fit ended the waiting call (`lost`), failed the callback and cancelled the appointment
    with no observer: no record."""
    clock = ManualClock(T0)
    [first] = await cluster(config=_with_paiement_slots(store_config()), clock=clock)
    await first.events(offered("c2", skill="paiement"))  # nobody staffs paiement: it waits
    status, callback = await first.request(
        "POST",
        "/v1/callbacks",
        {"number": "+33612345679", "skill": "paiement", "not_before": "2026-03-03T10:00:00+01:00"},
    )
    assert status == 201, callback
    status, appointment = await first.request(
        "POST",
        "/v1/appointments",
        {"number": "+33612345670", "skill": "paiement", "start": "2026-03-03T10:00:00+01:00"},
    )
    assert status == 201, appointment
    if written == "snapshot":
        first.service.store.writer.maybe_snapshot(force=True)  # type: ignore[attr-defined]
        await first.service.store.snapshots.settle()  # type: ignore[attr-defined]
    await first.crash()
    if written == "snapshot":
        raw_redis.delete("acd:config:log")

    [second] = await cluster(config=config_without_a1_a3_and_paiement(), clock=clock)
    await leader_of([second])
    await second.service.records.flush(30)
    status, text = await second.request("GET", "/v1/records?from=2026-03-01&to=2026-03-31")
    assert status == 200, text
    records = {(r["call_id"], r["kind"]): r["outcome"] for r in map(json.loads, text.splitlines())}
    assert records == {
        ("c2", "call"): "lost",
        (callback["callback_id"], "callback"): "failed",
        (appointment["appointment_id"], "appointment"): "cancelled",
    }
