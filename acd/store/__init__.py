"""Where the engine's state lives: memory (the embedded default) or Redis.

The store sits beside the service, not inside it. It is given what it needs (`StoreContext`: the
settings, the configuration, the metrics registry, the clock, how to make an engine and what
observes it) and never sees the service. It holds the engine (`engine`, which a Redis store
replaces when it reloads), applies the writes (`apply`, `tick`) and returns their results and
commands in both modes, and reports role changes (`on_role`): the service starts and stops the
outbox and re-reads the timers on them.

`MemoryStore` applies in place and leads from its start; `RedisStore` (`acd.store.redis`) logs
every input to a Redis Stream before the write is acknowledged, snapshots the engine, and
coordinates several instances (one leader, followers that forward and keep a replica).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from acd.engine import Engine, EngineError, EventResult, Observer
from acd.model import Command

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from acd.clock import Clock
    from acd.config import Config
    from acd.settings import Settings


class StoreUnavailable(EngineError):
    """The store could not make a write durable: answered `503`, and nothing is acknowledged."""

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(503, "store_unavailable", message, details)


class RecordCarry(Protocol):
    """The call records not yet written, carried by a snapshot (`acd.records.sink.RecordSink`):
    the replay after a crash starts after the snapshot and cannot make them again."""

    def carried(self) -> bytes: ...

    def restore(self, carried: bytes | None) -> int: ...


@dataclass(frozen=True, slots=True)
class StoreContext:
    """What a store is given by the service around it."""

    settings: Settings
    config: Config
    registry: CollectorRegistry
    clock: Clock
    #: A fresh, empty engine (no observer: the store sets it).
    new_engine: Callable[[], Engine]
    #: What observes the engine while this instance leads (metrics and records) ...
    observer: Observer
    #: ... and while it keeps a replica (records only: they are written if it takes over).
    replica_observer: Observer
    #: This instance took the lead (True) or left it (False): awaited by the store, in its role
    #: loop, so that the outbox is started before a command is due and stopped before another
    #: instance can lead.
    on_role: Callable[[bool], Awaitable[None]]
    #: Commands of writes nobody on this instance waits for (writes forwarded by followers),
    #: already persisted: hand them to the outbox; the engine changed, too.
    on_commands: Callable[[list[Command]], None]
    #: The records sink: each snapshot carries what it has not written yet, and a reload queues
    #: that again before the replay.
    records: RecordCarry | None = None


class Store(Protocol):
    #: The engine as it is now (read models are served from it).
    engine: Engine

    @property
    def leading(self) -> bool:
        """True while this instance applies writes itself, fires the timers and sends commands."""
        ...

    #: True when the commands `apply` and `tick` return are already persisted in the outbox's
    #: store (with their log entry): handing them to the outbox then only wakes the dispatcher.
    commands_persisted: bool

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def ready(self) -> bool: ...

    async def apply(self, events: list[Any]) -> tuple[list[EventResult], list[Command]]:
        """Apply a batch durably; returns the results and the commands the caller must hand to the
        outbox. Raises `EngineError` for a bad batch (nothing applied) and `StoreUnavailable`
        when the write cannot be made durable."""
        ...

    async def tick(self, now: float) -> list[Command]:
        """Fire the timers due at `now` (leader only); returns commands as `apply` does."""
        ...


__all__ = ["Store", "StoreContext", "StoreUnavailable"]
