"""Automatic callbacks: virtual hold, requested callbacks, retries, fairness, opening hours."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from acd.config import Config
from acd.engine import Engine, EngineError
from tests.conftest import T0, Driver, ev, small_config


def cb_config(**callbacks: Any) -> Config:
    base = small_config(wrap_up_s=0).model_dump()
    base["callbacks"] = {
        "retry_delays_s": [600, 1800],
        "max_attempts": 3,
        "priority": 0,
        "max_share": 1.0,
        **callbacks,
    }
    base["overflow"] = {"mode": "off"}
    return Config.model_validate(base)


def driver(router_kind: str, now: float = T0, **callbacks: Any) -> Driver:
    return Driver(Engine(cb_config(**callbacks), router=router_kind), now=now)


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def request(
    d: Driver, callback_id: str, skill: str = "impot_revenu", number: str = "+33611111111", **fields: Any
) -> dict:
    return d.send("callback.requested", callback_id=callback_id, number=number, skill=skill, **fields)


# -- virtual hold


def test_virtual_hold_keeps_the_place_while_the_caller_is_off_the_line(router_kind):
    d = driver(router_kind)
    d.offer("c1", caller="+33600000001")
    d.advance(1)
    d.offer("c2", caller="+33600000002")
    d.send("callback.accepted", call_id="c1")
    d.send("call.ended", call_id="c1", reason="completed")  # the caller hangs up, as expected
    d.agent("a1", "available")
    [command] = d.commands
    assert command.command == "originate"
    assert command.fields == {
        "callback_id": "cb-c1",
        "call_id": "c1",  # the caller's own call: its dial's events name it
        "number": "+33600000001",
        "agent_id": "a1",
        "target": "sip:a1@lille.sip.acd.example",
    }
    assert d.engine.calls["c2"].status == "queued"  # c1 came first and was served first


def test_the_call_record_shows_it_became_a_callback(router_kind):
    d = driver(router_kind)
    d.offer("c1")
    d.send("callback.accepted", call_id="c1")
    call = d.engine.calls["c1"]
    assert call.status == "callback"
    assert call.callback_id == "cb-c1"
    assert [h["action"] for _, h in call.history] == ["queue", "callback"]


def test_an_answered_callback_is_done_and_the_agent_talks_until_the_call_ends(router_kind):
    d = driver(router_kind)
    d.offer("c1")
    d.send("callback.accepted", call_id="c1")
    d.agent("a1", "available")
    d.send("callback.result", callback_id="cb-c1", outcome="answered")
    assert d.engine.callbacks["cb-c1"].status == "done"
    assert d.engine.agent_state(d.engine.agents["a1"]).wire == "busy"
    d.send("call.ended", call_id="c1", reason="completed")
    assert d.engine.agent_state(d.engine.agents["a1"]).wire == "available"
    assert d.engine.calls["c1"].status == "ended"


def test_accepting_a_callback_for_a_call_already_with_an_agent_changes_nothing(router_kind):
    d = driver(router_kind)
    d.agent("a1", "available")
    d.offer("c1")
    assert d.send("callback.accepted", call_id="c1") is None
    assert d.engine.calls["c1"].status == "connecting"


# -- requested callbacks


def test_a_requested_callback_is_dialled_when_an_agent_is_free(router_kind):
    d = driver(router_kind)
    decision = request(d, "cb1")
    assert decision["status"] == "scheduled"
    assert decision["due_at"] == T0
    d.agent("a1", "available")
    [command] = d.commands
    assert (command.command, command.fields["callback_id"], command.fields["agent_id"]) == (
        "originate",
        "cb1",
        "a1",
    )
    assert d.engine.callbacks["cb1"].status == "dialing"


def test_not_before_delays_the_dial(router_kind):
    d = driver(router_kind)
    d.agent("a1", "available")
    request(d, "cb1", not_before=iso(T0 + 3600))
    d.advance(3599)
    assert d.commands == []
    d.advance(1)
    assert [c.command for c in d.commands] == ["originate"]


def test_a_callback_due_after_closing_waits_for_the_next_opening(router_kind):
    evening = datetime(2026, 3, 6, 17, 30, tzinfo=UTC).timestamp()  # Friday 18:30 Paris
    d = driver(router_kind, now=evening)
    d.agent("a1", "available")
    decision = request(d, "cb1", not_before=iso(evening + 3600))  # 19:30: closed
    monday = datetime(2026, 3, 9, 7, 30, tzinfo=UTC).timestamp()  # Monday 08:30 Paris
    assert decision["due_at"] == monday
    d.advance(monday - evening - 1)
    assert d.commands == []
    d.advance(1)
    assert [c.command for c in d.commands] == ["originate"]


def test_a_cancelled_callback_is_never_dialled_even_when_due(router_kind):
    d = driver(router_kind)
    request(d, "cb1", not_before=iso(T0 + 60))
    d.advance(120)  # due, but nobody free: it waits in line
    d.send("callback.cancelled", callback_id="cb1")
    d.agent("a1", "available")
    d.advance(3600)
    assert d.commands == []
    assert d.engine.callbacks["cb1"].status == "cancelled"


def test_only_a_scheduled_callback_can_be_cancelled(router_kind):
    d = driver(router_kind)
    d.agent("a1", "available")
    request(d, "cb1")
    with pytest.raises(EngineError) as exc:
        d.send("callback.cancelled", callback_id="cb1")
    assert exc.value.status == 409


def test_failed_attempts_are_retried_after_the_backoff_then_failed(router_kind):
    d = driver(router_kind)
    d.agent("a1", "available")
    request(d, "cb1")
    d.send("callback.result", callback_id="cb1", outcome="no_answer")
    assert d.engine.callbacks["cb1"].status == "scheduled"
    assert d.engine.agent_state(d.engine.agents["a1"]).wire == "available"  # released
    d.advance(599)
    assert len(d.commands) == 1
    d.advance(1)  # 10 min later: second attempt
    assert len(d.commands) == 2
    d.send("callback.result", callback_id="cb1", outcome="busy")
    d.advance(1799)
    assert len(d.commands) == 2
    d.advance(1)  # 30 min later: third and last attempt
    assert len(d.commands) == 3
    d.send("callback.result", callback_id="cb1", outcome="failed")
    assert d.engine.callbacks["cb1"].status == "failed"
    d.advance(86400)
    assert len(d.commands) == 3
    assert [c.fields["agent_id"] for c in d.commands] == ["a1", "a1", "a1"]
    assert len({c.id for c in d.commands}) == 3


def _served(d: Driver, command: Any) -> str:
    return command.fields.get("callback_id") or command.fields["call_id"]


def test_the_fair_share_keeps_agents_for_live_callers_who_wait(router_kind):
    d = driver(router_kind, max_share=0.5)
    agents = ("a1", "a4", "a5", "a2")  # the impot_revenu agents
    for agent in agents:
        d.agent(agent, "paused")
    for i in range(4):
        request(d, f"cb{i}", number=f"+3361111110{i}")  # due now: cb0 enters the line (a share of one)
    for i in range(3):
        d.offer(f"live{i}")  # queued behind cb0
    served = []
    for agent in agents:
        d.agent(agent, "available")
        served.append(_served(d, d.commands[-1]))
    # While live callers wait, callbacks hold at most their share: cb1 joins the line only once
    # four agents are staffed (0.5 x 4 = 2 places), behind the live callers already there.
    assert served == ["cb0", "live0", "live1", "live2"]
    assert d.engine.calls["cb1"].status == "callback"  # in line, waiting for an agent
    assert d.engine.callbacks["cb2"].status == "scheduled"
    d.send("call.answered", call_id="live0", agent_id="a4")
    d.send("call.ended", call_id="live0", reason="completed")
    assert _served(d, d.commands[-1]) == "cb1"  # the share's second place


def test_the_fair_share_is_a_share_of_the_agents_staffed_for_the_skill(router_kind):
    """`max_share` x the agents staffed for the skill (4 here, all on live calls): two requested
    callbacks in line at most, however many are due; the others wait for a place."""
    d = driver(router_kind, max_share=0.5)
    for i, agent in enumerate(("a1", "a4", "a5", "a2")):
        d.agent(agent, "available")
        d.offer(f"live{i}")
        d.send("call.answered", call_id=f"live{i}", agent_id=agent)
    for i in range(6):
        request(d, f"cb{i}", number=f"+3361111110{i}")
    in_line = sorted(c.id for c in d.engine.calls.values() if c.waiting)
    assert in_line == ["cb0", "cb1"]
    d.agent("a3", "paused")  # staffing another skill changes nothing
    assert sum(c.waiting for c in d.engine.calls.values()) == 2


def test_the_fair_share_never_keeps_an_agent_idle_while_a_callback_is_due(router_kind):
    """Work-conserving: the share holds callbacks back only while live callers wait for the
    agents; an idle agent nobody waits for takes a due callback past the share."""
    d = driver(router_kind, max_share=0.5)
    for i in range(4):
        request(d, f"cb{i}", number=f"+3361111110{i}")
    for agent in ("a1", "a4", "a5", "a2"):
        d.agent(agent, "available")
    originates = [c for c in d.commands if c.command == "originate"]
    assert sorted(_served(d, c) for c in originates) == ["cb0", "cb1", "cb2", "cb3"]
    assert d.offer("live")["action"] == "queue"  # every agent is dialling: the caller waits
    # ... and once the callbacks' dials end, the live caller goes first, the share full again
    for c in originates:
        d.send("callback.result", callback_id=c.fields["callback_id"], outcome="busy")
    assert d.engine.calls["live"].status == "connecting"


def test_callbacks_and_live_calls_are_served_in_order_of_arrival(router_kind):
    d = driver(router_kind)
    d.offer("live1")
    d.advance(10)
    request(d, "cb1")
    d.advance(10)
    d.offer("live2")
    served = []
    for agent in ("a1", "a5", "a4"):
        d.agent(agent, "available")
        c = d.commands[-1]
        served.append(c.fields.get("call_id") or c.fields.get("callback_id"))
    assert served == ["live1", "cb1", "live2"]


def test_callback_for_an_unknown_skill_is_refused(router_kind):
    d = driver(router_kind)
    with pytest.raises(EngineError) as exc:
        request(d, "cb1", skill="astrologie")
    assert exc.value.code == "unknown_skill"
    assert "cb1" not in d.engine.callbacks


def test_a_callback_picked_after_closing_waits_for_the_next_opening(router_kind):
    late = datetime(2026, 3, 2, 17, 55, tzinfo=UTC).timestamp()  # Monday 18:55 Paris
    d = driver(router_kind, now=late)
    request(d, "cb1")  # due now, in line, nobody free
    d.advance(600)  # 19:05: closed
    d.agent("a1", "available")
    assert d.commands == []
    assert d.engine.callbacks["cb1"].status == "scheduled"
    d.advance(datetime(2026, 3, 3, 7, 30, tzinfo=UTC).timestamp() - d.now)  # Tuesday 08:30
    assert [c.command for c in d.commands] == ["originate"]


def test_a_callback_due_while_the_line_never_opens_again_sleeps_instead_of_spinning(router_kind):
    """A calendar with no opening within its horizon (every weekday closed: a line suspended)
    has no next opening. A due callback then re-armed its timer at `now` itself, so the timer
    loop fired it again and again without end: the service hung on its first requested callback.
    It now stays scheduled and is looked at again a day later."""
    base = cb_config().model_dump()
    base["calendar"] = {"hours": {"week": {day: [] for day in ("mon", "tue", "wed", "thu", "fri")}}}
    d = Driver(Engine(Config.model_validate(base), router=router_kind))
    decision = request(d, "cb1")
    assert decision["due_at"] == d.now  # never open: no later instant to name
    [wakeup] = [
        t[0] for t in d.engine.timers._heap if t[2:4] == ("callback", "cb1") and d.engine._timer_live(t)
    ]
    assert wakeup >= d.now + 3600  # not a timer due at once, again and again
    d.agent("a1", "available")
    d.advance(3 * 86400)  # returns: each look finds the line closed and sleeps a day
    assert d.commands == []
    assert d.engine.callbacks["cb1"].status == "scheduled"


def two_callbacks_in_line_at_closing(router_kind: str) -> Driver:
    """Monday 18:59:50 Paris, nobody free: a requested callback (cb1) and a virtual-hold caller's
    (cb-c1, for c1) wait in line; the line closes at 19:00."""
    late = datetime(2026, 3, 2, 17, 59, 50, tzinfo=UTC).timestamp()
    d = driver(router_kind, now=late)
    request(d, "cb1")
    d.offer("c1")
    d.send("callback.accepted", call_id="c1")
    assert d.engine.calls["cb1"].waiting and d.engine.calls["c1"].waiting
    return d


def test_a_callback_waiting_in_line_when_the_line_closes_says_it_is_due_at_the_next_opening(router_kind):
    """Requested at 18:59:50 with nobody free, it waited in line through the closing: its due_at
    stayed Monday 18:59:50 all night (a callback long overdue, to the supervisor and the caller's
    GET), though it was dialled on Tuesday. At the closing it leaves the line, due at the opening;
    a virtual-hold caller's callback likewise, its place kept."""
    d = two_callbacks_in_line_at_closing(router_kind)
    d.advance(11)  # 19:00:01
    opening = datetime(2026, 3, 3, 7, 30, tzinfo=UTC).timestamp()  # Tuesday 08:30 Paris
    for callback_id in ("cb1", "cb-c1"):
        callback = d.engine.callbacks[callback_id]
        assert callback.status == "scheduled" and callback.due_at == opening
        assert not d.engine.calls[callback.call_id].waiting
    d.agent("a1", "available")
    d.agent("a2", "available")
    assert d.commands == []
    d.advance(opening - d.now)
    assert sorted(c.fields["callback_id"] for c in d.commands) == ["cb-c1", "cb1"]


