"""`acd state export` under a changed config/ (a real Redis, in-process instances): it writes the
state a restart under that config/ makes (docs/state.md), the log replayed under the configuration
that wrote it, then the state fitted to the current one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from acd.clock import ManualClock
from acd.engine import state as engine_state
from acd.settings import Settings
from acd.store import snapshot as snap
from acd.store.state_cli import export_state
from tests.conftest import T0
from tests.store.conftest import eventually, leader_of
from tests.store.helpers import agent_state, config_without_a1_a3_and_paiement, eid, offered, store_config

DB = 3


def _comparable(document: dict[str, Any]) -> dict[str, Any]:
    """The document as JSON reads it back (tuples as lists), without `acd` (the release) and the
    call records the export carries (not the engine's state: tests/records/test_records_state_move.py)."""
    out = json.loads(json.dumps(document))
    out.pop("acd", None)
    out.pop("records", None)
    return out


@pytest.mark.parametrize("written", ["log", "snapshot and log"])
async def test_export_under_a_changed_config_writes_the_state_a_restart_under_it_makes(
    cluster, redis_url, raw_redis, written
) -> None:
    """The log names what the new config/ no longer has: agent a1 (talking on c1 at the crash)
    and skill paiement (a waiting call, a callback). A restart replays the log under the
    configuration that wrote it and then fits: c1 stays answered by a1, whose logout waits for
    the call's end, c2 ends `lost`, the callback fails. Before, export replayed the log under
    the new config/: a1's `available` and c1's `call.answered` were refused (c1 back in line,
    no logout pending), c2 was refused too (never offered), and the document said so."""
    clock = ManualClock(T0)
    [first] = await cluster(config=store_config(), clock=clock)
    if written == "snapshot and log":  # the snapshot knows a1 and paiement; the log uses them
        await first.events(agent_state("a2", "paused"))
        first.service.store.writer.maybe_snapshot(force=True)  # type: ignore[attr-defined]
        await first.service.store.snapshots.settle()  # type: ignore[attr-defined]
    await first.events(agent_state("a1", "available"))
    await first.events(offered("c1"))
    assert first.service.engine.calls["c1"].agent_id == "a1"
    await first.events({"id": eid(), "type": "call.answered", "call_id": "c1", "agent_id": "a1"})
    await first.events(offered("c2", skill="paiement"), offered("c3"))
    status, callback = await first.request(
        "POST",
        "/v1/callbacks",
        {"number": "+33612345679", "skill": "paiement", "not_before": "2026-03-03T10:00:00+01:00"},
    )
    assert status == 201, callback
    await first.crash()

    changed = config_without_a1_a3_and_paiement()
    exported = await export_state(Settings(redis_url=redis_url), changed)
    calls = {c["id"]: c for c in exported["calls"]}
    assert (calls["c1"]["status"], calls["c1"].get("agent_id")) == ("answered", "a1")
    assert {a["id"]: a.get("roster") for a in exported["agents"]}["a1"] == "removed"  # leaves after c1
    assert calls["c2"]["status"] == "ended"
    assert {c["id"]: c["status"] for c in exported["callbacks"]}[callback["callback_id"]] == "failed"

    # the restart: an instance under the new config/ loads the store and, the lease held
    # elsewhere, follows, under the configuration the log was written under (the state the log
    # says); the state it leads with is that one fitted to its config/, before any tick
    raw_redis.set("acd:lease", "elsewhere/999999", px=60_000)
    [second] = await cluster(config=changed, clock=clock)
    await eventually(lambda: second.role == "follower")
    store = second.service.store
    assert snap.config_fingerprint(second.service.engine.config) == snap.config_fingerprint(store_config())
    restarted = engine_state.dump(store.snapshots.refit(second.service.engine))  # type: ignore[attr-defined]
    assert _comparable(exported) == _comparable(restarted)
    raw_redis.delete("acd:lease")
    await leader_of([second])  # and it leads from there, the removed agent still on its call
    assert second.service.engine.calls["c1"].agent_id == "a1"
