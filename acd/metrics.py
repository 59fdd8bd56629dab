"""Prometheus metrics. They observe the engine and never steer it.

Counters and histograms are fed by the engine's `Observer` hooks; gauges (queue depth, agents by
state) are read from the engine at scrape time by a collector, so they can never drift from the
state. Everything lives on a registry passed in, never the global one. Rates such as the answer
rate are left to PromQL (deploy/prometheus/rules/acd.rules.yml): answered over the calls offered
in opening hours less the short abandons, as the records' indicators count them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from acd.engine.observer import Observer
from acd.model import WATCHDOG_KINDS, AgentState
from acd.records.model import short_abandon

if TYPE_CHECKING:
    from acd.engine import Agent, Appointment, Call, Callback, Engine

log = logging.getLogger("acd.watchdog")

WAIT_BUCKETS = (1, 5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800, 3600)
LATENCY_BUCKETS = (1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 0.1)


class Children:
    """A labelled metric's children, each looked up through `labels()` once: `labels()` checks and
    converts its values and takes a lock on every call (about a fifth of a request's metrics cost
    when it ran per event); here a child is a dictionary look-up by the values as given. Same
    children, same series: only the look-up is remembered."""

    __slots__ = ("_children", "_metric")

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._children: dict[tuple[Any, ...], Any] = {}

    def __call__(self, *values: Any) -> Any:
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*values)
        return child


class Metrics(Observer):
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.offered = Counter(
            "acd_calls_offered_total", "Calls offered to the national line", ["skill"], registry=registry
        )
        self.answered = Counter(
            "acd_calls_answered_total", "Calls answered by an agent", ["skill", "site"], registry=registry
        )
        self.abandoned = Counter(
            "acd_calls_abandoned_total",
            "Callers who hung up before an agent answered",
            ["skill"],
            registry=registry,
        )
        self.short_abandoned = Counter(
            "acd_calls_short_abandoned_total",
            "Callers who hung up within 5 s of waiting (short abandons, in acd_calls_abandoned_total "
            "too): the answer rate leaves them out of offered and abandoned, as the records do",
            ["skill"],
            registry=registry,
        )
        self.ended = Counter(
            "acd_calls_ended_total", "Calls ended, by reason", ["skill", "reason"], registry=registry
        )
        self.decisions = Counter(
            "acd_routing_decisions_total", "Routing decisions taken", ["skill", "action"], registry=registry
        )
        self.wait = Histogram(
            "acd_queue_wait_seconds",
            "Time from offer to answer (outcome=answered, calls answered directly) or to hang-up "
            "(outcome=abandoned)",
            ["skill", "outcome"],
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        self.handle = Histogram(
            "acd_handle_time_seconds",
            "Talk plus wrap-up time",
            ["skill"],
            buckets=WAIT_BUCKETS,
            registry=registry,
        )
        self.surveys = Counter(
            "acd_survey_responses_total",
            "Post-call survey answers by score",
            ["skill", "score"],
            registry=registry,
        )
        self.survey_score = Counter(
            "acd_survey_score_sum_total",
            "Sum of survey scores (divide by responses for the mean)",
            ["skill"],
            registry=registry,
        )
        self.decision_latency = Histogram(
            "acd_routing_decision_seconds",
            "Time the engine took to apply one event (validation and routing included)",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.overflowed = Counter(
            "acd_calls_overflowed_total", "Calls sent to a local service", ["department"], registry=registry
        )
        self.closed = Counter(
            "acd_calls_closed_total",
            "Calls refused outside opening hours or on a holiday",
            ["skill"],
            registry=registry,
        )
        self.callbacks = Counter(
            "acd_callbacks_total",
            "Callback transitions: scheduled, dialing, retry, done, failed, cancelled",
            ["skill", "status"],
            registry=registry,
        )
        self.callback_delay = Histogram(
            "acd_callback_delay_seconds",
            "From callback request (or acceptance) to its first dial",
            ["skill"],
            buckets=(*WAIT_BUCKETS, 7200, 14400, 28800, 86400, 172800),
            registry=registry,
        )
        self.appointments = Counter(
            "acd_appointments_total",
            "Appointment transitions: booked, rescheduled, cancelled, dialing, done, no_show",
            ["skill", "status"],
            registry=registry,
        )
        self.ready = Gauge(
            "acd_ready",
            "1 while the instance is ready (its state store answers), checked at each scrape",
            registry=registry,
        )
        self.events = Counter(
            "acd_events_total", "Inbound events by type and result", ["type", "status"], registry=registry
        )
        self.watchdog_flags = Counter(
            "acd_watchdog_raised_total",
            "Things the watchdog flagged: a call answered longer than routing.max_answered_s "
            "(kind=answered_too_long), an agent busy with no call (kind=busy_without_call), an "
            "agent rung longer than routing.max_ringing_s (kind=ringing_too_long), a call in line "
            "longer than routing.max_waiting_s (kind=waiting_too_long)",
            ["kind"],
            registry=registry,
        )
        for kind in WATCHDOG_KINDS:
            self.watchdog_flags.labels(kind)
        self.rejected = Counter(
            "acd_requests_rejected_total",
            "Requests refused with a 4xx, by error code",
            ["code"],
            registry=registry,
        )

        # The children the hooks below and the service use per event (see `Children`).
        self._offered = Children(self.offered)
        self._decisions = Children(self.decisions)
        self._closed = Children(self.closed)
        self._answered = Children(self.answered)
        self._wait = Children(self.wait)
        self._ended = Children(self.ended)
        self._abandoned = Children(self.abandoned)
        self._short_abandoned = Children(self.short_abandoned)
        self._handle = Children(self.handle)
        self.event_counts = Children(self.events)

    # -- Observer hooks

    def call_offered(self, call: Call, now: float) -> None:
        self._offered(call.skill).inc()

    def decision(self, call: Call, action: str, now: float) -> None:
        self._decisions(call.skill, action).inc()
        if action == "closed":
            self._closed(call.skill).inc()

    def call_overflowed(self, call: Call, service_id: str, department: str) -> None:
        self.overflowed.labels(department).inc()

    def call_answered(self, call: Call, agent: Agent, wait_s: float) -> None:
        self._answered(call.skill, agent.site).inc()
        if call.callback_id is None:
            # Answered directly: its wait in line. A call answered through the callback its caller
            # accepted counts answered (the answer rate, as in the records) but its "wait" runs to
            # the callback's answer, hours later maybe: not a queue wait (the records' asa_s and
            # service level leave it out too).
            self._wait(call.skill, "answered").observe(wait_s)

    def call_ended(self, call: Call, reason: str, wait_s: float | None) -> None:
        self._ended(call.skill, reason).inc()
        if reason == "abandoned" and wait_s is not None:
            self._abandoned(call.skill).inc()
            self._wait(call.skill, "abandoned").observe(wait_s)
            if short_abandon(wait_s):  # the records' own bound, as the wallboard's day counts it
                self._short_abandoned(call.skill).inc()

    def callback(self, callback: Callback, status: str, now: float) -> None:
        self.callbacks.labels(callback.skill, status).inc()

    def callback_dialled(self, callback: Callback, delay_s: float) -> None:
        self.callback_delay.labels(callback.skill).observe(delay_s)

    def appointment(self, appointment: Appointment, status: str, now: float) -> None:
        self.appointments.labels(appointment.skill, status).inc()

    def survey(self, call: Call, score: int) -> None:
        self.surveys.labels(call.skill, str(score)).inc()
        self.survey_score.labels(call.skill).inc(score)

    def handle_time(self, skill: str, seconds: float) -> None:
        self._handle(skill).observe(seconds)

    def watchdog(self, kind: str, key: str, now: float) -> None:
        self.watchdog_flags.labels(kind).inc()
        what = "agent" if kind == "busy_without_call" else "call"
        log.warning(
            "watchdog: %s %s flagged %s (a lost event? platform.sync corrects what the platform reports)",
            what,
            key,
            kind,
            extra={"kind": kind, f"{what}_id": key},
        )


class EngineCollector(Collector):
    """Gauges read from the engine at scrape time (`engine()`: the engine as it is then, which a
    store may have replaced since)."""

    def __init__(self, engine: Callable[[], Engine], now: Callable[[], float]) -> None:
        self._engine = engine
        self._now = now

    def collect(self) -> Iterator[Metric]:
        queries, now = self._engine().queries, self._now()
        waiting = GaugeMetricFamily("acd_queue_waiting_calls", "Calls waiting in line", labels=["skill"])
        oldest = GaugeMetricFamily(
            "acd_queue_oldest_wait_seconds", "Wait of the oldest call in line", labels=["skill"]
        )
        callers = GaugeMetricFamily(
            "acd_queue_waiting_callers", "Callers on hold in line (callbacks apart)", labels=["skill"]
        )
        oldest_caller = GaugeMetricFamily(
            "acd_queue_oldest_caller_wait_seconds", "Wait of the oldest caller on hold", labels=["skill"]
        )
        ewt = GaugeMetricFamily("acd_queue_ewt_seconds", "Expected wait for a new call", labels=["skill"])
        by_skill = GaugeMetricFamily(
            "acd_skill_agents", "Agents holding the skill, by activity", labels=["skill", "activity"]
        )
        on_hold = queries.on_hold()
        for q in queries.queues(now):
            waiting.add_metric([q["skill"]], q["waiting"])
            oldest.add_metric([q["skill"]], q["oldest_wait_s"])
            line = on_hold.get(q["skill"])
            callers.add_metric([q["skill"]], line.callers if line else 0)
            oldest_caller.add_metric([q["skill"]], line.oldest_wait(now) if line else 0.0)
            ewt.add_metric([q["skill"]], q["ewt_s"])
            by_skill.add_metric([q["skill"], "available"], q["agents_available"])
            by_skill.add_metric([q["skill"], "busy"], q["agents_busy"])
            by_skill.add_metric([q["skill"], "staffed"], q["agents_staffed"])
        agents = GaugeMetricFamily("acd_agents", "Agents by site and state", labels=["site", "state"])
        tally = queries.agents_by_site_state()
        for site in queries.sites:
            for state in AgentState:
                if state is not AgentState.RESERVED:
                    agents.add_metric([site, state.wire], tally[(site, state.wire)])
        status = queries.overflow(now)
        active = GaugeMetricFamily("acd_overflow_active", "1 while peak overflow to local services is active")
        active.add_metric([], 1.0 if status["active"] else 0.0)
        mode = GaugeMetricFamily(
            "acd_overflow_mode", "The supervisor's overflow switch (1 = current)", labels=["mode"]
        )
        for m in ("auto", "on", "off"):
            mode.add_metric([m], 1.0 if status["mode"] == m else 0.0)
        load = GaugeMetricFamily(
            "acd_local_service_load", "Overflow calls held by a local service", labels=["department"]
        )
        capacity = GaugeMetricFamily(
            "acd_local_service_capacity", "Overflow calls a local service can hold", labels=["department"]
        )
        open_ = GaugeMetricFamily(
            "acd_local_service_open", "1 while a local service is open", labels=["department"]
        )
        for service in queries.services(now):
            department = service["department"]
            load.add_metric([department], service["load"])
            capacity.add_metric([department], service["capacity"])
            open_.add_metric([department], 1.0 if service["open"] else 0.0)
        flagged = GaugeMetricFamily(
            "acd_watchdog_flagged",
            "What the watchdog flags now: calls answered or ringing longer than the maximum, agents "
            "busy with no call",
            labels=["kind"],
        )
        for kind, found in queries.flagged().items():
            flagged.add_metric([kind], len(found))
        line_open = GaugeMetricFamily("acd_line_open", "1 while the national line is open")
        line_open.add_metric([], 1.0 if queries.line_open(now) else 0.0)
        slots = GaugeMetricFamily(
            "acd_appointment_slot_occupancy", "Share of today's appointment places booked", labels=["skill"]
        )
        for skill, (taken, places) in queries.slot_occupancy(now).items():
            slots.add_metric([skill], taken / places if places else 0.0)
        yield from (
            waiting,
            oldest,
            callers,
            oldest_caller,
            ewt,
            by_skill,
            agents,
            active,
            mode,
            load,
            capacity,
            open_,
            line_open,
            slots,
            flagged,
        )