def test_a_closing_timer_whose_call_is_gone_does_nothing(router_kind):
    """The closing's timer of a callback in line (`callback_stop`) finds its call by id; a state
    that holds the callback without its call (an imported document edited by hand, a purge gone
    wrong) must not raise in the timer loop, which would stop every later timer: nothing happens,
    and the rest of the tick still runs."""
    d = two_callbacks_in_line_at_closing(router_kind)
    d.engine._dequeue(d.engine.calls["cb1"])
    del d.engine.calls["cb1"]
    d.advance(11)  # 19:00:01: both closing timers fire
    callback = d.engine.callbacks["cb-c1"]
    assert callback.due_at == datetime(2026, 3, 3, 7, 30, tzinfo=UTC).timestamp()  # Tuesday 08:30
    assert not d.engine.calls["c1"].waiting


# -- the caller's own hours (overseas departments)

GUADELOUPE = ZoneInfo("America/Guadeloupe")


def overseas_request(d: Driver, callback_id: str, **fields: Any) -> dict:
    return d.send(
        "callback.requested", callback_id=callback_id, number="+590590123456", skill="impot_revenu", **fields
    )


def test_a_callback_to_an_overseas_caller_is_due_within_the_caller_s_daytime_not_at_the_opening(
    router_kind,
):
    """Guadeloupe is five hours behind Paris in winter: the line's 08:30 opening is 03:30 there.
    A Guadeloupe caller asking at 19:30 Paris (14:30 local) for a callback was due at 08:30 Paris,
    rung at 03:30 in the night. The callback waits for the caller's 08:00 (13:00 Paris), the
    first instant the line is open and it is daytime for the caller."""
    evening = datetime(2026, 3, 2, 18, 30, tzinfo=UTC).timestamp()  # Monday 19:30 Paris
    d = driver(router_kind, now=evening)
    decision = overseas_request(d, "cb1", department="971")
    assert datetime.fromtimestamp(decision["due_at"], GUADELOUPE).isoformat() == "2026-03-03T08:00:00-04:00"
    d.agent("a1", "available")
    d.advance(datetime(2026, 3, 3, 11, 59, tzinfo=UTC).timestamp() - d.now)  # Tuesday 07:59 local
    assert d.commands == []
    d.advance(60)
    assert [c.command for c in d.commands] == ["originate"]


