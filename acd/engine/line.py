"""The waiting line and the agents over the router: the engine's hot path, work-conserving.

Over 400 lines on purpose: the line and the agents' state machine are one class because every
move touches both through the router's rows, on every event; a call between two objects there
would cost the simulator and the HTTP path on each one. The hot path reads as one piece.

`Line` holds the calls, the agents and their numeric twins in the router (acd/routing), and makes
the routing moves: a call joins the line (`_enqueue`), leaves it (`_dequeue`), is routed
(`_try_route`, `_connect`) or given back its place (`_requeue`); an agent changes state by the
table of acd/engine/agents.py (`_agent_event`) and, once available, takes the best waiting call
(`_offer_work`); a call ends (`_end_call`). It keeps the per-skill counts and the expected wait's
trackers in step as it goes.

`Engine` (acd/engine/core.py) is a `Line` with the event registry and the parts composed around
it. The parts get the line explicitly (`Outbound`, `Callbacks`, `Appointments`, `OverflowRules`),
and the line calls them through narrow hooks (typed below): `outbound.originate` (an outbound
contact got its agent), `callback_book.defer` and `.windows` (a callback picked while the line is
closed; the windows a queue decision offers) and `overflow_rules` (`strand`: a call waited the
maximum; `release`: an overflowed call ended).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any, Protocol

from acd.calendar import Calendar
from acd.config import Config
from acd.engine import agents as machine
from acd.engine.agents import Ignored
from acd.engine.ewt import (
    AbandonmentTracker,
    AhtTracker,
    ServiceRateTracker,
    expected_wait,
    expected_wait_at_rate,
    wait_at_rate_reaches,
)
from acd.engine.observer import Observer
from acd.engine.records import Agent, Appointment, Call, Callback
from acd.engine.surveys import sampled
from acd.engine.timers import Timers
from acd.engine.today import DayTally
from acd.model import (
    STAFFED_STATES,
    WATCHDOG_KINDS,
    AgentState,
    CallbackStatus,
    CallKind,
    CallStatus,
    Command,
    ConnectDecision,
    QueueDecision,
    Strategy,
)
from acd.phone import diallable
from acd.routing import make_router

try:
    import cython
except ImportError:  # no Cython installed: its declarations are no-ops (acd/typing_c.py)
    from acd import typing_c as cython


def command_prefix(call_id: str, name: str) -> str:
    """What every id of a call's `name` command starts with; `command_id` adds the call's offer
    instant and the place of its decision in the call's history, so ids are deterministic and
    unique."""
    return f"{call_id}.{name}."


@cython.locals(call=Call)
def command_id(call: Call, name: str, place: int) -> str:
    """The id of the call's `name` command for its decision at `place` (1-based) in its history:
    the call id, the command, the call's offer instant in milliseconds and the place. So a replay
    produces the same ids and the outbox (and the platform) can deduplicate, and a call id offered
    again once acd forgot the first call, another caller, gets ids of its own, which the outbox
    does not drop as the first caller's, delivered (`originate`'s included: until 2026-12-05 its
    id was `<call id>.originate.<place>`, which a platform's result may still name)."""
    return f"{call.id}.{name}.{offer_stamp(call)}.{place}"


@cython.locals(call=Call)
def offer_stamp(call: Call) -> str:
    """The call's offer instant in milliseconds, as its commands' ids carry it (`command_id`)."""
    return str(round(call.offered_at * 1000.0))


def aged_order(enqueued_at: float, priority: int, aging_s: float, seq: int) -> int:
    """The place of a waiting call under priority aging, as the router's integer order (lower
    first): its arrival less `priority x aging_s`, in milliseconds, then its sequence number for
    calls of the same instant (20 bits: the sequence's low bits, enough to keep those apart)."""
    return (round((enqueued_at - priority * aging_s) * 1000.0) << 20) | (seq & 0xFFFFF)


# Enum members as module constants: read on every event, a global is cheaper than a class attribute.
AVAILABLE, BUSY, WRAP_UP, RESERVED = (
    AgentState.AVAILABLE,
    AgentState.BUSY,
    AgentState.WRAP_UP,
    AgentState.RESERVED,
)
QUEUED, CONNECTING, ANSWERED, CALLBACK, OVERFLOWED, CLOSED, ENDED = (
    CallStatus.QUEUED,
    CallStatus.CONNECTING,
    CallStatus.ANSWERED,
    CallStatus.CALLBACK,
    CallStatus.OVERFLOWED,
    CallStatus.CLOSED,
    CallStatus.ENDED,
)

