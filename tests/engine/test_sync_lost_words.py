"""A ring-out the platform lost, found by `platform.sync` (the contract's "Reconciliation"), on
both routers. Without it an agent stayed reserved for good: the `call.unanswered` of a ring-out
lost while the platform still holds the caller (the watchdog flags her, `ringing_too_long`). An
inbound call rung longer than `routing.max_ringing_s` (as of the sync's `ts`) on an agent the
sync reports `available` rang out: back to its place in line, the agent `ring_out` (`rang_out`
in the decision, named only when a sync found one). A callback's or an appointment's dial the
sync no longer lists past `routing.max_ringing_s` is over, its result lost (`dials_lost`).

Each test names its rule."""

from __future__ import annotations

import json
from typing import Any

from acd.engine import state as engine_state
from acd.model import AgentState
from tests.conftest import Driver, ev
from tests.engine.test_callbacks import driver as cb_driver
from tests.engine.test_callbacks import request

AV = AgentState.AVAILABLE


def state(d: Driver, agent_id: str) -> AgentState:
    return d.engine.agent_state(d.engine.agents[agent_id])


def sync(d: Driver, at: float | None = None, **body: Any) -> Any:
    """A sync dated `at` (now by default): its result."""
    results, commands = d.engine.apply([ev("platform.sync", at=d.now if at is None else at, **body)], d.now)
    d.commands += commands
    return results[0]


def connects(d: Driver) -> list[tuple[str, str]]:
    """Every agent rung, by call: the offer's decision or a `connect` command alike."""
    return [
        (call.id, entry["agent_id"])
        for call in d.engine.calls.values()
        for _, entry in call.history
        if entry["action"] == "connect"
    ]


# ---------------------------------------------------------------- a ring-out lost


def test_a_call_rung_longer_than_the_maximum_on_an_agent_reported_available_rang_out(make_driver):
    """The platform still holds the caller and says the agent is available, 301 s after acd rang
    her (routing.max_ringing_s 300): her `call.unanswered` was lost. The call goes back to its
    place and to the other agent free; the first is free again (a first ring-out: no pause)."""
    d = make_driver(max_ringing_s=300)
    d.agent("a1", "available")
    d.offer("c1")
    assert connects(d) == [("c1", "a1")]
    d.advance(301)
    d.agent("a2", "available")  # idle: nobody waits
    result = sync(d, calls=["c1"], agents={"a1": "available"})
    assert result.decision.to_wire() == {
        "action": "sync",
        "ended": [],
        "agents": {"a1": "available"},
        "rang_out": ["c1"],
    }
    assert connects(d) == [("c1", "a1"), ("c1", "a2")]
    assert d.engine.agents["a1"].call_id is None and state(d, "a1") is AV
    requeues = [h.get("why") for _, h in d.engine.calls["c1"].history if h["action"] == "requeue"]
    assert requeues == ["no_answer"]
    assert d.engine.calls["c1"].unanswered == 1


def test_the_lost_ring_out_counts_toward_rona_pause(make_driver):
    """Taken as the agent's ring-out, it counts as one: the second in a row pauses her
    (routing.max_no_answer 2), as two posted `call.unanswered` would."""
    d = make_driver(max_ringing_s=300, max_no_answer=2, wrap_up_s=0)
    d.agent("a1", "available")
    d.offer("c1")
    d.send("call.unanswered", call_id="c1", agent_id="a1")  # the first, posted: rung again at once
    assert connects(d) == [("c1", "a1"), ("c1", "a1")]
    d.advance(301)
    result = sync(d, calls=["c1"], agents={"a1": "available"})
    assert result.decision.to_wire()["rang_out"] == ["c1"]
    assert state(d, "a1") is AgentState.PAUSED
    assert d.engine.calls["c1"].status == "queued" and d.engine.calls["c1"].waiting