def test_the_caller_s_zone_comes_from_the_number_when_no_department_is_given(router_kind):
    evening = datetime(2026, 3, 2, 18, 30, tzinfo=UTC).timestamp()
    d = driver(router_kind, now=evening)
    decision = overseas_request(d, "cb1")  # +590: Guadeloupe
    assert datetime.fromtimestamp(decision["due_at"], GUADELOUPE).hour == 8


def test_a_metropolitan_callback_is_still_due_at_the_opening(router_kind):
    evening = datetime(2026, 3, 2, 18, 30, tzinfo=UTC).timestamp()
    d = driver(router_kind, now=evening)
    decision = request(d, "cb1", department="59")
    assert decision["due_at"] == datetime(2026, 3, 3, 7, 30, tzinfo=UTC).timestamp()  # 08:30 Paris


def test_an_overseas_callback_picked_when_it_is_night_for_the_caller_waits_for_the_caller_s_morning(
    router_kind,
):
    """A virtual-hold caller of Réunion (UTC+4) whose place comes at 17:01 Paris, 20:01 there,
    is not rung in its evening: the callback goes back to wait for the next instant the line is
    open in the caller's daytime, the line's 08:30 opening (11:30 in Réunion)."""
    d = driver(router_kind, now=datetime(2026, 3, 2, 15, 59, tzinfo=UTC).timestamp())  # 16:59 Paris
    d.offer("c1", caller="+262262123456", department="974")
    d.send("callback.accepted", call_id="c1")
    d.send("call.ended", call_id="c1", reason="completed")
    d.advance(120)  # 17:01 Paris, 20:01 in Réunion
    d.agent("a1", "available")
    assert d.commands == []
    assert d.engine.callbacks["cb-c1"].status == "scheduled"
    # why it waits: the caller's day is over, not the line's (it was `closed`, at 17:01, the
    # line open till 19:00: /work/notes/audit-time.md, N2)
    assert d.engine.callbacks["cb-c1"].history[-1][1] == {"status": "scheduled", "why": "caller_hours"}
    reunion = ZoneInfo("Indian/Reunion")
    assert datetime.fromtimestamp(d.engine.callbacks["cb-c1"].due_at, reunion).isoformat() == (
        "2026-03-03T11:30:00+04:00"  # the line's 08:30 opening, daytime there
    )
    d.advance(datetime(2026, 3, 3, 7, 30, tzinfo=UTC).timestamp() - d.now)
    assert [c.command for c in d.commands] == ["originate"]


