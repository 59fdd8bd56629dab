"""The engine: a deterministic state machine over calls, agents and the waiting line.

It takes events and the current time, changes its state and returns what must happen: the routing
decision for the caller, commands for the platform, and (through `next_wakeup`) the next instant it
wants to be woken. It does no I/O and reads no clock, so the service, the tests and the simulator
drive the very same code.

Time: `now` is the engine's time (the service clock, or the simulator's); an event's `ts` (when the
platform saw it, `now` if absent) dates what the event records (offered, answered, idle since).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from acd.calendar import Calendar
from acd.config import Config
from acd.engine import agents as machine
from acd.engine.agents import Ignored
from acd.engine.appointments import AppointmentMixin
from acd.engine.callbacks import CallbackMixin
from acd.engine.errors import EngineError, unknown
from acd.engine.ewt import (
    AbandonmentTracker,
    AhtTracker,
    ServiceRateTracker,
    expected_wait,
    expected_wait_at_rate,
)
from acd.engine.observer import NULL_OBSERVER, Observer
from acd.engine.overflow import Overflow, OverflowMixin
from acd.engine.records import Agent, Call
from acd.engine.surveys import SurveyMixin
from acd.engine.timers import Timer, Timers
from acd.events import (
    AgentStateChanged,
    CallAnswered,
    CallEnded,
    CallOffered,
    CallUnanswered,
    PlatformSync,
    RosterAgent,
    SurveyResult,
)
from acd.model import STAFFED_STATES, AgentState, CallStatus, Command, Strategy
from acd.routing import make_router

log = logging.getLogger("acd.engine")

#: What the watchdog flags: calls answered too long (call ids), agents busy with no call (agent
#: ids), agents rung too long (call ids).
WATCHDOG_KINDS = ("answered_too_long", "busy_without_call", "ringing_too_long")


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


@dataclass(slots=True)
class EventResult:
    id: str
    status: str  # "applied" | "duplicate"
    decision: dict[str, Any] | None = None
    ignored: str | None = None  # why an applied event changed nothing

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.decision is not None:
            out["decision"] = self.decision
        if self.ignored is not None:
            out["ignored"] = self.ignored
        return out


def event_digest(event: Any) -> bytes | None:
    """A digest of the event's canonical body (its validated fields, in the model's order), kept
    beside its remembered id: an id reused with another body is a conflict, not a duplicate.
    None for the simulator's light events (never repeated, never checked)."""
    dump = getattr(event, "model_dump_json", None)
    if dump is None:
        return None
    return hashlib.blake2b(dump().encode(), digest_size=12).digest()


