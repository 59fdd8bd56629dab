"""The telephony platform's side of the simulation: the calls, the engine's commands played, the
callers' answers to them.

The simulator plays the platform around the engine: it applies batches of events to the engine and
plays the commands that come back, as the real platform would:
- `connect` (a queued call got an agent: the agent answers after `ring_s`, at once by default),
  `overflow` (a queued call moved to a local service, which talks, then `call.ended`),
  `originate` (a callback or an appointment dialled, its agent reserved: the caller answers with
  the policy's probability, else the engine retries), `offer_callback` (the never-stranded rule);
  any other command is counted and ignored;
- callers accept a callback offer, answer a callback or appointment dial, and book an appointment
  when acd offers one, each with the scenario's share.

The agent's answer (`call.answered`, and a dial's `callback.result` / `appointment.result`) goes
with the next batch sent (`pending`), stamped with the instant it happened (`ts`), as the platform's
webhooks do: the engine dates the answer by `ts`, and meanwhile the agent is reserved, which routes
exactly as busy. This spares one `apply` per call.

The event loop (acd/sim/loop.py) owns the clock and the simulator's heap; this module holds the
heap's entry kinds, the state of each call as the simulator knows it, and the platform's moves.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from acd.model import AppointmentDecision, CallbackDecision
from acd.sim.events import (
    AgentStateChanged,
    AppointmentBooked,
    AppointmentResult,
    CallAnswered,
    CallbackAccepted,
    CallbackResult,
    CallEnded,
    SimTime,
)
from acd.sim.scenario_model import Scenario
from acd.sim.streams import uniform

# Simulator event kinds (heap entries are (t, seq, kind, payload)).
ARRIVE, END, ABANDON, ANSWER, SERVICE_END, STOP, REDIAL, STAFF, WRAP_END = range(9)
#: How many days ahead a caller offered an appointment looks for a free slot.
APPOINTMENT_HORIZON_DAYS = 10
# States of a caller, as the simulator knows it.
QUEUED, CONNECTED, CALLBACK, OVERFLOWED, BOOKED = range(5)


class SimCall:
    __slots__ = (
        "agent_id",
        "attempt",
        "caller",
        "department",
        "ewt",
        "handle_s",
        "id",
        "state",
        "stream",
        "wrap_s",
    )

    def __init__(
        self,
        id: str,
        handle_s: float,
        department: str | None,
        caller: int = 0,
        stream: int = 0,
        wrap_s: float | None = None,
    ) -> None:
        self.id = id
        self.handle_s = handle_s  # the talk: the drawn handle time less the engine's wrap-up
        # a drawn handle time shorter than the engine's wrap-up: no talk, and the agent is free
        # again this long after the call (the platform says `available`); None: the whole wrap-up
        self.wrap_s = wrap_s
        self.department = department
        self.state = QUEUED
        self.caller = caller  # who calls (a redial keeps it)
        self.attempt = 0  # the caller's calls before this one (redials)
        self.stream = stream  # the arrival stream (skill, needs, priority)
        self.agent_id: str | None = None
        self.ewt: tuple[float, float, int] | None = None  # (offered at, EWT told, load bucket)


class Platform:
    """The platform's state in one run and its moves. `ewt_errors[bucket]` collects, for each
    caller queued at arrival and answered, the EWT told less the wait that followed."""

    def __init__(
        self, engine: Any, scenario: Scenario, seed: int, offer_callbacks: bool, ewt_errors: list[list[float]]
    ) -> None:
        self.engine = engine
        self.queries = engine.queries  # the engine's read models (a new object per access: held)
        self.scenario = scenario
        self.callers = scenario.callers
        self.offer_callbacks = offer_callbacks
        self.ewt_errors = ewt_errors
        self.heap: list[tuple[float, int, int, Any]] = []
        self.seq = itertools.count(1).__next__  # heap tie-breaker: deterministic order
        self.eid = itertools.count(1).__next__  # event ids
        self.pending: list[Any] = []  # answers to send with the next batch
        self.wake: float | None = None  # the engine's next timer
        self.live: dict[str, SimCall] = {}
        self.by_callback: dict[str, SimCall] = {}
        self.by_appointment: dict[str, SimCall] = {}
        self.on_booked: Callable[[str, str, float], None] | None = None
        self.agent_call: dict[str, SimCall] = {}
        self.leaving: set[str] = set()  # agents off duty once their call is over
        self.wrap_ends: dict[str, float] = {}  # agent -> when the wrap-up its handle time ends in began
        self.commands: Counter[str] = Counter()
        self.callbacks_offered = 0
        self.appointments_booked = 0
        self.appointments_refused = 0
        self.n_events = 0
        # the callers' choices
        self.u_callback = uniform(seed, "callback/accept")
        self.u_callback_answer = uniform(seed, "callback/answer")
        self.u_appointment = uniform(seed, "appointment/book")
        self.u_appointment_answer = uniform(seed, "appointment/answer")
        self.u_window = uniform(seed, "callback/window")

    # ------------------------------------------------------------------ engine I/O

    def push(self, t: float, kind: int, payload: Any) -> None:
        heapq.heappush(self.heap, (t, self.seq(), kind, payload))

    def apply(self, events: list[Any], now: float) -> Any:
        """Apply `events` (after any answers still to report) at `now`; play the commands; return
        the last event's decision."""
        pending = self.pending
        if pending:
            events = pending + events
            self.pending = []
        results, commands = self.engine.apply(events, now, trusted=True)  # built from engine state
        self.n_events += len(events)
        if commands:
            self.play(commands, now)
        self.wake = self.engine.next_wakeup()
        return results[-1].decision if results else None

    def play(self, commands: list[Any], now: float) -> None:
        """Play the engine's commands."""
        for command in commands:
            name = command.command
            fields = command.fields
            if name == "connect":
                call = self.live.get(fields["call_id"])
                if call is not None:
                    self.connected(call, fields["agent_id"], now, self.scenario.ring_s)
            elif name == "overflow":
                call = self.live.get(fields["call_id"])
                if call is not None:
                    self.overflowed(call, now)
            elif name == "originate":
                self.originated(command.id, fields, now)
            elif name == "offer_callback":
                self.commands[name] += 1
                call = self.live.get(fields["call_id"])
                if call is not None and call.state == QUEUED and self.offer_callbacks:
                    self.callbacks_offered += 1
                    if self.u_callback.next() < self.callers.accept_callback:
                        self.accept_callback(call, now)
            else:
                self.commands[name] += 1

    # ------------------------------------------------------------------ what the platform does

    def connected(self, call: SimCall, agent_id: str, now: float, ring: float) -> None:
        if call.ewt is not None:  # queued at arrival: the EWT told against the wait that followed
            offered_at, told, bucket = call.ewt
            self.ewt_errors[bucket].append(told - (now + ring - offered_at))
            call.ewt = None
        call.state = CONNECTED
        call.agent_id = agent_id
        self.agent_call[agent_id] = call
        if ring > 0:
            self.push(now + ring, ANSWER, CallAnswered("", call.id, agent_id))
            self.push(now + ring + call.handle_s, END, call)
        else:
            self.pending.append(CallAnswered(f"e{self.eid()}", call.id, agent_id, SimTime(now)))
            self.push(now + call.handle_s, END, call)

    def overflowed(self, call: SimCall, now: float) -> None:
        """The local service answers and talks as long as the caller needs (its own wrap-up is
        its own business)."""
        call.state = OVERFLOWED
        self.live[call.id] = call
        self.push(now + call.handle_s, SERVICE_END, call)

    def accept_callback(self, call: SimCall, now: float, window: str | None = None) -> None:
        start = SimTime(datetime.fromisoformat(window).timestamp()) if window is not None else None
        decision = self.apply([CallbackAccepted(f"e{self.eid()}", call.id, start)], now)
        if isinstance(decision, CallbackDecision):
            call.state = CALLBACK
            self.by_callback[decision.callback_id] = call

    def callback_over(self, callback: Any) -> None:
        call = self.by_callback.pop(callback.id, None)
        if call is not None:
            self.live.pop(call.id, None)

    def originated(self, originate_id: str, fields: dict[str, Any], now: float) -> None:
        """The dial's result, naming its dial (`originate_id`) as a platform may."""
        if "callback_id" in fields:
            cb_id = fields["callback_id"]
            call = self.by_callback.get(cb_id)
            answered = self.u_callback_answer.next() < self.callers.answer_callback
            self.pending.append(
                CallbackResult(
                    f"e{self.eid()}",
                    cb_id,
                    "answered" if answered else "no_answer",
                    SimTime(now),
                    originate_id,
                )
            )
            if answered and call is not None:
                del self.by_callback[cb_id]
                call.state = CONNECTED
                call.agent_id = fields["agent_id"]
                self.agent_call[call.agent_id] = call
                self.push(now + call.handle_s, END, call)
            else:
                self.released(fields["agent_id"])
        else:
            ap_id = fields["appointment_id"]
            call = self.by_appointment.get(ap_id)
            answered = self.u_appointment_answer.next() < self.callers.answer_callback
            self.pending.append(
                AppointmentResult(
                    f"e{self.eid()}",
                    ap_id,
                    "answered" if answered else "no_answer",
                    SimTime(now),
                    originate_id,
                )
            )
            if answered and call is not None:
                del self.by_appointment[ap_id]
                dial = SimCall(ap_id, call.handle_s, None, call.caller, call.stream, call.wrap_s)
                dial.agent_id = fields["agent_id"]
                self.agent_call[dial.agent_id] = dial
                self.push(now + call.handle_s, END, dial)
            else:
                self.released(fields["agent_id"])

    def end_wrap_early(self, agent_id: str, wrap_s: float, now: float) -> None:
        """The agent's handle time ends `wrap_s` into the engine's wrap-up, which began `now`:
        it is free again then (`wrap_over`)."""
        self.wrap_ends[agent_id] = now
        self.push(now + wrap_s, WRAP_END, (agent_id, now))

    def wrap_over(self, payload: tuple[str, float], now: float) -> None:
        """The platform says `available` for an agent whose handle time is over, if it is still in
        the wrap-up that began then (not logged out by its shift, not on a later call's)."""
        agent_id, began = payload
        if self.wrap_ends.get(agent_id) != began:
            return
        del self.wrap_ends[agent_id]
        view = self.queries.agent(agent_id, now)
        if view is not None and view["state"] == "wrap_up":
            self.apply([AgentStateChanged(f"e{self.eid()}", agent_id, "available")], now)

    def released(self, agent_id: str) -> None:
        """A dial got no answer: its reserved agent is free again (with the result, the last of
        the next batch so far); one going off duty leaves as it is freed: its logout goes just
        before the result (after it, the agent would already have been given the next call)."""
        if agent_id in self.leaving:
            self.leaving.discard(agent_id)
            self.pending.insert(
                len(self.pending) - 1, AgentStateChanged(f"e{self.eid()}", agent_id, "logged_out")
            )

    def book_appointment(self, call: SimCall, skill: str, now: float, horizon_days: int) -> None:
        """The caller books the first slot with a place it may take (in its own hours: the
        listing with its department) and hangs up."""
        zone = self.engine.calendar.zone
        day = datetime.fromtimestamp(now, zone).date()
        start = None
        slots = self.queries.appointment_slots
        caller = {"department": call.department} if call.department else {}
        for d in range(horizon_days):
            for slot in slots(skill, day + timedelta(days=d), None, now, **caller):
                if slot["remaining"] > 0 and slot["start"] > now:
                    start = slot["start"]
                    break
            if start is not None:
                break
        if start is None:
            self.appointments_refused += 1
            return
        ap_id = f"ap-{call.id}"
        decision = self.apply(
            [AppointmentBooked(f"e{self.eid()}", ap_id, "+33600000000", skill, start, call.department)], now
        )
        if not isinstance(decision, AppointmentDecision) or decision.status != "booked":
            self.appointments_refused += 1
            return
        self.appointments_booked += 1
        self.by_appointment[ap_id] = call
        if self.on_booked is not None:  # the call is settled with its appointment (acd/sim/stats.py)
            self.on_booked(call.id, ap_id, now)
        call.state = BOOKED
        self.live.pop(call.id, None)
        self.apply([CallEnded(f"e{self.eid()}", call.id, "transferred")], now)