def test_a_virtual_hold_accepted_in_the_caller_s_night_is_due_at_the_caller_s_morning_not_now(router_kind):
    """A Guadeloupe caller in line at 10:00 Paris (05:00 there) who accepts a callback cannot be
    rung before 13:00 Paris. Its callback said `due_at` 10:00 and stayed counted among the
    callers waiting until an agent picked it; it says 13:00 at once and leaves the line (its
    place kept), as a callback accepted in the caller's day does when the day ends."""
    d = driver(router_kind, now=datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp())  # Monday 10:00 Paris
    d.offer("c1", caller="+33611111111", department="971")
    d.send("callback.accepted", call_id="c1")
    callback = d.engine.callbacks["cb-c1"]
    assert datetime.fromtimestamp(callback.due_at, GUADELOUPE).isoformat() == "2026-03-02T08:00:00-04:00"
    assert [q["waiting"] for q in d.engine.queries.queues(d.now) if q["skill"] == "impot_revenu"] == [0]
    d.agent("a1", "available")
    assert d.commands == []
    d.advance(datetime(2026, 3, 2, 12, 0, tzinfo=UTC).timestamp() - d.now)  # 13:00 Paris, 08:00 there
    assert [c.command for c in d.commands] == ["originate"]


def test_a_saint_pierre_et_miquelon_caller_is_rung_in_its_own_daytime(router_kind):
    """Department 975 (Saint-Pierre-et-Miquelon, UTC-3 in winter) is one the contract takes, in
    the 971-976 the docs name: the line's 08:30 opening is 04:30 there. Asked in the evening, its
    callback was due at 08:30 Paris; it is due at the caller's 08:00, 12:00 Paris."""
    evening = datetime(2026, 3, 2, 18, 30, tzinfo=UTC).timestamp()  # Monday 19:30 Paris
    d = driver(router_kind, now=evening)
    miquelon = ZoneInfo("America/Miquelon")
    decision = request(d, "cb1", department="975")
    assert datetime.fromtimestamp(decision["due_at"], miquelon).isoformat() == "2026-03-03T08:00:00-03:00"
    decision = d.send("callback.requested", callback_id="cb2", number="+508411234", skill="impot_revenu")
    assert datetime.fromtimestamp(decision["due_at"], miquelon).isoformat() == "2026-03-03T08:00:00-03:00"


