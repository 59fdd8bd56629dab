"""What the seeded fault runs found, each reduced to its shortest sequence and kept as a test named
for the rule it checks (the contract's "Reconciliation: platform.sync" and "Calls own their
agents"). The seeds that found them are kept in tests/fault/test_one_instance.py."""

from __future__ import annotations

import asyncio

from acd.clock import to_rfc3339


async def test_a_sync_confirming_an_agents_state_is_not_undone_by_older_news(
    make_platform, sink, clock
) -> None:
    """Found by seed 107 (very untidy): a sync at t-10 says the agent is paused (as acd knows);
    an `agent.state available` stamped t-20, delivered after it, is older than what the sync
    confirmed and must change nothing. (The same with a late sync saying available.)"""
    p = await make_platform(command_url=sink.url)
    t = clock.now()
    await p.send("agent.state", agent_id="a4", state="available", ts=to_rfc3339(t - 60))
    await p.send("agent.state", agent_id="a4", state="paused", reason="lunch", ts=to_rfc3339(t - 50))
    await p.send("platform.sync", calls=[], agents={"a4": "paused"}, ts=to_rfc3339(t - 10))
    late = await p.send("agent.state", agent_id="a4", state="available", ts=to_rfc3339(t - 20))
    assert late.get("ignored"), late  # changes nothing, and says so
    _, a4 = await p.get("/v1/agents/a4")
    assert a4["state"] == "paused"
    decision = await p.offer("c1", skill="lsf")  # a4 is the only lsf agent
    assert decision["action"] == "queue"


async def test_a_late_sync_does_not_undo_a_newer_sync(make_platform, sink, clock) -> None:
    p = await make_platform(command_url=sink.url)
    t = clock.now()
    await p.send("agent.state", agent_id="a4", state="available", ts=to_rfc3339(t - 60))
    await p.send("agent.state", agent_id="a4", state="paused", reason="lunch", ts=to_rfc3339(t - 50))
    await p.send("platform.sync", calls=[], agents={"a4": "paused"}, ts=to_rfc3339(t - 10))
    await p.send("platform.sync", calls=[], agents={"a4": "available"}, ts=to_rfc3339(t - 20))
    _, a4 = await p.get("/v1/agents/a4")
    assert a4["state"] == "paused"


async def test_a_sync_never_rings_an_agent_it_reports_away(make_platform, sink) -> None:
    """Found by seeds 103 and 203 (very untidy): the sync drops the agent's lost call and says the agent is
    logged out; the agent must not be handed the next waiting call."""
    p = await make_platform(command_url=sink.url)
    await p.agent("a4", "available")
    assert (await p.offer("c1", skill="lsf"))["agent_id"] == "a4"
    assert (await p.offer("c2", skill="lsf"))["action"] == "queue"
    result = await p.send("platform.sync", calls=["c2"], agents={"a4": "logged_out"})
    assert result["decision"]["ended"] == ["c1"]
    _, a4 = await p.get("/v1/agents/a4")
    _, c2 = await p.get("/v1/calls/c2")
    assert (a4["state"], a4["call_id"], c2["status"]) == ("logged_out", None, "queued")
    await asyncio.sleep(0.2)
    assert not [c for c in sink.received if c["command"] == "connect"]


async def test_a_sync_never_connects_a_call_it_ends(make_platform, sink) -> None:
    """Found with seed 102 (very untidy): reconciling call by call, the agent freed by one lost
    call took a waiting call the same sync then ended; the platform got a connect for a call
    it no longer holds."""
    p = await make_platform(command_url=sink.url)
    await p.agent("a4", "available")
    await p.offer("c1", skill="lsf")  # rings a4
    await p.offer("c2", skill="lsf")  # waits
    await p.offer("c3", skill="lsf")  # waits
    result = await p.send("platform.sync", calls=["c3"], agents={"a4": "available"})
    assert sorted(result["decision"]["ended"]) == ["c1", "c2"]
    await asyncio.sleep(0.2)
    connects = [c["call_id"] for c in sink.received if c["command"] == "connect"]
    assert "c2" not in connects, connects


async def test_a_logout_asked_during_a_call_is_kept_though_busy_was_restated_since(
    make_platform, sink, clock
) -> None:
    """Found by seed 32 (untidy): the agent asks to log out while its phone rings (t0+10); the
    answer (t0+20) and a restated `busy` (t0+20.001) arrive first, the request after them. The
    request is the agent's own and falls within the assignment: it takes effect when the call
    ends (the contract: only `busy` and `wrap_up` older than the agent's last change are stale),
    whatever the platform restated meanwhile."""
    p = await make_platform(command_url=sink.url)
    t0 = clock.now()
    await p.send("agent.state", agent_id="a4", state="available", ts=to_rfc3339(t0))
    clock.advance(1)
    assert (await p.offer("c1", skill="lsf", ts=to_rfc3339(t0 + 1)))["agent_id"] == "a4"
    clock.advance(19)
    await p.send("call.answered", call_id="c1", agent_id="a4", ts=to_rfc3339(t0 + 20))
    await p.send("agent.state", agent_id="a4", state="busy", ts=to_rfc3339(t0 + 20.001))
    late = to_rfc3339(t0 + 10)
    await p.send("agent.state", agent_id="a4", state="logged_out", reason="end_of_shift", ts=late)
    clock.advance(10)
    await p.send("call.ended", call_id="c1", reason="completed", ts=to_rfc3339(t0 + 30))
    clock.advance(120)  # any wrap-up long over
    decision = await p.offer("c2", skill="lsf", ts=to_rfc3339(t0 + 150))
    _, a4 = await p.get("/v1/agents/a4")
    assert (a4["state"], decision["action"]) == ("logged_out", "queue")