class Engine(OverflowMixin, CallbackMixin, AppointmentMixin, SurveyMixin):
    def __init__(self, config: Config, *, router: str = "numba", observer: Observer = NULL_OBSERVER) -> None:
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
        self._seen: dict[str, dict[str, Any] | None] = {}
        self._seen_expiry: deque[tuple[float, str]] = deque()
        self._init_agent_machine()
        self._seq = 0
        self._last_now = 0.0  # the latest time the engine was driven at (validation without one)
        self.timers = Timers()
        self.aht = AhtTracker({s.id: s.default_aht_s for s in config.skills}, routing.aht_smoothing)
        self._init_wait_trackers()
        self._site_ids: dict[str, int] = {s.id: i for i, s in enumerate(config.sites)}
        # Kept in step as calls and agents move, so per-event checks need no scan.
        self.waiting_by_skill: list[int] = [0] * len(self.skills)
        self.staffed_by_skill: list[int] = [0] * len(self.skills)
        # Skills whose live expected wait may have moved since the overflow watch last looked.
        self._ewt_dirty: set[int] = set(range(len(self.skills)))
        self.calendar = Calendar(config.calendar)
        self.overflow = Overflow(config, self.calendar)
        self._init_callbacks()
        self._init_appointments()
        for agent in config.agents:
            self._add_agent(agent.id, agent.site, agent.skills, agent.target, 0.0)
        self._read_settings()

    def _init_agent_machine(self) -> None:
        """State of the rules on agents and idempotency, kept beside the records (so a snapshot
        of an earlier release, whose records lack them, loads with these empty)."""
        self._seen_digest: dict[str, bytes] = {}  # event id -> digest of its body
        self._pending: dict[str, tuple[AgentState, str | None]] = {}  # agent id -> its request
        self._reported_at: dict[str, float] = {}  # agent id -> ts of its last presence reported
        self._last_sync_at = -math.inf  # the ts of the newest platform.sync applied
        self._held: set[str] | None = None  # during a sync: agents freed, offered work after it
        self._no_answer: dict[str, int] = {}  # agent id -> ring-outs in a row
        #: What the watchdog flags now: calls answered too long, agents busy with no call.
        self.flagged: dict[str, list[str]] = {k: [] for k in WATCHDOG_KINDS}
        self._watchdog_at: float | None = None  # the instant of the armed watchdog timer

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

        def since_v2(name: str) -> Any:
            """A setting a snapshot's pickled configuration of an earlier release may lack: its
            default then."""
            if name in routing.__dict__:
                return routing.__dict__[name]
            return type(routing).model_fields[name].default

        self._max_no_answer = since_v2("max_no_answer")
        self._ts_skew_s = since_v2("max_ts_skew_s")
        self._watchdog_s = since_v2("watchdog_interval_s")
        self._max_answered_s = since_v2("max_answered_s")
        self._busy_without_call_s = since_v2("busy_without_call_s")
        self._max_ringing_s = since_v2("max_ringing_s")

    # ------------------------------------------------------------------ snapshots

    def __getstate__(self) -> dict[str, Any]:
        """Everything but the observer (metrics belong to the running process, not the state)."""
        state = self.__dict__.copy()
        state.pop("observer", None)
        return state

    def _init_wait_trackers(self) -> None:
        """What the expected wait learns from the line (acd/engine/ewt.py): the rate its head is
        served at, and the rate its callers hang up at."""
        self.service_rate = ServiceRateTracker(self.skills)
        self.abandonment = AbandonmentTracker(self.skills, self.config.routing.aht_smoothing)

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "_pending" not in state:  # a snapshot of a release before the agent state machine
            self._init_agent_machine()
        state.setdefault("_last_sync_at", -math.inf)
        state.setdefault("_held", None)
        if "service_rate" not in state:  # a snapshot from before the measured expected wait
            self.skills = state["skills"]
            self.config = state["config"]
            self._init_wait_trackers()
        self.__dict__.update(state)
        self.observer = NULL_OBSERVER
        self._read_settings()

    # ------------------------------------------------------------------ events

    def apply(
        self, events: list[Any], now: float, *, trusted: bool = False
    ) -> tuple[list[EventResult], list[Command]]:
        """Validate the whole batch, then apply it in order. Nothing is applied if any event is bad.

        `trusted`: the caller built the events from the engine's own state (the simulator) and
        skips the reference checks; never for input from outside."""
        if not trusted:
            self.validate(events, now)
        self._last_now = now
        commands: list[Command] = []
        if self._watchdog_at is None and self._watchdog_s > 0:
            self._arm_watchdog(now)
        apply_one = self._apply_one
        results = [apply_one(event, now, commands) for event in events]
        if self._cb_pending:
            self._cb_admit_all(now, commands)
        self._housekeep(now)
        return results, commands

    def _apply_one(self, event: Any, now: float, commands: list[Command]) -> EventResult:
        event_id, seen = event.id, self._seen
        if event_id in seen:
            return EventResult(event_id, "duplicate", seen[event_id])
        ts = event.ts
        decision = self._handlers[event.type](
            self, event, now if ts is None else ts.timestamp(), now, commands
        )
        ignored = None
        if isinstance(decision, Ignored):
            ignored, decision = str(decision), None
        seen[event_id] = decision
        digest = event_digest(event)
        if digest is not None:
            self._seen_digest[event_id] = digest
        self._seen_expiry.append((now + self._idempotency_ttl_s, event_id))
        return EventResult(event_id, "applied", decision, ignored)

    def validate(self, events: list[Any], now: float | None = None) -> None:
        """Check every reference in the batch against the state (and the calls the batch itself
        offers) before anything changes. Transitions themselves never fail: late or repeated
        platform events are absorbed, as telephony needs."""
        batch_ids: set[str] = set()
        offered: set[str] = set()
        new_ids: set[str] = set()
        places: dict[tuple, int] = {}  # appointment places the batch takes (+) and frees (-)
        at: list[Any] = [0, None]  # the event under check, for the error's details

        def fail(status: int, code: str, message: str, field: str, **more: Any) -> None:
            index, e = at
            raise EngineError(
                status, code, message, {"index": index, "id": e.id, "type": e.type, "field": field, **more}
            )

        now = self._last_now if now is None else now
        skew = self._ts_skew_s
        first: dict[str, Any] = {}  # the batch's new events by id (a repeat is compared with it)
        windows: dict[float, int] = {}  # callback windows the batch books
        for index, e in enumerate(events):
            at[0], at[1] = index, e
            if e.id in self._seen or e.id in batch_ids:
                known = self._seen_digest.get(e.id) if e.id in self._seen else event_digest(first[e.id])
                if known is not None and event_digest(e) != known:
                    fail(
                        409,
                        "idempotency_conflict",
                        f"event id {e.id!r} was already used for another event: an id names one "
                        "event (a retry repeats it byte for byte); give a new event a new id",
                        "id",
                    )
                continue
            batch_ids.add(e.id)
            first[e.id] = e
            if e.ts is not None and skew > 0 and abs(e.ts.timestamp() - now) > skew:
                fail(
                    422,
                    "ts_out_of_range",
                    f"ts {e.ts.isoformat()} is more than {skew:g} s away from the service clock "
                    f"({datetime.fromtimestamp(now, UTC).isoformat()}): check the platform's clock "
                    "(routing.max_ts_skew_s sets the tolerance)",
                    "ts",
                )

            if e.type == "call.offered":
                for name, skill in [("skill", e.skill), *(("needs", n) for n in e.needs)]:
                    if skill not in self.skill_index:
                        fail(
                            422,
                            "unknown_skill",
                            unknown("skill", skill, self.skills),
                            name,
                            valid=[*self.skills],
                        )
                if e.preferred_agent_id is not None and e.preferred_agent_id not in self.agents:
                    fail(
                        422, "unknown_agent", f"unknown agent {e.preferred_agent_id!r}", "preferred_agent_id"
                    )
                if e.call_id in self.calls or e.call_id in offered:
                    fail(409, "call_exists", f"call {e.call_id!r} was already offered", "call_id")
                offered.add(e.call_id)
                continue
            if e.type in ("overflow.mode", "platform.sync"):
                continue  # a sync names calls and agents acd may not know: those are ignored
            if e.type.startswith("callback.") and e.type != "callback.accepted":
                self._validate_callback(e, fail, new_ids)
                continue
            if e.type == "callback.accepted":
                self._validate_window(e, fail, now, windows)
            if e.type.startswith("appointment."):
                self._validate_appointment(e, fail, now, places, new_ids)
                continue
            if e.type == "roster.agent":
                if e.site not in self._site_ids:
                    fail(
                        422,
                        "unknown_site",
                        unknown("site", e.site, self._site_ids),
                        "site",
                        valid=[*self._site_ids],
                    )
                for skill in e.skills:
                    if skill not in self.skill_index:
                        fail(
                            422,
                            "unknown_skill",
                            unknown("skill", skill, self.skills),
                            "skills",
                            valid=[*self.skills],
                        )
                continue
            if hasattr(e, "call_id") and e.call_id not in self.calls and e.call_id not in offered:
                fail(422, "unknown_call", f"unknown call {e.call_id!r}", "call_id")
            if hasattr(e, "agent_id") and e.agent_id not in self.agents:
                fail(422, "unknown_agent", f"unknown agent {e.agent_id!r}", "agent_id")
            if e.type == "callback.result" and e.callback_id not in self.callbacks:
                fail(422, "unknown_callback", f"unknown callback {e.callback_id!r}", "callback_id")
            if e.type == "appointment.result":
                fail(
                    422, "unknown_appointment", f"unknown appointment {e.appointment_id!r}", "appointment_id"
                )

    # -- call.offered

    def _on_offered(self, e: CallOffered, t: float, now: float, commands: list[Command]) -> dict[str, Any]:
        self._seq += 1
        call = Call(
            e.call_id,
            e.caller,
            e.skill,
            e.priority,
            t,  # offered_at
            self._seq,
            e.department,
            e.language,
            tuple(e.needs),
            e.preferred_agent_id,
            enqueued_at=now,
        )
        self.calls[call.id] = call
        self.observer.call_offered(call, now)
        if not self.calendar.is_open(now):
            return self._close(call, now)
        pref_row, pref_until = self._preference(call) if call.preferred_agent_id is not None else (-1, 0.0)
        agent_row = self.router.pick_new(
            self.skill_index[call.skill], self._needs(call) if call.needs else (), pref_row, pref_until, now
        )
        if agent_row >= 0:  # taken at once: it never joins the line
            return self._connect(call, self._agent_by_row[agent_row], now, commands, notify=False)
        self._enqueue(call)
        position = self.router.queue_position(call.row)
        ewt = self.expected_wait(call, position)
        service = self._overflow_target(call, ewt, now)
        if service is not None:
            self._dequeue(call)
            return self._send_to_service(call, service, now, commands, notify=False)
        decision = self.queue_decision(call, position, ewt)
        self._record(call, now, decision)
        self.observer.decision(call, "queue", now)
        self._arm_call_timer(call, now)
        return decision

    def queue_decision(
        self, call: Call, position: int | None = None, ewt: float | None = None
    ) -> dict[str, Any]:
        if position is None:
            position = self.router.queue_position(call.row)
        if ewt is None:
            ewt = self.expected_wait(call, position)
        decision = {
            "action": "queue",
            "call_id": call.id,
            "position": position,
            "ewt_s": round(ewt, 1),
            "callback_offer": ewt > self.config.routing.callback_offer_ewt_s,
        }
        if decision["callback_offer"] and self.config.callbacks.windows:
            # beside virtual hold, the windows later on with room (accept one by its start)
            decision["callback_windows"] = [
                {k: v for k, v in w.items() if k != "_key"} for w in self.callback_windows(self._last_now)
            ]
        return decision

    def expected_wait(self, call: Call, position: int) -> float:
        """acd/engine/ewt.py; a call without needs waits as its skill's line does (`skill_wait`);
        one with needs at the rate of the agents staffed for all of them: n / AHT."""
        skill = self.skill_index[call.skill]
        if not call.needs:
            return self.skill_wait(call.skill, position, self.staffed_by_skill[skill])
        staffed = self.router.staffed(skill, self._needs(call))
        theta = self.abandonment[call.skill]
        return expected_wait(position, self.aht[call.skill], staffed, self._ewt_unstaffed_s, theta)

    # -- call.answered / call.unanswered / call.ended

    def _on_answered(self, e: CallAnswered, t: float, now: float, commands: list[Command]) -> Any:
        call, agent = self.calls[e.call_id], self.agents[e.agent_id]
        status = call.status
        if status in (ENDED, CLOSED, OVERFLOWED):
            return Ignored("call_ended")  # late news of a call that is no longer ours
        if status is ANSWERED:
            return Ignored("restates_state" if call.agent_id == agent.id else "answered_by_another_agent")
        if call.agent_id == agent.id:  # the agent acd rang picks up
            self._agent_event(agent, "answer", t, now, commands)
        else:
            # Picked up by an agent acd had not chosen (a pickup, a transfer): taken only from an
            # agent no call owns, so nobody ever holds two calls.
            if agent.call_id is not None:
                return Ignored("agent_on_another_call")
            if call.waiting:
                self._dequeue(call)
            previous = self.agents.get(call.agent_id) if call.agent_id else None
            call.agent_id = agent.id
            self._agent_event(agent, "answer", t, now, commands, call=call)
            if previous is not None and previous.call_id == call.id:
                self._agent_event(previous, "release", t, now, commands)
        call.status = ANSWERED
        call.answered_at = t
        self._record(call, now, {"action": "answered", "agent_id": agent.id})
        self.observer.call_answered(call, agent, max(0.0, t - call.offered_at))
        return None

    def _on_unanswered(self, e: CallUnanswered, t: float, now: float, commands: list[Command]) -> Any:
        call, agent = self.calls[e.call_id], self.agents[e.agent_id]
        if call.status in (ENDED, CLOSED, OVERFLOWED):
            return Ignored("call_ended")
        if call.status is not CONNECTING or call.agent_id != agent.id or agent.call_id != call.id:
            return Ignored("not_ringing_this_agent")
        call.unanswered += 1
        # The call goes back to its place first, so it goes to another free agent if there is one;
        # then the agent is free (or paused) and may take a call again, this one included.
        self._requeue(call, now, commands, why="no_answer")
        self._agent_event(agent, "ring_out", t, now, commands)
        return None

    def _on_ended(self, e: CallEnded, t: float, now: float, commands: list[Command]) -> Any:
        return self._end_call(self.calls[e.call_id], e.reason, t, now, commands)

    def _end_call(self, call: Call, reason: str, t: float, now: float, commands: list[Command]) -> Any:
        status = call.status
        if status is ENDED:
            return Ignored("call_ended")
        if status is CLOSED:  # the platform hung up after the closed message
            if call.ended_at is not None:
                return Ignored("call_ended")
            call.ended_at, call.end_reason = t, reason
            return None
        if status is CALLBACK or (status is CONNECTING and (call.callback_id or call.kind == "appointment")):
            # The caller's leg after accepting a callback (it keeps its place), or an outbound dial
            # whose outcome comes with callback.result / appointment.result.
            self._record(call, now, {"action": "leg_ended", "reason": reason})
            return None
        waited: float | None = None
        if status is OVERFLOWED:
            service = self.overflow.services.get(call.service_id or "")
            if service is not None:
                service.load = max(0, service.load - 1)
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
        self._record(call, now, {"action": "ended", "reason": reason})
        self.observer.call_ended(call, reason, waited)
        self._ended.append(call.id)
        if status is ANSWERED:
            self._maybe_survey(call, now, commands)
        return None

    def _observe_handle(self, agent: Agent, call: Call, t: float) -> None:
        """The agent finished a call: its handle time (talk and the configured wrap-up) feeds the AHT."""
        agent.calls_handled += 1
        if call.answered_at is not None:
            handle = max(0.0, t - call.answered_at) + self._wrap_up_s
            self.aht.observe(call.skill, handle)
            self._ewt_dirty.add(self.skill_index[call.skill])
            self.observer.handle_time(call.skill, handle)

    # -- the agent's state machine (acd/engine/agents.py)

    def _agent_event(
        self,
        agent: Agent,
        event: str,
        t: float,
        now: float,
        commands: list[Command],
        *,
        call: Call | None = None,
        reason: str | None = None,
    ) -> str | None:
        """Apply one event to an agent by the table; returns why it changed nothing, if so."""
        state = self.router.agent_state(agent.row)
        step = machine.transition(state, agent.call_id is not None, event)
        effects, ignored = step.effects, step.ignored
        if "detach" in effects:
            agent.call_id = None
        if "attach" in effects:
            assert call is not None and agent.call_id is None
            agent.call_id = call.id
        if "defer" in effects:
            self._pending[agent.id] = (AgentState.from_wire(event), reason)
        if "cancel_pending" in effects and self._pending.pop(agent.id, None) is not None:
            ignored = None  # the agent withdrew its request to pause or leave
        if "reset_streak" in effects:
            self._no_answer.pop(agent.id, None)
        streak = 0
        if "count_ring_out" in effects:
            streak = self._no_answer[agent.id] = self._no_answer.get(agent.id, 0) + 1
        target = step.state
        if target == machine.SAME:
            return ignored
        if isinstance(target, str):  # after a call: the agent's own request first
            pending = self._pending.pop(agent.id, None)
            if pending is not None:
                target, agent.reason = pending
            elif target == machine.AFTER_CALL:
                target, agent.reason = (WRAP_UP if self._wrap_up_s > 0 else AVAILABLE), None
            elif target == machine.AFTER_RING_OUT and self._rona_pause and streak >= self._max_no_answer:
                target, agent.reason = AgentState.PAUSED, "no_answer"
            else:
                target, agent.reason = AVAILABLE, None
        else:
            agent.reason = reason if target in (AgentState.PAUSED, AgentState.LOGGED_OUT) else None
        if target in (AgentState.PAUSED, AgentState.LOGGED_OUT):
            self._no_answer.pop(agent.id, None)  # back from a pause or a logout, the count starts afresh
        self._set_state(agent, target, t)
        if target is WRAP_UP and "arm_wrap" in effects:
            self.timers.set(agent.state_changed_at + self._wrap_up_s, "wrap_up", agent.id, agent.wrap_token)
        elif target is AVAILABLE and "offer_work" in effects:
            self._offer_work(agent, now, commands)
        return ignored

    # -- agent.state

    def _on_agent_state(self, e: AgentStateChanged, t: float, now: float, commands: list[Command]) -> Any:
        agent = self.agents[e.agent_id]
        # Without a ts, the event is dated by its arrival: it is news, never stale (a platform
        # whose clock runs ahead must not make the next undated event look old).
        if e.ts is not None and machine.is_stale(
            e.state, t, agent.state_changed_at, self._reported_at.get(agent.id, -math.inf)
        ):
            return Ignored("stale")
        if e.state not in ("busy", "wrap_up"):
            # presence (the agent's own word: here, away) bounds what older news may change; busy
            # and wrap_up describe the work a call owns, and never make a request look stale
            self._reported_at[agent.id] = t
        state = self.router.agent_state(agent.row)
        if (
            agent.call_id is None
            and e.state in ("paused", "logged_out")
            and state == AgentState.from_wire(e.state)
            and e.reason != agent.reason
        ):
            agent.reason = e.reason  # the same state for another reason (lunch, then a meeting)
            return None
        ignored = self._agent_event(agent, e.state, t, now, commands, reason=e.reason)
        return None if ignored is None else Ignored(ignored)

    # -- platform.sync

    def _on_sync(self, e: PlatformSync, t: float, now: float, commands: list[Command]) -> dict[str, Any]:
        """Reconcile with what the platform holds as of the sync's `ts` (see the contract's
        "Reconciliation"): what acd learnt after that instant is never undone."""
        if t < self._last_sync_at:
            return Ignored("stale")  # a newer sync said more: nothing of this one is news
        self._last_sync_at = t
        self._held = set()  # agents freed while reconciling are offered work only at the end
        before = {
            a: (self.agents[a].state_changed_at, self.agent_state(self.agents[a]))
            for a in e.agents
            if a in self.agents
        }
        try:
            ended = self._reconcile(e, t, now, commands, before)
        finally:
            held, self._held = self._held, None
        for agent_id in sorted(
            held, key=lambda a: (self.agents[a].state_changed_at, a)
        ):  # longest idle first
            agent = self.agents[agent_id]
            if agent.call_id is None and self.router.agent_state(agent.row) == AVAILABLE:
                self._offer_work(agent, now, commands)
        changed = {
            a: self.agent_state(self.agents[a]).wire
            for a, (_, state) in before.items()
            if self.agent_state(self.agents[a]) != state
        }
        for call_id in ended:  # agents moved by the end of their lost call
            agent_id = self.calls[call_id].agent_id
            if agent_id is not None and agent_id not in changed:
                changed[agent_id] = self.agent_state(self.agents[agent_id]).wire
        return {"action": "sync", "ended": ended, "agents": changed}

    def _reconcile(
        self, e: PlatformSync, t: float, now: float, commands: list[Command], before: dict[str, Any]
    ) -> list[str]:
        """End the calls the platform no longer holds, then give agents the platform's states;
        nobody is offered work meanwhile (the sync applies whole). The calls ended."""
        held = set(e.calls)
        ended: list[str] = []
        for call in list(self._syncable_calls()):
            if call.id in held or self._call_changed_at(call) > t:
                continue
            self._end_call(call, "lost", t, now, commands)
            ended.append(call.id)
        for agent_id, wire in e.agents.items():
            if agent_id not in before:
                continue  # unknown to acd: ignored
            agent = self.agents[agent_id]
            changed_at, _ = before[agent_id]
            if changed_at > t or self._reported_at.get(agent_id, -math.inf) > t:
                continue  # acd knows something newer
            if wire == self.agent_state(agent).wire and not (wire == "busy" and agent.call_id is None):
                if wire in ("available", "paused", "logged_out"):  # confirmed as of the sync's ts
                    self._reported_at[agent_id] = max(self._reported_at.get(agent_id, -math.inf), t)
                continue
            if agent.call_id is not None and wire in ("available", "busy", "wrap_up"):
                continue  # its call (still held by the platform) owns it
            self._reported_at[agent_id] = t
            self._agent_event(agent, wire, max(t, agent.state_changed_at), now, commands, reason="sync")
        return ended

    def _syncable_calls(self) -> list[Call]:
        """The calls the platform holds a leg of, as acd sees it: calls answered (a callback's or
        an appointment's conversation included), and inbound calls queued or ringing an agent.
        A callback's or an appointment's dial in progress is left to its result
        (`callback.result`, `appointment.result`), which retries it."""
        return [
            c
            for c in self.calls.values()
            if c.status is ANSWERED
            or (c.status in (QUEUED, CONNECTING) and c.kind == "inbound" and c.callback_id is None)
        ]

    @staticmethod
    def _call_changed_at(call: Call) -> float:
        return max(call.offered_at, call.connected_at or 0.0, call.answered_at or 0.0, call.enqueued_at)

    # -- surveys

    def _on_survey(self, e: SurveyResult, t: float, now: float, commands: list[Command]) -> Any:
        call = self.calls[e.call_id]
        if call.survey_score is not None:
            return Ignored("survey_exists")  # one survey per call, counted once
        call.survey_score = e.score
        self.observer.survey(call, e.score)
        return None

    # -- the watchdog

    def _arm_watchdog(self, now: float) -> None:
        self._watchdog_at = now + self._watchdog_s
        self.timers.set(self._watchdog_at, "watchdog", "", 0)

    def _watchdog(self, now: float) -> None:
        """Flag what no event and no sync corrected: a call answered longer than the maximum, an
        agent busy with no call for longer than allowed, an agent rung for longer than allowed (a
        lost call.unanswered). It only flags (metrics, log, alert)."""
        long_calls, idle_busy, ringing = [], [], []
        for agent in self.agents.values():
            state = self.router.agent_state(agent.row)
            if state == RESERVED:
                if now - agent.state_changed_at > self._max_ringing_s:
                    ringing.append(agent.call_id or "")
                continue
            if state != BUSY:
                continue
            if agent.call_id is None:
                if now - agent.state_changed_at > self._busy_without_call_s:
                    idle_busy.append(agent.id)
                continue
            call = self.calls.get(agent.call_id)
            if (
                call is not None
                and call.answered_at is not None
                and now - call.answered_at > self._max_answered_s
            ):
                long_calls.append(call.id)
        for kind, found in zip(WATCHDOG_KINDS, (long_calls, idle_busy, ringing), strict=True):
            new = set(found) - set(self.flagged[kind])
            for key in sorted(new):
                self.observer.watchdog(kind, key, now)
            self.flagged[kind] = found

    # ------------------------------------------------------------------ timers

    def next_wakeup(self) -> float | None:
        return self.timers.next_live_at(self._timer_live)

    def tick(self, now: float) -> list[Command]:
        """Fire every timer due at `now`: ends of wrap-up, widening steps, preferred-agent waits."""
        commands: list[Command] = []
        self._last_now = now
        if self._watchdog_at is None and self._watchdog_s > 0:
            self._arm_watchdog(now)
        while (timer := self.timers.pop_due(now)) is not None:
            if not self._timer_live(timer):
                continue
            at, _, kind, key, _ = timer
            if kind == "wrap_up":
                self._agent_event(self.agents[key], "wrap_timer", at, now, commands)
            elif kind == "watchdog":
                self._watchdog(now)
                self._arm_watchdog(now)
            elif kind == "call":
                self._try_route(self.calls[key], now, commands)
            elif kind == "callback":
                self._callback_due(self.callbacks[key], now, commands)
            elif kind == "appointment":
                self._appointment_due(self.appointments[key], now, commands)
            elif kind == "remind":
                self._remind(self.appointments[key], now, commands)
        if self._cb_pending:
            self._cb_admit_all(now, commands)
        self._housekeep(now)
        return commands

    def _timer_live(self, timer: Timer) -> bool:
        """Whether the timer still stands (its owner's token has not moved on); the commonest
        kinds first, as the simulator asks this of every timer."""
        _, _, kind, key, token = timer
        if kind == "call":
            call = self.calls.get(key)
            return call is not None and call.row >= 0 and call.timer_token == token
        if kind == "wrap_up":
            agent = self.agents.get(key)
            return (
                agent is not None
                and agent.wrap_token == token
                and self.router.agent_state(agent.row) == WRAP_UP
            )
        if kind == "callback":
            return self._callback_timer_live(key, token)
        if kind == "watchdog":
            return timer[0] == self._watchdog_at and self._watchdog_s > 0
        return self._appointment_timer_live(key, token)  # appointment, remind

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

    # ------------------------------------------------------------------ routing moves

    def _needs(self, call: Call) -> tuple[int, ...]:
        if not call.needs:
            return ()
        return tuple(self.skill_index[n] for n in call.needs)

    def _preference(self, call: Call) -> tuple[int, float]:
        """The preferred agent's row and until when the call waits for it (-1: none)."""
        if call.preferred_agent_id is not None:
            preferred = self.agents[call.preferred_agent_id]
            if self.router.agent_state(preferred.row) != AgentState.LOGGED_OUT:
                return preferred.row, call.enqueued_at + self.config.routing.preferred_agent_wait_s
        return -1, 0.0

    def _enqueue(self, call: Call, preference: tuple[int, float] | None = None) -> None:
        """Into the line; `preference`: the preferred agent's row and until when, as the router
        held it (an engine rebuilt from its state), else as the call's preference stands now."""
        pref_row, pref_until = self._preference(call) if preference is None else preference
        aging = self.config.routing.priority_aging_s
        if aging is None:
            priority, order = call.priority, call.seq
        else:  # one class, ordered by arrival less the priority's worth of waiting
            priority, order = 0, aged_order(call.enqueued_at, call.priority, aging, call.seq)
        call.row = self.router.add_call(
            self.skill_index[call.skill],
            self._needs(call),
            priority,
            order,
            call.enqueued_at,
            pref_row,
            pref_until,
        )
        self._call_by_row[call.row] = call
        skill = self.skill_index[call.skill]
        if not self.waiting_by_skill[skill]:
            self.service_rate.line_busy(call.skill, True, self._last_now)
        self.waiting_by_skill[skill] += 1
        self._ewt_dirty.add(skill)

    def _dequeue(self, call: Call) -> None:
        skill = self.skill_index[call.skill]
        self.waiting_by_skill[skill] -= 1
        if not self.waiting_by_skill[skill]:
            self.service_rate.line_busy(call.skill, False, self._last_now)
        self._ewt_dirty.add(skill)
        self.router.remove_call(call.row)
        del self._call_by_row[call.row]
        call.row = -1
        call.timer_token += 1

    def skill_wait(self, skill: str, position: int, staffed: int) -> float:
        """The expected wait at `position` in a skill's line for a call without needs (a new
        caller's: position = waiting + 1): the callers ahead leave at the rate the line was served
        at lately, or (not served lately) at n / AHT of the `staffed` agents, and hang up at the
        skill's abandonment rate."""
        theta = self.abandonment[skill]
        rate = self.service_rate.rate(skill, self._last_now)
        if rate is not None:
            return expected_wait_at_rate(position, rate, theta)
        return expected_wait(position, self.aht[skill], staffed, self._ewt_unstaffed_s, theta)

    def _served_from_line(self, call: Call, now: float) -> None:
        """A waiting call goes to an agent: the line was served, the caller did not hang up."""
        self.service_rate.entered_service(call.skill, now)
        self.abandonment.observe(call.skill, max(0.0, now - call.enqueued_at), False)
        self._dequeue(call)

    def _requeue(self, call: Call, now: float, commands: list[Command], why: str) -> None:
        """Back to its place in line: same arrival order, same waiting clock."""
        call.status = CALLBACK if call.callback_id else QUEUED
        call.agent_id = None
        call.connected_at = None
        if call.callback_id and (cb := self.callbacks.get(call.callback_id)):
            cb.status, cb.agent_id = "scheduled", None
        self._record(call, now, {"action": "requeue", "why": why})
        self._enqueue(call)
        self._try_route(call, now, commands)

    def _try_route(self, call: Call, now: float, commands: list[Command]) -> None:
        if call.callback_id is not None and not self.calendar.is_open(now):
            self._defer_callback(call, now)
            return
        agent_row = self.router.pick_agent(call.row, now)
        if agent_row >= 0:
            self._served_from_line(call, now)
            self._connect(call, self._agent_by_row[agent_row], now, commands, notify=True)
            return
        if not call.stranded and call.callback_id is None and now >= call.enqueued_at + self._max_wait_s:
            self._strand(call, now, commands)
            if not call.waiting:
                return
        self._arm_call_timer(call, now)

    def _connect(
        self, call: Call, agent: Agent, now: float, commands: list[Command], *, notify: bool
    ) -> dict[str, Any]:
        call.agent_id = agent.id
        call.connected_at = now
        self._agent_event(agent, "reserve", now, now, commands, call=call)
        if call.kind == "appointment" or call.callback_id is not None:
            return self._originate(call, agent, now, commands)
        call.status = CONNECTING
        decision = {
            "action": "connect",
            "call_id": call.id,
            "agent_id": agent.id,
            "site": agent.site,
            "target": agent.target,
        }
        self._record(call, now, decision)
        if notify:
            commands.append(self._command(call, "connect", decision, now))
        self.observer.decision(call, "connect", now)
        return decision

    def _originate(self, call: Call, agent: Agent, now: float, commands: list[Command]) -> dict[str, Any]:
        """Dial out for a callback or an appointment, the agent already reserved."""
        call.status = CONNECTING
        if call.kind == "appointment":
            record: Any = self.appointments[call.id]
            key, status = "appointment_id", "dialing"
            self.observer.appointment(record, "dialing", now)
        else:
            record = self.callbacks[call.callback_id or ""]
            key, status = "callback_id", "dialing"
            if record.first_dial_at is None:
                record.first_dial_at = now
                self.observer.callback_dialled(record, now - record.created_at)
            self.observer.callback(record, "dialing", now)
        record.status, record.agent_id = status, agent.id
        record.attempts += 1
        decision = {
            "action": "originate",
            key: record.id,
            "number": record.number,
            "agent_id": agent.id,
            "target": agent.target,
        }
        self._record(call, now, decision)
        commands.append(self._command(call, "originate", decision, now))
        self.observer.decision(call, "originate", now)
        return decision

    def _outbound_answered(self, call: Call, agent: Agent | None, t: float, now: float, **extra: Any) -> None:
        """A callback or appointment dial was answered: the agent talks until the call ends."""
        call.status = ANSWERED
        call.answered_at = t
        if agent is not None and agent.call_id == call.id:
            self._agent_event(agent, "answer", t, now, [])
        self._record(call, now, {"action": "answered", "agent_id": call.agent_id, **extra})

    def _outbound_failed(
        self, call: Call, agent: Agent | None, t: float, now: float, commands: list[Command]
    ) -> None:
        """A callback or appointment dial got no conversation: the reserved agent is free again."""
        if agent is not None and agent.call_id == call.id:
            self._agent_event(agent, "release", t, now, commands)
        call.agent_id = None

    def _finish_call(self, call: Call, t: float, now: float, reason: str) -> None:
        """A contact over without a conversation (a callback failed or cancelled, a no-show)."""
        call.status = ENDED
        call.ended_at = t
        call.end_reason = reason
        self._record(call, now, {"action": "ended", "reason": reason})
        self._ended.append(call.id)

    def _command(self, call: Call, name: str, decision: dict[str, Any], now: float) -> Command:
        fields = {k: v for k, v in decision.items() if k not in ("action", "site")}
        # Deterministic and unique: the call id and the place of the decision in its history, so a
        # replay produces the same ids and the outbox (and the platform) can deduplicate.
        return Command(
            id=f"{call.id}.{name}.{len(call.history)}", command=name, fields=fields, created_at=now
        )

    def _offer_work(self, agent: Agent, now: float, commands: list[Command]) -> None:
        if self._held is not None:  # reconciling: offered once the sync is whole
            self._held.add(agent.id)
            return
        while (call_row := self.router.pick_call(agent.row, now)) >= 0:
            call = self._call_by_row[call_row]
            if call.callback_id is not None and not self.calendar.is_open(now):
                self._defer_callback(call, now)  # callbacks are dialled only in opening hours
                continue
            self._served_from_line(call, now)
            self._connect(call, agent, now, commands, notify=True)
            return

    def _set_state(self, agent: Agent, state: AgentState, t: float) -> None:
        if t < agent.state_changed_at:  # out-of-order timestamps never run time backwards
            t = agent.state_changed_at
        was_staffed = self.router.set_agent_state(agent.row, state, t) in STAFFED_STATES
        if was_staffed != (state in STAFFED_STATES):
            self._count_staffed(agent.skills, -1 if was_staffed else 1)
        agent.state_changed_at = t
        agent.wrap_token += 1

    def _count_staffed(self, skills: dict[str, int], delta: int) -> None:
        for skill in skills:
            i = self.skill_index[skill]
            self.staffed_by_skill[i] += delta
            self._ewt_dirty.add(i)

    def _record(self, call: Call, now: float, entry: dict[str, Any]) -> None:
        call.history.append((now, entry))

    # ------------------------------------------------------------------ roster

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

    def _on_roster_agent(
        self, e: RosterAgent, t: float, now: float, commands: list[Command]
    ) -> dict[str, Any]:
        """Create or update a roster entry. A new agent starts logged out; an available agent whose
        skills widen may take a waiting call at once."""
        agent = self.agents.get(e.agent_id)
        if agent is None:
            self._add_agent(e.agent_id, e.site, e.skills, e.target, t)
            return {"action": "roster", "agent_id": e.agent_id, "created": True}
        staffed = self.router.agent_state(agent.row) in STAFFED_STATES
        if staffed:
            self._count_staffed(agent.skills, -1)
        agent.site, agent.skills, agent.target = e.site, dict(e.skills), e.target
        if staffed:
            self._count_staffed(agent.skills, +1)
        self.router.set_agent_site(agent.row, self._site_index(e.site))
        self.router.set_agent_skills(agent.row, {self.skill_index[s]: lv for s, lv in e.skills.items()})
        if self.router.agent_state(agent.row) == AVAILABLE:
            self._offer_work(agent, now, commands)
        return {"action": "roster", "agent_id": e.agent_id, "created": False}

    # ------------------------------------------------------------------ upkeep

    def _housekeep(self, now: float) -> None:
        if self._ewt_dirty and self.overflow.mode == "auto":
            self._watch_overflow(now)
        expiry = self._seen_expiry
        digests = self._seen_digest
        while expiry and expiry[0][0] <= now:
            event_id = expiry.popleft()[1]
            self._seen.pop(event_id, None)
            digests.pop(event_id, None)
        ended, keep = self._ended, self._ended_retention
        while len(ended) > keep:
            call_id = ended.popleft()
            call = self.calls.get(call_id)
            if call is not None and call.status in (ENDED, CLOSED):
                del self.calls[call_id]
                if call.callback_id:
                    self.callbacks.pop(call.callback_id, None)

    # ------------------------------------------------------------------ views

    def agent_state(self, agent: Agent) -> AgentState:
        return self.router.agent_state(agent.row)

    def pending_view(self, agent: Agent) -> dict[str, Any]:
        """The pause or logout the agent asked for during its call (applied when it ends)."""
        pending = self._pending.get(agent.id)
        if pending is None:
            return {"pending_state": None, "pending_reason": None}
        return {"pending_state": pending[0].wire, "pending_reason": pending[1]}

    def waiting_calls(self) -> list[Call]:
        return list(self._call_by_row.values())

    def queue_stats(self, now: float) -> list[dict[str, Any]]:
        stats = self.router.skill_stats(now)
        out = []
        for i, skill in enumerate(self.skills):
            s = stats[i]
            waiting = int(s["waiting"])
            oldest = s["oldest_enqueued_at"]
            staffed = int(s["agents_staffed"])
            out.append(
                {
                    "skill": skill,
                    "waiting": waiting,
                    "oldest_wait_s": round(max(0.0, now - oldest), 1) if waiting else 0.0,
                    "ewt_s": round(self.skill_wait(skill, waiting + 1, staffed), 1),
                    "agents_available": int(s["agents_available"]),
                    "agents_busy": int(s["agents_busy"]),
                    "agents_staffed": staffed,
                    "aht_s": round(self.aht[skill], 1),
                }
            )
        return out

    _handlers: ClassVar[dict[str, Any]] = {
        "call.offered": _on_offered,
        "call.answered": _on_answered,
        "call.unanswered": _on_unanswered,
        "call.ended": _on_ended,
        "agent.state": _on_agent_state,
        "callback.accepted": CallbackMixin._on_callback_accepted,
        "callback.requested": CallbackMixin._on_callback_requested,
        "callback.cancelled": CallbackMixin._on_callback_cancelled,
        "callback.result": CallbackMixin._on_callback_result,
        "appointment.booked": AppointmentMixin._on_appointment_booked,
        "appointment.cancelled": AppointmentMixin._on_appointment_cancelled,
        "appointment.rescheduled": AppointmentMixin._on_appointment_rescheduled,
        "appointment.result": AppointmentMixin._on_appointment_result,
        "survey.result": _on_survey,
        "platform.sync": _on_sync,
        "roster.agent": _on_roster_agent,
        "overflow.mode": OverflowMixin._on_overflow_mode,
    }
