"""The line's own events: `call.offered`, `call.answered`, `call.unanswered`, `call.ended`,
`agent.state`, `roster.agent`, `survey.result`; each one's check (before anything changes) and its
handler, as the engine's registry (acd/engine/core.py's `EVENT_TYPES`) pairs them. Handlers take
the line (acd/engine/line.py), the event, its `ts` as `t`, the engine's `now` and the list of
commands to add to; they return the event's decision, an `Ignored`, or None.
"""

from __future__ import annotations

import math
from typing import Any

from acd.engine import agents as machine
from acd.engine.agents import Ignored
from acd.engine.line import (
    ANSWERED,
    APPOINTMENT,
    AVAILABLE,
    CALLBACK,
    CLOSED,
    CONNECTING,
    ENDED,
    INBOUND,
    OVERFLOWED,
    QUEUED,
    Line,
)
from acd.engine.records import Agent, Call
from acd.engine.validation import Batch
from acd.events import (
    AgentStateChanged,
    CallAnswered,
    CallbackAccepted,
    CallEnded,
    CallOffered,
    CallUnanswered,
    RosterAgent,
    SurveyResult,
)
from acd.model import STAFFED_STATES, AgentState, Command, Decision, RosterDecision

try:
    import cython
except ImportError:  # no Cython installed: its declarations are no-ops (acd/typing_c.py)
    from acd import typing_c as cython


def check_offered(line: Line, e: CallOffered, batch: Batch) -> None:
    batch.known("skill", e.skill, line.skill_index, "skill")
    for need in e.needs:
        batch.known("skill", need, line.skill_index, "needs")
    if e.preferred_agent_id is not None and e.preferred_agent_id not in line.agents:
        batch.fail(422, "unknown_agent", f"unknown agent {e.preferred_agent_id!r}", "preferred_agent_id")
    if e.call_id in line.calls or e.call_id in batch.offered:
        batch.fail(409, "call_exists", f"call {e.call_id!r} was already offered", "call_id")
    batch.offered[e.call_id] = e.caller


def check_call(line: Line, e: Any, batch: Batch) -> None:
    """The call named is known, or offered earlier in the batch."""
    batch.known_call(e.call_id, line.calls)


def check_agent(line: Line, e: Any, batch: Batch) -> None:
    batch.known_agent(e.agent_id, line.agents)


def check_agent_state(line: Line, e: Any, batch: Batch) -> None:
    check_agent(line, e, batch)
    if line.gone(e.agent_id):  # removed from the roster, its last call over
        batch.fail(422, "unknown_agent", f"unknown agent {e.agent_id!r} (left the roster)", "agent_id")


def check_call_and_agent(line: Line, e: Any, batch: Batch) -> None:
    check_call(line, e, batch)
    check_agent(line, e, batch)


def check_roster_agent(line: Line, e: RosterAgent, batch: Batch) -> None:
    batch.known("site", e.site, line._site_ids, "site")
    for skill in e.skills:
        batch.known("skill", skill, line.skill_index, "skills")


@cython.locals(call=Call)
def on_offered(line: Line, e: CallOffered, t: float, now: float, commands: list[Command]) -> Decision | None:
    line._seq += 1
    call = Call(
        e.call_id,
        e.caller,
        e.skill,
        e.priority,
        t,  # offered_at
        line._seq,
        e.department,
        e.language,
        tuple(e.needs),
        e.preferred_agent_id,
        enqueued_at=now,
    )
    line.calls[call.id] = call
    line.observer.call_offered(call, now)
    # Open or closed when the platform saw the call (its `ts`, the call's offered_at, as its record
    # and the day's figures date it), not when it was posted: seen at 18:59:58, posted at 19:00:01,
    # it was offered while open. `ts` is bounded by routing.max_ts_skew_s and max_ts_ahead_s.
    if not line.calendar.is_open(t):
        return line.overflow_rules.close(call, now)  # counted `closed`, not `offered`
    line.today.add("offered", call.skill, now, call.offered_at)
    pref_row, pref_until = line._preference(call) if call.preferred_agent_id is not None else (-1, 0.0)
    agent_row = line.router.pick_new(
        line.skill_index[call.skill], line._needs(call) if call.needs else (), pref_row, pref_until, now
    )
    if agent_row >= 0:  # taken at once: it never joins the line
        return line._connect(call, line._agent_by_row[agent_row], now, commands, notify=False)
    line._enqueue(call)
    position = line.router.queue_position(call.row)
    ewt = line.expected_wait(call, position)
    service = line.overflow_rules.target(call, ewt, now)
    if service is not None:
        line._dequeue(call)
        return line.overflow_rules.send_to_service(call, service, now, commands, notify=False)
    decision = line.queue_decision(call, position, ewt)
    line._record(call, now, decision.to_wire())
    line.observer.decision(call, "queue", now)
    line._arm_call_timer(call, now)
    return decision