INBOUND, APPOINTMENT = CallKind.INBOUND, CallKind.APPOINTMENT
PAUSED, LOGGED_OUT = AgentState.PAUSED, AgentState.LOGGED_OUT
_STAFFED = frozenset(STAFFED_STATES)

#: The agent machine's effects as bits, and its table (acd/engine/agents.py) keyed flat by
#: (state, on_call, event) with each step's effects as those bits: read on every agent event.
(
    _DETACH,
    _ATTACH,
    _DEFER,
    _KEEP_PRESENCE,
    _CANCEL_PENDING,
    _RESET_STREAK,
    _COUNT_RING_OUT,
    _ARM_WRAP,
    _OFFER_WORK,
) = (1 << i for i in range(9))
#: The agent's own requests, kept for its call's end or withdrawn: none for an agent leaving.
_KEPT_REQUESTS = _DEFER | _KEEP_PRESENCE | _CANCEL_PENDING
_EFFECT_BITS = {
    "detach": _DETACH,
    "attach": _ATTACH,
    "defer": _DEFER,
    "keep_presence": _KEEP_PRESENCE,
    "cancel_pending": _CANCEL_PENDING,
    "reset_streak": _RESET_STREAK,
    "count_ring_out": _COUNT_RING_OUT,
    "arm_wrap": _ARM_WRAP,
    "offer_work": _OFFER_WORK,
}
_SAME = machine.SAME
_STEPS: dict[tuple[AgentState, bool, str], tuple[AgentState | str, int, str | None]] = {
    (state, on_call, event): (
        _SAME if step.state == _SAME else step.state,
        sum(_EFFECT_BITS[e] for e in step.effects),
        step.ignored,
    )
    for ((state, on_call), event), step in machine.TABLE.items()
}


class OutboundHook(Protocol):
    def originate(self, call: Call, agent: Agent, now: float, commands: list[Command]) -> None: ...

    def call_answered(
        self, call: Call, agent: Agent, t: float, now: float, commands: list[Command]
    ) -> Any: ...

    def call_unanswered(
        self, call: Call, agent: Agent, t: float, now: float, commands: list[Command]
    ) -> Any: ...

    def lost(self, call: Call, t: float, now: float, commands: list[Command]) -> str | None: ...


class CallbackHook(Protocol):
    def defer(self, call: Call, now: float) -> None: ...

    def on_accepted(self, e: Any, t: float, now: float, commands: list[Command]) -> Any: ...

    def windows(self, now: float, limit: int = 2) -> list[dict[str, Any]]: ...


class OverflowHook(Protocol):
    def strand(self, call: Call, now: float, commands: list[Command]) -> None: ...

    def release(self, call: Call, now: float, commands: list[Command]) -> None: ...

    def fill_services(self, now: float, commands: list[Command]) -> None: ...


