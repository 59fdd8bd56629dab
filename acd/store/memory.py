"""The embedded store: state lives in the engine's memory only, and the log is a no-op.

Every write is applied to the engine at once, in the caller's task; engine calls never await, so
under asyncio each batch is applied atomically. Nothing survives a restart. One instance, always
in charge of its timers and its outbox: it reports that it leads when it starts.
"""

from __future__ import annotations

from typing import Any

from acd.engine import EventResult
from acd.model import Command
from acd.store import StoreContext


class MemoryStore:
    leading = True
    commands_persisted = False

    def __init__(self, context: StoreContext) -> None:
        self._context = context
        self._now = context.clock.now
        self.engine = context.new_engine()
        self.engine.observer = context.observer

    async def start(self) -> None:
        await self._context.on_role(True)

    async def stop(self) -> None:
        return None

    async def ready(self) -> bool:
        return True

    async def apply(self, events: list[Any]) -> tuple[list[EventResult], list[Command]]:
        now, engine = self._now(), self.engine
        due = engine.next_wakeup()
        if due is not None and due <= now:
            # A timer came due before this write and the timer loop has not fired it yet (a busy
            # loop): it fires first, as the clock says (a reminder before the move that disarms it).
            fired = engine.tick(now)
            results, commands = engine.apply(events, now)
            return results, fired + commands
        return engine.apply(events, now)

    async def tick(self, now: float) -> list[Command]:
        return self.engine.tick(now)
