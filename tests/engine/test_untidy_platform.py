"""The untidy platform against acd's own clock and timers, one rule per test, on both routers:
a `platform.sync` dated ahead of acd's clock or contradicting events acd just applied, results
late or repeated, and answers or ring-outs crossing a re-route. Each test names the rule."""

from __future__ import annotations

from dataclasses import replace

import pytest

from acd.model import AgentState
from tests.conftest import ev

AV, B, W, P = AgentState.AVAILABLE, AgentState.BUSY, AgentState.WRAP_UP, AgentState.PAUSED


def state(d, agent_id: str) -> AgentState:
    return d.engine.agent_state(d.engine.agents[agent_id])


def applied(d, type_: str, **fields):
    """Send one event; its result (status, ignored) and decision."""
    results, commands = d.engine.apply([ev(type_, **fields)], d.now)
    d.commands += commands
    return results[0]


# ---------------------------------------------------------------- a sync dated ahead of acd's clock


def test_future_sync_keeps_a_pause_asked_during_the_call(make_driver):
    """A sync stamped ahead of acd's clock (within routing.max_ts_ahead_s) reports the platform
    as of when it was posted, not of an instant still to come: the agent's pause asked during the
    call that followed (stamped after the sync arrived, before its `ts`) is news, and takes effect
    when the call ends."""
    d = make_driver(wrap_up_s=30)
    n = d.now
    d.agent("a1", "available")
    d.send("platform.sync", at=n + 200, calls=[], agents={"a1": "available"})  # confirmed, ahead
    d.offer("c1")
    d.send("call.answered", at=n + 5, call_id="c1", agent_id="a1")
    d.advance(10)
    result = applied(d, "agent.state", at=n + 10, agent_id="a1", state="paused", reason="lunch")
    assert result.ignored is None  # kept for the call's end
    d.advance(10)
    d.send("call.ended", at=n + 20, call_id="c1", reason="completed")
    assert state(d, "a1") is P
    assert d.engine.agents["a1"].reason == "lunch"


def test_future_sync_ends_a_lost_call_no_later_than_its_arrival(make_driver):
    """A call a sync stamped ahead no longer lists ended before the sync was posted: its end, and
    the agent's change with it, are dated at the latest by the sync's arrival, so the agent's own
    reports that follow (a pause a second later) are not taken for older news."""
    d = make_driver(wrap_up_s=30)
    n = d.now
    d.agent("a1", "available")
    d.offer("c1")
    d.send("call.answered", at=n, call_id="c1", agent_id="a1")
    d.advance(60)
    decision = d.send("platform.sync", at=d.now + 200, calls=[], agents={"a1": "available"})
    assert decision["ended"] == ["c1"]
    assert d.engine.calls["c1"].ended_at <= d.now
    result = applied(d, "agent.state", at=d.now + 1, agent_id="a1", state="paused", reason="lunch")
    assert result.ignored is None
    assert state(d, "a1") is P


def test_an_older_sync_delivered_after_a_newer_one_stays_stale_when_both_are_ahead(make_driver):
    """Syncs are ordered by their own `ts`, even ahead of acd's clock: the older one, delivered
    late, undoes nothing the newer one said."""
    d = make_driver()
    n = d.now
    d.agent("a1", "available")
    d.send("platform.sync", at=n + 260, calls=[], agents={"a1": "available"})
    d.advance(1)
    result = applied(d, "platform.sync", at=n + 200, calls=[], agents={"a1": "logged_out"})
    assert result.ignored == "stale"
    assert state(d, "a1") is AV


def test_a_sync_reports_the_agent_as_of_its_ts_after_a_pause_asked_during_the_call(make_driver):
    """The contract's reconciliation, as it stands: a pause asked during a call waits for the
    call's end. A sync that no longer lists the call ends it (lost) and the pause takes effect;
    the sync's own report of the agent, as of its `ts` (after the request), then applies: the
    platform says `available`, so available (a pause stamped after the sync is never undone by
    it, see above). A sync that still lists the call leaves the agent with it, the pause kept."""
    d = make_driver(wrap_up_s=30)
    n = d.now
    for agent in ("a1", "a4"):
        d.agent(agent, "available")
    d.offer("c1")
    d.offer("c2")
    d.send("call.answered", at=n, call_id="c1", agent_id="a1")
    d.send("call.answered", at=n, call_id="c2", agent_id="a4")
    d.advance(30)
    for agent in ("a1", "a4"):
        d.agent(agent, "paused", at=n + 10, reason="lunch")
    decision = d.send("platform.sync", at=n + 20, calls=["c2"], agents={"a1": "available", "a4": "available"})
    assert decision["ended"] == ["c1"] and decision["agents"] == {"a1": "available"}
    assert state(d, "a1") is AV
    assert state(d, "a4") is B  # with c2, its pause kept for the end
    d.send("call.ended", call_id="c2", reason="completed")
    assert state(d, "a4") is P