# -- the platform's words on a dial, untidy (found by tests/engine/test_faults.py's chaos)


def dialling(router_kind: str) -> Driver:
    """A virtual-hold callback being dialled: a1 reserved for it, a2 free."""
    d = driver(router_kind)
    d.offer("c1")
    d.send("callback.accepted", call_id="c1")
    d.send("call.ended", call_id="c1", reason="completed")
    d.agent("a1", "available")
    assert d.engine.callbacks["cb-c1"].status == "dialing"
    d.agent("a2", "available")
    return d


def test_a_dial_s_call_answered_by_its_agent_is_the_dial_answered_and_a_later_no_answer_changes_nothing(
    router_kind,
):
    """call.answered came before (or instead of) callback.result: the dial is answered; a result
    saying otherwise afterwards was an exception in the engine (a 500 on POST /v1/events)."""
    d = dialling(router_kind)
    assert d.send("call.answered", call_id="c1", agent_id="a1") is None
    engine = d.engine
    assert engine.callbacks["cb-c1"].status == "done"
    assert engine.agent_state(engine.agents["a1"]).wire == "busy"
    results, _ = engine.apply([ev("callback.result", callback_id="cb-c1", outcome="no_answer")], d.now)
    assert results[0].ignored == "not_dialing"
    assert engine.agent_state(engine.agents["a1"]).wire == "busy" and engine.agents["a1"].call_id == "c1"
    results, _ = engine.apply([ev("callback.result", callback_id="cb-c1", outcome="answered")], d.now)
    assert results[0].ignored == "not_dialing"  # restated: counted once
    d.send("call.ended", call_id="c1", reason="completed")
    assert engine.agent_state(engine.agents["a1"]).wire == "available"


def test_a_dial_s_call_answered_by_another_agent_changes_nothing(router_kind):
    d = dialling(router_kind)
    results, _ = d.engine.apply([ev("call.answered", call_id="c1", agent_id="a2")], d.now)
    assert results[0].ignored == "not_the_dialled_agent"
    assert d.engine.agents["a1"].call_id == "c1" and d.engine.agents["a2"].call_id is None
    assert d.engine.callbacks["cb-c1"].status == "dialing"


def originates(d: Driver) -> list[Any]:
    return [c for c in d.commands if c.command == "originate"]


def test_a_dial_rung_out_by_its_agent_goes_to_the_next_free_agent_at_once_no_attempt_counted(router_kind):
    """`call.unanswered` from the reserved agent is that agent's ring-out (RONA, the contract's
    meaning), not the caller's no answer: before, the callback lost an attempt and waited its retry
    delay, and the agent was released, never counted toward rona_pause."""
    d = dialling(router_kind)  # a1 dials c1's callback, a2 free
    engine = d.engine
    assert d.send("call.unanswered", call_id="c1", agent_id="a1") is None
    callback, call = engine.callbacks["cb-c1"], engine.calls["c1"]
    assert callback.attempts == 1  # the new dial's, only
    assert [c.fields["agent_id"] for c in originates(d)] == ["a1", "a2"]  # at once, to a2
    first, second = originates(d)
    assert first.id != second.id
    assert callback.status == "dialing" and callback.agent_id == "a2"
    assert call.unanswered == 1 and call.agent_id == "a2" and engine.agents["a2"].call_id == "c1"
    assert engine.agents["a1"].call_id is None and engine._no_answer["a1"] == 1  # a ring-out, counted
    assert {"status": "ring_out", "agent_id": "a1"} in [h for _, h in callback.history]
    assert ("requeue", "no_answer") in [(h.get("action"), h.get("why")) for _, h in call.history]


def test_a_callback_rung_out_with_nobody_else_free_waits_in_its_place_not_for_a_retry_delay(router_kind):
    d = driver(router_kind)
    d.offer("c1")
    d.send("callback.accepted", call_id="c1")
    d.send("call.ended", call_id="c1", reason="completed")
    d.agent("a1", "available")
    d.send("call.unanswered", call_id="c1", agent_id="a1")  # a1 free again: rung again, at once
    engine = d.engine
    assert [c.fields["agent_id"] for c in originates(d)] == ["a1", "a1"]
    assert engine.callbacks["cb-c1"].attempts == 1 and engine.callbacks["cb-c1"].status == "dialing"
    d.send("call.unanswered", call_id="c1", agent_id="a1")  # the second in a row: a1 paused
    a1 = engine.agents["a1"]
    assert engine.agent_state(a1).wire == "paused" and a1.reason == "no_answer"
    callback, call = engine.callbacks["cb-c1"], engine.calls["c1"]
    assert callback.status == "scheduled" and callback.agent_id is None and callback.attempts == 0
    assert call.status == "callback" and call.waiting and call.unanswered == 2  # in line, now
    d.agent("a2", "available")
    assert [c.fields["agent_id"] for c in originates(d)] == ["a1", "a1", "a2"]


