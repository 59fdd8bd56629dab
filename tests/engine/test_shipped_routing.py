"""The shipped configuration routes work-conserving: no call waits, and none is sent to a local
service, while an available agent who holds its skill and every skill in its needs is idle
(CONTRACT.md, "Shipped configuration"). Driven with random agents, skills, needs and states on
the shipped config/, both routers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acd.config import Config, load_config
from acd.engine import Engine
from acd.model import AgentState
from tests.conftest import ROOT, Driver

#: Tuesday 3 March 2026, 10:00 in Paris: the line is open, no campaign.
OPEN = datetime(2026, 3, 3, 9, 0, tzinfo=UTC).timestamp()
SHIPPED = load_config(ROOT / "config")
SKILLS = [s.id for s in SHIPPED.skills]


def _eligible_idle(engine: Engine, skill: str, needs: tuple[str, ...]) -> list[str]:
    return [
        a.id
        for a in engine.agents.values()
        if engine.agent_state(a) is AgentState.AVAILABLE and all(s in a.skills for s in (skill, *needs))
    ]


def test_the_shipped_routing_widens_nothing_and_gives_a_call_to_the_longest_idle() -> None:
    """The contract's default routing, whose choice of agent is the FIFO baseline's: no strategy
    that can answer fewer callers than FIFO (config/routing.yaml gives the figures)."""
    assert SHIPPED.routing.strategy == "longest_idle"
    for skill in SKILLS:
        assert SHIPPED.widening_for(skill) == [(0.0, 1)], skill


@pytest.mark.parametrize("router", ["numba", "reference"])
def test_an_idle_level_1_agent_takes_an_income_tax_call_at_once(router: str) -> None:
    config: Config = SHIPPED
    d = Driver(Engine(config, router=router), OPEN)
    novice = next(a for a in config.agents if a.skills.get("impot_revenu") == 1)
    d.agent(novice.id, "available")
    decision = d.offer("c1", skill="impot_revenu")
    assert decision["action"] == "connect" and decision["agent_id"] == novice.id


@pytest.mark.parametrize("router", ["numba", "reference"])
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("agent"), st.integers(0, 39), st.sampled_from(["available", "paused"])),
            st.tuples(
                st.just("offer"),
                st.sampled_from(SKILLS),
                st.sampled_from([(), ("lsf",)]),
                st.sampled_from([None, "59", "69"]),
            ),
            st.tuples(st.just("end"), st.integers(0, 200)),
            st.tuples(st.just("wait"), st.integers(1, 120)),
        ),
        max_size=60,
    )
)
@settings(max_examples=40, deadline=None)
def test_no_call_waits_or_overflows_while_an_eligible_agent_is_idle(router: str, steps) -> None:
    engine = Engine(SHIPPED, router=router)
    d = Driver(engine, OPEN)
    d.send("overflow.mode", mode="on")  # every call no agent can take now goes to its service
    agents = [a.id for a in SHIPPED.agents[:40]]
    offered: list[str] = []
    for step in steps:
        if step[0] == "agent":
            d.agent(agents[step[1]], step[2])
        elif step[0] == "offer":
            _, skill, needs, department = step
            idle = _eligible_idle(engine, skill, needs)
            call_id = f"c{len(offered)}"
            fields = {"needs": list(needs)} | ({"department": department} if department else {})
            decision = d.offer(call_id, skill=skill, **fields)
            offered.append(call_id)
            if idle:
                assert decision["action"] == "connect", (decision, idle)
        elif step[0] == "end" and offered:
            call_id = offered[step[1] % len(offered)]
            if engine.calls.get(call_id) is not None:
                d.send("call.ended", call_id=call_id, reason="completed")
        elif step[0] == "wait":
            d.advance(step[1])
        for call in engine.waiting_calls():
            assert not _eligible_idle(engine, call.skill, call.needs), (call.id, call.skill, call.needs)


@pytest.mark.parametrize("router", ["numba", "reference"])
def test_a_call_preferring_a_busy_agent_goes_at_once_to_an_idle_eligible_one(router: str) -> None:
    """A preference chooses among the agents free now (CONTRACT.md): with the shipped config, a
    call whose preferred agent is on another call is not held back from an idle eligible agent."""
    d = Driver(Engine(SHIPPED, router=router), OPEN)
    first, second = [a.id for a in SHIPPED.agents if "lsf" in a.skills][:2]
    d.agent(first, "available")
    assert d.offer("c1", skill="lsf")["agent_id"] == first
    d.send("call.answered", call_id="c1", agent_id=first)
    d.agent(second, "available")
    decision = d.offer("c2", skill="lsf", preferred_agent_id=first)
    assert decision["action"] == "connect" and decision["agent_id"] == second, decision
    # and a preferred agent who is free gets the call before the others
    d.send("call.ended", call_id="c1", reason="completed")
    d.advance(SHIPPED.routing.wrap_up_s + 1)
    third = next(a.id for a in SHIPPED.agents if "lsf" in a.skills and a.skills["lsf"] == 5 and a.id != first)
    d.agent(third, "available")
    decision = d.offer("c3", skill="lsf", preferred_agent_id=first)
    assert decision["agent_id"] == first, decision


def test_the_shipped_routing_holds_no_call_for_a_preferred_agent() -> None:
    assert SHIPPED.routing.preferred_agent_wait_s == 0


#: Tuesday 5 May 2026, 10:00 in Paris: the tax return campaign (config/calendar.yaml).
CAMPAIGN = datetime(2026, 5, 5, 8, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize("router", ["numba", "reference"])
def test_in_a_campaign_a_caller_expected_to_wait_over_the_threshold_goes_to_its_office(router: str) -> None:
    """CONTRACT.md, "Overflow": while overflow is active, a call whose expected wait exceeds the
    overflow threshold goes to its department's local service. In a campaign (auto: active), a
    service just started (no caller seen hanging up yet), the one agent for the skill talking:
    the next caller is expected to wait a handle time, over the shipped 60 s, and goes to the
    Nord's office; a caller without a department stays, and is told its expected wait."""
    d = Driver(Engine(SHIPPED, router=router), CAMPAIGN)
    skill = "paiement"
    agent = next(a.id for a in SHIPPED.agents if skill in a.skills)
    d.agent(agent, "available")
    assert d.offer("c0", skill=skill)["action"] == "connect"
    d.send("call.answered", call_id="c0", agent_id=agent)
    kept = d.offer("c1", skill=skill)
    assert kept["action"] == "queue" and kept["ewt_s"] > SHIPPED.overflow.threshold_s, kept
    sent = d.offer("c2", skill=skill, department="59")
    assert sent["action"] == "overflow" and sent["service"], sent