def test_a_sync_stamped_before_a_connect_leaves_that_call_ringing(make_driver):
    """The platform's list predates the call acd has just connected (its `ts` is before the
    connect): the call is not ended lost, its agent keeps it, no second connect is sent."""
    d = make_driver()
    d.offer("c1")  # waits
    d.advance(10)
    d.agent("a1", "available")  # connect c1 -> a1 now
    decision = d.send("platform.sync", at=d.now - 2, calls=[], agents={"a1": "available"})
    assert decision == {"action": "sync", "ended": [], "agents": {}}
    assert d.engine.calls["c1"].status == "connecting" and d.engine.agents["a1"].call_id == "c1"
    assert [c.command for c in d.commands] == ["connect"]


def test_a_sync_repeated_changes_nothing_more(make_driver):
    """The same sync posted again (a retry under its id: a duplicate; or again under a new id)
    ends nothing more and moves nobody."""
    d = make_driver(wrap_up_s=0)
    d.agent("a1", "available")
    d.offer("c1")
    d.send("call.answered", call_id="c1", agent_id="a1")
    d.advance(5)
    body = {"calls": [], "agents": {"a1": "available", "a4": "paused", "nobody": "busy"}}
    first = applied(d, "platform.sync", id="s1", **body)
    assert first.decision.to_wire() == {
        "action": "sync",
        "ended": ["c1"],
        "agents": {"a1": "available", "a4": "paused"},
    }
    again = applied(d, "platform.sync", id="s1", **body)
    assert again.status == "duplicate"
    d.advance(5)
    anew = applied(d, "platform.sync", **body)
    assert anew.decision.to_wire() == {"action": "sync", "ended": [], "agents": {}}
    assert d.commands == []


def test_an_undated_sync_is_news_even_after_one_stamped_ahead(make_driver):
    """A sync without `ts` is dated by its arrival: it is the newest word, never stale, whatever a
    sync stamped ahead of acd's clock said before (as an undated `agent.state`). Found by the
    chaos run: the final sync (the platform holds nothing) was ignored and left a call answered
    and its agent busy, and a local service's place taken."""
    d = make_driver(wrap_up_s=0)
    n = d.now
    d.agent("a1", "available")
    d.offer("c1")
    d.send("call.answered", call_id="c1", agent_id="a1")
    d.send("platform.sync", at=n + 250, calls=["c1"], agents={})
    d.advance(60)
    result = applied(d, "platform.sync", calls=[], agents={"a1": "available"})
    assert result.ignored is None
    assert result.decision.to_wire()["ended"] == ["c1"]
    assert state(d, "a1") is AV


# ---------------------------------------------------------------- ring-outs and answers crossing a re-ring


def test_a_ring_out_stamped_before_the_ring_in_progress_is_stale(make_driver):
    """a1 rings out (`call.unanswered` at +20 s); c1 goes back to its place and, a1 being the only
    free agent, rings a1 again. A second `call.unanswered` for a1 stamped +19 s (the first
    ring-out posted twice under two ids, delivered late) is about the earlier ring: it neither
    ends the ring in progress nor counts a second ring-out (which would pause a1)."""
    d = make_driver(max_no_answer=2)
    n = d.now
    d.agent("a1", "available")
    d.offer("c1")
    d.advance(20)
    d.send("call.unanswered", at=n + 20, call_id="c1", agent_id="a1")
    assert d.engine.agents["a1"].call_id == "c1"  # rung again
    result = applied(d, "call.unanswered", at=n + 19, call_id="c1", agent_id="a1")
    assert result.ignored == "stale"
    assert d.engine.calls["c1"].status == "connecting" and d.engine.agents["a1"].call_id == "c1"
    assert [c.command for c in d.commands].count("connect") == 1  # the re-ring's only
    ring_out = next(h for h in d.engine.queries.call("c1", d.now)["history"] if h["action"] == "requeue")
    assert ring_out["agent_id"] == "a1" and ring_out["ts"] == "2026-03-02T10:00:20+01:00"  # the line's zone


