"""The event loop: the contact centre around the engine, on a simulated clock.

Over 400 lines: `Simulation.run` is one event loop, inlined on purpose (the hot path, below); what
needs none of its local state lives in the modules named at the end.

The simulator plays the telephony platform and the callers; the engine (the service's own, with
its router) decides. One heap holds the simulator's future events (arrivals, ends of
conversations, callers' patience running out, ends of calls at local services, hours of the
staffing); the engine's own timers (ends of wrap-up, widening steps, callbacks and appointments
due) are read from `engine.next_wakeup()`, and the clock jumps to whichever comes first (the
engine's on a tie). `Simulation.run` is one event loop, inlined on purpose: it is the hot path.

What the loop does:
- an arrival sends `call.offered`; the decision says `connect` (the agent answers after `ring_s`,
  at once by default), `queue` (the caller waits: patience, then `call.ended abandoned`; a callback
  or an appointment may be taken), `overflow` (the local service talks, then `call.ended`),
  `closed`, or an action unknown to the simulator (counted, the call left alone);
- an answered call ends `completed` after its talk time: the drawn handle time less the engine's
  wrap-up (`handle_time` is the handle time, talk and after-call work together); wrap-up is the
  engine's own timer, except that a drawn time shorter than the wrap-up has no talk and ends the
  wrap-up early (the platform says `available` once the drawn time is over);
- callers who hang up unanswered call again (`callers.redial`), with the scenario's share; what
  a caller does after hanging up (calls again or not, when, with what patience) is drawn for that
  caller and attempt (acd/sim/streams.py's `keyed`), so `--compare` plays the same callers.

Elsewhere: the platform's side (the engine's commands played, the callers' answers to them, answers
sent with the next batch) in acd/sim/platform.py; staffing by hour in acd/sim/shifts.py; the
accuracy of the expected wait and the occupancy in acd/sim/measures.py.
"""

from __future__ import annotations

import heapq
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from acd.config import Config
from acd.sim.arrivals import ArrivalProcess
from acd.sim.build import build_config, build_engine
from acd.sim.events import AgentStateChanged, CallEnded, CallOffered
from acd.sim.measures import EWT_LOAD_BUCKETS, ewt_accuracy, load_bucket, occupancy, occupied
from acd.sim.platform import (
    ABANDON,
    ANSWER,
    APPOINTMENT_HORIZON_DAYS,
    ARRIVE,
    END,
    QUEUED,
    REDIAL,
    SERVICE_END,
    STAFF,
    STOP,
    WRAP_END,
    Platform,
    SimCall,
)
from acd.sim.scenario_model import CLOCK_LIMIT, TOO_LATE, Distribution, Scenario, SimulationError
from acd.sim.shifts import Shifts
from acd.sim.stats import Stats
from acd.sim.streams import durations, keyed, quantile, uniform, unit_exponential