def test_a_ring_within_the_maximum_is_left_ringing(make_driver):
    """Rung 100 s (a platform still ringing, or a slow agent): the sync's `available` restates
    what acd knows, as the contract says of an assignment; nothing moves."""
    d = make_driver(max_ringing_s=300)
    d.agent("a1", "available")
    d.offer("c1")
    d.advance(100)
    result = sync(d, calls=["c1"], agents={"a1": "available"})
    assert result.decision.to_wire() == {"action": "sync", "ended": [], "agents": {}}
    assert d.engine.agents["a1"].call_id == "c1" and connects(d) == [("c1", "a1")]


def test_a_ring_the_sync_predates_by_more_than_the_maximum_is_not_judged_by_its_arrival(make_driver):
    """The sync reports the platform as of its `ts`: one stamped 10 s after the ring and delivered
    400 s later says nothing of a ring-out (the ring lasted 10 s as of what it knew)."""
    d = make_driver(max_ringing_s=300)
    d.agent("a1", "available")
    d.offer("c1")
    rung = d.now
    d.advance(400)
    result = sync(d, at=rung + 10, calls=["c1"], agents={"a1": "available"})
    assert result.decision.to_wire() == {"action": "sync", "ended": [], "agents": {}}
    assert d.engine.agents["a1"].call_id == "c1"


def test_an_agent_reported_busy_while_rung_long_is_left_with_her_call(make_driver):
    """`busy` for a rung agent is not a ring-out (her answer may have been lost): the call keeps
    her; its end, or a sync that no longer holds it, frees her."""
    d = make_driver(max_ringing_s=300)
    d.agent("a1", "available")
    d.offer("c1")
    d.advance(400)
    result = sync(d, calls=["c1"], agents={"a1": "busy"})
    assert result.decision.to_wire() == {"action": "sync", "ended": [], "agents": {}}
    assert d.engine.agents["a1"].call_id == "c1"
    d.send("call.ended", call_id="c1", reason="completed")
    assert d.engine.agents["a1"].call_id is None


def test_the_lost_ring_out_posted_late_afterwards_changes_nothing(make_driver):
    """The `call.unanswered` that was lost, delivered after the sync took it: the call rings
    another agent now, not this one."""
    d = make_driver(max_ringing_s=300)
    d.agent("a1", "available")
    d.offer("c1")
    d.advance(301)
    d.agent("a2", "available")
    sync(d, calls=["c1"], agents={"a1": "available"})
    results, _ = d.engine.apply([ev("call.unanswered", call_id="c1", agent_id="a1")], d.now)
    assert results[0].ignored == "not_ringing_this_agent"
    assert connects(d) == [("c1", "a1"), ("c1", "a2")]


# ---------------------------------------------------------------- a dial's result lost


def test_a_dial_the_platform_no_longer_holds_past_the_maximum_ring_is_over(router_kind):
    """The contract's rule for every call acd holds as connecting: one the platform no longer
    holds has ended. A callback's dial (its call id named by `originate`) the sync does not list,
    `routing.max_ringing_s` after it began: its result was lost. The agent is free (and takes the
    sync's state); the customer was not heard answering, so the dial counts as an attempt not
    answered and the callback's rules dial again later (`dials_lost` in the decision). Before,
    the agent stayed reserved for good, until somebody posted the result by hand."""
    d = cb_driver(router_kind)
    request(d, "cb1")
    d.agent("a1", "available")
    assert d.engine.callbacks["cb1"].status == "dialing"
    d.advance(400)
    result = sync(d, calls=[], agents={"a1": "available"})
    assert result.decision.to_wire() == {
        "action": "sync",
        "ended": [],
        "agents": {"a1": "available"},  # moved by the dial's end
        "dials_lost": ["cb1"],
    }
    callback = d.engine.callbacks["cb1"]
    assert callback.status == "scheduled" and callback.attempts == 1 and callback.agent_id is None
    assert state(d, "a1") is AV and d.engine.agents["a1"].call_id is None
    assert [entry for _, entry in callback.history][-2:] == [
        {"status": "lost"},
        {"status": "scheduled", "why": "retry"},
    ]
    # the result, posted late, changes nothing: the callback waits for its next dial
    late = d.send("callback.result", callback_id="cb1", outcome="no_answer")
    assert d.engine.callbacks["cb1"].status == "scheduled" and late is None


