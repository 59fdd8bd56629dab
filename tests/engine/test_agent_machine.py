"""The agent's state machine (acd/engine/agents.py): every cell of its table, driven through the
engine, on both routers; then the rules it carries, one test each."""

from __future__ import annotations

import pytest

from acd.engine import agents as machine
from acd.model import AgentState
from tests.conftest import Driver
from tests.conftest import ev as _ev

L, AV, B, W, P, R = (
    AgentState.LOGGED_OUT,
    AgentState.AVAILABLE,
    AgentState.BUSY,
    AgentState.WRAP_UP,
    AgentState.PAUSED,
    AgentState.RESERVED,
)


def situate(d: Driver, situation: machine.Situation) -> None:
    """Put a1 in the situation (c1 is its call when on a call)."""
    state, on_call = situation
    if state is AV or on_call:
        d.agent("a1", "available")
    elif state is not L:
        d.agent("a1", state.wire, **({"reason": "lunch"} if state is P else {}))
    d.advance(1)
    if on_call:
        d.offer("c1")
        d.advance(1)
        if state is B:
            d.send("call.answered", call_id="c1", agent_id="a1")
            d.advance(1)
    assert (d.engine.agent_state(d.engine.agents["a1"]), d.engine.agents["a1"].call_id is not None) == (
        state,
        on_call,
    )


def trigger(d: Driver, situation: machine.Situation, event: str) -> str | None:
    """Apply the event to a1 through the engine's inputs; returns the result's `ignored`."""
    if event in machine.PLATFORM_EVENTS:
        reason = {"reason": "lunch"} if event == "paused" else {}  # the reason situate gave
        results, commands = d.engine.apply([_ev("agent.state", agent_id="a1", state=event, **reason)], d.now)
        d.commands += commands
        return results[0].ignored
    if event == "reserve":
        d.offer("c1")
    elif event == "answer":
        call = "c1" if situation[1] else "x"  # x: a waiting call acd could not give a1
        results, _ = d.engine.apply([_ev("call.answered", call_id=call, agent_id="a1")], d.now)
        return results[0].ignored
    elif event == "ring_out":
        d.send("call.unanswered", call_id="c1", agent_id="a1")
    elif event == "release":
        d.send("call.ended", call_id="c1", reason="abandoned")
    elif event == "call_end":
        if situation[0] is R:  # a connecting call the platform no longer holds
            d.send("platform.sync", calls=["w", "x"], agents={})
        else:
            d.send("call.ended", call_id="c1", reason="completed")
    elif event == "wrap_timer":
        d.advance(30)
    return None


def resolve(step: machine.Transition, situation: machine.Situation) -> AgentState:
    """The state the table promises with the test configuration (wrap-up 30 s, two ring-outs
    before a pause, nothing pending)."""
    target = step.state
    if target == machine.SAME:
        return situation[0]
    if target == machine.AFTER_CALL:
        return W
    if target in (machine.AFTER_RELEASE, machine.AFTER_RING_OUT):
        return AV
    assert isinstance(target, AgentState)
    return target


CELLS = sorted(machine.TABLE, key=lambda k: (k[0][0], k[0][1], k[1]))


def test_every_pair_of_situation_and_event_is_in_the_table_or_unreachable_for_a_reason():
    product = {(s, e) for s in machine.SITUATIONS for e in (*machine.PLATFORM_EVENTS, *machine.ENGINE_EVENTS)}
    assert set(machine.TABLE) | set(machine.UNREACHABLE) == product
    assert not set(machine.TABLE) & set(machine.UNREACHABLE)
    assert len(product) == 7 * 11
    # what is unreachable on the engine's side is rejected before the table, never silently
    assert ((B, True), "release") in machine.UNREACHABLE  # an answered call ends, it is not released


def test_unreachable_pairs_are_ignored_before_the_table(make_driver):
    d = make_driver()
    d.agent("a1", "available")
    d.agent("a5", "available")
    d.offer("c1")  # a1
    d.send("call.answered", call_id="c1", agent_id="a1")
    results, _ = d.engine.apply([_ev("call.unanswered", call_id="c1", agent_id="a1")], d.now)
    assert results[0].ignored == "not_ringing_this_agent"  # (BUSY, on call) x ring_out
    results, _ = d.engine.apply([_ev("call.unanswered", call_id="c1", agent_id="a5")], d.now)
    assert results[0].ignored == "not_ringing_this_agent"  # (AVAILABLE, free) x ring_out
    assert d.engine.agent_state(d.engine.agents["a1"]) is B