@cython.locals(call=Call, agent=Agent, previous=Agent)
def on_answered(line: Line, e: CallAnswered, t: float, now: float, commands: list[Command]) -> Any:
    call, agent = line.calls[e.call_id], line.agents[e.agent_id]
    status = call.status
    if status in (ENDED, CLOSED, OVERFLOWED):
        if status is ENDED and e.ts is not None and _answered_before_its_end(call, agent, t):
            return _answered_late(line, call, agent, t, now, commands)
        return Ignored("call_ended")  # late news of a call that is no longer ours
    if status is ANSWERED:
        return Ignored("restates_state" if call.agent_id == agent.id else "answered_by_another_agent")
    if status is CALLBACK:  # the caller took a callback: acd dials them when it is due
        return Ignored("callback_scheduled")
    if call.callback_id is not None or call.kind is APPOINTMENT:  # a callback's or an appointment's
        if status is CONNECTING:  # its dial: answered
            return line.outbound.call_answered(call, agent, t, now, commands)
        return Ignored("not_dialing")  # in line for an agent, or between two dials: nobody rings it
    # dated no earlier than the call's offer and ring (clocks that disagree): no record answered
    # before it was offered, no handle time counted from before the ring
    t = max(t, call.offered_at, call.connected_at or t)
    if call.agent_id == agent.id:  # the agent acd rang picks up
        line._agent_event(agent, "answer", t, now, commands)
    else:
        # Picked up by an agent acd had not chosen (a pickup, a transfer): taken only from an
        # agent no call owns, so nobody ever holds two calls.
        if agent.call_id is not None:
            return Ignored("agent_on_another_call")
        if call.waiting:
            line._dequeue(call)
        previous = line.agents.get(call.agent_id) if call.agent_id else None
        call.agent_id = agent.id
        line._agent_event(agent, "answer", t, now, commands, call=call)
        if previous is not None and previous.call_id == call.id:
            line._agent_event(previous, "release", t, now, commands)
    call.status = ANSWERED
    call.answered_at = t
    call.history.append((now, {"action": "answered", "agent_id": agent.id}))  # line._record, inline
    line.observer.call_answered(call, agent, max(0.0, t - call.offered_at))
    line.today.add("answered", call.skill, now, call.offered_at)
    return None


@cython.locals(call=Call, agent=Agent)
def _answered_before_its_end(call: Call, agent: Agent, t: float) -> bool:
    """Whether a `call.answered` for an ended call is its answer delivered after its end (webhooks
    out of order): an inbound call that ended while ringing this agent, stamped between the ring
    and the end, and not ended by the platform as abandoned (the caller hung up: taken as said)."""
    return (
        call.kind is INBOUND
        and call.callback_id is None
        and call.answered_at is None
        and call.agent_id == agent.id
        and call.end_reason != "abandoned"
        and call.connected_at is not None
        and call.ended_at is not None
        and call.connected_at <= t <= call.ended_at
    )


@cython.locals(call=Call, agent=Agent)
def _answered_late(
    line: Line, call: Call, agent: Agent, t: float, now: float, commands: list[Command]
) -> Any:
    """The call was answered at `t`, before the end acd already applied: it counts as answered
    (its record, the day's figures, the handle time, the survey's sample). The agent, released at
    the end, is left as it is: it may have taken another call since, and nothing is undone."""
    call.answered_at = t
    call.history.append((now, {"action": "answered", "agent_id": agent.id, "late": True}))
    line._observe_handle(agent, call, call.ended_at)  # type: ignore[arg-type]
    line.observer.call_answered(call, agent, max(0.0, t - call.offered_at))
    line.observer.call_answered_late(call)
    line.today.add("answered", call.skill, now, call.offered_at)
    line._maybe_survey(call, now, commands)
    return None


