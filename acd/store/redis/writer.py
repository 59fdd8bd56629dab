"""The leader's write path: a group commit, fenced by the lease.

Writes queue up for one writer task, which takes what has gathered (up to `MAX_GROUP_EVENTS`
events): it applies each batch to the engine, `engine.apply(events, now)` validating it first (a
bad batch raises and changes nothing: answered 4xx, never logged), then appends all the group's
entries to the log, with the commands they produced, in ONE Lua script that first checks the
lease is still ours (the fencing check). Only when that script succeeded are the writes
acknowledged. Applying before appending lets each batch be validated against the state the
previous ones left (a call offered just before, a slot just taken) and costs one round trip per
group, not per write. If the append fails (Redis down, or the lease lost), the engine holds
effects that may not be stored: the replica is marked dirty, every write of the group is answered
503, and the error ends the leadership (the role loop reloads before anything else).

Timer ticks go through the same writer and are logged too (with their time), because widening,
callbacks and appointments depend on when the timers fired. A timer already due when a write is
applied fires first (a tick logged before it), whether or not the timer loop has woken for it.
With `ACD_REDIS_MIN_REPLICAS`, `WAIT` follows the append, and a group short of replicas in time is
answered 503 though stored.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from acd.aio import still_running
from acd.engine import EngineError, EventResult
from acd.model import Command
from acd.settings import Settings
from acd.store import StoreUnavailable
from acd.store.outbox_redis import encode_command
from acd.store.redis.forwarding import EVENTS, Forwarding, Request
from acd.store.redis.metrics import StoreMetrics
from acd.store.redis.replica import Replica
from acd.store.redis.snapshots import Snapshots
from acd.store.redis_log import APPLY, TICK, LogEntry, RedisLog
from acd.store.snapshot import Position

log = logging.getLogger("acd.store")

MAX_GROUP_EVENTS = 2000  # events per group commit

Outcome = tuple[list[EventResult], list[Command]]


class Write:
    __slots__ = ("events", "forwarded", "future", "kind")

    def __init__(
        self,
        kind: str,
        events: list[Any] | None = None,
        *,
        forwarded: Request | None = None,
        future: asyncio.Future[Outcome] | None = None,
    ) -> None:
        self.kind = kind  # APPLY | TICK
        self.events = events
        self.forwarded = forwarded  # a follower's write
        self.future = future  # a local write's waiter


class Writer:
    def __init__(
        self,
        *,
        log: RedisLog,
        settings: Settings,
        metrics: StoreMetrics,
        now: Callable[[], float],
        lease: Callable[[], str | None],
        replica: Replica,
        forwarding: Forwarding,
        snapshots: Snapshots,
        persisted: Callable[[list[Command]], None],
        applied: Callable[[list[Command]], None],
    ) -> None:
        self._log = log
        self._settings = settings
        self._metrics = metrics
        self._now = now
        self._lease = lease
        self._replica = replica
        self._forwarding = forwarding
        self._snapshots = snapshots
        self._persisted = persisted  # the commands were stored with their log entries
        self._applied = applied  # a group was applied and stored: its forwarded writes' commands
        self.queue: asyncio.Queue[Write] = asyncio.Queue()
        self.writing = False
        self._short_warned_at = 0.0
        self._short_since_warning = 0

    def submit(self, kind: str, events: list[Any] | None = None) -> asyncio.Future[Outcome]:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(Write(kind, events, future=future))
        return future

    def submit_forwarded(self, events: list[Any], request: Request) -> None:
        self.queue.put_nowait(Write(APPLY, events, forwarded=request))

    async def run(self) -> None:
        queue = self.queue
        while True:
            still_running()
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                async with asyncio.timeout(max(self._snapshots.due_in(), 0.05)):
                    first = await queue.get()
            except TimeoutError:
                self.maybe_snapshot()
                continue
            group, size = [first], len(first.events or ())
            while not queue.empty() and size < MAX_GROUP_EVENTS:
                write = queue.get_nowait()
                group.append(write)
                size += len(write.events or ())
            self.writing = True
            try:
                await self._write(group)
            finally:
                self.writing = False
            self.maybe_snapshot()

    def maybe_snapshot(self, *, force: bool = False) -> None:
        """Between groups the engine matches the log exactly: the moment for a snapshot."""
        if not self.writing:
            self._snapshots.maybe(self._replica.engine, self._replica.position, force=force)

    async def drain(self, timeout: float) -> None:
        """Wait (up to `timeout`) until every queued write is written."""
        deadline = time.monotonic() + timeout
        while (self.writing or not self.queue.empty()) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    def fail_queued(self, error: EngineError) -> None:
        while not self.queue.empty():
            self._fail(self.queue.get_nowait(), error)

    async def _write(self, group: list[Write]) -> None:
        replica, forwarding = self._replica, self._forwarding
        engine = replica.engine
        position = replica.position
        entries: list[LogEntry] = []
        done: list[tuple[Write, list[EventResult], list[Command]]] = []
        commands: list[Command] = []
        started = time.perf_counter()
        try:
            for write in group:
                request = write.forwarded
                if request is not None and (forwarding.logged(request.id) or request.deadline < time.time()):
                    continue  # logged already, or its follower gave up on it
                now = max(self._now(), position.now)  # the log's time never runs backwards
                if write.kind != TICK and (due := engine.next_wakeup()) is not None and due <= now:
                    # A timer came due before this write (the timer loop has not fired it: a new
                    # leader's first writes, forwarded while nobody led, or a busy loop): it fires
                    # first, logged as a tick of its own, so the log follows the clock (a reminder
                    # before the move that disarms it) and every replica replays that order.
                    fired = engine.tick(now)
                    position = Position(position.seq + 1, position.id, now)
                    entries.append(LogEntry("", position.seq, now, TICK, None, None))
                    done.append((Write(TICK), [], fired))
                    commands += fired
                try:
                    if write.kind == TICK:
                        results, produced = [], engine.tick(now)
                    else:
                        results, produced = engine.apply(write.events or [], now)
                except EngineError as exc:  # a bad batch: nothing applied, nothing logged
                    self._fail(write, exc)
                    continue
                if write.kind == TICK:
                    raw = None
                else:
                    raw = request.raw if request is not None else EVENTS.dump_json(write.events)
                position = Position(position.seq + 1, position.id, now)
                digests = None if write.kind == TICK else engine.digests_of(write.events or [])
                entries.append(
                    LogEntry("", position.seq, now, write.kind, raw, request and request.id, digests)
                )
                done.append((write, results, produced))
                commands += produced
            if not entries:
                return
            ids, replicated = await self._append(entries, [(c.id, encode_command(c)) for c in commands])
        except BaseException as exc:
            # The engine may hold effects the log does not: rebuild it before anything else.
            log.warning("redis store: a write was not confirmed: %s: %s", type(exc).__name__, exc)
            replica.dirty = True
            error = StoreUnavailable(
                "the state store did not confirm the write; it may not be stored: retry it"
            )
            for write in group:
                self._fail(write, error)
            raise
        self._metrics.append.observe(time.perf_counter() - started)
        replica.moved_to(Position(position.seq, ids[-1], position.now))
        self._snapshots.since += len(entries)
        if commands:
            self._persisted(commands)
        if replicated:
            self._acknowledge(done)
        else:
            self._refuse_unreplicated(done)
        self._applied([c for write, _, produced in done if write.future is None for c in produced])

    async def _append(
        self, entries: list[LogEntry], commands: list[tuple[str, str]]
    ) -> tuple[list[str], bool]:
        """Append a group (fenced); with ACD_REDIS_MIN_REPLICAS, then wait for that many replicas
        to have it. Returns the stream ids and whether the replicas confirmed in time."""
        lease = self._lease()
        assert lease is not None
        wanted = self._settings.redis_min_replicas
        if not wanted:
            return await self._log.append(lease, entries, commands), True
        ids, replicas = await self._log.append_replicated(
            lease, entries, commands, wanted, self._settings.redis_replica_timeout_ms
        )
        self._metrics.replicas.set(replicas)
        return ids, replicas >= wanted

    def _acknowledge(self, done: list[tuple[Write, list[EventResult], list[Command]]]) -> None:
        forwarding = self._forwarding
        confirm: dict[str, list[str]] = {}
        for write, results, produced in done:
            request = write.forwarded
            if request is not None:
                forwarding.remember(request.id)
                forwarding.answer(request.id, results, confirmed=True)
                if self._settings.redis_min_replicas:
                    confirm.setdefault(request.reply_to, []).append(request.id)
            if write.future is not None and not write.future.done():
                write.future.set_result((results, produced))
        for channel, requests in confirm.items():  # the followers answer on this word
            forwarding.confirm(channel, requests)

    def _refuse_unreplicated(self, done: list[tuple[Write, list[EventResult], list[Command]]]) -> None:
        """The group is applied and stored on the primary, but too few replicas have it: a
        failover now would lose it, so it is not acknowledged (503; a retry is safe: it answers
        `duplicate` with the first decision, or applies afresh if a failover lost the write)."""
        wanted = self._settings.redis_min_replicas
        timeout_ms = self._settings.redis_replica_timeout_ms
        self._metrics.unreplicated.inc(len(done))
        self._short_since_warning += len(done)
        if time.monotonic() - self._short_warned_at >= 10.0:
            log.warning(
                "redis store: fewer than %d replicas confirmed %d log entries within %d ms; "
                "they are stored on the primary but answered 503",
                wanted,
                self._short_since_warning,
                timeout_ms,
                extra={"replicas_wanted": wanted},
            )
            self._short_warned_at, self._short_since_warning = time.monotonic(), 0
        error = StoreUnavailable(
            f"the write is stored on the primary, but fewer than {wanted} replicas confirmed it "
            f"within {timeout_ms} ms; retry it (the event ids make a retry safe)",
            {"replicas_wanted": wanted},
        )
        for write, _, _ in done:
            if write.forwarded is not None:
                self._forwarding.remember(write.forwarded.id)
            self._fail(write, error)

    def _fail(self, write: Write, error: EngineError) -> None:
        if write.future is not None:
            if not write.future.done():
                write.future.set_exception(error)
            return
        request = write.forwarded
        if request is None:
            return
        # forwarded by this very instance before it took the lease: fail its waiter; else tell the follower
        if not self._forwarding.fail(request.id, error):
            self._forwarding.refuse(request.reply_to, request.id, error)