def test_the_table_covers_every_platform_event_in_every_situation():
    for situation in machine.SITUATIONS:
        for event in machine.PLATFORM_EVENTS:
            assert (situation, event) in machine.TABLE
    # acd's own events only where they can happen
    own = {(s, e) for (s, e) in machine.TABLE if e in machine.ENGINE_EVENTS}
    assert ((AV, False), "reserve") in own and ((W, False), "wrap_timer") in own
    assert all(s in ((R, True), (B, True)) for s, e in own if e in ("ring_out", "release", "call_end"))
    with pytest.raises(ValueError):
        machine.transition(B, True, "reserve")  # a talking agent is never reserved again


@pytest.mark.parametrize(("situation", "event"), CELLS, ids=[f"{s[0].name}-{s[1]}-{e}" for s, e in CELLS])
def test_every_cell_of_the_agent_table_holds_on_the_engine(make_driver, situation, event):
    d = make_driver(wrap_up_s=30, max_no_answer=2)
    situate(d, situation)
    step = machine.TABLE[situation, event]
    d.send("call.offered", call_id="x", caller="+33600000009", skill="paiement")  # waits: nobody has it
    if situation[0] is not AV:
        d.offer("w")  # a waiting call an agent made available takes
    before = len([c for c in d.commands if c.command == "connect"])
    work = any(c.skill == "impot_revenu" for c in d.engine.waiting_calls())
    ignored = trigger(d, situation, event)
    engine, a1 = d.engine, d.engine.agents["a1"]
    expected = resolve(step, situation)
    if expected is AV and "offer_work" in step.effects and work:
        expected = R  # it took the best waiting call at once
    if event == "wrap_timer":
        expected = R if situation[0] is not AV else AV
    state = engine.agent_state(a1)
    assert state is expected, (situation, event, step)
    if event in machine.PLATFORM_EVENTS:
        want = step.ignored
        assert ignored == want
    # never two calls: the agent's call, if any, names it, and no other agent holds it
    if a1.call_id is not None:
        assert engine.calls[a1.call_id].agent_id == "a1"
        assert sum(1 for a in engine.agents.values() if a.call_id == a1.call_id) == 1
    assert state in (R, B) or a1.call_id is None
    connects = [c for c in d.commands if c.command == "connect"]
    assert len({c.id for c in connects}) == len(connects)
    if ignored is not None:
        assert len(connects) == before


# ---------------------------------------------------------------------------- calls own agents


@pytest.mark.parametrize("answered", [False, True])
def test_available_during_a_call_changes_nothing(make_driver, answered):
    d = make_driver()
    d.agent("a1", "available")
    d.offer("c1")
    if answered:
        d.send("call.answered", call_id="c1", agent_id="a1")
    results, _ = d.engine.apply([_ev("agent.state", agent_id="a1", state="available")], d.now)
    assert results[0].ignored == "restates_state"
    assert d.offer("c2")["action"] == "queue"  # no second call for a talking or ringing agent
    assert d.engine.agents["a1"].call_id == "c1"
    assert d.engine.calls["c1"].status == ("answered" if answered else "connecting")


def test_a_batch_of_an_end_and_a_late_available_sends_one_connect_per_assignment(make_driver):
    d = make_driver(wrap_up_s=0)
    d.agent("a1", "available")
    d.offer("c0")  # a1 takes c0
    d.offer("c1")  # waits
    results, commands = d.engine.apply(
        [
            _ev("call.ended", call_id="c0", reason="abandoned"),  # a1 free: it takes c1 (connect)
            _ev("agent.state", agent_id="a1", state="available"),  # late: restates
        ],
        d.now,
    )
    connects = [c for c in commands if c.command == "connect"]
    assert [(c.fields["call_id"], c.fields["agent_id"]) for c in connects] == [("c1", "a1")]
    assert results[1].ignored == "restates_state"


def test_busy_stamped_at_pick_up_but_delivered_after_the_end_is_stale(make_driver):
    d = make_driver(wrap_up_s=30)
    d.agent("a1", "available")
    d.offer("c1")
    picked_up = d.now + 2
    d.advance(2)
    d.send("call.answered", call_id="c1", agent_id="a1")
    d.advance(60)
    d.send("call.ended", call_id="c1", reason="completed")
    d.advance(31)  # wrap-up over: available
    results, _ = d.engine.apply([_ev("agent.state", at=picked_up, agent_id="a1", state="busy")], d.now)
    assert results[0].ignored == "stale"
    assert d.engine.agent_state(d.engine.agents["a1"]) is AV