@cython.locals(call=Call)
def on_accepted(line: Line, e: CallbackAccepted, t: float, now: float, commands: list[Command]) -> Any:
    """`callback.accepted`, which the callbacks' part applies (acd/engine/callbacks.py). One
    delivered after the end of its call, stamped no later than that end, of a call that ended
    waiting in line (the caller took the callback, then hung up, and the hang-up came first) is
    taken as if in time: the call gets back its place in line, keeps it for its callback, and
    goes to an agent free meanwhile. Its record is rewritten (`callback`) and the day's figures
    no longer count it abandoned; the metrics' counters keep the end they counted."""
    call = line.calls[e.call_id]
    reason, ended_at = call.end_reason, call.ended_at
    if ended_at is None or not accepted_before_its_end(call, e):
        return line.callback_book.on_accepted(e, t, now, commands)
    call.status, call.ended_at, call.end_reason = QUEUED, None, None
    if reason == "abandoned":
        line.today.unabandoned(call.skill, now, call.offered_at, max(0.0, ended_at - call.offered_at))
    line._record(call, now, {"action": "reopened", "why": "callback_accepted_before_the_end"})
    line._enqueue(call)  # its own place: its arrival order and waiting clock are kept
    decision = line.callback_book.on_accepted(e, t, now, commands)
    if call.waiting:
        line._try_route(call, now, commands)
    return decision


@cython.locals(call=Call)
def accepted_before_its_end(call: Call, e: CallbackAccepted) -> bool:
    """Whether `e` is a callback's acceptance delivered after the end of its call, stamped no
    later than that end, and the call an inbound one that ended waiting in line: never answered,
    nor ringing an agent at its end (a ring-out clears `connected_at`), nor with a local service.
    Its window, if it names one, is checked as a timely one's (acd/engine/windows.py)."""
    return (
        call.status is ENDED
        and e.ts is not None
        and call.ended_at is not None
        and e.ts.timestamp() <= call.ended_at
        and call.kind is INBOUND
        and call.callback_id is None
        and call.answered_at is None
        and call.connected_at is None
        and call.service_id is None
    )


@cython.locals(call=Call, agent=Agent)
def on_unanswered(line: Line, e: CallUnanswered, t: float, now: float, commands: list[Command]) -> Any:
    call, agent = line.calls[e.call_id], line.agents[e.agent_id]
    if call.status in (ENDED, CLOSED, OVERFLOWED):
        return Ignored("call_ended")
    if call.status is not CONNECTING or call.agent_id != agent.id or agent.call_id != call.id:
        return Ignored("not_ringing_this_agent")
    if call.callback_id is not None or call.kind is APPOINTMENT:
        return line.outbound.call_unanswered(call, agent, t, now, commands)  # a dial's no answer
    if e.ts is not None and t <= _last_ring_out(call, agent.id):
        # stamped no later than this agent's ring-out of this call that acd applied: about that
        # earlier ring (posted twice, under two ids), not the one in progress
        return Ignored("stale")
    call.unanswered += 1
    # The call goes back to its place first, so it goes to another free agent if there is one;
    # then the agent is free (or paused) and may take a call again, this one included.
    line._requeue(call, now, commands, why="no_answer", agent_id=agent.id, ts=t)
    line._agent_event(agent, "ring_out", t, now, commands)
    return None


@cython.locals(call=Call)
def _last_ring_out(call: Call, agent_id: str) -> float:
    """The `ts` of the agent's latest ring-out of the call that acd applied (-inf: none). The
    platform's stamps are compared with the platform's: a clock behind acd's never makes the
    ring-out of a short ring look older than the ring."""
    for _, entry in reversed(call.history):
        if entry.get("why") == "no_answer" and entry.get("agent_id") == agent_id and "ts" in entry:
            return float(entry["ts"])
    return -math.inf


