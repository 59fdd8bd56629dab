"""The event loop: the contact centre around the engine, on a simulated clock.

The simulator plays the telephony platform and the callers; the engine (the service's own, with
its router) decides. One heap holds the simulator's future events (arrivals, ends of
conversations, callers' patience running out, ends of calls at local services); the engine's own
timers (ends of wrap-up, widening steps, callbacks and appointments due) are read from
`engine.next_wakeup()`, and the clock jumps to whichever comes first (the engine's on a tie).

What the platform does, as the simulator plays it:
- an arrival sends `call.offered`; the decision says `connect` (the agent answers after `ring_s`,
  at once by default), `queue` (the caller waits: patience, then `call.ended abandoned`; a callback
  or an appointment may be taken), `overflow` (the local service talks, then `call.ended`),
  `closed`, or an action unknown to the simulator (counted, the call left alone);
- the engine's commands: `connect` (a queued call got an agent), `overflow` (a queued call moved to
  a local service), `originate` (a callback or an appointment dialled, its agent reserved: the
  caller answers with the policy's probability, else the engine retries), `offer_callback` (the
  never-stranded rule); any other command is counted and ignored;
- an answered call ends `completed` after its talk time: the drawn handle time less the engine's
  wrap-up (`handle_time` is the handle time, talk and after-call work together); wrap-up is the
  engine's own timer;
- callers (`callers`): accept a callback offer, answer a callback or appointment dial, book an
  appointment when acd offers one, and call again after hanging up unanswered, each with the
  scenario's share; local services answer the calls sent to them (the engine keeps them within
  their capacity and hours);
- staffing (`staffing.per_hour`): at each local hour the share of each site's agents on duty is
  logged in; an agent going off duty finishes its call first (it is logged out when its call ends).

The agent's answer (`call.answered`, and a dial's `callback.result` / `appointment.result`) goes
with the next batch the simulator sends, stamped with the instant it happened (`ts`), as the
platform's webhooks do: the engine dates the answer by `ts`, and meanwhile the agent is reserved,
which routes exactly as busy. This spares one `apply` per call.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from acd.config import Config
from acd.model import AppointmentDecision, CallbackDecision
from acd.sim.arrivals import ArrivalProcess
from acd.sim.build import build_config, build_engine
from acd.sim.events import (
    AgentStateChanged,
    AppointmentBooked,
    AppointmentResult,
    CallAnswered,
    CallbackAccepted,
    CallbackResult,
    CallEnded,
    CallOffered,
    SimTime,
)
from acd.sim.scenario import Distribution, Scenario
from acd.sim.stats import Stats
from acd.sim.streams import durations, uniform, unit_exponential

# Simulator event kinds (heap entries are (t, seq, kind, payload)).
ARRIVE, END, ABANDON, ANSWER, SERVICE_END, STOP, REDIAL, STAFF = range(8)
#: Loads (calls waiting per agent staffed for the skill, when a caller is queued) by which the
#: accuracy of the expected wait is reported: (label, upper bound).
EWT_LOAD_BUCKETS = (("< 0.05", 0.05), ("0.05-0.2", 0.2), ("0.2-0.5", 0.5), (">= 0.5", math.inf))
#: How many days ahead a caller offered an appointment looks for a free slot.
APPOINTMENT_HORIZON_DAYS = 10
# States of a caller, as the simulator knows it.
QUEUED, CONNECTED, CALLBACK, OVERFLOWED, BOOKED = range(5)


class SimCall:
    __slots__ = ("agent_id", "caller", "department", "ewt", "handle_s", "id", "state", "stream")

    def __init__(
        self, id: str, handle_s: float, department: str | None, caller: int = 0, stream: int = 0
    ) -> None:
        self.id = id
        self.handle_s = handle_s  # the talk: the drawn handle time less the engine's wrap-up
        self.department = department
        self.state = QUEUED
        self.caller = caller  # who calls (a redial keeps it)
        self.stream = stream  # the arrival stream (skill, needs, priority)
        self.agent_id: str | None = None
        self.ewt: tuple[float, float, int] | None = None  # (offered at, EWT told, load bucket)


@dataclass
class Outcome:
    """What a run produced, for the report."""

    scenario: Scenario
    config: Config
    stats: Stats
    wall_s: float
    sim_s: float
    events: int
    arrivals: int
    occupancy: dict[str, float]
    actions: Counter[str] = field(default_factory=Counter)
    commands: Counter[str] = field(default_factory=Counter)
    callbacks_offered: int = 0
    appointments_booked: int = 0
    appointments_refused: int = 0
    unresolved: int = 0
    unique_callers: int = 0
    ewt: dict[str, Any] = field(default_factory=dict)
    redials: int = 0
    baseline: bool = False
    router: str = "numba"


class Simulation:
    def __init__(
        self,
        scenario: Scenario,
        base: Config,
        *,
        router: str = "numba",
        baseline: bool = False,
        progress: Callable[[float], None] | None = None,
        seed: int | None = None,
    ) -> None:
        self.scenario = scenario
        self.baseline = baseline
        self.seed = scenario.seed if seed is None else seed
        self.router = router
        self.config = build_config(scenario, base, baseline=baseline)
        self.progress = progress
        skills = [s.id for s in self.config.skills]
        self.t0 = scenario.start_ts
        self._batches = scenario.batches
        self._measured_calls = (
            max(1, scenario.calls - scenario.warmup_calls) if scenario.calls is not None else None
        )
        self._duration_s = scenario.duration_s or 0.0
        self.stats = Stats(
            skills, scenario.warmup_calls, scenario.service_level_s, self._batch_of, scenario.batches
        )
        self.stats.on_callback_over = self._callback_over
        self.engine = build_engine(self.config, self.stats, router)  # loads the kernels it uses
        self._streams()

    # ------------------------------------------------------------------ set-up

    def _streams(self) -> None:
        sc, seed = self.scenario, self.seed
        zone = ZoneInfo(self.config.calendar.hours.timezone)
        self.processes = []
        self.handle_streams = []
        self.patience_streams = []
        for i, a in enumerate(sc.arrivals):
            tag = f"{i}/{a.skill}"
            self.processes.append(ArrivalProcess(a, zone, unit_exponential(seed, f"arrivals/{tag}")))
            self.handle_streams.append(durations(seed, f"handle/{tag}", a.handle_time or sc.handle_time))
            patience: Distribution | None = a.patience or sc.patience
            self.patience_streams.append(durations(seed, f"patience/{tag}", patience) if patience else None)
        self.u_callback = uniform(seed, "callback/accept")
        self.u_callback_answer = uniform(seed, "callback/answer")
        self.u_appointment = uniform(seed, "appointment/book")
        self.u_appointment_answer = uniform(seed, "appointment/answer")
        self.u_department = uniform(seed, "department")
        self.u_redial = uniform(seed, "redial")
        self.u_window = uniform(seed, "callback/window")
        redial = sc.callers.redial
        self.redial_delay = durations(seed, "redial/delay", redial.delay) if redial is not None else None
        self.departments = sorted(s.department for s in self.config.services.local)
        # acd's offers run only with its policies; the baseline makes none
        policies = sc.policies_on and not self.baseline
        self.offer_callbacks = policies
        self.appointment_offer_s = self.config.appointments.offer_above_ewt_s if policies else None
        self.wrap_up_s = self.config.routing.wrap_up_s

    def _batch_of(self, measured_index: int, now: float) -> int:
        """The batch (for the batch means) of the measured call of that index, offered at `now`:
        consecutive equal shares of the measured calls, or of the duration."""
        last = self._batches - 1
        if self._measured_calls is not None:
            return min(last, measured_index * self._batches // self._measured_calls)
        return min(last, max(0, int((now - self.t0) / self._duration_s * self._batches)))

    # ------------------------------------------------------------------ the run

    def run(self) -> Outcome:
        started = time.perf_counter()
        sc, engine = self.scenario, self.engine
        now = self.t0
        self.heap: list[tuple[float, int, int, Any]] = []
        self._seq = itertools.count(1).__next__  # heap tie-breaker: deterministic order
        self._eid = itertools.count(1).__next__  # event ids
        self.pending: list[Any] = []
        self.live: dict[str, SimCall] = {}
        self.by_callback: dict[str, SimCall] = {}
        self.by_appointment: dict[str, SimCall] = {}
        self.actions: Counter[str] = Counter()
        self.commands: Counter[str] = Counter()
        self.callbacks_offered = 0
        self.appointments_booked = 0
        self.appointments_refused = 0
        self.n_events = 0
        self.redials = 0
        self.ewt_errors: list[list[float]] = [[] for _ in EWT_LOAD_BUCKETS]
        self.callers_seen: set[int] = set()
        self.agent_call: dict[str, SimCall] = {}
        self.leaving: set[str] = set()
        self.on_duty: set[str] = set()
        self.by_site: dict[str, list[str]] = {}
        for agent in engine.agents.values():
            self.by_site.setdefault(agent.site, []).append(agent.id)
        # agents log in at the start (all of them, or the staffing's share of the first hour)
        self.login_at = now
        self._staff(now)
        if sc.staffing is not None:
            self._push(self._next_hour(now), STAFF, None)
        for i, process in enumerate(self.processes):
            t = process.next_after(now)
            if math.isfinite(t):
                self._push(t, ARRIVE, i)
        limit_calls = sc.calls if sc.calls is not None else -1
        arrivals_end = self.t0 + sc.duration_s if sc.duration_s is not None else math.inf
        if sc.duration_s is not None:
            self._push(arrivals_end, STOP, None)
        self.occ_start: dict[str, float] | None = self._occupied(now) if sc.warmup_calls == 0 else None
        self.occ_end: dict[str, float] | None = None
        self.occ_t = [now, now]
        warmup = sc.warmup_calls
        horizon = math.inf
        n = 0
        progress, next_tick = self.progress, time.perf_counter() + 0.2
        expected = sc.calls if sc.calls is not None else max(1.0, sc.expected_rate() * (sc.duration_s or 0.0))

        heap, heappop, heappush, seq, eid = self.heap, heapq.heappop, heapq.heappush, self._seq, self._eid
        apply, live = self._apply, self.live
        handle_streams, patience_streams, processes = (
            self.handle_streams,
            self.patience_streams,
            self.processes,
        )
        arrivals = sc.arrivals
        needs = [list(a.needs) for a in arrivals]
        priorities = [0 if self.baseline else a.priority for a in arrivals]
        skills = [a.skill for a in arrivals]
        dep_share = sc.callers.department_share
        departments, u_dep = self.departments, self.u_department
        ring = sc.ring_s
        callers = sc.callers
        offer_callbacks, appointment_offer_s = self.offer_callbacks, self.appointment_offer_s
        wrap_up_s = self.wrap_up_s
        redial, redial_delay, u_redial = callers.redial, self.redial_delay, self.u_redial
        callers_seen = self.callers_seen
        offered = 0  # calls offered, redials included (the warm-up counts them as the engine does)
        stopping = False

        while True:
            wake = self.wake
            if wake is not None and (not heap or wake <= heap[0][0]):
                if wake > horizon:
                    break
                now = wake
                commands = engine.tick(now)
                self.wake = engine.next_wakeup()
                if commands:
                    self._commands(commands, now)
                continue
            if not heap:
                break
            t, _, kind, payload = heappop(heap)
            if t > horizon:
                break
            now = t
            if kind in (ARRIVE, REDIAL):
                if kind == ARRIVE:
                    if stopping:
                        continue
                    i = payload
                    nt = processes[i].next_after(t)
                    if nt < arrivals_end:
                        heappush(heap, (nt, seq(), ARRIVE, i))
                    k = n
                    n += 1
                    department = None
                    if dep_share > 0 and u_dep.next() < dep_share:
                        department = departments[int(u_dep.next() * len(departments))]
                    drawn = handle_streams[i].next()
                    call = SimCall(f"c{k}", drawn - wrap_up_s if drawn > wrap_up_s else 0.0, department, k, i)
                else:  # the same caller again, a new call
                    last = payload
                    i = last.stream
                    self.redials += 1
                    call = SimCall(
                        f"c{last.caller}r{self.redials}", last.handle_s, last.department, last.caller, i
                    )
                if offered == warmup and self.occ_start is None:
                    self.occ_start, self.occ_t[0] = self._occupied(t), t
                if offered >= warmup:
                    callers_seen.add(call.caller)
                offered += 1
                cid, department = call.id, call.department
                ps = patience_streams[i]
                patience = ps.next() if ps is not None else math.inf
                decision = apply(
                    [
                        CallOffered(
                            f"e{eid()}",
                            cid,
                            "+33600000000",
                            skills[i],
                            priorities[i],
                            department,
                            needs[i],
                        )
                    ],
                    t,
                )
                action = decision.action
                if action == "connect":
                    self._connected(call, decision.agent_id, t, ring)
                elif action == "queue":
                    live[cid] = call
                    if offered > warmup:
                        call.ewt = (t, decision.ewt_s, self._load_bucket(skills[i]))
                    if patience != math.inf:
                        heappush(heap, (t + patience, seq(), ABANDON, call))
                    if decision.callback_offer and offer_callbacks:
                        self.callbacks_offered += 1
                        if self.u_callback.next() < callers.accept_callback:
                            windows = decision.callback_windows
                            if windows and self.u_window.next() < callers.take_window:
                                self._accept_callback(call, t, windows[0]["start"])
                            else:
                                self._accept_callback(call, t)
                    if (
                        appointment_offer_s is not None
                        and call.state == QUEUED
                        and decision.ewt_s > appointment_offer_s
                        and self.u_appointment.next() < callers.book_appointment
                    ):
                        self._book_appointment(call, skills[i], t, APPOINTMENT_HORIZON_DAYS)
                elif action == "overflow":
                    self._overflowed(call, t)
                elif action != "closed":
                    self.actions[action] += 1
                if kind == ARRIVE and n == limit_calls:
                    stopping = True
                    horizon = t + sc.drain_s
                    self.occ_end, self.occ_t[1] = self._occupied(t), t
                if progress is not None and time.perf_counter() >= next_tick:
                    progress(min(1.0, n / expected))
                    next_tick = time.perf_counter() + 0.2
            elif kind == END:
                call = payload
                live.pop(call.id, None)
                ended = [CallEnded(f"e{eid()}", call.id, "completed")]
                agent_id = call.agent_id
                if agent_id is not None and self.agent_call.get(agent_id) is call:
                    del self.agent_call[agent_id]
                    if agent_id in self.leaving:  # off duty now that its call is over
                        self.leaving.discard(agent_id)
                        ended.append(AgentStateChanged(f"e{eid()}", agent_id, "logged_out"))
                apply(ended, t)
            elif kind == ABANDON:
                call = payload
                if call.state == QUEUED:
                    del live[call.id]
                    apply([CallEnded(f"e{eid()}", call.id, "abandoned")], t)
                    if redial is not None and u_redial.next() < redial.share:
                        again = t + redial_delay.next()  # type: ignore[union-attr]
                        if again < arrivals_end:
                            heappush(heap, (again, seq(), REDIAL, call))
            elif kind == STAFF:
                self._staff(t)
                if t < horizon and (heap or self.wake is not None):
                    heappush(heap, (self._next_hour(t), seq(), STAFF, None))
            elif kind == ANSWER:
                event = payload
                event.id = f"e{eid()}"
                apply([event], t)
            elif kind == SERVICE_END:
                call = payload
                live.pop(call.id, None)
                apply([CallEnded(f"e{eid()}", call.id, "completed")], t)
            elif kind == STOP:
                stopping = True
                horizon = t + sc.drain_s
                self.occ_end, self.occ_t[1] = self._occupied(t), t
        if self.pending:
            self._apply([], now)
        if self.occ_start is None:
            self.occ_start, self.occ_t[0] = self._occupied(now), now
        if self.occ_end is None:
            self.occ_end, self.occ_t[1] = self._occupied(now), now
        if progress is not None:
            progress(1.0)
        return Outcome(
            scenario=sc,
            config=self.config,
            stats=self.stats,
            wall_s=time.perf_counter() - started,
            sim_s=now - self.t0,
            events=self.n_events,
            arrivals=n,
            occupancy=self._occupancy(),
            actions=self.actions,
            commands=self.commands,
            callbacks_offered=self.callbacks_offered,
            appointments_booked=self.appointments_booked,
            appointments_refused=self.appointments_refused,
            unresolved=self.stats.unsettled,
            unique_callers=len(callers_seen),
            ewt=self._ewt_accuracy(),
            redials=self.redials,
            baseline=self.baseline,
            router=self.router,
        )

    # ------------------------------------------------------------------ engine I/O

    def _push(self, t: float, kind: int, payload: Any) -> None:
        heapq.heappush(self.heap, (t, self._seq(), kind, payload))

    def _apply(self, events: list[Any], now: float) -> Any:
        """Apply `events` (after any answers still to report) at `now`; play the commands; return
        the last event's decision."""
        pending = self.pending
        if pending:
            events = pending + events
            self.pending = []
        results, commands = self.engine.apply(events, now, trusted=True)  # built from engine state
        self.n_events += len(events)
        if commands:
            self._commands(commands, now)
        self.wake = self.engine.next_wakeup()
        return results[-1].decision if results else None

    def _commands(self, commands: list[Any], now: float) -> None:
        for command in commands:
            name = command.command
            fields = command.fields
            if name == "connect":
                call = self.live.get(fields["call_id"])
                if call is not None:
                    self._connected(call, fields["agent_id"], now, self.scenario.ring_s)
            elif name == "overflow":
                call = self.live.get(fields["call_id"])
                if call is not None:
                    self._overflowed(call, now)
            elif name == "originate":
                self._originated(fields, now)
            elif name == "offer_callback":
                self.commands[name] += 1
                call = self.live.get(fields["call_id"])
                if call is not None and call.state == QUEUED and self.offer_callbacks:
                    self.callbacks_offered += 1
                    if self.u_callback.next() < self.scenario.callers.accept_callback:
                        self._accept_callback(call, now)
            else:
                self.commands[name] += 1

    # ------------------------------------------------------------------ what the platform does

    def _connected(self, call: SimCall, agent_id: str, now: float, ring: float) -> None:
        if call.ewt is not None:  # queued at arrival: the EWT told against the wait that followed
            offered_at, told, bucket = call.ewt
            self.ewt_errors[bucket].append(told - (now + ring - offered_at))
            call.ewt = None
        call.state = CONNECTED
        call.agent_id = agent_id
        self.agent_call[agent_id] = call
        if ring > 0:
            self._push(now + ring, ANSWER, CallAnswered("", call.id, agent_id))
            self._push(now + ring + call.handle_s, END, call)
        else:
            self.pending.append(CallAnswered(f"e{self._eid()}", call.id, agent_id, SimTime(now)))
            self._push(now + call.handle_s, END, call)

    def _overflowed(self, call: SimCall, now: float) -> None:
        """The local service answers and talks as long as the caller needs (its own wrap-up is
        its own business)."""
        call.state = OVERFLOWED
        self.live[call.id] = call
        self._push(now + call.handle_s, SERVICE_END, call)

    def _accept_callback(self, call: SimCall, now: float, window: str | None = None) -> None:
        start = SimTime(datetime.fromisoformat(window).timestamp()) if window is not None else None
        decision = self._apply([CallbackAccepted(f"e{self._eid()}", call.id, start)], now)
        if isinstance(decision, CallbackDecision):
            call.state = CALLBACK
            self.by_callback[decision.callback_id] = call

    def _callback_over(self, callback: Any) -> None:
        call = self.by_callback.pop(callback.id, None)
        if call is not None:
            self.live.pop(call.id, None)

    def _originated(self, fields: dict[str, Any], now: float) -> None:
        if "callback_id" in fields:
            cb_id = fields["callback_id"]
            call = self.by_callback.get(cb_id)
            answered = self.u_callback_answer.next() < self.scenario.callers.answer_callback
            self.pending.append(
                CallbackResult(
                    f"e{self._eid()}", cb_id, "answered" if answered else "no_answer", SimTime(now)
                )
            )
            if answered and call is not None:
                del self.by_callback[cb_id]
                call.state = CONNECTED
                call.agent_id = fields["agent_id"]
                self.agent_call[call.agent_id] = call
                self._push(now + call.handle_s, END, call)
            else:
                self._released(fields["agent_id"])
        else:
            ap_id = fields["appointment_id"]
            call = self.by_appointment.get(ap_id)
            answered = self.u_appointment_answer.next() < self.scenario.callers.answer_callback
            self.pending.append(
                AppointmentResult(
                    f"e{self._eid()}", ap_id, "answered" if answered else "no_answer", SimTime(now)
                )
            )
            if answered and call is not None:
                del self.by_appointment[ap_id]
                dial = SimCall(ap_id, call.handle_s, None, call.caller, call.stream)
                dial.agent_id = fields["agent_id"]
                self.agent_call[dial.agent_id] = dial
                self._push(now + call.handle_s, END, dial)
            else:
                self._released(fields["agent_id"])

    def _book_appointment(self, call: SimCall, skill: str, now: float, horizon_days: int) -> None:
        """The caller books the first slot with a place and hangs up."""
        engine = self.engine
        zone = engine.calendar.zone
        day = datetime.fromtimestamp(now, zone).date()
        start = None
        for d in range(horizon_days):
            for slot in engine.queries.appointment_slots(skill, day + timedelta(days=d), None, now):
                if slot["remaining"] > 0 and slot["start"] > now:
                    start = slot["start"]
                    break
            if start is not None:
                break
        if start is None:
            self.appointments_refused += 1
            return
        ap_id = f"ap-{call.id}"
        decision = self._apply(
            [AppointmentBooked(f"e{self._eid()}", ap_id, "+33600000000", skill, start, call.department)], now
        )
        if not isinstance(decision, AppointmentDecision) or decision.status != "booked":
            self.appointments_refused += 1
            return
        self.appointments_booked += 1
        self.by_appointment[ap_id] = call
        call.state = BOOKED
        self.live.pop(call.id, None)
        self._apply([CallEnded(f"e{self._eid()}", call.id, "transferred")], now)

    # ------------------------------------------------------------------ expected wait

    def _load_bucket(self, skill: str) -> int:
        """The load a caller meets, as calls waiting per agent staffed for the skill."""
        engine = self.engine
        i = engine.skill_index[skill]
        staffed = engine.staffed_by_skill[i]
        ratio = engine.waiting_by_skill[i] / staffed if staffed else math.inf
        for b, (_, upper) in enumerate(EWT_LOAD_BUCKETS):
            if ratio < upper:
                return b
        return len(EWT_LOAD_BUCKETS) - 1

    def _ewt_accuracy(self) -> dict[str, Any]:
        """The EWT told to queued callers (measured calls) against the wait that followed, for
        those an agent answered (the wait of a caller who hung up is not known: left out)."""

        def summary(errors: list[float]) -> dict[str, Any]:
            n = len(errors)
            if not n:
                return {"n": 0, "mae_s": None, "bias_s": None}
            return {"n": n, "mae_s": sum(abs(e) for e in errors) / n, "bias_s": sum(errors) / n}

        every = [e for bucket in self.ewt_errors for e in bucket]
        return {
            **summary(every),
            "by_load": [
                {"waiting_per_agent": label, **summary(errors)}
                for (label, _), errors in zip(EWT_LOAD_BUCKETS, self.ewt_errors, strict=True)
            ],
        }

    # ------------------------------------------------------------------ staffing

    def _released(self, agent_id: str) -> None:
        """A dial got no answer: its reserved agent is free again (with the result, in the next
        batch); one going off duty leaves right after."""
        if agent_id in self.leaving:
            self.leaving.discard(agent_id)
            self.pending.append(AgentStateChanged(f"e{self._eid()}", agent_id, "logged_out"))

    def _next_hour(self, now: float) -> float:
        local = datetime.fromtimestamp(now, self.engine.calendar.zone)
        top = local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        return top.timestamp()

    def _staff(self, now: float) -> None:
        """Log in and out to the staffing of the local hour: the first `share` of each site's
        agents on duty; one with a call leaves when the call ends."""
        staffing = self.scenario.staffing
        hour = datetime.fromtimestamp(now, self.engine.calendar.zone).hour
        share = staffing.share(hour) if staffing is not None else 1.0
        wanted: set[str] = set()
        for agents in self.by_site.values():
            wanted.update(agents[: round(share * len(agents))])
        events = []
        for agent_id in sorted(self.on_duty - wanted):
            if agent_id in self.agent_call:
                self.leaving.add(agent_id)
            else:
                events.append(AgentStateChanged(f"e{self._eid()}", agent_id, "logged_out"))
        for agent_id in sorted(wanted - self.on_duty):
            if agent_id in self.leaving:
                self.leaving.discard(agent_id)  # it never left
            else:
                events.append(AgentStateChanged(f"e{self._eid()}", agent_id, "available"))
        self.on_duty = wanted
        if events:
            self._apply(events, now)

    # ------------------------------------------------------------------ occupancy

    def _occupied(self, now: float) -> dict[str, tuple[float, float]]:
        """(occupied, available) agent-seconds so far, per agent id."""
        return self.engine.queries.occupancy_seconds(now)

    def _occupancy(self) -> dict[str, float]:
        """Occupancy over the measured window, overall ("") and per skill (agents holding it):
        occupied time over the time agents were occupied or available (logged out and paused time
        counts for neither)."""
        start, end = self.occ_start or {}, self.occ_end or {}
        busy: dict[str, float] = Counter()
        staffed: dict[str, float] = Counter()
        for agent in self.engine.agents.values():
            occ0, idle0 = start.get(agent.id, (0.0, 0.0))
            occ1, idle1 = end.get(agent.id, (0.0, 0.0))
            for key in ("", *agent.skills):
                busy[key] += occ1 - occ0
                staffed[key] += (occ1 - occ0) + (idle1 - idle0)
        return {k: (busy[k] / staffed[k] if staffed[k] > 0 else math.nan) for k in staffed}


def simulate(
    scenario: Scenario,
    config: Config,
    *,
    router: str = "numba",
    baseline: bool = False,
    progress: Callable[[float], None] | None = None,
    seed: int | None = None,
) -> Outcome:
    """Run `scenario` once through a fresh engine."""
    return Simulation(scenario, config, router=router, baseline=baseline, progress=progress, seed=seed).run()
