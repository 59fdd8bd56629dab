"""Where the engine's state lives: memory (the embedded default) or Redis.

The service talks to a `Store`: it applies writes (`apply`, `tick`) and says whether this instance
is the one running the timers and the outbox (`leading`). `MemoryStore` applies in place;
`RedisStore` logs every input to a Redis Stream before the write is acknowledged, snapshots the
engine, and coordinates several instances (one leader, followers that forward and keep a replica).
"""

from __future__ import annotations

from typing import Any, Protocol

from acd.engine import EngineError, EventResult
from acd.model import Command


class StoreUnavailable(EngineError):
    """The store could not make a write durable: answered `503`, and nothing is acknowledged."""

    def __init__(self, message: str, details: Any = None) -> None:
        super().__init__(503, "store_unavailable", message, details)


class Store(Protocol):
    @property
    def leading(self) -> bool:
        """True while this instance applies writes itself, fires the timers and sends commands."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def ready(self) -> bool: ...

    async def apply(self, events: list[Any]) -> tuple[list[EventResult], list[Command]]:
        """Apply a batch durably; returns the results and the commands the caller must hand to the
        outbox (a store that persists commands itself returns none). Raises `EngineError` for a bad
        batch (nothing applied) and `StoreUnavailable` when the write cannot be made durable."""
        ...

    async def tick(self, now: float) -> list[Command]:
        """Fire the timers due at `now` (leader only); returns commands as `apply` does."""
        ...


__all__ = ["Store", "StoreUnavailable"]