@cython.locals(call=Call)
def on_ended(line: Line, e: CallEnded, t: float, now: float, commands: list[Command]) -> Any:
    call = line.calls[e.call_id]
    outbound = call.callback_id is not None or call.kind is APPOINTMENT
    if call.status is ANSWERED and outbound and _an_earlier_leg(call, t):
        # Expected and changing nothing, as when it comes in time: the conversation goes on.
        line._record(call, now, {"action": "leg_ended", "reason": e.reason})
        return None
    return line._end_call(call, e.reason, t, now, commands)


@cython.locals(call=Call)
def _an_earlier_leg(call: Call, t: float) -> bool:
    """Whether a `call.ended` stamped `t` for an outbound contact's answered call ends a leg that
    came before the conversation, delivered late on the same call id: one stamped before the dial
    in progress began; or, for a virtual-hold callback (the caller's own call id), the caller's
    hang-up after taking the callback, which is its first end, stamped before the dial's answer
    (the dial may begin the instant the callback is taken). A conversation ends after its answer."""
    if call.connected_at is not None and t < call.connected_at:
        return True
    return (
        call.kind is INBOUND
        and call.callback_id is not None
        and call.answered_at is not None
        and t < call.answered_at
        and not any(entry.get("action") == "leg_ended" for _, entry in call.history)
    )


@cython.locals(agent=Agent)
def on_agent_state(line: Line, e: AgentStateChanged, t: float, now: float, commands: list[Command]) -> Any:
    agent = line.agents[e.agent_id]
    # Without a ts, the event is dated by its arrival: it is news, never stale (a platform
    # whose clock runs ahead must not make the next undated event look old).
    if e.ts is not None and machine.is_stale(
        e.state, t, agent.state_changed_at, line._reported_at.get(agent.id, -math.inf)
    ):
        return Ignored("stale")
    if e.state not in ("busy", "wrap_up"):
        # presence (the agent's own word: here, away) bounds what older news may change; busy
        # and wrap_up describe the work a call owns, and never make a request look stale
        line._reported_at[agent.id] = t
    state = line.router.agent_state(agent.row)
    if (
        agent.call_id is None
        and e.state in ("paused", "logged_out")
        and state == AgentState.from_wire(e.state)
        and e.reason != agent.reason
    ):
        agent.reason = e.reason  # the same state for another reason (lunch, then a meeting)
        return None
    ignored = line._agent_event(agent, e.state, t, now, commands, call=None, reason=e.reason)
    return None if ignored is None else Ignored(ignored)


@cython.locals(agent=Agent)
def on_roster_agent(
    line: Line, e: RosterAgent, t: float, now: float, commands: list[Command]
) -> RosterDecision:
    """Create or update a roster entry. A new agent starts logged out; an available agent whose
    skills widen may take a waiting call at once."""
    agent = line.agents.get(e.agent_id)
    if agent is None:
        line._add_agent(e.agent_id, e.site, e.skills, e.target, t)
        return RosterDecision(e.agent_id, True)
    line._leaving.discard(e.agent_id)  # an agent removed from config/, put back by the API
    staffed = line.router.agent_state(agent.row) in STAFFED_STATES
    if staffed:
        line._count_staffed(agent.skills, -1)
    agent.site, agent.skills, agent.target = e.site, dict(e.skills), e.target
    if staffed:
        line._count_staffed(agent.skills, +1)
    line.router.set_agent_site(agent.row, line._site_index(e.site))
    line.router.set_agent_skills(agent.row, {line.skill_index[s]: lv for s, lv in e.skills.items()})
    if line.router.agent_state(agent.row) == AVAILABLE:
        line._offer_work(agent, now, commands)
    return RosterDecision(e.agent_id, False)


@cython.locals(call=Call)
def on_survey(line: Line, e: SurveyResult, t: float, now: float, commands: list[Command]) -> Any:
    call = line.calls[e.call_id]
    if call.survey_score is not None:
        return Ignored("survey_exists")  # one survey per call, counted once
    if call.answered_at is None:
        # surveys follow answered calls: a caller no agent spoke to rated nobody's service
        return Ignored("not_answered")
    call.survey_score = e.score
    line.observer.survey(call, e.score)
    return None
