"""A `call.ended` stamped before what acd already knows of the call (the platform's clocks
disagree, or its stamp is wrong): the end is dated no earlier than the call's own last instant, so
no record ends before it was offered or answered, no handle time is negative, and the agent's
wrap-up does not begin before its conversation. On both routers."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from acd.engine import Engine
from acd.model import AgentState
from tests.conftest import Driver, small_config

PARIS_SUNDAY = datetime(2026, 3, 1, 11, 0, tzinfo=ZoneInfo("Europe/Paris")).timestamp()


def test_an_unanswered_call_ended_before_its_offer_ends_at_its_offer(make_driver):
    d = make_driver()
    n = d.now
    d.offer("c1")  # queued: nobody is logged in
    d.advance(30)
    d.send("call.ended", at=n - 100, call_id="c1", reason="abandoned")
    call = d.engine.calls["c1"]
    assert call.ended_at is not None and call.ended_at >= call.offered_at


def test_a_closed_call_ended_before_its_offer_ends_at_its_offer(router_kind):
    d = Driver(Engine(small_config(), router=router_kind), now=PARIS_SUNDAY)
    n = d.now
    assert d.offer("c1")["action"] == "closed"
    d.send("call.ended", at=n - 100, call_id="c1", reason="abandoned")
    call = d.engine.calls["c1"]
    assert call.ended_at is not None and call.ended_at >= call.offered_at


def test_an_answered_call_ended_before_its_answer_ends_at_its_answer(make_driver):
    d = make_driver(wrap_up_s=30)
    n = d.now
    d.agent("a1", "available")
    d.offer("c1")
    d.advance(10)
    d.send("call.answered", at=n + 10, call_id="c1", agent_id="a1")
    d.advance(50)
    d.send("call.ended", at=n - 100, call_id="c1", reason="completed")
    call = d.engine.calls["c1"]
    assert call.ended_at is not None and call.ended_at >= call.answered_at
    agent = d.engine.agents["a1"]
    assert d.engine.agent_state(agent) is AgentState.WRAP_UP
    assert agent.state_changed_at >= call.answered_at  # wrap-up begins after the conversation
