"""The Redis store: every write logged before it is acknowledged, one leader, replicas that follow.

Roles. Each instance keeps a replica of the engine. One instance holds the lease (`SET NX PX` with
a fencing token, renewed every third of its TTL) and is the leader: it alone applies writes, fires
the timers and sends the outbound commands (the service starts its outbox when the store reports
that it leads). The others are followers: they tail the log to keep their replica in step (so
reads are served locally and a takeover needs no reload), forward their writes to the leader
through the inbox, and try to take the lease whenever it lapses.

The protocol, one part per class (to become one module each):

- `lease`       the lease: taken, renewed, given back (or forgotten, by a crash).
- `replica`     the engine this instance keeps, and recovery: the snapshot, then the log after it
                replayed in order, each entry at its recorded engine time; a gap means reload.
- `writer`      the leader's group commit: apply each write, then append the whole group with its
                commands in one script fenced by the lease; acknowledge only after that. A failed
                append marks the replica dirty and ends the leadership (reload first).
- `forwarding`  a follower's write through the inbox, answered from its own replica once it has
                applied the logged entry; refusals come back on the follower's reply channel.
- `snapshots`   when and how the engine is snapshotted, and read back (the one place that encodes
                and decodes it, through `acd.store.snapshot`).
- `store`       `RedisStore`: the Store protocol and the role loop (resync, follow, lead).
- `connection`, `metrics`: the clients (URL or Sentinel) and `acd_store_*`.

Keys, under the prefix (`acd:` by default; the layout and the Lua scripts are in
`acd.store.redis_log`, the outbox's in `acd.store.outbox_redis`):

    log              stream   every input that changed the engine, `<seq> <now> <kind> <request>`
                              then the events as JSON; gapless `seq`
    snapshot         hash     `header` (JSON), `data` (the encoded engine), `seq` and `id` covered
    lease            string   `<instance>/<token>` with a TTL: the leader's lease
    fence            counter  each new lease takes the next token; every write script checks it
    epoch            string   made when the store is first used; gone: Redis lost its data
    inbox            stream   writes forwarded by followers to the leader
    reply:<instance> pub/sub  the leader's refusals and confirmations of forwarded writes
    outbox:*                  the outbox, written in the same script as the log

Replicas (ACD_REDIS_MIN_REPLICAS > 0): the append is followed by `WAIT` on the same connection,
and the group is answered only if enough replicas confirmed in time; otherwise it answers 503
though it stays applied and stored (a failover could lose it; the retry is safe), and a forwarded
write is answered by its follower only on the leader's word that the replicas have it. Sentinel:
the client asks the sentinels for the master on each new connection; after a failover, the write
that fails on the demoted master sends this instance through the usual reload.

Redis outage: writes answer 503, `ready()` is false, and the loop retries until Redis is back.
If Redis comes back empty (restarted without persistence), the first instance to take the lease
writes its own state back as the new base (see docs/redis.md: configure persistence instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import secrets
import socket
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from pydantic import TypeAdapter, ValidationError
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from acd import __version__
from acd.aio import Background, cancel_and_wait, retrieve, still_running
from acd.config import Config
from acd.engine import Engine, EngineError, EventResult
from acd.engine.observer import Observer
from acd.events import AnyEvent
from acd.model import Command
from acd.settings import Settings
from acd.store import StoreContext, StoreUnavailable
from acd.store import snapshot as snap
from acd.store.outbox_redis import RedisOutboxStore, encode_command
from acd.store.redis_log import APPLY, TICK, Fenced, LogEntry, RedisLog
from acd.store.snapshot import Position, SnapshotError

log = logging.getLogger("acd.store")


# ------------------------------------------------------------------ connection

SOCKET_TIMEOUTS = {"socket_timeout": 5.0, "socket_connect_timeout": 2.0}
#: What an unreachable Redis raises.
REDIS_DOWN = (RedisError, OSError, TimeoutError)


def connect(url: str) -> Redis:
    """A client that never retries by itself: a write retried after a lost answer could be
    applied twice; the store decides what to retry."""
    return Redis.from_url(url, retry=Retry(NoBackoff(), 0), **SOCKET_TIMEOUTS)


def connect_sentinel(settings: Settings) -> tuple[Redis, Sentinel]:
    """A client of the master the sentinels name, the same as `connect`'s otherwise. It asks the
    sentinels for the master's address whenever it opens a connection, and a connection to a
    master demoted by a failover fails (READONLY) and is dropped: the store's reconnection after
    any Redis error (`drop_connections`) then finds the new master by itself."""
    sentinel = Sentinel(
        settings.sentinel_addresses,
        sentinel_kwargs={**SOCKET_TIMEOUTS, "password": settings.redis_sentinel_password},
    )
    assert settings.redis_sentinel_master is not None
    client = sentinel.master_for(
        settings.redis_sentinel_master,
        db=settings.redis_db,
        password=settings.redis_password,
        retry=Retry(NoBackoff(), 0),
        **SOCKET_TIMEOUTS,
    )
    return client, sentinel


def connect_settings(settings: Settings) -> tuple[Redis, Sentinel | None]:
    """The client the settings name: through the sentinels, or the URL."""
    if settings.redis_sentinels:
        return connect_sentinel(settings)
    assert settings.redis_url is not None
    return connect(settings.redis_url), None


async def drop_connections(client: Redis) -> None:
    """Close every pooled connection: after Redis restarted, a connection kept from before
    fails on its next command, and the client retries nothing by itself."""
    with contextlib.suppress(Exception):
        await client.connection_pool.disconnect()


async def close(client: Redis, sentinel: Sentinel | None) -> None:
    await client.aclose()
    for server in sentinel.sentinels if sentinel is not None else ():
        await server.aclose()


# ------------------------------------------------------------------ metrics


class StoreMetrics:
    def __init__(self, registry: Any) -> None:
        self.leader = Gauge("acd_store_leader", "1 while this instance holds the lease", registry=registry)
        self.position = Gauge(
            "acd_store_log_seq", "Sequence number of the last log entry applied", registry=registry
        )
        self.append = Histogram(
            "acd_store_append_seconds",
            "Time to append a group of writes to the Redis log",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
            registry=registry,
        )
        self.snapshots = Counter("acd_store_snapshots_total", "Snapshots written", registry=registry)
        self.snapshot_seconds = Gauge(
            "acd_store_snapshot_seconds", "Time the last snapshot took, encoding included", registry=registry
        )
        self.snapshot_bytes = Gauge(
            "acd_store_snapshot_bytes", "Size of the last snapshot", registry=registry
        )
        self.replicas = Gauge(
            "acd_store_replicas_acknowledged",
            "Replicas that confirmed the last group of writes (ACD_REDIS_MIN_REPLICAS > 0)",
            registry=registry,
        )
        self.unreplicated = Counter(
            "acd_store_unreplicated_writes_total",
            "Log entries answered 503 because fewer than ACD_REDIS_MIN_REPLICAS replicas confirmed "
            "them in time (stored on the primary all the same)",
            registry=registry,
        )


# ------------------------------------------------------------------ lease


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
        """Renew the lease every third of its TTL until it is lost: raises `LeaseLost`."""
        period = self.ttl_s / 3
        while True:
            still_running()
            await asyncio.sleep(period)
            assert self.value is not None
            sent = time.monotonic()
            try:
                async with asyncio.timeout(period):
                    held = await self._log.renew(self.value, self.ttl_s)
            except REDIS_DOWN as exc:
                if time.monotonic() + period >= self.valid_until:
                    raise LeaseLost(f"the lease could not be renewed: {exc}") from None
                continue
            if not held:
                raise LeaseLost("the lease lapsed and was taken over")
            self.valid_until = sent + self.ttl_s

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


# ------------------------------------------------------------------ snapshots


@dataclass(frozen=True, slots=True)
class Loaded:
    """A snapshot read back: its engine (None: no snapshot, start empty) and where it stands."""

    engine: Engine | None
    position: Position


class Snapshots:
    def __init__(
        self,
        log: RedisLog,
        config: Config,
        settings: Settings,
        metrics: StoreMetrics,
        lease: Callable[[], str | None],
    ) -> None:
        self._log = log
        self._settings = settings
        self._metrics = metrics
        self._lease = lease
        self.fingerprint = snap.config_fingerprint(config)
        self.since = 0  # log entries written since the last snapshot
        self.taken_at = time.monotonic()
        self.task: asyncio.Task[None] | None = None

    # -- loading

    async def load(self) -> Loaded:
        stored = await self._log.load_snapshot()
        if stored is None:
            return Loaded(None, Position())
        header = snap.read_header(stored.header)
        if header.get("acd") != __version__ or header.get("config") != self.fingerprint:
            log.warning(
                "redis store: the snapshot was made by acd %s with another configuration or version "
                "(fingerprint %s, ours %s): the state it holds, configuration included, is restored",
                header.get("acd"),
                header.get("config"),
                self.fingerprint,
            )
        engine = snap.decode(stored.data)
        return Loaded(engine, Position(stored.seq, stored.id, float(header.get("now", 0.0))))

    # -- writing

    def due_in(self) -> float:
        """Seconds until the interval makes a snapshot due (the writer wakes up for it)."""
        interval = self._settings.redis_snapshot_interval_s
        return self.taken_at + interval - time.monotonic() if self.since else interval

    def maybe(self, engine: Engine, position: Position, *, force: bool = False) -> None:
        """Snapshot `engine`, which must match the log up to `position` exactly, if enough has
        been logged since the last one (or `force`) and no snapshot is being written."""
        if self.since == 0:
            return
        if self.task is not None and not self.task.done():
            return
        settings = self._settings
        due = (
            force
            or self.since >= settings.redis_snapshot_every
            or time.monotonic() - self.taken_at >= settings.redis_snapshot_interval_s
        )
        if not due:
            return
        started = time.perf_counter()
        covered = self.since
        encoding = snap.Encoding(engine, fork=settings.redis_snapshot_fork)
        self.since = 0
        self.taken_at = time.monotonic()
        self.task = asyncio.create_task(self._save(encoding, position, covered, started))

    async def _save(self, encoding: snap.Encoding, position: Position, covered: int, started: float) -> None:
        try:
            data = await encoding.result()
            header = snap.make_header(position, self.fingerprint, len(data))
            saved = await self._log.save_snapshot(
                self._lease() or "-", position.seq, position.id, header, data
            )
        except Exception as exc:
            self.since += covered  # try again later
            log.warning("redis store: snapshot failed: %s: %s", type(exc).__name__, exc)
            return
        seconds = time.perf_counter() - started
        if saved:
            self._metrics.snapshots.inc()
            self._metrics.snapshot_seconds.set(seconds)
            self._metrics.snapshot_bytes.set(len(data))
        log.info(
            "redis store: snapshot written" if saved else "redis store: a newer snapshot was there",
            extra={"seq": position.seq, "bytes": len(data), "seconds": round(seconds, 3)},
        )

    async def settle(self) -> None:
        """Wait for the snapshot being written, if any (its failure is logged, not raised)."""
        if self.task is not None:
            with contextlib.suppress(Exception):
                await self.task

    async def reseed(self, engine: Engine, position: Position, lease: str) -> str | None:
        """Write `engine` back as the store's new base after Redis lost its data (see
        `RedisLog.reseed`); the new epoch, or None if another instance did it first."""
        data = await snap.Encoding(engine, fork=False).result()
        header = snap.make_header(Position(position.seq, "0-0", position.now), self.fingerprint, len(data))
        epoch = await self._log.reseed(lease, position.seq, header, data)
        if epoch is not None:
            self.since = 0
        return epoch


# ------------------------------------------------------------------ forwarding

EVENTS: TypeAdapter[list[Any]] = TypeAdapter(list[AnyEvent])
REMEMBERED = 100_000  # request ids kept to recognise a forwarded write logged already


@dataclass(slots=True)
class Request:
    """A forwarded write as the leader queues it."""

    id: str
    reply_to: str
    deadline: float  # wall clock: past it, the follower has given up
    raw: bytes  # the events as JSON, as forwarded


class Forwarding:
    def __init__(
        self, client: Redis, log: RedisLog, settings: Settings, instance_id: str, background: Background
    ) -> None:
        self._client = client
        self._log = log
        self._settings = settings
        self._background = background
        self.reply_channel = log.reply_channel(instance_id)
        self._waiting: dict[str, asyncio.Future[list[EventResult]]] = {}
        # With ACD_REDIS_MIN_REPLICAS, a forwarded write is answered once both have come: the
        # results this replica computed and the leader's word that the replicas have the entry.
        self._replayed: dict[str, list[EventResult]] = {}
        self._confirmed: set[str] = set()
        self._recent: OrderedDict[str, None] = OrderedDict()  # request ids seen in the log

    # -- the follower's end

    async def forward(self, events: list[Any]) -> list[EventResult]:
        request = uuid.uuid4().hex
        future: asyncio.Future[list[EventResult]] = asyncio.get_running_loop().create_future()
        self._waiting[request] = future
        timeout = self._settings.redis_forward_timeout_s
        try:
            async with asyncio.timeout(timeout):
                await self._log.forward(
                    request, self.reply_channel, time.time() + timeout, EVENTS.dump_json(events)
                )
                return await future
        except TimeoutError:
            raise StoreUnavailable(
                f"the leader did not apply the write within {timeout:g} s; it may still be applied: "
                "retry it (the event ids make a retry safe)"
            ) from None
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"the state store is unreachable: {exc}") from None
        finally:
            self._waiting.pop(request, None)
            self._replayed.pop(request, None)
            self._confirmed.discard(request)

    def answer(self, request: str, results: list[EventResult], *, confirmed: bool = False) -> None:
        """A forwarded write's results, as this replica computed them. With
        ACD_REDIS_MIN_REPLICAS the leader must also have confirmed that the replicas have it."""
        future = self._waiting.get(request)
        if future is None or future.done():
            return
        if confirmed or not self._settings.redis_min_replicas or request in self._confirmed:
            future.set_result(results)
        else:
            self._replayed[request] = results

    def fail(self, request: str, error: Exception) -> bool:
        """Fail this instance's own forwarded write (it took the lease meanwhile); False if it is
        not one of ours."""
        future = self._waiting.get(request)
        if future is None:
            return False
        if not future.done():
            future.set_exception(error)
        return True

    def fail_all(self, error: Exception) -> None:
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(error)

    async def listen(self) -> None:
        """The leader's refusals and confirmations of this instance's forwarded writes."""
        while True:
            still_running()
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(self.reply_channel)
                while True:
                    still_running()
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._on_reply(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("redis store: reply channel: %s", exc)
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _on_reply(self, data: bytes) -> None:
        try:
            reply = json.loads(data)
            if "ok" in reply:
                self._on_confirmed(reply["ok"])
                return
            error = reply["error"]
            future = self._waiting.get(reply["q"])
        except (ValueError, KeyError, TypeError):
            return
        if future is not None and not future.done():
            future.set_exception(
                EngineError(error["status"], error["code"], error["message"], error.get("details"))
            )

    def _on_confirmed(self, requests: list[str]) -> None:
        """The leader's word that the replicas have these forwarded writes."""
        for request in requests:
            future = self._waiting.get(request)
            if future is None or future.done():
                continue
            if request in self._replayed:
                future.set_result(self._replayed.pop(request))
            else:  # the word came before this replica applied the entry
                self._confirmed.add(request)

    # -- the log's memory of forwarded writes

    def remember(self, request: str) -> None:
        self._recent[request] = None
        if len(self._recent) > REMEMBERED:
            self._recent.popitem(last=False)

    def logged(self, request: str) -> bool:
        return request in self._recent

    # -- the leader's end

    async def serve_inbox(self, queue: Callable[[list[Any], Request], None]) -> None:
        """Queue the writes followers forwarded (those still within their deadline)."""
        horizon_ms = round(self._settings.redis_forward_timeout_s * 1000)
        after = f"{max(0, await self._log.server_time_ms() - horizon_ms)}-0"
        while True:
            still_running()
            for item in await self._log.inbox(after, 500, block_ms=1000):
                after = item.id
                if item.request in self._recent or time.time() > item.deadline:
                    continue
                try:
                    events = EVENTS.validate_json(item.events)
                except ValidationError as exc:
                    self.refuse(item.reply_to, item.request, EngineError(422, "invalid_event", str(exc)))
                    continue
                queue(events, Request(item.request, item.reply_to, item.deadline, item.events))

    def refuse(self, channel: str, request: str, error: EngineError) -> None:
        body = {
            "status": error.status,
            "code": error.code,
            "message": error.message,
            "details": error.details,
        }
        payload = json.dumps({"q": request, "error": body}, default=str).encode()
        self._background.spawn(self._log.reply(channel, payload))

    def confirm(self, channel: str, requests: list[str]) -> None:
        """Tell a follower the replicas have these writes of its (ACD_REDIS_MIN_REPLICAS)."""
        self._background.spawn(self._log.reply(channel, json.dumps({"ok": requests}).encode()))


