"""`RedisStore`: the Store protocol over Redis, and the role loop that ties the parts together.

The role loop (`_run`): make sure the replica matches the store (`Replica.resync`), follow the
log until the lease is ours (`_follow`), lead until it is lost (`_lead`), and start again; any
Redis failure sends it round again after a back-off, through `DOWN`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from enum import StrEnum
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.sentinel import Sentinel

from acd.aio import Background, cancel_and_wait, still_running
from acd.engine import Engine, EventResult
from acd.model import Command
from acd.store import StoreContext, StoreUnavailable
from acd.store.outbox_redis import RedisOutboxStore
from acd.store.redis.connection import REDIS_DOWN, close, connect_settings, drop_connections
from acd.store.redis.forwarding import Forwarding
from acd.store.redis.lease import Lease, LeaseLost
from acd.store.redis.metrics import StoreMetrics
from acd.store.redis.replica import READ_CHUNK, Replica, Resync
from acd.store.redis.snapshots import SnapshotError, Snapshots
from acd.store.redis.writer import Writer
from acd.store.redis_log import APPLY, TICK, Fenced, RedisLog
from acd.store.snapshot import Position

log = logging.getLogger("acd.store")

RETRY_MAX_S = 2.0


class Role(StrEnum):
    STARTING = "starting"  # not loaded yet
    FOLLOWER = "follower"
    LEADER = "leader"
    DOWN = "down"  # Redis unreachable (or the state cannot be loaded)


class RedisStore:
    commands_persisted = True  # written with their log entry, in the same script

    def __init__(self, context: StoreContext, client: Redis | None = None) -> None:
        settings = context.settings
        assert settings.redis_enabled, "RedisStore needs ACD_REDIS_URL or ACD_REDIS_SENTINELS"
        self._context = context
        self._settings = settings
        self.instance_id = (
            settings.instance_id or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        )
        self._sentinel: Sentinel | None = None
        if client is not None:
            self.client = client
        else:
            self.client, self._sentinel = connect_settings(settings)
        self.log = RedisLog(self.client, settings.redis_prefix)
        self.metrics = StoreMetrics(context.registry)
        self.lease = Lease(self.log, self.instance_id, settings.redis_lease_ttl_s)
        self.outbox_store = RedisOutboxStore(
            self.client,
            settings.redis_prefix,
            lease=lambda: self.lease.value,
            delivered_ttl_s=settings.redis_delivered_ttl_s,
            lease_key=self.log.lease_key,
        )
        self._background = Background(log, "redis store: background step")
        self.forwarding = Forwarding(self.client, self.log, settings, self.instance_id, self._background)
        self.snapshots = Snapshots(
            self.log,
            context.config,
            settings,
            self.metrics,
            lambda: self.lease.value,
            records=context.records,
        )
        self.replica = Replica(
            log=self.log,
            snapshots=self.snapshots,
            metrics=self.metrics,
            new_engine=context.new_engine,
            observer=context.replica_observer,
            answered=self._answered,
        )
        self.writer = Writer(
            log=self.log,
            settings=settings,
            metrics=self.metrics,
            now=context.clock.now,
            lease=lambda: self.lease.value,
            replica=self.replica,
            forwarding=self.forwarding,
            snapshots=self.snapshots,
            persisted=self.outbox_store.note_persisted,
            applied=context.on_commands,
        )
        self.role = Role.STARTING
        self._main: asyncio.Task[None] | None = None
        self._replies: asyncio.Task[None] | None = None
        self._settled = asyncio.Event()
        self._stopping = False

    # ------------------------------------------------------------------ the Store protocol

    @property
    def engine(self) -> Engine:
        return self.replica.engine

    @property
    def position(self) -> Position:
        """The last log entry the engine has applied."""
        return self.replica.position

    @property
    def leading(self) -> bool:
        return self.role is Role.LEADER

    async def start(self) -> None:
        if self._settings.router == "numba":
            # Compile the kernels now: a first call compiling while this instance holds the lease
            # would stall the loop past the lease's renewal.
            from acd.routing import warm_up

            warm_up()
        self._replies = asyncio.create_task(self.forwarding.listen(), name="acd-store-replies")
        self._main = asyncio.create_task(self._run(), name="acd-store")
        # Serve only once the state is loaded (or Redis found unreachable: then readyz says 503).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(120.0):
                await self._settled.wait()

    async def stop(self) -> None:
        self._stopping = True
        if self.role is Role.LEADER:
            await self.writer.drain(5.0)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(60.0):
                    await self._final_snapshot()
        await cancel_and_wait(self._main, self._replies, self.snapshots.task, *self._background.tasks)
        self.forwarding.fail_all(StoreUnavailable("the service is stopping"))
        await close(self.client, self._sentinel)

    async def crash(self) -> None:
        """Stop as a killed process would (the seam of the crash tests and the recovery
        benchmark): every task cancelled, the lease forgotten (not released: it lapses after its
        TTL), no final snapshot, nothing more written, the connections closed."""
        self._stopping = True
        self.lease.forget()
        await cancel_and_wait(self._main, self._replies, self.snapshots.task, *self._background.tasks)
        with contextlib.suppress(Exception):
            await self.client.aclose()

    async def ready(self) -> bool:
        if self.role not in (Role.LEADER, Role.FOLLOWER):
            return False
        try:
            async with asyncio.timeout(1.0):
                await self.client.ping()
        except (*REDIS_DOWN, asyncio.CancelledError):
            return False
        return True

    async def apply(self, events: list[Any]) -> tuple[list[EventResult], list[Command]]:
        if self._stopping:
            raise StoreUnavailable("the service is stopping; retry on another instance")
        if self.role is Role.LEADER:
            return await self.writer.submit(APPLY, events)
        if self.role is Role.FOLLOWER:
            return await self.forwarding.forward(events), []
        raise StoreUnavailable("the state store is unreachable", {"role": str(self.role)})

    async def tick(self, now: float) -> list[Command]:
        if self.role is not Role.LEADER:
            return []
        try:
            _, commands = await self.writer.submit(TICK)
        except StoreUnavailable:  # leadership lost meanwhile: the next leader ticks
            return []
        return commands

    # ------------------------------------------------------------------ the role loop

    async def _run(self) -> None:
        delay = 0.1
        while True:
            still_running()
            try:
                await self.replica.resync()
                await self._follow()
                await self._lead()
                delay = 0.1
            except asyncio.CancelledError:
                raise
            except Resync as exc:
                log.info("redis store: reloading the state: %s", exc)
                self.replica.dirty = True
            except LeaseLost as exc:
                log.warning("redis store: stepped down: %s", exc)
            except Exception as exc:
                down = isinstance(exc, (*REDIS_DOWN, Fenced, SnapshotError))
                if down:
                    log.warning("redis store: %s: %s; retrying in %.1f s", type(exc).__name__, exc, delay)
                    if isinstance(exc, REDIS_DOWN):
                        await drop_connections(self.client)
                else:
                    log.exception("redis store: unexpected failure; retrying in %.1f s", delay)
                self._set_role(Role.DOWN)
                self._settled.set()
                await asyncio.sleep(delay)
                delay = min(RETRY_MAX_S, delay * 2)

    def _set_role(self, role: Role) -> None:
        if role is self.role:
            return
        log.info("redis store: %s -> %s", self.role, role, extra={"instance": self.instance_id})
        self.role = role
        self.metrics.leader.set(1 if role is Role.LEADER else 0)
        if role in (Role.LEADER, Role.FOLLOWER):
            self._settled.set()

    def _answered(self, request: str, results: list[EventResult]) -> None:
        """A forwarded write met in the log: remembered, and answered if it is one of ours."""
        self.forwarding.remember(request)
        self.forwarding.answer(request, results)

    async def _follow(self) -> None:
        """Keep the replica in step until this instance takes the lease."""
        poll = min(0.5, self.lease.ttl_s / 4)
        next_try = 0.0
        while True:
            still_running()
            if time.monotonic() >= next_try:
                if await self.lease.acquire():
                    return
                next_try = time.monotonic() + poll
                if self.replica.reseed and await self.log.epoch() is not None:
                    raise Resync("another instance wrote its state back into Redis")
            self._set_role(Role.FOLLOWER)
            if self.replica.reseed:  # the log we followed is gone: wait for the new base
                await asyncio.sleep(poll)
                continue
            entries = await self.log.tail(self.replica.position.id, READ_CHUNK, block_ms=round(poll * 1000))
            # Read after the entries: unchanged, none of them was written under another
            # configuration than the replica's (a leader claims the log before its first write).
            if await self.snapshots.log_term() != self.replica.term:
                raise Resync("the log is written under another configuration now")
            if entries:
                await self.replica.follow(entries)

    async def _lead(self) -> None:
        tasks: list[asyncio.Task[None]] = []
        try:
            await self._take_charge()
            self.writer.queue = asyncio.Queue()
            self.replica.engine.observer = self._context.observer
            self._set_role(Role.LEADER)
            log.info("redis store: leading", extra={"instance": self.instance_id, "lease": self.lease.value})
            tasks = [
                asyncio.create_task(self.lease.keep(), name="acd-store-lease"),
                asyncio.create_task(self.writer.run(), name="acd-store-writer"),
                asyncio.create_task(
                    self.forwarding.serve_inbox(self.writer.submit_forwarded), name="acd-store-inbox"
                ),
            ]
            await self._context.on_role(True)
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            await cancel_and_wait(*tasks)
            await self._step_down()

    async def _take_charge(self) -> None:
        """With the lease just taken: write our state back if Redis lost it, then catch up the log
        (every write of a former leader landed before our lease began: the fencing saw to it)."""
        lease = self.lease.value
        assert lease is not None
        replica = self.replica
        epoch = await self.log.epoch()
        if epoch is None:
            if replica.reseed:
                epoch = await self.snapshots.reseed(replica.engine, replica.position, lease)
                if epoch is None:
                    raise Resync("another instance wrote its state back into Redis")
                log.warning(
                    "redis store: wrote this instance's state back into Redis",
                    extra={"seq": replica.position.seq},
                )
                replica.position = Position(replica.position.seq, "0-0", replica.position.now)
                replica.reseed = False
            else:
                epoch = await self.log.create_epoch()
            replica.epoch = epoch
        elif epoch != replica.epoch:
            raise Resync("the store changed under this instance")
        await replica.catch_up()
        if replica.refit:  # followed under the log's configuration: ours applies from here
            replica.fit()
            self.snapshots.since = max(self.snapshots.since, 1)  # so claim_log snapshots the fit
        await self.snapshots.claim_log(replica.engine, replica.position)
        replica.term = await self.snapshots.log_term()

    async def _step_down(self) -> None:
        was_leading = self.role is Role.LEADER
        if was_leading:
            self._set_role(Role.FOLLOWER)
        self.replica.engine.observer = self._context.replica_observer
        self.writer.fail_queued(
            StoreUnavailable("this instance stopped leading before the write was stored; retry it")
        )
        if was_leading:
            try:
                await self._context.on_role(False)
            except Exception as exc:  # its claims are fenced from now on: it cannot send anything
                log.warning("redis store: the outbox dispatcher did not stop cleanly: %s", exc)
        await self.lease.release()

    async def _final_snapshot(self) -> None:
        await self.snapshots.settle()
        await self.writer.drain(5.0)
        self.writer.maybe_snapshot(force=True)  # no await since the drain: the engine matches the log
        if self.snapshots.task is not None:
            await self.snapshots.task


__all__ = ["RedisStore", "Role"]