def test_an_answer_after_the_ring_out_gave_the_call_to_another_agent_leaves_one_agent_on_it(make_driver):
    """a1 rings out, c1 goes to a5 (a connect command); a1's `call.answered` comes after. The
    platform says a1 talks to the caller: the call is a1's (as a pick-up), a5 is released and may
    take the next caller; never two agents on c1, nor a5 kept ringing for it, and the connect to
    a5, if the outbox still holds it, is superseded. Once a5 answers another call, a late answer
    of c1 by a5 is ignored (it is on another call)."""
    d = make_driver(max_no_answer=5)
    n = d.now
    d.agent("a1", "available")
    d.offer("c1")
    d.agent("a5", "available")
    d.advance(20)
    d.send("call.unanswered", at=n + 20, call_id="c1", agent_id="a1")
    to_a5 = d.commands[-1]
    assert to_a5.command == "connect" and to_a5.fields["agent_id"] == "a5"
    d.send("call.answered", at=n + 21, call_id="c1", agent_id="a1")
    assert d.engine.calls["c1"].agent_id == "a1" and d.engine.agents["a1"].call_id == "c1"
    assert d.engine.agents["a5"].call_id is None and state(d, "a5") is AV
    assert d.engine.queries.command_superseded(to_a5)
    d.offer("c2")  # a5 takes it
    assert d.engine.agents["a5"].call_id == "c2"
    d.send("call.answered", call_id="c2", agent_id="a5")
    assert applied(d, "call.answered", call_id="c1", agent_id="a5").ignored == "answered_by_another_agent"
    holders = [a.call_id for a in d.engine.agents.values() if a.call_id]
    assert sorted(holders) == ["c1", "c2"]


# ---------------------------------------------------------------- pick-ups by an agent away


@pytest.mark.parametrize("away", ["paused", "logged_out"])
def test_an_agent_away_who_picks_up_a_call_is_away_again_after_it(make_driver, away):
    """An agent paused (at lunch) or logged out picks up a waiting call acd had not rung it for (a
    pickup on the platform). The call owns the agent while it lasts; when it ends the agent is
    back in the state it was in, with its reason, not made available by wrap-up's end (it would
    be rung while away, and ring out). An `available` during the call withdraws it, as any
    request kept for the call's end."""
    d = make_driver(wrap_up_s=30)
    d.agent("a1", away, **({"reason": "lunch"} if away == "paused" else {}))
    d.advance(5)
    d.offer("c1")  # nobody available: it waits
    d.send("call.answered", call_id="c1", agent_id="a1")
    assert state(d, "a1") is B and d.engine.agents["a1"].call_id == "c1"
    d.advance(60)
    d.send("call.ended", call_id="c1", reason="completed")
    d.advance(60)  # past wrap-up
    assert state(d, "a1").wire == away
    assert d.engine.agents["a1"].reason == ("lunch" if away == "paused" else None)
    d.offer("c2")
    assert d.engine.agents["a1"].call_id is None

    d.offer("c3")  # waits too: the agent picks it up, and says it is back during the call
    d.send("call.answered", call_id="c3", agent_id="a1")
    d.agent("a1", "available")
    d.send("call.ended", call_id="c3", reason="completed")
    assert state(d, "a1") is W


# ---------------------------------------------------------------- commands the outbox still holds


def test_a_connect_is_superseded_once_its_assignment_is_over(make_driver):
    """What the outbox asks before delivering a command (acd/engine/queries.py): a `connect` stands
    while its call still rings that agent for that assignment; once the call rang out (and rings
    again, the same agent or another), was answered or ended, it is superseded. Other commands
    always stand."""
    d = make_driver()
    d.offer("c1")  # waits
    d.agent("a1", "available")  # a connect command for a1
    first = d.commands[-1]
    superseded = d.engine.queries.command_superseded
    assert first.command == "connect" and not superseded(first)
    d.send("call.unanswered", call_id="c1", agent_id="a1")  # rings a1 again: a new connect
    second = d.commands[-1]
    assert second.command == "connect" and second.id != first.id
    assert superseded(first) and not superseded(second)
    d.send("call.answered", call_id="c1", agent_id="a1")
    assert superseded(second)
    d.offer("c2")
    d.agent("a5", "available")
    third = d.commands[-1]
    d.send("call.ended", call_id="c2", reason="abandoned")
    assert superseded(third)
    assert not superseded(replace(third, command="survey"))


