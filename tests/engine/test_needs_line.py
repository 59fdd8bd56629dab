"""Calls with `needs` (a sign-language interpreter, `lsf`) share their skill's line with the calls
without, but only the agents holding every need can take them. They must not make the others look
farther back in line than they are, and they are never sent to a local service that does not take
one of their needs (config/services.yaml leaves `lsf` out of what the local offices take).

Found with the simulator: income-tax callers needing an interpreter, waiting for the two
interpreter agents, made every income-tax caller's expected wait look long, so overflow (`auto`)
turned on for income tax and sent callers away to local offices while agents who could have taken
them freed up within seconds; and the interpreter callers themselves were sent to local offices
that have no interpreter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from acd.config import load_config
from acd.engine import Engine
from tests.conftest import ROOT, Driver

#: Tuesday 3 March 2026, 10:00 in Paris: the line is open, no campaign (overflow `auto` is off).
OPEN = datetime(2026, 3, 3, 9, 0, tzinfo=UTC).timestamp()
SHIPPED = load_config(ROOT / "config")
INTERPRETERS = [a.id for a in SHIPPED.agents if "lsf" in a.skills and "impot_revenu" in a.skills]
PLAIN = [a.id for a in SHIPPED.agents if "lsf" not in a.skills and "impot_revenu" in a.skills]


def _busy(d: Driver, agent_id: str, call_id: str, **fields) -> None:
    """Put `agent_id` on an income-tax call of its own (the only agent available)."""
    d.agent(agent_id, "available")
    decision = d.offer(call_id, skill="impot_revenu", **fields)
    assert decision["action"] == "connect" and decision["agent_id"] == agent_id, decision
    d.send("call.answered", call_id=call_id, agent_id=agent_id)


@pytest.mark.parametrize("router", ["numba", "reference"])
def test_a_call_needing_an_interpreter_is_never_sent_to_a_local_office(router: str) -> None:
    d = Driver(Engine(SHIPPED, router=router), OPEN)
    d.send("overflow.mode", mode="on")  # every call no agent can take now goes to its service
    decision = d.offer("c1", skill="impot_revenu", needs=["lsf"], department="59")
    assert decision["action"] == "queue", decision
    # while a call without needs still goes to its local office
    assert d.offer("c2", skill="impot_revenu", department="59")["action"] == "overflow"


@pytest.mark.parametrize("router", ["numba", "reference"])
def test_callers_needing_an_interpreter_do_not_lengthen_the_others_wait(router: str) -> None:
    """With the interpreters and the other agents all busy, three callers needing an interpreter
    wait; a caller without needs is next for the other agents: position 1, and the same expected
    wait as with nobody in line."""

    def engine_with(interpreter_calls: int) -> Driver:
        d = Driver(Engine(SHIPPED, router=router), OPEN)
        for i, agent_id in enumerate(INTERPRETERS):
            _busy(d, agent_id, f"i{i}")
        for i, agent_id in enumerate(PLAIN[:5]):
            _busy(d, agent_id, f"p{i}")
        for i in range(interpreter_calls):
            assert d.offer(f"n{i}", skill="impot_revenu", needs=["lsf"])["action"] == "queue"
        return d

    alone = engine_with(0).offer("c1", skill="impot_revenu")
    behind = engine_with(3).offer("c1", skill="impot_revenu")
    assert alone["action"] == behind["action"] == "queue"
    assert behind["position"] == 1, behind
    assert behind["ewt_s"] == alone["ewt_s"], (behind, alone)
    assert behind["callback_offer"] == alone["callback_offer"]


@pytest.mark.parametrize("router", ["numba", "reference"])
def test_a_caller_needing_an_interpreter_counts_every_call_ahead_of_it(router: str) -> None:
    """The interpreters take calls without needs too: for a caller needing one, every income-tax
    call ahead is ahead of it."""
    d = Driver(Engine(SHIPPED, router=router), OPEN)
    for i, agent_id in enumerate(INTERPRETERS):
        _busy(d, agent_id, f"i{i}")
    for i, agent_id in enumerate(PLAIN[:5]):
        _busy(d, agent_id, f"p{i}")
    assert d.offer("c1", skill="impot_revenu")["position"] == 1
    assert d.offer("n1", skill="impot_revenu", needs=["lsf"])["position"] == 2
    assert d.offer("c2", skill="impot_revenu")["position"] == 2
    assert d.offer("n2", skill="impot_revenu", needs=["lsf"])["position"] == 4
