"""Small asyncio helpers shared by the service, the store and the outbox.

`still_running()` is the guard every long-lived `while True` loop calls between steps: on Python
3.11, `asyncio.wait_for` (which redis-py awaits around every command it sends, with its socket
timeout) returns its result when a `cancel()` lands as its inner call completes, swallowing the
cancellation while leaving the task marked as cancelling. Without the guard such a loop would go
on for ever and leave `stop()` waiting for it. For the same reason the loops wait with
`asyncio.timeout`, never `wait_for`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any


def still_running() -> None:
    """Raise the cancellation a library swallowed (see the module's docstring)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def quietly(awaitable: Awaitable[Any], log: logging.Logger, what: str) -> None:
    """Await `awaitable`, logging (at debug level) instead of raising any failure but a cancel."""
    try:
        await awaitable
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.debug("%s failed: %s", what, exc)


def retrieve(future: asyncio.Future[Any]) -> None:
    """A done-callback consuming the outcome of a future nobody awaits any more (no 'exception
    was never retrieved' warning)."""
    if not future.cancelled():
        future.exception()


async def cancel_and_wait(*tasks: asyncio.Future[Any] | None) -> None:
    """Cancel the given tasks (None is skipped) and wait until each has finished."""
    live = [t for t in tasks if t is not None]
    for task in live:
        task.cancel()
    await asyncio.gather(*live, return_exceptions=True)


class Background:
    """Fire-and-forget steps (a reply published, commands handed on) whose failures are logged at
    debug level, kept so that they can be cancelled together."""

    def __init__(self, log: logging.Logger, what: str) -> None:
        self._log = log
        self._what = what
        self.tasks: set[asyncio.Task[None]] = set()

    def spawn(self, awaitable: Awaitable[Any]) -> None:
        task = asyncio.create_task(quietly(awaitable, self._log, self._what))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