# ---------------------------------------------------------------- wrap-up's timer meeting the agent's word


def test_wrap_up_ends_early_on_available_and_its_timer_then_does_nothing(make_driver):
    """`available` during wrap-up ends it at once (the agent takes the next caller); the wrap-up
    timer that falls due later changes nothing. A `paused` stamped during the call but delivered
    in wrap-up pauses the agent; one delivered once the agent said `available` after it is stale."""
    d = make_driver(wrap_up_s=30)
    n = d.now
    d.agent("a1", "available")
    d.offer("c1")
    d.send("call.answered", at=n, call_id="c1", agent_id="a1")
    d.advance(60)
    d.send("call.ended", at=n + 60, call_id="c1", reason="completed")
    assert state(d, "a1") is W
    d.advance(5)
    d.agent("a1", "available", at=n + 65)
    d.offer("c2")
    assert d.engine.agents["a1"].call_id == "c2"
    d.advance(60)  # past the first wrap-up's end: a1 still rings for c2
    assert d.engine.agents["a1"].call_id == "c2" and [c.command for c in d.commands] == []
    assert applied(d, "agent.state", at=n + 30, agent_id="a1", state="paused").ignored == "stale"

    d.send("call.answered", call_id="c2", agent_id="a1")
    d.send("call.ended", call_id="c2", reason="completed")
    assert state(d, "a1") is W
    d.agent("a1", "paused", at=d.now - 1, reason="lunch")  # stamped during c2, delivered now
    assert state(d, "a1") is P
    d.advance(60)
    assert state(d, "a1") is P


def test_a_logout_while_ringing_waits_for_the_ring_and_a_ring_out_then_logs_out(make_driver):
    d = make_driver()
    d.agent("a1", "available")
    d.offer("c1")
    d.agent("a1", "logged_out")
    assert d.engine.agents["a1"].call_id == "c1"  # still rung: the call owns it
    d.send("call.unanswered", call_id="c1", agent_id="a1")
    assert state(d, "a1").wire == "logged_out" and d.engine.calls["c1"].status == "queued"


def test_callback_results_late_repeated_or_after_a_cancel_change_nothing(make_driver):
    d = make_driver()
    d.offer("c1")
    d.send("callback.accepted", call_id="c1")
    assert applied(d, "callback.result", callback_id="cb-c1", outcome="answered").ignored == "not_dialing"
    d.agent("a2", "available")  # dials it
    assert d.commands[-1].command == "originate"
    d.send("callback.result", callback_id="cb-c1", outcome="no_answer")
    assert applied(d, "callback.result", callback_id="cb-c1", outcome="no_answer").ignored == "not_dialing"
    assert d.engine.callbacks["cb-c1"].status == "scheduled" and state(d, "a2") is AV
    d.send("callback.cancelled", callback_id="cb-c1")
    assert applied(d, "callback.result", callback_id="cb-c1", outcome="answered").ignored == "not_dialing"
    assert d.engine.callbacks["cb-c1"].status == "cancelled"
    assert applied(d, "callback.accepted", call_id="c1").ignored == "call_ended"
    d.offer("c2")
    d.agent("a1", "available")  # c2 rings a1
    assert applied(d, "callback.accepted", call_id="c2").ignored == "not_waiting"


# ---------------------------------------------------------------- an acceptance delivered after the hang-up


