"""The leader's lease: taken with `SET NX PX` and a fencing token, renewed every third of its TTL.

Every write script checks that the lease still holds this instance's value (the fencing check, in
`acd.store.redis_log`); this module only takes, keeps and gives back the lease, and knows until
when it is surely still ours (`valid_until`, on the monotonic clock, from when the request left).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from acd.aio import still_running
from acd.store.redis.connection import REDIS_DOWN
from acd.store.redis_log import RedisLog

#: After a failed renewal, the next try comes this soon (the first one at once).
RETRY_S = 0.05


class LeaseLost(Exception):
    """The lease lapsed or was taken over: this instance must stop leading."""


class Lease:
    def __init__(self, log: RedisLog, instance_id: str, ttl_s: float) -> None:
        self._log = log
        self.instance_id = instance_id
        self.ttl_s = ttl_s
        self.value: str | None = None  # `<instance>/<token>` while held
        self.valid_until = 0.0  # monotonic

    async def acquire(self) -> bool:
        sent = time.monotonic()
        value = await self._log.acquire(self.instance_id, self.ttl_s)
        if value is None:
            return False
        self.value, self.valid_until = value, sent + self.ttl_s
        return True

    async def keep(self) -> None:
        """Renew the lease every third of its TTL until it is lost: raises `LeaseLost`.

        A renewal that fails or times out (a slow Redis, a loaded machine) is retried at once,
        then every `RETRY_S`, for as long as the lease is surely still ours: one slow answer
        does not make a leader step down while two thirds of its TTL remain."""
        period = self.ttl_s / 3
        wait = period
        while True:
            still_running()
            await asyncio.sleep(wait)
            assert self.value is not None
            sent = time.monotonic()
            left = self.valid_until - sent
            if left <= 0:
                raise LeaseLost("the lease could not be renewed before it lapsed")
            try:
                async with asyncio.timeout(min(period, left)):
                    held = await self._log.renew(self.value, self.ttl_s)
            except REDIS_DOWN as exc:
                left = self.valid_until - time.monotonic()
                if left <= RETRY_S:
                    raise LeaseLost(f"the lease could not be renewed: {exc!r}") from None
                wait = 0.0 if wait == period else RETRY_S
                continue
            if not held:
                raise LeaseLost("the lease lapsed and was taken over")
            self.valid_until = sent + self.ttl_s
            wait = period

    async def release(self) -> None:
        """Give the lease back (best effort, within a second) so that another instance takes
        over at once instead of after the TTL."""
        value, self.value = self.value, None
        if value is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await self._log.release(value)

    def forget(self) -> None:
        """Drop the lease without giving it back, as a killed process does: it lapses after its
        TTL (the crash seam)."""
        self.value = None
