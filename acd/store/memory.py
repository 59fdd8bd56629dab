"""The embedded store: state lives in the engine's memory only, and the log is a no-op.

Every write is applied to the engine at once, in the caller's task; engine calls never await, so
under asyncio each batch is applied atomically. Nothing survives a restart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from acd.engine import EventResult
from acd.model import Command

if TYPE_CHECKING:
    from acd.service import Service


class MemoryStore:
    leading = True  # one instance, always in charge of its timers and its outbox

    def __init__(self, service: Service) -> None:
        self._service = service

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def ready(self) -> bool:
        return True

    async def apply(self, events: list[Any]) -> tuple[list[EventResult], list[Command]]:
        service = self._service
        return service.engine.apply(events, service.clock.now())

    async def tick(self, now: float) -> list[Command]:
        return self._service.engine.tick(now)
