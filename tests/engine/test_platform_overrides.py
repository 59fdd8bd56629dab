"""The platform's word against what acd holds, one rule per test, on both routers (seen from
outside: /work/notes/audit-api.md, D3, D5):

- a `platform.sync` without `ts` is news, dated by its arrival, even after an agent's report
  stamped ahead of acd's clock (within routing.max_ts_ahead_s: one platform node's clock fast);
  a report stamped right but older than that one stays stale, by the contract's rule of `ts`;
- an answer stamped before the call was offered or rung is dated at the ring: no record is
  answered before it was offered, no invented handle time."""

from __future__ import annotations

from acd.model import AgentState

AV, LO = AgentState.AVAILABLE, AgentState.LOGGED_OUT


def state(d, agent_id: str) -> AgentState:
    return d.engine.agent_state(d.engine.agents[agent_id])


def test_a_sync_without_ts_is_news_after_a_report_stamped_ahead(make_driver):
    d = make_driver()
    n = d.now
    d.send("agent.state", at=n + 240, agent_id="a1", state="available")  # a node's clock 4 min fast
    d.advance(5)
    assert state(d, "a1") is AV
    decision = d.send("platform.sync", calls=[], agents={"a1": "logged_out"})
    assert decision["agents"] == {"a1": "logged_out"} and state(d, "a1") is LO


def test_an_answer_stamped_before_the_ring_is_dated_at_the_ring(make_driver):
    d = make_driver()
    n = d.now
    d.agent("a1", "available")
    d.advance(1)
    d.offer("t1")
    call = d.engine.calls["t1"]
    d.send("call.answered", at=n - 60, call_id="t1", agent_id="a1")
    assert call.answered_at is not None and call.answered_at >= call.connected_at >= call.offered_at