# ------------------------------------------------------------------ replica

READ_CHUNK = 2000  # log entries per read
YIELD_EVERY_S = 0.005  # a long replay lets the loop run (reads, pings) this often
_decode_events = EVENTS.validator.validate_json  # the replay's decoder: no per-call wrapping

#: A forwarded write met in the log: its request id and the results this replica computed.
Answered = Callable[[str, list[EventResult]], None]


class Resync(Exception):
    """The replica must be reloaded from the snapshot (a gap in the log, a new store epoch)."""


class Replica:
    def __init__(
        self,
        *,
        log: RedisLog,
        snapshots: Snapshots,
        metrics: StoreMetrics,
        new_engine: Callable[[], Engine],
        observer: Observer,
        answered: Answered,
    ) -> None:
        self._log = log
        self._snapshots = snapshots
        self._metrics = metrics
        self._new_engine = new_engine
        self._observer = observer  # what observes the engine while it is a replica
        self._answered = answered
        self.engine = new_engine()
        self.engine.observer = observer
        self.position = Position()  # the last log entry the engine has applied
        self.dirty = True  # the engine may hold effects the log does not: reload before use
        self.epoch: str | None = None  # the store's epoch the replica follows
        self.reseed = False  # Redis lost the state: this replica is the best copy left

    def moved_to(self, position: Position) -> None:
        self.position = position
        self._metrics.position.set(position.seq)

    async def resync(self) -> None:
        """Make sure the replica matches the store: reload it when it is dirty, or when Redis was
        emptied or replaced under it."""
        epoch = await self._log.epoch()
        if epoch is None and self.epoch is not None and self.position.seq > 0:
            if not self.reseed:
                log.error(
                    "redis store: Redis lost the ACD state (restarted without persistence?); this "
                    "instance will write its own state back if it takes the lease"
                )
            self.reseed = True
            return
        self.reseed = False
        if self.dirty or epoch != self.epoch:
            await self.reload()
        self.epoch = epoch

    async def reload(self) -> None:
        """Rebuild the engine from the snapshot and the log after it; the forwarded writes met
        are answered once the whole replay is done."""
        started = time.perf_counter()
        loaded = await self._snapshots.load()
        engine = loaded.engine if loaded.engine is not None else self._new_engine()
        answered: list[tuple[str, list[EventResult]]] = []
        engine.observer = self._observer  # records of replayed contacts are queued again
        position, entries = await self.catch_up(engine, loaded.position, answered)
        self.engine = engine
        self.moved_to(position)
        self.dirty = False
        self._snapshots.since = entries
        for request, results in answered:
            self._answered(request, results)
        log.info(
            "redis store: state loaded",
            extra={
                "snapshot_seq": loaded.position.seq,
                "replayed": entries,
                "seq": position.seq,
                "seconds": round(time.perf_counter() - started, 3),
            },
        )

    async def catch_up(
        self,
        engine: Engine | None = None,
        position: Position | None = None,
        answered: list[tuple[str, list[EventResult]]] | None = None,
    ) -> tuple[Position, int]:
        """Replay every log entry after `position` into `engine` (by default the replica's own,
        from where it stands); returns the new position and how many entries were read. The next
        chunk is read while this one is applied, so Redis and the network work while the engine
        does."""
        engine = self.engine if engine is None else engine
        position = self.position if position is None else position
        count = 0
        batch = await self._log.read(position.id, READ_CHUNK)
        with _collector_paused() if len(batch) == READ_CHUNK else contextlib.nullcontext():
            while batch:
                ahead = asyncio.ensure_future(self._log.read(batch[-1].id, READ_CHUNK))
                try:
                    position = await self.replay(engine, batch, position, answered)
                except BaseException:
                    ahead.cancel()
                    ahead.add_done_callback(retrieve)
                    raise
                count += len(batch)
                batch = await ahead
        return position, count

    async def follow(self, entries: list[LogEntry]) -> None:
        """Apply entries the log grew by to the live replica."""
        await self.replay(self.engine, entries, self.position)

    async def replay(
        self,
        engine: Engine,
        entries: list[LogEntry],
        position: Position,
        answered: list[tuple[str, list[EventResult]]] | None = None,
    ) -> Position:
        """Apply log entries to `engine` from `position`; returns the new position. Forwarded
        requests met are answered at once (`answered` None: the live replica, whose position
        moves with each entry) or collected."""
        live = answered is None
        decode = _decode_events
        seq, entry_id, now = position.seq, position.id, position.now
        yield_at = time.perf_counter() + YIELD_EVERY_S
        for entry in entries:
            if entry.seq <= seq:
                continue
            if entry.seq != seq + 1:
                raise Resync(f"gap in the log: entry {entry.seq} follows {seq}")
            results: list[EventResult] = []
            if entry.kind == TICK:
                engine.tick(entry.now)
            else:
                try:
                    results, _ = engine.apply(decode(entry.events or b"[]"), entry.now, trusted=True)
                except (EngineError, ValidationError) as exc:  # determinism broken: say so loudly
                    log.error("redis store: log entry %d no longer applies (%s); skipped", entry.seq, exc)
            seq, entry_id, now = entry.seq, entry.id, entry.now
            if live:
                self.position = Position(seq, entry_id, now)
            if entry.request is not None:
                if live:
                    self._answered(entry.request, results)
                else:
                    answered.append((entry.request, results))  # type: ignore[union-attr]
            if time.perf_counter() >= yield_at:
                await asyncio.sleep(0)
                yield_at = time.perf_counter() + YIELD_EVERY_S
        if live:
            self._metrics.position.set(seq)
        return Position(seq, entry_id, now)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection during a long replay: the replay allocates the state it
    rebuilds, object after object that survives, and each collection would walk all of it again
    for nothing (the engine makes next to no cycles). Collected as usual right after."""
    if not gc.isenabled():  # someone else paused it: theirs to resume
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# ------------------------------------------------------------------ writer

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
                entries.append(LogEntry("", position.seq, now, write.kind, raw, request and request.id))
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


# ------------------------------------------------------------------ store

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
        self.snapshots = Snapshots(self.log, context.config, settings, self.metrics, lambda: self.lease.value)
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


__all__ = ["RedisStore", "Role", "StoreMetrics", "connect", "connect_sentinel"]