def test_ring_outs_never_fail_a_callback_however_many(router_kind):
    """More ring-outs than max_attempts (3), on agents paused in turn: the callback is still
    dialled, and its attempts are the dials that reached the caller's side."""
    d = driver(router_kind)
    request(d, "cb1")  # in line, nobody free
    engine = d.engine
    for agent in ("a1", "a2", "a4", "a5"):
        d.agent(agent, "available")
        for _ in range(2):  # max_no_answer: 2, then paused
            assert engine.callbacks["cb1"].agent_id == agent
            d.send("call.unanswered", call_id="cb1", agent_id=agent)
        assert engine.agent_state(engine.agents[agent]).wire == "paused"
    callback = engine.callbacks["cb1"]
    assert callback.status == "scheduled" and callback.attempts == 0 and engine.calls["cb1"].waiting
    assert len(originates(d)) == 8 and len({c.id for c in originates(d)}) == 8
    d.agent("a1", "available")
    d.send("callback.result", callback_id="cb1", outcome="no_answer")  # the caller's own no answer
    assert callback.attempts == 1 and callback.status == "scheduled"  # a retry, after its delay
    assert engine.calls["cb1"].status == "callback" and not engine.calls["cb1"].waiting


def test_a_late_result_of_a_rung_out_dial_changes_nothing(router_kind):
    """The rung-out dial's result, stamped when it rang out and delivered late: while the callback
    waits in line, it is `not_dialing`; once the next dial began, from another agent, it is
    `stale` (stamped before that dial began; the HTTP fault run's seed 334 found a result of an
    earlier dial taken for the one in progress). Either way nothing changes, and the dial in
    progress ends with its own result."""
    d = driver(router_kind)
    d.offer("c1")
    d.send("callback.accepted", call_id="c1")
    d.agent("a5", "available")  # first dial, from a5 (impot_revenu only)
    rung_out_at = d.now + 4
    d.advance(5)
    d.agent("a5", "paused")  # asked while rung: taken when the call leaves it
    d.engine.apply([ev("call.unanswered", at=rung_out_at, call_id="c1", agent_id="a5")], d.now)
    engine = d.engine
    callback, call = engine.callbacks["cb-c1"], engine.calls["c1"]
    assert engine.agent_state(engine.agents["a5"]).wire == "paused"
    assert callback.status == "scheduled" and callback.attempts == 0 and call.waiting  # nobody free
    late = ev("callback.result", at=rung_out_at, callback_id="cb-c1", outcome="failed")
    results, commands = engine.apply([late], d.now)
    assert results[0].ignored == "not_dialing" and commands == []
    assert callback.status == "scheduled" and callback.attempts == 0 and call.waiting
    d.advance(10)
    d.agent("a1", "available")  # the callback, in line all along, dialled from a1
    assert [c.fields["agent_id"] for c in originates(d)] == ["a5", "a1"]
    d.advance(5)
    late = ev("callback.result", at=rung_out_at, callback_id="cb-c1", outcome="no_answer")
    results, commands = engine.apply([late], d.now)
    assert results[0].ignored == "stale" and commands == []
    assert callback.status == "dialing" and callback.attempts == 1 and engine.agents["a1"].call_id == "c1"
    results, _ = engine.apply([ev("call.unanswered", at=rung_out_at, call_id="c1", agent_id="a1")], d.now)
    assert results[0].ignored == "stale" and engine.agents["a1"].call_id == "c1"
    d.send("callback.result", callback_id="cb-c1", outcome="answered")  # the dial's own result
    assert callback.status == "done" and callback.attempts == 1


def test_a_call_waiting_for_its_callback_is_not_taken_by_an_agent_who_says_he_answered_it(router_kind):
    d = driver(router_kind)
    d.offer("c1")
    d.send("callback.accepted", call_id="c1")
    d.agent("a2", "available")  # a2 holds paiement too: free, and c1 is not for now
    d.send("callback.result", callback_id="cb-c1", outcome="failed")  # a first dial failed: a retry waits
    assert d.engine.calls["c1"].status == "callback"
    results, _ = d.engine.apply([ev("call.answered", call_id="c1", agent_id="a1")], d.now)
    assert results[0].ignored == "callback_scheduled"
    assert d.engine.agents["a1"].call_id is None and d.engine.calls["c1"].agent_id is None


def test_a_requested_callback_in_line_is_not_taken_by_an_agent_who_says_he_answered_it(router_kind):
    """Only its dial is answered: a call.answered for a callback's call waiting in line for an
    agent (nobody rings it yet) changes nothing, and the callback is dialled when its turn comes."""
    d = driver(router_kind)
    request(d, "cb1")  # in line: no agent free
    call_id = d.engine.callbacks["cb1"].call_id
    results, _ = d.engine.apply([ev("call.answered", call_id=call_id, agent_id="a1")], d.now)
    assert results[0].ignored == "callback_scheduled"
    assert d.engine.agents["a1"].call_id is None and d.engine.calls[call_id].waiting
    d.agent("a1", "available")
    assert [c.command for c in d.commands] == ["originate"]