def test_stale_states_are_ignored_not_applied_in_arrival_order(make_driver):
    d = make_driver()
    t = d.now
    d.send("agent.state", at=t + 10, agent_id="a1", state="available")
    results, _ = d.engine.apply([_ev("agent.state", at=t + 5, agent_id="a1", state="wrap_up")], d.now + 10)
    assert results[0].ignored == "stale"
    results, _ = d.engine.apply([_ev("agent.state", at=t + 5, agent_id="a1", state="paused")], d.now + 10)
    assert results[0].ignored == "stale"  # older than the agent's own later report
    assert d.engine.agent_state(d.engine.agents["a1"]) is AV


def test_answer_by_an_agent_on_another_call_never_gives_it_a_second_call(make_driver):
    d = make_driver()
    d.agent("a1", "available")
    d.agent("a5", "available")
    d.offer("c1")  # a1
    d.offer("c2")  # a5
    d.send("call.answered", call_id="c2", agent_id="a5")
    results, _ = d.engine.apply([_ev("call.answered", call_id="c1", agent_id="a5")], d.now)
    assert results[0].ignored == "agent_on_another_call"
    assert d.engine.agents["a5"].call_id == "c2"
    assert d.engine.agents["a1"].call_id == "c1"


def test_answer_by_another_agent_of_an_answered_call_is_ignored(make_driver):
    d = make_driver()
    d.agent("a1", "available")
    d.offer("c1")
    d.send("call.answered", call_id="c1", agent_id="a1")
    results, _ = d.engine.apply([_ev("call.answered", call_id="c1", agent_id="a5")], d.now)
    assert results[0].ignored == "answered_by_another_agent"
    assert d.engine.agents["a5"].call_id is None


def test_answer_after_the_end_is_ignored(make_driver):
    d = make_driver()
    d.agent("a1", "available")
    d.offer("c1")
    d.send("call.ended", call_id="c1", reason="abandoned")
    results, _ = d.engine.apply([_ev("call.answered", call_id="c1", agent_id="a1")], d.now)
    assert results[0].ignored == "call_ended"
    assert d.engine.agent_state(d.engine.agents["a1"]) is AV
    assert d.engine.agents["a1"].call_id is None


def test_call_ended_twice_is_ignored_and_counted_once(make_driver):
    from acd.engine.observer import Observer

    class Count(Observer):
        ended = 0

        def call_ended(self, call, reason, wait_s):
            Count.ended += 1

    d = make_driver()
    d.engine.observer = Count()
    d.offer("c1")
    d.send("call.ended", call_id="c1", reason="abandoned")
    results, _ = d.engine.apply([_ev("call.ended", call_id="c1", reason="completed")], d.now)
    assert results[0].ignored == "call_ended"
    assert Count.ended == 1
    assert d.engine.calls["c1"].end_reason == "abandoned"


def test_a_second_survey_for_one_call_is_ignored_and_counted_once(make_driver):
    from acd.engine.observer import Observer

    scores = []

    class Count(Observer):
        def survey(self, call, score):
            scores.append(score)

    d = make_driver()
    d.engine.observer = Count()
    d.agent("a1", "available")
    d.offer("c1")
    d.send("call.answered", call_id="c1", agent_id="a1")
    d.send("call.ended", call_id="c1", reason="completed")
    d.send("survey.result", call_id="c1", score=5)
    results, _ = d.engine.apply([_ev("survey.result", call_id="c1", score=1)], d.now)
    assert results[0].ignored == "survey_exists"
    assert scores == [5]
    assert d.engine.calls["c1"].survey_score == 5


def test_callback_accepted_on_an_ended_call_is_ignored(make_driver):
    d = make_driver()
    d.offer("c1")
    d.send("call.ended", call_id="c1", reason="abandoned")
    results, _ = d.engine.apply([_ev("callback.accepted", call_id="c1")], d.now)
    assert results[0].ignored == "call_ended"
    assert d.engine.callbacks == {}


# ---------------------------------------------------------------------------- the agent's requests


