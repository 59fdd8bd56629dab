"""Service settings, read from `ACD_*` environment variables and validated at start."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from acd.events import FIRST_YEAR, LAST_YEAR
from acd.records.model import LINE_TZ


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ACD_", extra="ignore", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    config_dir: Path = Path("config")
    #: No URL: state lives in memory. `redis://...`: state lives in Redis and survives a restart.
    redis_url: str | None = None
    #: When set, every request to /v1/* must be signed, and outbound commands are signed.
    webhook_secret: str | None = None
    #: Where outbound commands are POSTed; without it commands wait in the outbox.
    command_url: AnyHttpUrl | None = None
    #: How long one delivery of a command may take before it is retried (a platform slower than
    #: this never acknowledges, and gets the same command again and again).
    command_timeout_s: float = Field(5.0, gt=0, le=300.0)
    #: Of the outbox's 16 delivery slots, how many reminders and surveys may never take: kept for
    #: connect, overflow, originate and offer_callback (acd/outbox_lanes.py). 0: none kept.
    command_urgent_reserve: int = Field(4, ge=0, le=15)
    #: Start the service clock at this instant (then it runs on in real time).
    clock_start: datetime | None = None
    router: Literal["numba", "reference"] = "numba"
    #: The hot modules' compiled twins (acd/compiled.py reads these two at import, before the
    #: settings: here they are checked at start-up and documented with the others).
    compiled: Literal["0", "1", "require"] = "1"
    compiled_dir: str | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    #: Largest request body accepted (bytes); a batch of 1000 events fits well within 1 MiB.
    max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024)
    #: How long a request's body may take to arrive once its headers have (408 after that).
    body_timeout_s: float = Field(10.0, gt=0.0, le=600.0)
    max_batch: int = Field(1000, ge=1, le=1000)
    #: Kamailio's `xhttp` command endpoint: set, it enables the Kamailio adapter (`/adapters/kamailio/`,
    #: docs in deploy/kamailio/docs/kamailio.md), which relays commands there.
    kamailio_url: AnyHttpUrl | None = None
    #: With the Redis store, how long the adapter's call map keeps a call after its last event.
    kamailio_call_ttl_s: float = Field(86400.0, ge=60.0)

    # -- call records (see docs/records.md)
    #: `postgresql://...`: records go to PostgreSQL; none: to an SQLite file in `data_dir`.
    records_url: str | None = None
    #: Where the embedded SQLite records database lives (created at start-up).
    data_dir: Path = Path("data")
    #: Records waiting for the database (an outage): beyond this the oldest are dropped (counted).
    records_queue_max: int = Field(200_000, ge=100)
    #: How often the retention purge runs (config/records.yaml: retention_days).
    records_purge_interval_s: float = Field(3600.0, ge=1.0)

    # -- the Redis store (used only with ACD_REDIS_URL; see docs/redis.md)
    #: Prefix of every key, so several deployments share one Redis. Use a hash tag (`{acd}:`) on
    #: Redis Cluster: the store's scripts touch several keys at once, which must share a slot.
    redis_prefix: str = Field("acd:", min_length=1, max_length=64)
    #: The leader's lease: it renews it every third of this; a follower takes over once it lapses.
    redis_lease_ttl_s: float = Field(3.0, ge=0.5, le=60.0)
    #: How long a follower waits for the leader to apply a forwarded write before answering 503.
    redis_forward_timeout_s: float = Field(10.0, ge=0.5, le=120.0)
    #: Snapshot the engine after this many log entries, or after this many seconds with any entry.
    redis_snapshot_every: int = Field(10_000, ge=1)
    redis_snapshot_interval_s: float = Field(300.0, ge=1.0)
    #: Encode snapshots in a forked child (copy-on-write), so a large state never stalls the loop.
    redis_snapshot_fork: bool = True
    #: How long delivered command ids are remembered, so a replayed command is never sent again.
    redis_delivered_ttl_s: float = Field(7 * 86400.0, ge=60.0)
    #: This instance's name in the lease and in logs (default: host name, pid and a random tag).
    instance_id: str | None = Field(None, min_length=1, max_length=128)
    #: Before acknowledging a write, wait (Redis `WAIT`) until this many replicas have it; 0: do not
    #: wait (replication stays asynchronous). Short of them within the timeout, the write answers
    #: 503 (see docs/redis.md). The timeout stays below the client's 5 s socket timeout.
    redis_min_replicas: int = Field(0, ge=0, le=16)
    redis_replica_timeout_ms: int = Field(500, ge=1, le=4000)
    #: Redis Sentinel, instead of ACD_REDIS_URL: the sentinels (`host:port,host:port`), the name
    #: of the master they watch, and the database, the master's and the sentinels' passwords.
    redis_sentinels: str | None = None
    redis_sentinel_master: str | None = Field(None, min_length=1, max_length=128)
    redis_sentinel_password: str | None = None
    redis_password: str | None = None
    redis_db: int = Field(0, ge=0, le=15)

    @field_validator("clock_start")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("ACD_CLOCK_START needs an offset, e.g. 2026-03-02T08:29:00+01:00")
        if v is not None and not FIRST_YEAR <= v.year <= LAST_YEAR:
            # the years every instant from outside is held to (acd/events.py): past them the
            # calendar has no opening and dates overflow
            raise ValueError(
                f"ACD_CLOCK_START must fall in the years {FIRST_YEAR} to {LAST_YEAR} (got year {v.year})"
            )
        if v is not None and not FIRST_YEAR <= (paris := v.astimezone(LINE_TZ)).year <= LAST_YEAR:
            # 2000-01-01T00:00:00+14:00 is 1999 on the line: the events stamped there at start
            # (the warm-up's, a platform's in Paris time) would fall outside the years
            raise ValueError(
                f"ACD_CLOCK_START must fall in the years {FIRST_YEAR} to {LAST_YEAR} in Paris time too "
                f"(it is {paris.isoformat()} there)"
            )
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("ACD_REDIS_URL must start with redis://, rediss:// or unix://")
        return v

    @field_validator("records_url")
    @classmethod
    def _records(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if not v.startswith(("postgresql://", "postgres://", "sqlite:///")):
            raise ValueError("ACD_RECORDS_URL must start with postgresql:// (or sqlite:///<path>)")
        return v

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinels(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        for address in v.split(","):
            host, sep, port = address.strip().rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"ACD_REDIS_SENTINELS takes host:port,host:port; got {address.strip()!r}")
        return v

    @model_validator(mode="after")
    def _one_redis(self) -> Settings:
        if self.redis_sentinels and self.redis_url:
            raise ValueError("set ACD_REDIS_URL or ACD_REDIS_SENTINELS, not both")
        if self.redis_sentinels and not self.redis_sentinel_master:
            raise ValueError("ACD_REDIS_SENTINELS needs ACD_REDIS_SENTINEL_MASTER (the master's name)")
        return self

    @property
    def redis_enabled(self) -> bool:
        """State lives in Redis (through a URL or through Sentinel), not in memory."""
        return bool(self.redis_url or self.redis_sentinels)

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        out = []
        for address in (self.redis_sentinels or "").split(","):
            host, _, port = address.strip().rpartition(":")
            out.append((host.strip("[]"), int(port)))
        return out

    @property
    def secret(self) -> bytes | None:
        return self.webhook_secret.encode() if self.webhook_secret else None