def test_the_callers_own_hang_up_delivered_late_never_ends_the_callback_conversation(router_kind):
    """Found by the HTTP fault run (tests/fault/test_one_instance.py, seed 111): the caller took
    the callback and hung up (its `call.ended`, expected and changing nothing, was delivered late:
    after the callback's dial was answered, on the same call id). Stamped before the dial began,
    it is the caller's old leg, not the conversation's end: the agent keeps talking, and the
    conversation ends with its own `call.ended`."""
    d = driver(router_kind)
    d.offer("c1")
    d.send("callback.accepted", call_id="c1")
    hung_up_at = d.now + 0.5  # the caller hangs up; the platform's call.ended is delayed
    d.advance(20)
    d.agent("a1", "available")  # dials c1 back
    d.advance(5)
    d.send("callback.result", callback_id="cb-c1", outcome="answered")
    d.advance(10)
    results, _ = d.engine.apply(
        [ev("call.ended", at=hung_up_at, call_id="c1", reason="abandoned")], d.now
    )  # the leg's end arrives now
    assert results[0].status == "applied"
    engine = d.engine
    assert engine.calls["c1"].status == "answered"
    assert engine.agents["a1"].call_id == "c1" and engine.agent_state(engine.agents["a1"]).wire == "busy"
    d.advance(30)
    d.send("call.ended", call_id="c1", reason="completed")  # the conversation's own end
    assert engine.calls["c1"].status == "ended" and engine.calls["c1"].end_reason == "completed"
    assert engine.agents["a1"].call_id is None


def test_the_callers_hang_up_after_an_immediate_dial_never_ends_the_conversation_either(router_kind):
    """Found by the fault run (very untidy, seed 426): the callback was dialled the instant it was
    taken (first in line, an agent free), so the caller's hang-up is stamped after the dial began,
    though before its answer; delivered after the answer, it is still the caller's leg. A
    virtual-hold call's first end stamped before its dial's answer changes nothing."""
    d = driver(router_kind)
    d.agent("a1", "paused")
    d.offer("c1")
    d.send("callback.accepted", call_id="c1")
    d.agent("a1", "available")  # dials c1 at once
    hung_up_at = d.now + 0.5
    d.advance(5)
    d.send("callback.result", callback_id="cb-c1", outcome="answered")
    d.advance(10)
    d.engine.apply([ev("call.ended", at=hung_up_at, call_id="c1", reason="abandoned")], d.now)
    engine = d.engine
    assert engine.calls["c1"].status == "answered" and engine.agents["a1"].call_id == "c1"
    d.advance(30)
    d.send("call.ended", call_id="c1", reason="completed")
    assert engine.calls["c1"].end_reason == "completed" and engine.agents["a1"].call_id is None


def test_a_lost_hang_up_leaves_the_conversation_s_own_end_to_end_it(router_kind):
    """The caller's hang-up after taking the callback never came (lost): the conversation's own
    end, stamped after the answer, ends it."""
    d = driver(router_kind)
    d.offer("c1")
    d.send("callback.accepted", call_id="c1")
    d.agent("a1", "available")
    d.advance(5)
    d.send("callback.result", callback_id="cb-c1", outcome="answered")
    d.advance(30)
    d.send("call.ended", call_id="c1", reason="completed")
    assert d.engine.calls["c1"].status == "ended" and d.engine.agents["a1"].call_id is None


# -- a result naming its dial (`originate_id`)


def _two_dials(router_kind: str) -> tuple[Driver, str, str, float]:
    """A virtual-hold callback dialled twice (the first dial's result: no answer, a retry 40 s
    later): the driver, the two `originate` commands' ids, and when the second dial began."""
    d = driver(router_kind, retry_delays_s=[40, 80])
    d.offer("c1")
    d.send("callback.accepted", call_id="c1")
    d.agent("a1", "available")
    [first] = [c for c in d.commands if c.command == "originate"]
    assert first.fields["call_id"] == "c1"
    d.advance(5)
    d.send("callback.result", callback_id="cb-c1", outcome="no_answer", originate_id=first.id)
    d.advance(45)
    second = [c for c in d.commands if c.command == "originate"][-1]
    assert second.id != first.id and d.engine.callbacks["cb-c1"].status == "dialing"
    began = d.engine.calls["c1"].connected_at
    assert began is not None and began > d.now - 45
    return d, first.id, second.id, began


def test_a_result_naming_an_earlier_dial_is_stale_whenever_it_is_stamped(router_kind):
    """Told apart by its `originate_id`, not by the platform's clock: the first dial's late
    result, stamped after the retry began, changes nothing; the retry's own result ends it."""
    d, first, second, began = _two_dials(router_kind)
    engine = d.engine
    late = ev("callback.result", at=began + 1, callback_id="cb-c1", outcome="failed", originate_id=first)
    results, _ = engine.apply([late], d.now + 1)
    assert results[0].ignored == "stale"
    assert engine.callbacks["cb-c1"].status == "dialing" and engine.agents["a1"].call_id == "c1"
    d.send("callback.result", callback_id="cb-c1", outcome="answered", originate_id=second)
    assert engine.callbacks["cb-c1"].status == "done"