@pytest.mark.parametrize("state", ["paused", "logged_out"])
def test_pausing_or_leaving_during_a_call_takes_effect_when_it_ends_with_its_reason(make_driver, state):
    d = make_driver(wrap_up_s=30)
    d.agent("a1", "available")
    d.offer("c1")
    d.send("call.answered", call_id="c1", agent_id="a1")
    d.agent("a1", state, reason="lunch")
    assert d.engine.agent_state(d.engine.agents["a1"]) is B  # still talking
    d.offer("c2")  # waits: a1 asked for no more calls
    d.send("call.ended", call_id="c1", reason="completed")
    a1 = d.engine.agents["a1"]
    assert d.engine.agent_state(a1).wire == state  # no wrap-up's return to available
    assert a1.reason == "lunch"
    d.advance(3600)
    assert d.engine.agent_state(a1).wire == state
    assert d.engine.calls["c2"].status == "queued"  # the next call never reached it


def test_available_during_a_call_withdraws_an_earlier_pause(make_driver):
    d = make_driver(wrap_up_s=0)
    d.agent("a1", "available")
    d.offer("c1")
    d.send("call.answered", call_id="c1", agent_id="a1")
    d.advance(1)
    d.agent("a1", "paused", reason="lunch")
    d.advance(1)
    results, _ = d.engine.apply([_ev("agent.state", agent_id="a1", state="available")], d.now)
    assert results[0].ignored is None  # it changed the pending request
    d.send("call.ended", call_id="c1", reason="completed")
    assert d.engine.agent_state(d.engine.agents["a1"]) is AV


def test_a_paused_agent_keeps_its_reason_and_changes_it_on_request(make_driver):
    d = make_driver()
    d.agent("a1", "paused", reason="lunch")
    assert d.engine.agents["a1"].reason == "lunch"
    d.advance(1)
    d.agent("a1", "paused", reason="meeting")
    assert d.engine.agents["a1"].reason == "meeting"
    assert d.engine.agent_state(d.engine.agents["a1"]) is P


# ---------------------------------------------------------------------------- nobody stuck


def test_a_wrap_up_set_by_the_platform_ends_like_acds_own(make_driver):
    d = make_driver(wrap_up_s=30)
    d.agent("a1", "wrap_up")
    d.advance(29)
    assert d.engine.agent_state(d.engine.agents["a1"]) is W
    d.advance(2)
    assert d.engine.agent_state(d.engine.agents["a1"]) is AV


def test_sync_ends_calls_the_platform_no_longer_holds_as_lost(make_driver):
    d = make_driver(wrap_up_s=30)
    d.agent("a1", "available")
    d.offer("c1")
    d.send("call.answered", call_id="c1", agent_id="a1")
    d.offer("c2")  # queued
    d.offer("c3")  # queued, still held
    d.advance(5)
    decision = d.send("platform.sync", calls=["c3", "unknown-call"], agents={"ghost": "available"})
    assert decision["ended"] == ["c1", "c2"]
    assert decision["agents"] == {"a1": "wrap_up"}
    assert d.engine.calls["c1"].end_reason == "lost"
    assert d.engine.calls["c2"].end_reason == "lost"
    assert d.engine.calls["c3"].status == "queued"
    d.advance(31)  # wrap-up ends, a1 takes c3
    assert d.engine.agents["a1"].call_id == "c3"


def test_sync_does_not_undo_events_dated_after_it(make_driver):
    d = make_driver()
    t = d.now
    d.agent("a1", "available")
    d.advance(10)
    d.offer("c1")  # offered after the sync's instant: the platform's list predates it
    d.agent("a5", "paused", reason="lunch")
    decision = d.send("platform.sync", at=t + 5, calls=[], agents={"a5": "available", "a1": "logged_out"})
    assert decision["ended"] == []
    assert d.engine.calls["c1"].status == "connecting"
    assert d.engine.agent_state(d.engine.agents["a5"]) is P  # its pause came after the sync
    assert d.engine.agents["a1"].call_id == "c1"  # a1 is on c1: its logout waits for the call's end


def test_sync_does_not_free_an_agent_on_a_call_the_platform_holds(make_driver):
    d = make_driver()
    d.agent("a1", "available")
    d.offer("c1")
    d.send("call.answered", call_id="c1", agent_id="a1")
    d.advance(5)
    decision = d.send("platform.sync", calls=["c1"], agents={"a1": "available"})
    assert decision == {"action": "sync", "ended": [], "agents": {}}
    assert d.engine.agent_state(d.engine.agents["a1"]) is B


