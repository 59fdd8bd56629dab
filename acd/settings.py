"""Service settings, read from `ACD_*` environment variables and validated at start."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    #: Start the service clock at this instant (then it runs on in real time).
    clock_start: datetime | None = None
    router: Literal["numba", "reference"] = "numba"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"
    #: Largest request body accepted (bytes); a batch of 1000 events fits well within 1 MiB.
    max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024)
    max_batch: int = Field(1000, ge=1, le=1000)
    #: Kamailio's `xhttp` command endpoint: set, it enables the Kamailio adapter (`/adapters/kamailio/`,
    #: docs in deploy/kamailio/docs/kamailio.md), which relays commands there.
    kamailio_url: AnyHttpUrl | None = None

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
    #: Pickle snapshots in a forked child (copy-on-write), so a large state never stalls the loop.
    redis_snapshot_fork: bool = True
    #: How long delivered command ids are remembered, so a replayed command is never sent again.
    redis_delivered_ttl_s: float = Field(7 * 86400.0, ge=60.0)
    #: This instance's name in the lease and in logs (default: host name, pid and a random tag).
    instance_id: str | None = Field(None, min_length=1, max_length=128)

    @field_validator("clock_start")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("ACD_CLOCK_START needs an offset, e.g. 2026-03-02T08:29:00+01:00")
        return v

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, v: str | None) -> str | None:
        if v in (None, ""):
            return None
        if not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("ACD_REDIS_URL must start with redis://, rediss:// or unix://")
        return v

    @property
    def secret(self) -> bytes | None:
        return self.webhook_secret.encode() if self.webhook_secret else None
