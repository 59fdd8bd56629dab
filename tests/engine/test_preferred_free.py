"""A call's preferred agent, free now, takes it before any other eligible agent (CONTRACT.md,
"Shipped configuration"; config/routing.yaml, `preferred_agent_wait_s`), with the shipped
configuration, whose wait for a busy preferred agent is 0 s. Found while checking the shipped
routing: with a wait of 0 s the preference was dropped altogether, and the router's own strategy
(experts first) chose another agent over the free preferred one."""

from __future__ import annotations

import pytest

from acd.engine import Engine
from tests.conftest import Driver
from tests.engine.test_needs_line import OPEN, SHIPPED

EXPERT = next(a.id for a in SHIPPED.agents if a.skills.get("impot_revenu") == 5)
NOVICE = next(a.id for a in SHIPPED.agents if a.skills.get("impot_revenu") == 1)


@pytest.mark.parametrize("router", ["numba", "reference"])
def test_a_free_preferred_agent_takes_the_call_before_an_expert(router: str) -> None:
    d = Driver(Engine(SHIPPED, router=router), OPEN)
    d.agent(EXPERT, "available")
    d.advance(5)  # the expert is also the one idle the longest
    d.agent(NOVICE, "available")
    decision = d.offer("c1", skill="impot_revenu", preferred_agent_id=NOVICE)
    assert decision["action"] == "connect" and decision["agent_id"] == NOVICE, decision
    # without a preference, experts first
    assert d.offer("c2", skill="impot_revenu")["agent_id"] == EXPERT


@pytest.mark.parametrize("router", ["numba", "reference"])
def test_a_call_whose_preferred_agent_is_busy_goes_to_a_free_agent_at_once(router: str) -> None:
    """The preference chooses among the agents free now: it never holds the call back."""
    d = Driver(Engine(SHIPPED, router=router), OPEN)
    d.agent(NOVICE, "available")
    assert d.offer("c0", skill="impot_revenu")["agent_id"] == NOVICE
    d.send("call.answered", call_id="c0", agent_id=NOVICE)
    d.agent(EXPERT, "available")
    decision = d.offer("c1", skill="impot_revenu", preferred_agent_id=NOVICE)
    assert decision["agent_id"] == EXPERT, decision  # work-conserving: not held for the busy one


def test_a_call_waiting_for_its_preferred_agent_stops_waiting_when_that_agent_logs_out(make_driver) -> None:
    """With the opt-in wait for a busy preferred agent (`preferred_agent_wait_s` above 0), a call
    waits for its agent "unless the agent is logged out" (README): an agent who logs out while
    the call waits for it no longer holds the call back from an idle eligible agent."""
    d = make_driver(preferred_agent_wait_s=120)
    d.agent("a1", "available")
    d.offer("c0")
    d.send("call.answered", call_id="c0", agent_id="a1")
    assert d.offer("c1", preferred_agent_id="a1")["action"] == "queue"
    d.agent("a5", "available")  # eligible, idle: the call still waits for a1, as it opted in to
    assert d.engine.calls["c1"].agent_id is None
    d.agent("a1", "logged_out")  # taken when c0 ends
    d.send("call.ended", call_id="c0", reason="completed")
    d.advance(1)
    assert d.engine.calls["c1"].agent_id == "a5"