def test_sync_gives_agents_the_platforms_state_and_frees_a_busy_agent_with_no_call(make_driver):
    d = make_driver()
    d.agent("a1", "busy")  # with no call: accepted (the watchdog flags it if it lasts)
    d.agent("a5", "available")
    d.advance(5)
    reported = {"a1": "available", "a5": "available", "a4": "paused"}
    decision = d.send("platform.sync", calls=[], agents=reported)
    assert decision["agents"] == {"a1": "available", "a4": "paused"}


def test_the_watchdog_flags_a_call_answered_too_long_and_an_agent_busy_with_no_call(make_driver):
    from acd.engine.observer import Observer

    flags = []

    class Watch(Observer):
        def watchdog(self, kind, key, now):
            flags.append((kind, key))

    d = make_driver(watchdog_interval_s=60, max_answered_s=600, busy_without_call_s=300)
    d.engine.observer = Watch()
    d.agent("a1", "available")
    d.offer("c1")
    d.send("call.answered", call_id="c1", agent_id="a1")
    d.agent("a5", "busy")
    d.advance(200)
    assert flags == []
    d.advance(500)
    assert ("busy_without_call", "a5") in flags
    assert ("answered_too_long", "c1") in flags
    assert d.engine.flagged["answered_too_long"] == ["c1"]
    assert d.engine.flagged["busy_without_call"] == ["a5"]
    d.advance(600)
    assert len(flags) == 2  # flagged once, not at every round
    d.send("platform.sync", calls=["c1"], agents={"a5": "available"})
    d.send("call.ended", call_id="c1", reason="completed")
    d.advance(61)
    assert not any(d.engine.flagged.values())


def test_the_watchdog_flags_an_agent_rung_too_long(make_driver):
    d = make_driver(watchdog_interval_s=60, max_ringing_s=120)
    d.agent("a1", "available")
    d.offer("c1")  # the platform never says whether a1 picked up
    d.advance(100)
    assert d.engine.flagged["ringing_too_long"] == []
    d.advance(100)
    assert d.engine.flagged["ringing_too_long"] == ["c1"]
    d.send("call.unanswered", call_id="c1", agent_id="a1")
    d.advance(60)
    assert d.engine.flagged["ringing_too_long"] == []  # rung again from the start: a new assignment
    d.send("call.ended", call_id="c1", reason="abandoned")
    d.advance(60)
    assert d.engine.flagged["ringing_too_long"] == []


def test_the_watchdog_flags_a_call_waiting_in_line_too_long(make_driver):
    """A caller does not hold for hours: a call still in line after routing.max_waiting_s is a
    lost hang-up (the platform's `call.ended` lost and no sync since): flagged, never ended by acd
    on its own (the platform may still hold it); its end or a sync clears the flag."""
    d = make_driver(watchdog_interval_s=60, max_waiting_s=600)
    d.offer("c1")  # nobody is logged in: it waits
    d.advance(500)
    d.offer("c2")
    assert d.engine.flagged["waiting_too_long"] == []
    d.advance(200)
    assert d.engine.flagged["waiting_too_long"] == ["c1"]
    assert d.engine.calls["c1"].status == "queued"  # flagged only
    d.send("platform.sync", calls=["c2"], agents={})
    d.advance(60)
    assert d.engine.flagged["waiting_too_long"] == []
    d.advance(600)
    assert d.engine.flagged["waiting_too_long"] == ["c2"]


# ---------------------------------------------------------------------------- no-answer policy


def test_an_agent_is_paused_after_n_ring_outs_in_a_row_and_an_answer_resets_the_count(make_driver):
    d = make_driver(max_no_answer=3, wrap_up_s=0)
    a1 = d.engine.agents["a1"]
    d.agent("a1", "available")
    d.offer("c1")
    for _ in range(2):
        d.send("call.unanswered", call_id="c1", agent_id="a1")
        assert d.engine.agents["a1"].call_id == "c1"  # nobody else: rung again (a new assignment)
    d.send("call.answered", call_id="c1", agent_id="a1")  # resets the count
    d.send("call.ended", call_id="c1", reason="completed")
    d.offer("c2")
    for _ in range(2):
        d.send("call.unanswered", call_id="c2", agent_id="a1")
        assert d.engine.agent_state(a1) is R
    d.send("call.unanswered", call_id="c2", agent_id="a1")
    assert d.engine.agent_state(a1) is P
    assert a1.reason == "no_answer"
    connects = [c for c in d.commands if c.command == "connect"] + []
    assert len({c.id for c in connects}) == len(connects)


