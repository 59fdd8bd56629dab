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
- an answered call ends `completed` after its handle time; wrap-up is the engine's own timer.

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
ARRIVE, END, ABANDON, ANSWER, SERVICE_END, STOP = range(6)
# States of a caller, as the simulator knows it.
QUEUED, CONNECTED, CALLBACK, OVERFLOWED, BOOKED = range(5)


class SimCall:
    __slots__ = ("department", "handle_s", "id", "state")

    def __init__(self, id: str, handle_s: float, department: str | None) -> None:
        self.id = id
        self.handle_s = handle_s
        self.department = department
        self.state = QUEUED


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
        self.departments = sorted(s.department for s in self.config.services.local)
        policy = sc.overflow
        self.service_handle = (
            durations(seed, "overflow/handle", policy.handle_time) if policy and policy.handle_time else None
        )

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
        # every agent logs in at the start
        logins = [AgentStateChanged(f"login-{a}", a, "available") for a in engine.agents]
        self._apply(logins, now)
        self.login_at = now
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
        dep_share = sc.overflow.department_share if sc.overflow is not None else 0.0
        departments, u_dep = self.departments, self.u_department
        ring = sc.ring_s
        callbacks = sc.callbacks if not self.baseline else None
        appointments = sc.appointments if not self.baseline else None
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
            if kind == ARRIVE:
                if stopping:
                    continue
                i = payload
                nt = processes[i].next_after(t)
                if nt < arrivals_end:
                    heappush(heap, (nt, seq(), ARRIVE, i))
                k = n
                n += 1
                if k == warmup and self.occ_start is None:
                    self.occ_start, self.occ_t[0] = self._occupied(t), t
                cid = f"c{k}"
                department = None
                if dep_share > 0 and u_dep.next() < dep_share:
                    department = departments[int(u_dep.next() * len(departments))]
                call = SimCall(cid, handle_streams[i].next(), department)
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
                action = decision["action"]
                if action == "connect":
                    self._connected(call, decision["agent_id"], t, ring)
                elif action == "queue":
                    live[cid] = call
                    if patience != math.inf:
                        heappush(heap, (t + patience, seq(), ABANDON, call))
                    if decision["callback_offer"] and callbacks is not None:
                        self.callbacks_offered += 1
                        if self.u_callback.next() < callbacks.acceptance:
                            self._accept_callback(call, t)
                    if (
                        appointments is not None
                        and call.state == QUEUED
                        and decision["ewt_s"] > appointments.offer_above_ewt_s
                        and self.u_appointment.next() < appointments.share
                    ):
                        self._book_appointment(call, skills[i], t, appointments.horizon_days)
                elif action == "overflow":
                    self._overflowed(call, t)
                elif action != "closed":
                    self.actions[action] += 1
                if n == limit_calls:
                    stopping = True
                    horizon = t + sc.drain_s
                    self.occ_end, self.occ_t[1] = self._occupied(t), t
                if progress is not None and time.perf_counter() >= next_tick:
                    progress(min(1.0, n / expected))
                    next_tick = time.perf_counter() + 0.2
            elif kind == END:
                call = payload
                live.pop(call.id, None)
                apply([CallEnded(f"e{eid()}", call.id, "completed")], t)
            elif kind == ABANDON:
                call = payload
                if call.state == QUEUED:
                    del live[call.id]
                    apply([CallEnded(f"e{eid()}", call.id, "abandoned")], t)
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
                policy = self.scenario.callbacks
                if call is not None and call.state == QUEUED and policy is not None and not self.baseline:
                    self.callbacks_offered += 1
                    if self.u_callback.next() < policy.acceptance:
                        self._accept_callback(call, now)
            else:
                self.commands[name] += 1

    # ------------------------------------------------------------------ what the platform does

    def _connected(self, call: SimCall, agent_id: str, now: float, ring: float) -> None:
        call.state = CONNECTED
        if ring > 0:
            self._push(now + ring, ANSWER, CallAnswered("", call.id, agent_id))
            self._push(now + ring + call.handle_s, END, call)
        else:
            self.pending.append(CallAnswered(f"e{self._eid()}", call.id, agent_id, SimTime(now)))
            self._push(now + call.handle_s, END, call)

    def _overflowed(self, call: SimCall, now: float) -> None:
        call.state = OVERFLOWED
        self.live[call.id] = call
        handle = self.service_handle.next() if self.service_handle is not None else call.handle_s
        self._push(now + handle, SERVICE_END, call)

    def _accept_callback(self, call: SimCall, now: float) -> None:
        decision = self._apply([CallbackAccepted(f"e{self._eid()}", call.id)], now)
        if decision is not None and decision.get("action") == "callback":
            call.state = CALLBACK
            self.by_callback[decision["callback_id"]] = call

    def _callback_over(self, callback: Any) -> None:
        call = self.by_callback.pop(callback.id, None)
        if call is not None:
            self.live.pop(call.id, None)

    def _originated(self, fields: dict[str, Any], now: float) -> None:
        if "callback_id" in fields:
            cb_id = fields["callback_id"]
            call = self.by_callback.get(cb_id)
            policy = self.scenario.callbacks
            share = policy.answer_share if policy is not None else 1.0
            answered = self.u_callback_answer.next() < share
            self.pending.append(
                CallbackResult(
                    f"e{self._eid()}", cb_id, "answered" if answered else "no_answer", SimTime(now)
                )
            )
            if answered and call is not None:
                del self.by_callback[cb_id]
                call.state = CONNECTED
                self._push(now + call.handle_s, END, call)
        else:
            ap_id = fields["appointment_id"]
            call = self.by_appointment.get(ap_id)
            policy = self.scenario.appointments
            share = policy.answer_share if policy is not None else 1.0
            answered = self.u_appointment_answer.next() < share
            self.pending.append(
                AppointmentResult(
                    f"e{self._eid()}", ap_id, "answered" if answered else "no_answer", SimTime(now)
                )
            )
            if answered and call is not None:
                del self.by_appointment[ap_id]
                self._push(now + call.handle_s, END, SimCall(ap_id, call.handle_s, None))

    def _book_appointment(self, call: SimCall, skill: str, now: float, horizon_days: int) -> None:
        """The caller books the first slot with a place and hangs up."""
        engine = self.engine
        zone = engine.calendar.zone
        day = datetime.fromtimestamp(now, zone).date()
        start = None
        for d in range(horizon_days):
            for slot in engine.appointment_slots(skill, day + timedelta(days=d), None, now):
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
        if decision is None or decision.get("status") != "booked":
            self.appointments_refused += 1
            return
        self.appointments_booked += 1
        self.by_appointment[ap_id] = call
        call.state = BOOKED
        self.live.pop(call.id, None)
        self._apply([CallEnded(f"e{self._eid()}", call.id, "transferred")], now)

    # ------------------------------------------------------------------ occupancy

    def _occupied(self, now: float) -> dict[str, float]:
        """Occupied agent-seconds since login, per agent id (occupancy x staffed time)."""
        engine = self.engine
        router = engine.router
        staffed = now - self.login_at
        return {a.id: router.occupancy(a.row, now) * staffed for a in engine.agents.values()}

    def _occupancy(self) -> dict[str, float]:
        """Occupancy over the measured window, overall ("") and per skill (agents holding it)."""
        span = self.occ_t[1] - self.occ_t[0]
        start, end = self.occ_start or {}, self.occ_end or {}
        busy: dict[str, float] = Counter()
        time_: dict[str, float] = Counter()
        for agent in self.engine.agents.values():
            delta = end.get(agent.id, 0.0) - start.get(agent.id, 0.0)
            for key in ("", *agent.skills):
                busy[key] += delta
                time_[key] += span
        return {k: (busy[k] / time_[k] if time_[k] > 0 else math.nan) for k in time_}


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