def test_a_dial_is_not_judged_lost_within_the_maximum_ring_nor_while_listed(router_kind):
    """Within `max_ringing_s` the platform may not hold the dial yet (its `originate` in flight);
    listed, it is held: the agent stays with it and the result settles it."""
    d = cb_driver(router_kind)
    request(d, "cb1")
    d.agent("a1", "available")
    d.advance(200)
    assert sync(d, calls=[], agents={"a1": "available"}).decision.to_wire()["ended"] == []
    d.advance(200)
    assert "dials_lost" not in sync(d, calls=["cb1"], agents={"a1": "busy"}).decision.to_wire()
    assert d.engine.callbacks["cb1"].status == "dialing" and d.engine.agents["a1"].call_id == "cb1"
    d.send("callback.result", callback_id="cb1", outcome="no_answer")
    assert d.engine.callbacks["cb1"].status == "scheduled" and state(d, "a1") is AV


def test_an_appointment_s_dial_lost_frees_its_agent_and_is_dialled_again_within_its_slot(router_kind):
    from tests.engine.test_appointments import book, local
    from tests.engine.test_appointments import driver as ap_driver

    d = ap_driver(router_kind)
    book(d, "ap1", "2026-03-02T11:00:00", site="lille")
    d.agent("a1", "available")
    d.advance(local("2026-03-02T11:00:00").timestamp() - d.now)
    assert d.engine.appointments["ap1"].status == "dialing"
    d.advance(400)
    wire = sync(d, calls=[], agents={"a1": "available"}).decision.to_wire()
    assert wire["dials_lost"] == ["ap1"]
    appointment = d.engine.appointments["ap1"]
    assert appointment.status == "booked" and appointment.agent_id is None and appointment.attempts == 1
    assert state(d, "a1") is AV
    d.advance(300)  # its retry within the slot: dialled again
    assert appointment.status == "dialing" and [c.command for c in d.commands].count("originate") == 2


def test_the_decision_with_the_new_key_reads_back_from_its_wire_form(make_driver, router_kind):
    """A duplicate answers the first decision, kept in the state document in its wire form."""
    d = make_driver(max_ringing_s=300)
    d.agent("a1", "available")
    d.offer("c1")
    d.advance(301)
    first = sync(d, calls=["c1"], agents={"a1": "available"}, id="s1")
    assert first.decision.to_wire()["rang_out"] == ["c1"]
    again = sync(d, calls=["c1"], agents={"a1": "available"}, id="s1")
    assert again.status == "duplicate"
    assert again.decision.to_wire() == first.decision.to_wire()
    document = json.loads(json.dumps(engine_state.dump(d.engine)))  # as written to a file
    copy = engine_state.load(d.engine.config, document, router=router_kind)
    again_later = ev("platform.sync", id="s1", at=d.now, calls=["c1"], agents={"a1": "available"})
    [dup], _ = copy.apply([again_later], d.now)
    assert dup.status == "duplicate" and dup.decision.to_wire() == first.decision.to_wire()


def test_a_call_a_sync_puts_back_in_line_waits_for_the_whole_sync_before_it_is_routed(make_driver):
    """The sync applies whole: a call it puts back in line (a ring-out it finds lost) is routed
    once every agent's state it reports is applied, never to an agent the same sync reports
    paused further on (rung, that agent's pause only pended for the call's end)."""
    d = make_driver(max_ringing_s=300, rona_pause=True, max_no_answer=1)
    d.agent("a1", "available")
    d.offer("c1")
    assert connects(d) == [("c1", "a1")]
    d.advance(301)
    d.agent("a2", "available")  # idle: nobody waits
    result = sync(d, calls=["c1"], agents={"a1": "available", "a2": "paused"})
    assert result.decision.to_wire()["rang_out"] == ["c1"]
    assert connects(d) == [("c1", "a1")]  # never to a2, whom the sync says paused
    assert state(d, "a2") is AgentState.PAUSED and d.engine.agents["a2"].call_id is None
    assert d.engine.calls["c1"].status == "queued" and d.engine.calls["c1"].waiting