def test_no_pause_on_ring_out_when_rona_pause_is_off(make_driver):
    d = make_driver(rona_pause=False, max_no_answer=1)
    d.agent("a1", "available")
    d.offer("c1")
    d.send("call.unanswered", call_id="c1", agent_id="a1")
    assert d.engine.agent_state(d.engine.agents["a1"]) is R


def test_a_pause_or_logout_starts_the_ring_out_count_afresh(make_driver):
    d = make_driver(max_no_answer=2, wrap_up_s=0)
    a1 = d.engine.agents["a1"]
    d.agent("a1", "available")
    d.offer("c1")
    d.agent("a1", "logged_out")  # asked during the ringing call
    d.send("call.unanswered", call_id="c1", agent_id="a1")  # one ring-out: logged out as asked
    assert d.engine.agent_state(a1) is L
    d.agent("a1", "available")  # back: takes c1 again
    d.send("call.unanswered", call_id="c1", agent_id="a1")
    assert d.engine.agent_state(a1) is R  # a first ring-out of the new count: rung again


def test_an_answer_delivered_after_the_end_it_precedes_counts_the_call_answered(make_driver):
    """Webhooks arrive out of order: a call.answered stamped before the call's end, from the agent
    acd rang, delivered after the call.ended. The call was answered: its record says so (answered
    at the answer's ts), the answer is counted once, the handle time learnt; the agent, free since
    the end, is left as it is (no second call, no wrap-up after the fact)."""
    from acd.engine.observer import Observer

    seen: list[tuple[str, str]] = []

    class Watch(Observer):
        def call_answered(self, call, agent, wait_s):
            seen.append(("answered", call.id))

        def call_ended(self, call, reason, wait_s):
            seen.append(("ended", call.id))

        def call_answered_late(self, call):
            seen.append(("late", call.id))

    d = make_driver(wrap_up_s=30)
    d.engine.observer = Watch()
    d.agent("a1", "available")
    d.offer("c1")
    rung = d.now
    d.advance(60)
    d.send("call.ended", call_id="c1", reason="completed", at=d.now)
    ended = d.now
    assert d.engine.agent_state(d.engine.agents["a1"]) is AV  # acd thinks a1 never picked up
    d.advance(5)
    late = _ev("call.answered", call_id="c1", agent_id="a1", at=rung + 4)
    results, _ = d.engine.apply([late], d.now)
    assert results[0].ignored is None
    call = d.engine.calls["c1"]
    assert (call.answered_at, call.ended_at, str(call.status)) == (rung + 4, ended, "ended")
    assert seen == [("ended", "c1"), ("answered", "c1"), ("late", "c1")]
    assert d.engine.agents["a1"].calls_handled == 1
    assert d.engine.agent_state(d.engine.agents["a1"]) is AV and d.engine.agents["a1"].call_id is None
    # the same answer again, or another, changes nothing more
    again, _ = d.engine.apply([late], d.now)
    assert again[0].status == "duplicate"
    other, _ = d.engine.apply([_ev("call.answered", call_id="c1", agent_id="a1", at=rung + 5)], d.now)
    assert other[0].ignored == "call_ended" and call.answered_at == rung + 4
    assert seen == [("ended", "c1"), ("answered", "c1"), ("late", "c1")]


@pytest.mark.parametrize(
    ("why", "agent", "offset", "reason"),
    [
        ("undated: news of now, after the end", "a1", None, "completed"),
        ("stamped after the end", "a1", +10, "completed"),
        ("from an agent acd did not ring", "a5", -30, "completed"),
        ("the platform said the caller abandoned", "a1", -30, "abandoned"),
    ],
)
def test_an_answer_after_the_end_stays_ignored_unless_it_precedes_it(make_driver, why, agent, offset, reason):
    d = make_driver()
    d.agent("a1", "available")
    d.agent("a5", "available")
    d.offer("c1")
    ringing = d.engine.calls["c1"].agent_id
    d.advance(60)
    d.send("call.ended", call_id="c1", reason=reason, at=d.now)
    at = None if offset is None else d.now + offset
    who = ringing if agent == "a1" else next(a for a in ("a1", "a5") if a != ringing)
    results, _ = d.engine.apply([_ev("call.answered", call_id="c1", agent_id=who, at=at)], d.now + 20)
    assert results[0].ignored == "call_ended", why
    assert d.engine.calls["c1"].answered_at is None