def test_a_result_naming_the_dial_in_progress_counts_whatever_its_clock_says(router_kind):
    """A platform clock behind acd's stamps the retry's result before the retry began: without
    `originate_id` that is taken for an earlier dial's (`stale`); naming the dial, it counts."""
    d, _, second, began = _two_dials(router_kind)
    engine = d.engine
    unnamed = ev("callback.result", at=began - 2, callback_id="cb-c1", outcome="answered")
    assert engine.apply([unnamed], d.now)[0][0].ignored == "stale"
    named = ev("callback.result", at=began - 2, callback_id="cb-c1", outcome="answered", originate_id=second)
    results, _ = engine.apply([named], d.now)
    assert results[0].ignored is None and engine.callbacks["cb-c1"].status == "done"


@pytest.mark.parametrize("originate_id", ["c2.originate.3", "c1.connect.3", "c1.originate.x"])
def test_a_result_naming_no_dial_of_its_callback_is_refused(router_kind, originate_id):
    d, *_ = _two_dials(router_kind)
    with pytest.raises(EngineError) as exc:
        d.engine.apply(
            [ev("callback.result", callback_id="cb-c1", outcome="answered", originate_id=originate_id)], d.now
        )
    assert exc.value.status == 422 and exc.value.code == "unknown_originate"
    offered_ms = round(d.engine.calls["c1"].offered_at * 1000)
    assert f"c1.originate.{offered_ms}.<n>" in exc.value.message
    assert d.engine.callbacks["cb-c1"].status == "dialing"


def test_a_call_id_offered_again_once_forgotten_gets_dials_of_its_own(router_kind):
    """As its `connect` (tests/engine/test_events_and_state.py), the callback of a call id offered
    again once acd forgot the first call must not take the first caller's `originate` id: the
    outbox and the platform remember it as delivered and would drop the dial, the agent reserved
    and the caller who accepted a callback never called. A result naming the first caller's dial
    names no dial of the second's."""
    config = cb_config()
    config.routing.ended_call_retention = 0
    d = Driver(Engine(config, router=router_kind))
    d.offer("c1")
    d.send("callback.accepted", call_id="c1")
    d.agent("a1", "available")
    [first] = [c for c in d.commands if c.command == "originate"]
    d.send("callback.result", callback_id="cb-c1", outcome="answered", originate_id=first.id)
    d.send("call.answered", call_id="c1", agent_id="a1")
    d.advance(60)
    d.send("call.ended", call_id="c1", reason="completed")
    assert "c1" not in d.engine.calls  # forgotten
    d.agent("a1", "logged_out")
    d.advance(600)
    d.offer("c1")  # another caller, the same id
    d.send("callback.accepted", call_id="c1")
    d.agent("a5", "available")
    second = [c for c in d.commands if c.command == "originate"][-1]
    assert second.id != first.id and second.fields["agent_id"] == "a5"
    with pytest.raises(EngineError) as exc:
        d.engine.apply(
            [ev("callback.result", callback_id="cb-c1", outcome="answered", originate_id=first.id)], d.now
        )
    assert exc.value.status == 422 and exc.value.code == "unknown_originate"
    d.send("callback.result", callback_id="cb-c1", outcome="answered", originate_id=second.id)
    assert d.engine.callbacks["cb-c1"].status == "done"


def test_a_result_naming_the_dial_in_progress_as_releases_before_2026_12_05_did_is_taken(router_kind):
    """A dial sent before the upgrade that added the offer instant to an `originate`'s id
    (`c1.originate.<place>`) is named so by its result, after the upgrade: that is the dial in
    progress's result, not a stale one (its caller would be dialled again); the earlier dial's, in
    the same form, is stale."""
    d, first, second, _ = _two_dials(router_kind)
    stamp = f".{round(d.engine.calls['c1'].offered_at * 1000)}."
    assert stamp in first and stamp in second
    old_first, old_second = first.replace(stamp, "."), second.replace(stamp, ".")
    late = ev("callback.result", callback_id="cb-c1", outcome="failed", originate_id=old_first)
    assert d.engine.apply([late], d.now)[0][0].ignored == "stale"
    d.send("callback.result", callback_id="cb-c1", outcome="answered", originate_id=old_second)
    assert d.engine.callbacks["cb-c1"].status == "done"


@pytest.mark.parametrize(
    ("asked_at", "not_before", "taken"),
    [
        ("2026-09-02T10:00:00+02:00", "2026-12-01T09:30:00+01:00", True),  # 90 x 86,400 s: 09:00
        ("2026-01-07T10:00:00+01:00", "2026-04-07T10:30:00+02:00", False),  # 90 x 86,400 s: 11:00
    ],
)
def test_the_callback_horizon_counts_days_on_the_line_s_clock_across_a_dst_change(
    router_kind, asked_at, not_before, taken
):
    """`callbacks.max_days_ahead` days are the line's calendar days: asked at 10:00, the latest
    `not_before` is 10:00 90 days on, the clocks changed between or not (audit time F3)."""
    d = driver(router_kind, now=datetime.fromisoformat(asked_at).timestamp())
    if taken:
        assert request(d, "cb1", not_before=not_before)["callback_id"] == "cb1"
        return
    with pytest.raises(EngineError) as exc:
        request(d, "cb1", not_before=not_before)
    assert exc.value.code == "beyond_horizon" and "2026-04-07T10:00:00+02:00" in exc.value.message