__all__ = ["Outcome", "SimCall", "Simulation", "SimulationError", "simulate"]


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
        self.engine = build_engine(self.config, self.stats, router)  # loads the kernels it uses
        calls = self.engine.calls
        self.stats.offered_at = lambda call_id: c.offered_at if (c := calls.get(call_id)) else None
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
        self.u_department = uniform(seed, "department")  # the callers' other choices: acd/sim/platform.py
        # what happens at arrival is drawn in arrival order, the same in every run of the seed;
        # what happens after a caller hangs up, by caller and attempt (`keyed`)
        self.redial_patience = [a.patience or sc.patience for a in sc.arrivals]
        self.departments = sorted(s.department for s in self.config.services.local)
        # acd's offers run only with its policies; the baseline makes none
        policies = sc.policies_on and not self.baseline
        self.offer_callbacks = policies
        # the engine's queue decision says when (`appointment_offer`: appointments.offer_above_ewt_s)
        self.offer_appointments = policies
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
        # arrivals that would outlast the calendar (on average, for `calls`): said now, not after
        # simulating centuries of calls up to it
        span = sc.duration_s if sc.duration_s is not None else (sc.calls or 0) / sc.expected_rate()
        if now + span > CLOCK_LIMIT:
            raise SimulationError(TOO_LATE)
        self.actions: Counter[str] = Counter()
        self.redials = 0
        self.ewt_errors: list[list[float]] = [[] for _ in EWT_LOAD_BUCKETS]
        self.callers_seen: set[int] = set()
        self.platform = platform = Platform(engine, sc, self.seed, self.offer_callbacks, self.ewt_errors)
        self.stats.on_callback_over = platform.callback_over
        platform.on_booked = self.stats.booked
        self.shifts = shifts = Shifts(engine, sc.staffing, platform, spread=isinstance(sc.agents, list))
        # agents log in at the start (all of them, or the staffing's share of the first hour)
        self.login_at = now
        shifts.staff(now)
        if sc.staffing is not None:
            platform.push(shifts.next_hour(now), STAFF, None)
        for i, process in enumerate(self.processes):
            t = process.next_after(now)
            if math.isfinite(t):
                platform.push(t, ARRIVE, i)
        limit_calls = sc.calls if sc.calls is not None else -1
        arrivals_end = self.t0 + sc.duration_s if sc.duration_s is not None else math.inf
        if sc.duration_s is not None:
            platform.push(arrivals_end, STOP, None)
        self.occ_start: dict[str, float] | None = occupied(engine, now) if sc.warmup_calls == 0 else None
        self.occ_end: dict[str, float] | None = None
        self.occ_t = [now, now]
        warmup = sc.warmup_calls
        horizon = CLOCK_LIMIT  # past it the calendar cannot reason (acd/calendar.py): an error
        stopped_at = -math.inf
        n = 0
        progress, next_tick = self.progress, time.perf_counter() + 0.2
        expected = sc.calls if sc.calls is not None else max(1.0, sc.expected_rate() * (sc.duration_s or 0.0))

        heap, seq, eid, apply = platform.heap, platform.seq, platform.eid, platform.apply
        heappop, heappush = heapq.heappop, heapq.heappush
        live, agent_call, leaving = platform.live, platform.agent_call, platform.leaving
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
        offer_callbacks, offer_appointments = self.offer_callbacks, self.offer_appointments
        wrap_up_s = self.wrap_up_s
        redial, redial_patience, seed = callers.redial, self.redial_patience, self.seed
        callers_seen = self.callers_seen
        offered = 0  # calls offered, redials included (the warm-up counts them as the engine does)
        stopping = False

        while True:
            wake = platform.wake
            if platform.pending and (not heap or (wake is not None and wake <= heap[0][0])):
                # the platform's answers (a dial's result frees its agent) reach the engine before
                # its own timers fire, and before the run could end with them unsent: they go
                # with the next arrival or end of call only when that comes first
                apply([], now)
                continue
            if wake is not None and (not heap or wake <= heap[0][0]):
                if wake > horizon:
                    stopped_at = wake
                    break
                now = wake
                commands = engine.tick(now)
                platform.wake = engine.next_wakeup()
                if commands:
                    platform.play(commands, now)
                continue
            if not heap:
                break
            t, _, kind, payload = heappop(heap)
            if t > horizon:
                stopped_at = t
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
                    if drawn >= wrap_up_s:
                        call = SimCall(f"c{k}", drawn - wrap_up_s, department, k, i)
                    else:  # shorter than the wrap-up: no talk, the agent free once it is over
                        call = SimCall(f"c{k}", 0.0, department, k, i, drawn)
                    ps = patience_streams[i]
                    patience = ps.next() if ps is not None else math.inf
                else:  # the same caller again, a new call
                    last = payload
                    i = last.stream
                    self.redials += 1
                    attempt = last.attempt + 1
                    call = SimCall(
                        f"c{last.caller}r{attempt}",
                        last.handle_s,
                        last.department,
                        last.caller,
                        i,
                        last.wrap_s,
                    )
                    call.attempt = attempt
                    dist = redial_patience[i]
                    patience = (
                        quantile(dist, keyed(seed, "patience/redial", call.caller, attempt))
                        if dist is not None
                        else math.inf
                    )
                if offered == warmup and self.occ_start is None:
                    self.occ_start, self.occ_t[0] = occupied(engine, t), t
                measured = offered >= warmup
                offered += 1
                cid, department = call.id, call.department
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
                if measured and action != "closed":  # a call refused as closed is not measured
                    callers_seen.add(call.caller)
                if action == "connect":
                    platform.connected(call, decision.agent_id, t, ring)
                elif action == "queue":
                    live[cid] = call
                    if offered > warmup:
                        call.ewt = (t, decision.ewt_s, load_bucket(engine, skills[i]))
                    if patience != math.inf:
                        heappush(heap, (t + patience, seq(), ABANDON, call))
                    if decision.callback_offer and offer_callbacks:
                        platform.callbacks_offered += 1
                        if platform.u_callback.next() < callers.accept_callback:
                            windows = decision.callback_windows
                            if windows and platform.u_window.next() < callers.take_window:
                                platform.accept_callback(call, t, windows[0]["start"])
                            else:
                                platform.accept_callback(call, t)
                    if (
                        offer_appointments
                        and decision.appointment_offer
                        and call.state == QUEUED
                        and platform.u_appointment.next() < callers.book_appointment
                    ):
                        platform.book_appointment(call, skills[i], t, APPOINTMENT_HORIZON_DAYS)
                elif action == "overflow":
                    platform.overflowed(call, t)
                elif action != "closed":
                    self.actions[action] += 1
                if kind == ARRIVE and n == limit_calls:
                    stopping = True
                    horizon = min(CLOCK_LIMIT, t + sc.drain_s)
                    self.occ_end, self.occ_t[1] = occupied(engine, t), t
                if progress is not None and time.perf_counter() >= next_tick:
                    progress(min(1.0, n / expected))
                    next_tick = time.perf_counter() + 0.2
            elif kind == END:
                call = payload
                live.pop(call.id, None)
                ended = [CallEnded(f"e{eid()}", call.id, "completed")]
                agent_id = call.agent_id
                if agent_id is not None and agent_call.get(agent_id) is call:
                    del agent_call[agent_id]
                    if agent_id in leaving:  # off duty now that its call is over: the logout
                        # goes first, so it takes effect as the call ends (a logout after the end
                        # would find the agent already given the next waiting call)
                        leaving.discard(agent_id)
                        ended.insert(0, AgentStateChanged(f"e{eid()}", agent_id, "logged_out"))
                    elif call.wrap_s is not None:  # its handle time ends within the wrap-up
                        platform.end_wrap_early(agent_id, call.wrap_s, t)
                apply(ended, t)
            elif kind == ABANDON:
                call = payload
                if call.state == QUEUED:
                    del live[call.id]
                    apply([CallEnded(f"e{eid()}", call.id, "abandoned")], t)
                    caller, attempt = call.caller, call.attempt
                    if redial is not None and keyed(seed, "redial", caller, attempt) < redial.share:
                        again = t + quantile(redial.delay, keyed(seed, "redial/delay", caller, attempt))
                        if again < arrivals_end:
                            heappush(heap, (again, seq(), REDIAL, call))
            elif kind == WRAP_END:
                platform.wrap_over(payload, t)
            elif kind == STAFF:
                shifts.staff(t)
                if t < horizon and (heap or platform.wake is not None):
                    heappush(heap, (shifts.next_hour(t), seq(), STAFF, None))
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
                horizon = min(CLOCK_LIMIT, t + sc.drain_s)
                self.occ_end, self.occ_t[1] = occupied(engine, t), t
        if stopped_at > CLOCK_LIMIT:
            raise SimulationError(TOO_LATE)
        if platform.pending:
            apply([], now)
        # calls still unresolved waited until the run stopped: at its horizon (the drain after the
        # last arrival) when nothing else happened before it, else at its last event
        end = horizon if stopping and math.isfinite(horizon) and horizon < CLOCK_LIMIT else now
        self.stats.settle_unresolved(max(now, end))
        if self.occ_start is None:
            self.occ_start, self.occ_t[0] = occupied(engine, now), now
        if self.occ_end is None:
            self.occ_end, self.occ_t[1] = occupied(engine, now), now
        if progress is not None:
            progress(1.0)
        return Outcome(
            scenario=sc,
            config=self.config,
            stats=self.stats,
            wall_s=time.perf_counter() - started,
            sim_s=now - self.t0,
            events=platform.n_events,
            arrivals=n,
            occupancy=occupancy(engine, self.occ_start, self.occ_end),
            actions=self.actions,
            commands=platform.commands,
            callbacks_offered=platform.callbacks_offered,
            appointments_booked=platform.appointments_booked,
            appointments_refused=platform.appointments_refused,
            unresolved=self.stats.unsettled,
            unique_callers=len(callers_seen),
            ewt=ewt_accuracy(self.ewt_errors),
            redials=self.redials,
            baseline=self.baseline,
            router=self.router,
        )


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
