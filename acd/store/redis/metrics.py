"""The Redis store's own metrics (`acd_store_*`)."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram


class StoreMetrics:
    def __init__(self, registry: Any) -> None:
        self.leader = Gauge("acd_store_leader", "1 while this instance holds the lease", registry=registry)
        self.position = Gauge(
            "acd_store_log_seq", "Sequence number of the last log entry applied", registry=registry
        )
        self.append = Histogram(
            "acd_store_append_seconds",
            "Time to append a group of writes to the Redis log",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=registry,
        )
        self.snapshots = Counter("acd_store_snapshots_total", "Snapshots written", registry=registry)
        self.snapshot_seconds = Gauge(
            "acd_store_snapshot_seconds", "Time the last snapshot took, encoding included", registry=registry
        )
        self.snapshot_bytes = Gauge(
            "acd_store_snapshot_bytes", "Size of the last snapshot", registry=registry
        )
        self.replicas = Gauge(
            "acd_store_replicas_acknowledged",
            "Replicas that confirmed the last group of writes (ACD_REDIS_MIN_REPLICAS > 0)",
            registry=registry,
        )
        self.unreplicated = Counter(
            "acd_store_unreplicated_writes_total",
            "Log entries answered 503 because fewer than ACD_REDIS_MIN_REPLICAS replicas confirmed "
            "them in time (stored on the primary all the same)",
            registry=registry,
        )