def test_a_callback_accepted_before_the_callers_hang_up_but_delivered_after_it_is_kept(make_driver):
    """The caller on hold takes the callback offered (stamped +30 s) and hangs up (+31 s); the
    hang-up's `call.ended` is delivered first. Found by the untidy walk
    (tests/engine/test_untidy_walk.py): the acceptance, late, was ignored (`call_ended`) and the
    caller promised a callback was never rung. Stamped before the end of a call that ended waiting
    in line, it is taken as if delivered in time: the call gets back its place, keeps it for its
    callback, and is dialled when its turn comes; the day's figures no longer count it abandoned."""
    d = make_driver()
    n = d.now
    d.offer("c1")  # nobody available: it waits
    d.advance(31)
    d.send("call.ended", at=n + 31, call_id="c1", reason="abandoned")
    assert d.engine.queries.today(d.now)[1]["abandoned"] == {"impot_revenu": 1}
    d.advance(5)
    result = applied(d, "callback.accepted", at=n + 30, call_id="c1")
    assert result.ignored is None, result
    assert result.decision.to_wire() == {"action": "callback", "call_id": "c1", "callback_id": "cb-c1"}
    assert d.engine.calls["c1"].status == "callback" and d.engine.callbacks["cb-c1"].status == "scheduled"
    assert not d.engine.queries.today(d.now)[1]["abandoned"]
    d.send("call.ended", at=n + 31, call_id="c1", reason="abandoned")  # posted again: the leg's end
    assert d.engine.calls["c1"].status == "callback"
    d.agent("a1", "available")  # its turn: dialled back
    assert [c.command for c in d.commands] == ["originate"] and d.commands[0].fields["agent_id"] == "a1"


def test_a_late_acceptance_is_dialled_at_once_by_an_agent_free_meanwhile(make_driver):
    d = make_driver()
    n = d.now
    d.offer("c1")
    d.advance(30)
    d.send("call.ended", at=n + 30, call_id="c1", reason="completed")
    d.agent("a1", "available")  # free now: nothing waits
    d.advance(5)
    applied(d, "callback.accepted", at=n + 29, call_id="c1")
    assert [c.command for c in d.commands] == ["originate"] and d.engine.agents["a1"].call_id == "c1"


@pytest.mark.parametrize("why", ["stamped after the end", "undated", "ringing an agent at its end"])
def test_an_acceptance_after_the_end_is_still_ignored(make_driver, why):
    d = make_driver()
    n = d.now
    d.offer("c1")
    d.advance(30)
    if why == "ringing an agent at its end":
        d.agent("a1", "available")  # c1 rings a1: no longer on hold
    d.send("call.ended", at=n + 30, call_id="c1", reason="abandoned")
    at = {"stamped after the end": n + 31, "undated": None}.get(why, n + 29)
    assert applied(d, "callback.accepted", at=at, call_id="c1").ignored == "call_ended"
    assert d.engine.calls["c1"].status == "ended" and not d.engine.callbacks


# ---------------------------------------------------------------- a first dial's word, by a clock behind


@pytest.mark.parametrize("word", ["callback.result", "call.unanswered"])
def test_the_word_on_a_first_dial_stamped_before_it_began_is_its_own(make_driver, word):
    """A requested callback's first dial; the platform's clock runs 1.5 s behind acd's and the
    number is busy at once: its result (or the agent's ring-out), stamped before the dial began
    by acd's clock, was taken for an earlier dial's (`stale`) though there was none, and the
    agent stayed reserved for a dial that was over, for good (no sync ends a dial). Found by the
    untidy walk (tests/engine/test_untidy_walk.py, a platform clock behind). Before a contact's
    first dial nothing was rung: its word is this dial's, whatever its stamp."""
    d = make_driver()
    d.agent("a2", "available")
    d.send("callback.requested", callback_id="rq1", number="+33600000003", skill="paiement")
    [originate] = [c for c in d.commands if c.command == "originate"]
    assert originate.fields["agent_id"] == "a2"
    d.advance(1)
    if word == "callback.result":
        result = applied(d, word, at=d.now - 1.5, callback_id="rq1", outcome="busy")
    else:
        result = applied(d, word, at=d.now - 1.5, call_id="rq1", agent_id="a2")
    assert result.ignored is None, result
    if word == "callback.result":  # the caller's busy: retried later, the agent free
        assert d.engine.callbacks["rq1"].status == "scheduled" and d.engine.callbacks["rq1"].attempts == 1
        assert d.engine.agents["a2"].call_id is None and state(d, "a2") is AV
    else:  # the agent's ring-out: back in line at once, dialled again (a2 is the only one free)
        assert [c.command for c in d.commands] == ["originate", "originate"]
