"""A rolling change of config/ (in-process instances, a real Redis): for a while, instances on the
old and the new configuration share one store, as deploy/k8s's rolling update has them (a new pod
before an old one stops). A replica is the state the log says, so it follows the log under the
configuration that wrote it (`config:log`), whatever its own; its own applies when it leads.

Before, a follower applied the leader's log under its own configuration: a write forwarded
through it answered 500 (its replica skipped an event the leader applied) or its own decision, not
the leader's, and at the takeover acknowledged calls were lost and an answered call was rung on a
second agent (seen from outside: /work/notes/audit-redis.md, D1)."""

from __future__ import annotations

import time

from acd.clock import ManualClock
from acd.model import AgentState
from tests.conftest import T0
from tests.store.conftest import eventually, leader_of
from tests.store.helpers import (
    agent_state,
    config_without_a1_a3_and_paiement,
    engine_state,
    offered,
    store_config,
)


async def _answered(instance, event: dict) -> dict:
    status, body = await instance.events(event)
    assert status == 200, body
    [result] = body["results"]
    return result


async def test_a_follower_on_a_new_config_keeps_the_leaders_state_and_takes_over_with_it(cluster) -> None:
    clock = ManualClock(T0)
    [old] = await cluster(config=store_config(), clock=clock)
    await leader_of([old])
    [new] = await cluster(config=config_without_a1_a3_and_paiement(), clock=clock)
    await eventually(lambda: new.role == "follower")

    await _answered(old, agent_state("a1", "available"))
    assert (await _answered(old, offered("c1")))["decision"]["agent_id"] == "a1"
    # through the follower: the leader's decisions, whatever the follower's own config/ says
    late = offered("c2", skill="paiement")  # a skill the new config/ does not have
    assert (await _answered(new, late))["decision"]["action"] == "queue"
    answered = await _answered(
        new, {"id": "ans-c1", "type": "call.answered", "call_id": "c1", "agent_id": "a1"}
    )
    assert answered["status"] == "applied"
    third = offered("c3")
    assert (await _answered(new, third))["decision"]["position"] == 1
    await eventually(lambda: new.service.store.position == old.service.store.position)  # type: ignore[attr-defined]
    assert engine_state(new.service.engine, clock.now()) == engine_state(old.service.engine, clock.now())
    status, call = await new.request("GET", "/v1/calls/c2")
    assert status == 200 and call["status"] == "queued"

    await old.crash()
    await leader_of([new], timeout=30)
    engine = new.service.engine
    c1, c2, c3 = (engine.calls[c] for c in ("c1", "c2", "c3"))
    assert (c1.status, c1.agent_id) == ("answered", "a1")  # never rung on anybody else
    assert c2.status == "ended" and c2.end_reason == "lost"  # its skill is gone: ended, recorded
    assert c3.status == "queued" and c3.waiting
    # acknowledged events retried: duplicates, with the decision first given
    again = await _answered(new, third)
    assert again["status"] == "duplicate" and again["decision"]["position"] == 1
    assert (await _answered(new, late))["status"] == "duplicate"
    # the new config/ applies now: a1 leaves once its call ends, and the wrap-up is 60 s
    await _answered(new, {"id": "end-c1", "type": "call.ended", "call_id": "c1", "reason": "completed"})
    assert engine.agent_state(engine.agents["a1"]) is AgentState.LOGGED_OUT
    assert engine.config.routing.wrap_up_s == 60


async def test_a_former_leader_follows_the_new_leaders_log_under_the_new_config(cluster, raw_redis) -> None:
    """The old instance loses the lease while it runs (a pause): the new one leads and writes under
    its configuration; the old one, a follower now, must read those entries under it too."""
    clock = ManualClock(T0)
    [old] = await cluster(config=store_config(), clock=clock)
    await leader_of([old])
    [new] = await cluster(config=config_without_a1_a3_and_paiement(), clock=clock)
    await eventually(lambda: new.role == "follower")
    await _answered(old, offered("c1"))

    # The old leader's lease lapses (a pause) and, this once, it does not take it back first:
    # the new one takes it (which of the two wins a free lease is a race of their polls).
    lease = old.service.store.lease  # type: ignore[attr-defined]

    async def never() -> bool:
        return False

    lease.acquire, acquire = never, lease.acquire
    raw_redis.set("acd:lease", "someone-else/99", px=1500)
    await eventually(lambda: new.role == "leader", timeout=30)
    lease.acquire = acquire
    assert old.role == "follower"
    await _answered(new, agent_state("a2", "available"))  # takes c1, waiting since before
    assert new.service.engine.calls["c1"].agent_id == "a2"
    assert (await _answered(new, offered("c4")))["decision"]["action"] == "queue"
    # through the old instance: refused as the leader refuses (a1 is not in its config/ any more)
    status, body = await old.events(agent_state("a1", "available"))
    assert status == 422 and body["error"]["code"] == "unknown_agent"
    await _answered(old, offered("c5"))
    deadline = time.monotonic() + 10
    await eventually(lambda: old.service.store.position == new.service.store.position)  # type: ignore[attr-defined]
    assert time.monotonic() < deadline
    assert engine_state(old.service.engine, clock.now()) == engine_state(new.service.engine, clock.now())
    assert old.service.engine.config.routing.wrap_up_s == 60  # the log's configuration
