"""The outbox's metrics (`acd.outbox`): commands submitted, delivered, retried, superseded, pending;
delivery attempts in flight by lane; failures by cause; the backoff drawn before each retry, and
those cut short by a recovery; the time from submit to the platform's 2xx.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from acd.metrics import Children

__all__ = ["BACKOFF_BUCKETS", "DELIVERY_BUCKETS", "OutboxMetrics"]

BACKOFF_BUCKETS = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0)
DELIVERY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


class OutboxMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.submitted = Counter(
            "acd_commands_submitted_total", "Commands handed to the outbox", ["command"], registry=registry
        )
        self.delivered = Counter(
            "acd_commands_delivered_total",
            "Commands acknowledged (2xx) by the platform",
            ["command"],
            registry=registry,
        )
        self.retries = Counter(
            "acd_command_retries_total",
            "Failed delivery attempts, each followed by a retry",
            ["command"],
            registry=registry,
        )
        self.delivery = Histogram(
            "acd_command_delivery_seconds",
            "From submit to the platform's 2xx, retries included",
            buckets=DELIVERY_BUCKETS,
            registry=registry,
        )
        self.pending = Gauge("acd_outbox_pending", "Commands not yet delivered", registry=registry)
        self.inflight = Gauge(
            "acd_outbox_inflight",
            "Delivery attempts in flight, by lane (acd/outbox_lanes.py): urgent (connect, overflow, "
            "originate, offer_callback) may hold every slot, deferred (remind, survey) all but "
            "ACD_COMMAND_URGENT_RESERVE",
            ["lane"],
            registry=registry,
        )
        self.superseded = Counter(
            "acd_commands_superseded_total",
            "Commands dropped undelivered: their assignment was over before they could be sent "
            "(a connect for a call that rang out, was answered or ended meanwhile)",
            ["command"],
            registry=registry,
        )
        self.failures = Counter(
            "acd_command_failures_total",
            "Failed delivery attempts by cause: refused (a 4xx but 408 and 429: the platform refuses "
            "the command; retried all the same, as the contract says), throttled (429), server "
            "(5xx, 408), redirect (3xx, not followed), network (no answer: refused connection, "
            "timeout, broken answer)",
            ["command", "cause"],
            registry=registry,
        )
        self.backoff = Histogram(
            "acd_command_backoff_seconds",
            "The wait drawn before each retry (bounded by the outbox's max_delay_s, 60 s); one the "
            "platform's recovery cuts short is counted in acd_command_backoffs_ended_total",
            buckets=BACKOFF_BUCKETS,
            registry=registry,
        )
        self.backoffs_ended = Counter(
            "acd_command_backoffs_ended_total",
            "Commands retried before the end of their backoff: made due at once when a command that "
            "had failed was delivered (the platform back after an outage)",
            registry=registry,
        )
        self.submitted_of = Children(self.submitted)  # per command (see acd.metrics.Children)
        self.delivered_of = Children(self.delivered)