class Line:
    """The calls, the agents, the line and the router; the routing moves (see the module)."""

    #: The parts the line calls (set by the engine that composes them).
    outbound: OutboundHook
    callback_book: CallbackHook
    overflow_rules: OverflowHook
    callbacks: dict[str, Callback]  # the callbacks' records (their part's, shared)
    # Parts the line itself does not call, for the read models (acd/engine/queries.py).
    appointments: dict[str, Appointment]
    appointment_book: Any
    overflow: Any  # acd/engine/overflow.py's Overflow: the mode and the local services' loads

    def __init__(self, config: Config, router: str, observer: Observer) -> None:
        self.config = config
        self.observer = observer
        routing = config.routing
        self.skills: list[str] = [s.id for s in config.skills]
        self.skill_index: dict[str, int] = {s: i for i, s in enumerate(self.skills)}
        self.router = make_router(
            router,
            n_skills=len(self.skills),
            strategy=Strategy.from_name(routing.strategy),
            widening=[config.widening_for(s) for s in self.skills],
        )
        self.agents: dict[str, Agent] = {}
        self._agent_by_row: list[Agent] = []
        self.calls: dict[str, Call] = {}
        self._call_by_row: dict[int, Call] = {}
        self._ended: deque[str] = deque()
        self._init_agent_machine()
        self._seq = 0
        self._last_now = 0.0  # the latest time the engine was driven at (validation without one)
        self.timers = Timers()
        self.aht = AhtTracker({s.id: s.default_aht_s for s in config.skills}, routing.aht_smoothing)
        self._init_wait_trackers()
        self._site_ids: dict[str, int] = {s.id: i for i, s in enumerate(config.sites)}
        # Kept in step as calls and agents move, so per-event checks need no scan.
        self.waiting_by_skill: list[int] = [0] * len(self.skills)
        # The calls without needs among them: the line a new caller without needs joins, whose
        # pace and length its expected wait (and the overflow watch) follow. A call needing an
        # interpreter waits for the few agents who hold every need; it does not hold the others.
        self.plain_waiting_by_skill: list[int] = [0] * len(self.skills)
        self.staffed_by_skill: list[int] = [0] * len(self.skills)
        # Skills whose live expected wait may have moved since the overflow watch last looked.
        self._ewt_dirty: set[int] = set(range(len(self.skills)))
        self.calendar = Calendar(config.calendar)
        self.today = DayTally(self.calendar.hours.zone)  # the wallboard's figures of the day
        for agent in config.agents:
            self._add_agent(agent.id, agent.site, agent.skills, agent.target, 0.0)
        self._read_settings()

    def _init_agent_machine(self) -> None:
        """State of the rules on agents and idempotency, kept beside the records."""
        self._seen_digest: dict[str, bytes] = {}  # event id -> digest of its body
        self._pending: dict[str, tuple[AgentState, str | None]] = {}  # agent id -> its request
        #: agents removed from config/agents.yaml while a call owned them (acd/engine/state_fit.py):
        #: their pending logout is the roster's, not theirs; once logged out they are gone
        self._leaving: set[str] = set()
        self._reported_at: dict[str, float] = {}  # agent id -> ts of its last presence reported
        self._last_sync_at = -math.inf  # the ts of the newest platform.sync applied
        self._held: set[str] | None = None  # during a sync: agents freed, offered work after it
        self._no_answer: dict[str, int] = {}  # agent id -> ring-outs in a row
        #: What the watchdog flags now: calls answered too long, agents busy with no call.
        self.flagged: dict[str, list[str]] = {k: [] for k in WATCHDOG_KINDS}
        self._watchdog_at: float | None = None  # the instant of the armed watchdog timer
        #: switch on: the next instant a local service opens (its timer), inf when none will
        self._opening_at: float | None = None

    def _read_settings(self) -> None:
        """Settings read on every event, kept at hand (the configuration never changes under an
        engine: a new configuration is a new engine)."""
        routing = self.config.routing
        self._idempotency_ttl_s = routing.idempotency_ttl_s
        self._ended_retention = routing.ended_call_retention
        self._wrap_up_s = routing.wrap_up_s
        self._ewt_unstaffed_s = routing.ewt_unstaffed_s
        self._preferred_wait_s = routing.preferred_agent_wait_s
        self._max_wait_s = self.config.overflow.max_wait_s
        self._rona_pause = routing.rona_pause
        surveys = self.config.records.surveys  # the share of answered calls surveyed, per skill
        self._survey_share = {s: surveys.share_for(s) for s in self.skills}
        self._survey_default = surveys.share

        self._max_no_answer = routing.max_no_answer
        self._ts_skew_s = routing.max_ts_skew_s
        self._watchdog_s = routing.watchdog_interval_s
        self._max_answered_s = routing.max_answered_s
        self._busy_without_call_s = routing.busy_without_call_s
        self._max_ringing_s = routing.max_ringing_s
        self._max_waiting_s = routing.max_waiting_s

    def _init_wait_trackers(self) -> None:
        """What the expected wait learns from the line (acd/engine/ewt.py): the rate its head is
        served at, and the rate its callers hang up at."""
        self.service_rate = ServiceRateTracker(self.skills)
        self.abandonment = AbandonmentTracker(self.skills, self.config.routing.aht_smoothing)

    # -- routing moves

    @cython.locals(call=Call)
    def _needs(self, call: Call) -> tuple[int, ...]:
        if not call.needs:
            return ()
        return tuple(self.skill_index[n] for n in call.needs)

    @cython.locals(call=Call, preferred=Agent)
    def _preference(self, call: Call) -> tuple[int, float]:
        """The preferred agent's row and until when the call waits for it (-1: none)."""
        if call.preferred_agent_id is not None:
            preferred = self.agents[call.preferred_agent_id]
            if self.router.agent_state(preferred.row) != AgentState.LOGGED_OUT:
                return preferred.row, call.enqueued_at + self.config.routing.preferred_agent_wait_s
        return -1, 0.0

    @cython.locals(call=Call)
    def _enqueue(self, call: Call, preference: tuple[int, float] | None = None) -> None:
        """Into the line; `preference`: the preferred agent's row and until when, as the router
        held it (an engine rebuilt from its state), else as the call's preference stands now."""
        if preference is not None:
            pref_row, pref_until = preference
        elif call.preferred_agent_id is not None:
            pref_row, pref_until = self._preference(call)
        else:
            pref_row, pref_until = -1, 0.0
        aging = self.config.routing.priority_aging_s
        if aging is None:
            priority, order = call.priority, call.seq
        else:  # one class, ordered by arrival less the priority's worth of waiting
            priority, order = 0, aged_order(call.enqueued_at, call.priority, aging, call.seq)
        skill = self.skill_index[call.skill]
        call.row = self.router.add_call(
            skill,
            self._needs(call) if call.needs else (),
            priority,
            order,
            call.enqueued_at,
            pref_row,
            pref_until,
        )
        self._call_by_row[call.row] = call
        if not call.needs:
            if not self.plain_waiting_by_skill[skill]:
                self.service_rate.line_busy(call.skill, True, self._last_now)
            self.plain_waiting_by_skill[skill] += 1
        self.waiting_by_skill[skill] += 1
        self._ewt_dirty.add(skill)

    @cython.locals(call=Call)
    def _dequeue(self, call: Call) -> None:
        skill = self.skill_index[call.skill]
        self.waiting_by_skill[skill] -= 1
        if not call.needs:
            self.plain_waiting_by_skill[skill] -= 1
            if not self.plain_waiting_by_skill[skill]:
                self.service_rate.line_busy(call.skill, False, self._last_now)
        self._ewt_dirty.add(skill)
        self.router.remove_call(call.row)
        del self._call_by_row[call.row]
        call.row = -1
        call.timer_token += 1

    @cython.locals(call=Call)
    def _served_from_line(self, call: Call, now: float, paced: bool = True) -> None:
        """A waiting call goes to an agent: the line was served, the caller did not hang up (the
        line of the calls without needs, when it is one of them). `paced`: the agent freed itself
        from its work (a call's end, a wrap-up): what the line's service rate measures; an agent
        who just logged in or came back from a pause is a step of the capacity, not a pace (a
        team logging in together takes a call each at once)."""
        if paced and not call.needs:
            self.service_rate.entered_service(call.skill, now)
        self.abandonment.observe(call.skill, max(0.0, now - call.enqueued_at), False)
        self._dequeue(call)

    @cython.locals(call=Call, cb=Callback)
    def _requeue(self, call: Call, now: float, commands: list[Command], why: str, **said: Any) -> None:
        """Back to its place in line: same arrival order, same waiting clock. `said`: what the
        history keeps beside why (a ring-out's agent and `ts`)."""
        call.status = CALLBACK if call.callback_id else QUEUED
        call.agent_id = None
        call.connected_at = None
        if call.callback_id and (cb := self.callbacks.get(call.callback_id)):
            cb.status, cb.agent_id = CallbackStatus.SCHEDULED, None
        self._record(call, now, {"action": "requeue", "why": why, **said})
        self._enqueue(call)
        self._try_route(call, now, commands)

    @cython.locals(call=Call)
    def _try_route(self, call: Call, now: float, commands: list[Command]) -> None:
        if call.callback_id is not None and not self._may_dial(call, now):
            self.callback_book.defer(call, now)
            return
        agent_row = self.router.pick_agent(call.row, now)
        if agent_row >= 0:
            self._served_from_line(call, now)
            self._connect(call, self._agent_by_row[agent_row], now, commands, notify=True)
            return
        if not call.stranded and call.callback_id is None and now >= call.enqueued_at + self._max_wait_s:
            self.overflow_rules.strand(call, now, commands)
            if not call.waiting:
                return
        self._arm_call_timer(call, now)

    @cython.locals(call=Call, agent=Agent)
    def _connect(
        self, call: Call, agent: Agent, now: float, commands: list[Command], notify: bool
    ) -> ConnectDecision | None:
        """Reserve the agent for the call: ring it (the decision, or a `connect` command when
        `notify`), or dial out for a callback or an appointment (None: an `originate` command)."""
        call.agent_id = agent.id
        call.connected_at = now
        self._agent_event(agent, "reserve", now, now, commands, call=call)
        if call.kind is APPOINTMENT or call.callback_id is not None:
            self.outbound.originate(call, agent, now, commands)
            return None
        call.status = CONNECTING
        decision = ConnectDecision(call.id, agent.id, agent.site, agent.target)
        wire = decision.to_wire()
        call.history.append((now, wire))  # _record, inline
        if notify:
            commands.append(self._command(call, "connect", wire, now))
        self.observer.decision(call, "connect", now)
        return decision

    @cython.locals(agent=Agent, call=Call)
    def _offer_work(self, agent: Agent, now: float, commands: list[Command], paced: bool = False) -> None:
        """The agent is available: it takes the best waiting call it may (`paced`: freed from its
        work, see `_served_from_line`)."""
        if self._held is not None:  # reconciling: offered once the sync is whole
            self._held.add(agent.id)
            return
        while (call_row := self.router.pick_call(agent.row, now)) >= 0:
            call = self._call_by_row[call_row]
            if call.callback_id is not None and not self._may_dial(call, now):
                self.callback_book.defer(call, now)  # dialled in opening hours, the caller's daytime
                continue
            self._served_from_line(call, now, paced)
            self._connect(call, agent, now, commands, notify=True)
            return

    @cython.locals(call=Call)
    def _may_dial(self, call: Call, now: float) -> bool:
        """Whether a callback's call may be dialled now (acd/engine/caller_hours.py)."""
        return self.callback_book.caller_hours.may_dial_for(self.callbacks[call.callback_id or ""], now)

    @cython.locals(call=Call)
    def _arm_call_timer(self, call: Call, now: float) -> None:
        """Wake for the call at its next widening step, the end of its wait for a preferred
        agent, or the never-stranded deadline, whichever comes first."""
        call.timer_token += 1
        at = math.inf
        if self.router.widens[self.skill_index[call.skill]]:
            widen = self.router.next_widening(call.row, now)
            if widen is not None:
                at = widen
        if call.preferred_agent_id is not None:
            until = call.enqueued_at + self._preferred_wait_s
            if now < until < at:
                at = until
        if not call.stranded and call.callback_id is None:
            at = min(at, max(now, call.enqueued_at + self._max_wait_s))
        if at != math.inf:
            self.timers.set(at, "call", call.id, call.timer_token)

    # -- the expected wait

    @cython.locals(call=Call)
    def queue_decision(
        self, call: Call, position: int | None = None, ewt: float | None = None
    ) -> QueueDecision:
        if position is None:
            position = self.router.queue_position(call.row)
        if ewt is None:
            ewt = self.expected_wait(call, position)
        # a callback or an appointment only to a number: never to a withheld caller id (acd/phone.py)
        number = diallable(call.caller)
        offer = number and ewt > self.config.routing.callback_offer_ewt_s
        windows = None
        if offer and self.config.callbacks.windows:
            # beside virtual hold, the windows later on with room (accept one by its start)
            windows = [
                {k: v for k, v in w.items() if k != "_key"}
                for w in self.callback_book.windows(self._last_now, call=call)
            ]
        above = self.config.appointments.offer_above_ewt_s  # None: no appointment offered
        appointment = None if above is None else number and ewt > above
        return QueueDecision(call.id, position, round(ewt, 1), offer, windows, appointment)

    @cython.locals(call=Call)
    def expected_wait(self, call: Call, position: int) -> float:
        """acd/engine/ewt.py; a call without needs waits as its skill's line does (`skill_wait`);
        one with needs at the rate of the agents staffed for all of them: n / AHT."""
        if not call.needs:
            return self.skill_wait(call.skill, position, self.staffed_by_skill[self.skill_index[call.skill]])
        staffed = self.staffed_for(call)
        theta = self.abandonment[call.skill]
        return expected_wait(position, self.aht[call.skill], staffed, self._ewt_unstaffed_s, theta)

    @cython.locals(call=Call)
    def staffed_for(self, call: Call) -> int:
        """The agents staffed for the call: for its skill (the line's count), or, when it needs
        more (an interpreter), for all of them (the router counts them)."""
        skill = self.skill_index[call.skill]
        if call.needs:
            return self.router.staffed(skill, self._needs(call))
        return self.staffed_by_skill[skill]

    def skill_wait(self, skill: str, position: int, staffed: int) -> float:
        """The expected wait at `position` in a skill's line for a call without needs (a new
        caller's: position = waiting + 1): the callers ahead leave at the rate the line was served
        at lately, or (not served lately) at n / AHT of the `staffed` agents, and hang up at the
        skill's abandonment rate."""
        rate = self._line_rate(skill, staffed)
        if rate is None:
            return self._ewt_unstaffed_s
        return expected_wait_at_rate(position, rate, self.abandonment[skill])

    def skill_wait_reaches(self, skill: str, position: int, staffed: int, cut: float) -> bool:
        """`skill_wait(skill, position, staffed) >= cut`, mostly settled without the sum
        (`wait_at_rate_reaches`): the overflow watch asks this of every skill that moved, after
        nearly every batch, and only the side of its threshold matters to it."""
        rate = self._line_rate(skill, staffed)
        if rate is None:
            return self._ewt_unstaffed_s >= cut
        return wait_at_rate_reaches(position, rate, self.abandonment[skill], cut)

    def _line_rate(self, skill: str, staffed: int) -> float | None:
        """The rate a skill's line is served at: as it was lately, else n / AHT of the `staffed`
        agents; None with nobody staffed (the pace of agents who all left serves nobody)."""
        if staffed <= 0:
            return None
        rate = self.service_rate.rate(skill, self._last_now)
        return staffed / self.aht[skill] if rate is None else rate

    # -- the end of a call

    @cython.locals(call=Call, agent=Agent)
    def _end_call(self, call: Call, reason: str, t: float, now: float, commands: list[Command]) -> Any:
        status = call.status
        if status is ENDED:
            self._release_from_fit(call, t, now, commands)
            return Ignored("call_ended")
        if status is CLOSED:  # the platform hung up after the closed message
            if call.ended_at is not None:
                return Ignored("call_ended")
            call.ended_at, call.end_reason = max(t, call.offered_at), reason
            return None
        if status is CALLBACK or (
            (status is CONNECTING or status is QUEUED) and (call.callback_id or call.kind is APPOINTMENT)
        ):
            # The caller's leg after accepting a callback (it keeps its place), an outbound dial
            # whose outcome comes with callback.result / appointment.result, or the late end of an
            # earlier dial's leg while the contact waits for its next dial (its retry, or in line
            # for an agent): only the contact's result or cancellation ends it.
            self._record(call, now, {"action": "leg_ended", "reason": reason})
            return None
        # An end stamped before what acd knows of the call (clocks that disagree) is dated at
        # the call's last instant: no record ends before its offer or answer, no wrap-up before
        # the conversation.
        t = max(t, call.offered_at, call.connected_at or t, call.answered_at or t)
        waited: float | None = None
        if status is OVERFLOWED:
            self.overflow_rules.release(call, now, commands)
        elif call.answered_at is None:
            waited = max(0.0, t - call.offered_at)
        if call.row >= 0:  # waiting
            if reason == "abandoned":
                self.abandonment.observe(call.skill, max(0.0, t - call.enqueued_at), True)
            self._dequeue(call)
        call.status = ENDED
        call.ended_at = t
        call.end_reason = reason
        agent = self.agents.get(call.agent_id) if call.agent_id else None
        if agent is not None and agent.call_id == call.id:
            if status is ANSWERED:
                self._observe_handle(agent, call, t)
                self._agent_event(agent, "call_end", t, now, commands)
            else:
                self._agent_event(agent, "release", t, now, commands)
        call.history.append((now, {"action": "ended", "reason": reason}))  # _record, inline
        self.observer.call_ended(call, reason, waited)
        if reason == "abandoned" and waited is not None:
            self.today.abandoned(call.skill, now, call.offered_at, waited)
        self._ended.append(call.id)
        if status is ANSWERED:
            self._maybe_survey(call, now, commands)
        return None

    @cython.locals(call=Call, agent=Agent)
    def _release_from_fit(self, call: Call, t: float, now: float, commands: list[Command]) -> None:
        """The platform's end of a call that a restart under a config/ without its skill ended
        (`lost`, acd/engine/state_fit.py) while its agent still rang or talked on it: that agent,
        left `busy` with no call, goes to wrap-up, then available, as the end of a lost call
        sends it (CONTRACT.md, Reconciliation). Only while it is still that: busy, no call, not
        moved since the call ended (an `agent.state` since then is newer news)."""
        agent = self.agents.get(call.agent_id) if call.agent_id else None
        if (
            agent is None
            or agent.call_id is not None
            or self.router.agent_state(agent.row) is not BUSY
            or not call.history
            or call.history[-1][1].get("why") != "skill_removed"
            or agent.state_changed_at > (call.ended_at or 0.0)
        ):
            return
        self._agent_event(agent, "wrap_up", max(t, agent.state_changed_at), now, commands)

    @cython.locals(agent=Agent, call=Call)
    def _observe_handle(self, agent: Agent, call: Call, t: float) -> None:
        """The agent finished a call: its handle time (talk and the configured wrap-up) feeds the
        AHT, unless the call's end is unknown: a sync ended it `lost` at its own instant, maybe
        hours after the real end (a lost `call.ended`, an outage)."""
        agent.calls_handled += 1
        if call.answered_at is not None and call.end_reason != "lost":
            handle = max(0.0, t - call.answered_at) + self._wrap_up_s
            self.aht.observe(call.skill, handle)
            self._ewt_dirty.add(self.skill_index[call.skill])
            self.observer.handle_time(call.skill, handle)

    @cython.locals(call=Call)
    def _maybe_survey(self, call: Call, now: float, commands: list[Command]) -> None:
        """An answered call ended: send the survey command if the call is in the sample
        (acd/engine/surveys.py)."""
        share = self._survey_share.get(call.skill, self._survey_default)
        if call.answered_at is None or not share or not sampled(call.id, share):
            return
        # a withheld caller id: no number (null); the platform surveys on the call, or not at all
        number = call.caller if diallable(call.caller) else None
        decision = {"action": "survey", "call_id": call.id, "number": number}
        self._record(call, now, decision)
        commands.append(self._command(call, "survey", decision, now))

    @cython.locals(call=Call)
    def _finish_call(self, call: Call, t: float, now: float, reason: str) -> None:
        """A contact over without a conversation (a callback failed or cancelled, a no-show)."""
        call.status = ENDED
        call.ended_at = t
        call.end_reason = reason
        self._record(call, now, {"action": "ended", "reason": reason})
        self._ended.append(call.id)

    # -- the agent's state machine (acd/engine/agents.py)

    @cython.locals(agent=Agent)
    def gone(self, agent_id: str) -> bool:
        """An agent removed from config/agents.yaml that has logged out after the call that kept
        it: unknown to the platform's events from then on (the next load drops it)."""
        if agent_id not in self._leaving:
            return False
        agent = self.agents[agent_id]
        return agent.call_id is None and self.router.agent_state(agent.row) is LOGGED_OUT

    @cython.locals(agent=Agent, call=Call)
    def _agent_event(
        self,
        agent: Agent,
        event: str,
        t: float,
        now: float,
        commands: list[Command],
        call: Call | None = None,
        reason: str | None = None,
    ) -> str | None:
        """Apply one event to an agent by the table; returns why it changed nothing, if so.
        The table's steps are read from `_STEPS` (the same table with its effects as bits)."""
        agent_id = agent.id
        state = self.router.agent_state(agent.row)
        try:
            target, flags, ignored = _STEPS[state, agent.call_id is not None, event]
        except KeyError:  # a pair the table does not have: its own error
            machine.transition(state, agent.call_id is not None, event)
            raise
        if flags & _KEPT_REQUESTS and agent_id in self._leaving:
            flags &= ~_KEPT_REQUESTS  # the roster's removal stands: no request replaces or withdraws it
        if flags:
            if flags & _DETACH:
                agent.call_id = None
            if flags & _ATTACH:
                assert call is not None and agent.call_id is None
                agent.call_id = call.id
            if flags & _DEFER:
                self._pending[agent_id] = (AgentState.from_wire(event), reason)
            if flags & _KEEP_PRESENCE:  # away before the pick-up: away again after the call
                self._pending[agent_id] = (state, agent.reason)
            if flags & _CANCEL_PENDING and self._pending.pop(agent_id, None) is not None:
                ignored = None  # the agent withdrew its request to pause or leave
            if flags & _RESET_STREAK and self._no_answer:
                self._no_answer.pop(agent_id, None)
        streak = 0
        if flags & _COUNT_RING_OUT:
            streak = self._no_answer[agent_id] = self._no_answer.get(agent_id, 0) + 1
        if target is _SAME:
            return ignored
        if type(target) is str:  # after a call: the agent's own request first
            pending = self._pending.pop(agent_id, None) if self._pending else None
            if pending is not None:
                target, agent.reason = pending
            elif target == machine.AFTER_CALL:
                target, agent.reason = (WRAP_UP if self._wrap_up_s > 0 else AVAILABLE), None
            elif target == machine.AFTER_RING_OUT and self._rona_pause and streak >= self._max_no_answer:
                target, agent.reason = PAUSED, "no_answer"
            else:
                target, agent.reason = AVAILABLE, None
        else:
            agent.reason = reason if (target is PAUSED or target is LOGGED_OUT) else None
        if (target is PAUSED or target is LOGGED_OUT) and self._no_answer:
            self._no_answer.pop(agent_id, None)  # back from a pause or a logout, the count starts afresh
        if target is LOGGED_OUT and self._preferred_wait_s > 0 and self._call_by_row:
            self._forget_preference(agent, now, commands)
        # _set_state, inline
        if t < agent.state_changed_at:  # out-of-order timestamps never run time backwards
            t = agent.state_changed_at
        if (self.router.set_agent_state(agent.row, target, t) in _STAFFED) is not (target in _STAFFED):
            self._count_staffed(agent.skills, -1 if target not in _STAFFED else 1)
        agent.state_changed_at = t
        agent.wrap_token += 1
        if target is WRAP_UP:
            if flags & _ARM_WRAP:
                self.timers.set(
                    agent.state_changed_at + self._wrap_up_s, "wrap_up", agent_id, agent.wrap_token
                )
        elif target is AVAILABLE and flags & _OFFER_WORK:
            self._offer_work(agent, now, commands, state is not LOGGED_OUT and state is not PAUSED)
        return ignored

    @cython.locals(agent=Agent, call=Call)
    def _forget_preference(self, agent: Agent, now: float, commands: list[Command]) -> None:
        """The agent logged out: the calls still waiting for it as their preferred agent
        (`preferred_agent_wait_s`) stop waiting, in their place, and go to an idle eligible agent
        if there is one (a call waits for its agent unless that agent is logged out)."""
        for call in [c for c in self._call_by_row.values() if c.preferred_agent_id == agent.id]:
            pref_row, until = self.router.call_preference(call.row)
            if pref_row != agent.row or now >= until:
                continue
            self._dequeue(call)
            self._enqueue(call, (-1, 0.0))
            self._record(call, now, {"action": "preference_dropped", "why": "agent_logged_out"})
            self._try_route(call, now, commands)

    @cython.locals(agent=Agent)
    def _set_state(self, agent: Agent, state: AgentState, t: float) -> None:
        if t < agent.state_changed_at:  # out-of-order timestamps never run time backwards
            t = agent.state_changed_at
        was_staffed = self.router.set_agent_state(agent.row, state, t) in _STAFFED
        if was_staffed != (state in _STAFFED):
            self._count_staffed(agent.skills, -1 if was_staffed else 1)
        agent.state_changed_at = t
        agent.wrap_token += 1

    def _count_staffed(self, skills: dict[str, int], delta: int) -> None:
        for skill in skills:
            i = self.skill_index[skill]
            self.staffed_by_skill[i] += delta
            self._ewt_dirty.add(i)

    @cython.locals(agent=Agent)
    def _add_agent(self, agent_id: str, site: str, skills: dict[str, int], target: str, now: float) -> Agent:
        levels = {self.skill_index[s]: level for s, level in skills.items()}
        row = self.router.add_agent(levels, self._site_index(site), AgentState.LOGGED_OUT, now)
        agent = Agent(
            id=agent_id, site=site, skills=dict(skills), target=target, row=row, state_changed_at=now
        )
        self.agents[agent_id] = agent
        self._agent_by_row.append(agent)
        return agent

    def _site_index(self, site: str) -> int:
        return self._site_ids[site]

    # -- records of what happened

    @cython.locals(call=Call)
    def _record(self, call: Call, now: float, entry: dict[str, Any]) -> None:
        call.history.append((now, entry))

    @cython.locals(call=Call)
    def _command(self, call: Call, name: str, decision: dict[str, Any], now: float) -> Command:
        fields = dict(decision)  # the decision's fields but its action and site, in its order
        fields.pop("action", None)
        fields.pop("site", None)
        return Command(command_id(call, name, len(call.history)), name, fields, now)

    # -- views (acd/engine/queries.py reads them)

    @cython.locals(agent=Agent)
    def agent_state(self, agent: Agent) -> AgentState:
        return self.router.agent_state(agent.row)

    def waiting_calls(self) -> list[Call]:
        return list(self._call_by_row.values())

    def queue_stats(self, now: float) -> list[dict[str, Any]]:
        stats = self.router.skill_stats(now)
        out = []
        for i, skill in enumerate(self.skills):
            s = stats[i]
            waiting = int(s["waiting"])
            oldest = s["oldest_enqueued_at"]
            staffed, available = int(s["agents_staffed"]), int(s["agents_available"])
            plain = self.plain_waiting_by_skill[i]
            # a new caller (no needs) with nobody ahead and an agent of the skill free now is put
            # through at once (work-conserving), unless timed widening first asks a level above 1
            now_taken = not plain and available and self.router.widening[i][0][1] <= 1
            out.append(
                {
                    "skill": skill,
                    "waiting": waiting,
                    "oldest_wait_s": round(max(0.0, now - oldest), 1) if waiting else 0.0,
                    "ewt_s": 0.0 if now_taken else round(self.skill_wait(skill, plain + 1, staffed), 1),
                    "agents_available": available,
                    "agents_busy": int(s["agents_busy"]),
                    "agents_staffed": staffed,
                    "aht_s": round(self.aht[skill], 1),
                }
            )
        return out
