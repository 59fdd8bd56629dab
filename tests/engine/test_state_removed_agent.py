"""An agent removed from config/agents.yaml while a call owns it stays until that call ends, then
logs out and is gone (docs/state.md, "A changed configuration"): nothing the platform says
during the call keeps it, and no later snapshot turns it into an agent of the API's roster."""

from __future__ import annotations

import json

import pytest

from acd.engine import EngineError
from acd.model import AgentState
from tests.conftest import Driver
from tests.engine.test_state import FIXTURES, reload, rich_config


def _roster_without(agent_id: str) -> list[dict]:
    roster = json.loads((FIXTURES / "format2.config.json").read_text())["agents"]
    return [a for a in roster if a["id"] != agent_id]


def _talking_agent_removed(router_kind: str) -> tuple[Driver, str]:
    from acd.engine import Engine

    d = Driver(Engine(rich_config(), router=router_kind))
    d.agent("a1", "available")
    d.offer("c1")
    agent = d.engine.calls["c1"].agent_id
    assert agent is not None
    d.send("call.answered", call_id="c1", agent_id=agent)
    d.engine = reload(d.engine, rich_config(agents=_roster_without(agent)))
    return d, agent


@pytest.mark.parametrize("restated", ["available", "paused"])
def test_a_removed_agent_still_leaves_after_its_call_whatever_the_platform_restates(router_kind, restated):
    """Before: `available` during the call withdrew the removal (the agent's own requests may be
    withdrawn so, the roster's may not), and `paused` replaced it; after the call the removed
    agent went to wrap-up, then available, and took calls."""
    d, agent = _talking_agent_removed(router_kind)
    d.agent(agent, restated)
    d.send("call.ended", call_id="c1", reason="completed")
    a = d.engine.agents[agent]
    assert (d.engine.agent_state(a), a.reason) == (AgentState.LOGGED_OUT, "removed")


def test_a_removed_agent_logged_out_after_its_call_is_unknown_to_the_platform(router_kind):
    """Before: the platform's next `available` logged it back in and it was rung for calls."""
    d, agent = _talking_agent_removed(router_kind)
    d.send("call.ended", call_id="c1", reason="completed")
    with pytest.raises(EngineError) as refused:
        d.agent(agent, "available")
    assert refused.value.code == "unknown_agent"
    d.offer("c2")
    assert d.engine.calls["c2"].agent_id != agent


def test_a_snapshot_during_its_call_keeps_the_agent_leaving_and_the_next_load_drops_it(router_kind):
    """Before: the snapshot wrote it as an agent of the API's roster (`roster: "api"`): every
    later restart kept it, for ever."""
    d, agent = _talking_agent_removed(router_kind)
    d.engine = reload(d.engine)  # a snapshot while it talks, loaded under the same config/
    assert d.engine.queries.agent(agent, d.now)["pending_state"] == "logged_out"
    d.send("call.ended", call_id="c1", reason="completed")
    d.engine = reload(d.engine)
    assert agent not in d.engine.agents
