"""The Redis store: every write logged before it is acknowledged, one leader, replicas that follow.

Roles. Each instance keeps a replica of the engine. One instance holds the lease (`SET NX PX` with a
fencing token, renewed every third of its TTL) and is the leader: it alone applies writes, fires the
timers and sends the outbound commands. The others are followers: they tail the log to keep their
replica in step (so reads are served locally and a takeover needs no reload), forward their writes
to the leader through the inbox, and try to take the lease whenever it lapses.

The write path (leader). Writes queue up for one writer task, which takes what has gathered (a
group commit): it applies each batch to the engine, `engine.apply(events, now)` validating it
first (a bad batch raises and changes nothing: answered 4xx, never logged), then appends all the
group's entries to the log, with the commands they produced, in ONE Lua script that first checks
the lease is still ours (the fencing check). Only when that script succeeded are the writes
acknowledged. Applying before appending lets each batch be validated against the state the
previous ones left (a call offered just before, a slot just taken) and costs one round trip per
group, not per write. If the append fails (Redis down, or the lease lost), the engine holds
effects that may not be stored: it is marked dirty, every write of the group is answered 503, the
leader steps down and rebuilds its engine from the snapshot and the log before anything else.

Timer ticks go through the same writer and are logged too (with their time), because widening,
callbacks and appointments depend on when the timers fired: replaying the events alone would not
reproduce the state.

Recovery. Load the snapshot (if any), replay the log entries after it in order, each at its
recorded `now`: `engine.apply(events, now)` or `engine.tick(now)`. Entries carry a gapless sequence
number, so a replica that missed trimmed entries notices and reloads the snapshot.

Forwarding. A follower adds the write to the inbox stream with a request id and a deadline; the
leader applies it like its own and logs the request id with the entry. The follower sees that
entry when it applies it to its own replica, and answers with the results it computed itself (the
same: the engine is deterministic), once its replica includes the write. A refused write comes
back on the follower's reply channel (pub/sub). No answer within the forward timeout: 503.

Replicas (ACD_REDIS_MIN_REPLICAS > 0): the append is followed by `WAIT` on the same connection, and
the group is answered only if enough replicas confirmed in time; otherwise it answers 503 though it
stays applied and stored (a failover could lose it; the retry is safe), and a forwarded write is
answered by its follower only on the leader's word that the replicas have it. Sentinel: the client
asks the sentinels for the master on each new connection; after a failover, the write that fails
on the demoted master sends this instance through the usual reload.

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
from collections.abc import Iterator
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Gauge, Histogram
from pydantic import TypeAdapter, ValidationError
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from acd import __version__
from acd.engine import Engine, EngineError, EventResult
from acd.events import AnyEvent
from acd.model import Command
from acd.store import StoreUnavailable
from acd.store import snapshot as snap
from acd.store.outbox_redis import RedisOutboxStore, encode_command
from acd.store.redis_log import APPLY, TICK, Fenced, LogEntry, RedisLog
from acd.store.snapshot import Position

if TYPE_CHECKING:
    from acd.service import Service
    from acd.settings import Settings

log = logging.getLogger("acd.store")

EVENTS: TypeAdapter[list[Any]] = TypeAdapter(list[AnyEvent])
_decode_events = EVENTS.validator.validate_json  # the replay's decoder: no per-call wrapping
MAX_GROUP_EVENTS = 2000  # events per group commit
READ_CHUNK = 2000  # log entries per read
YIELD_EVERY_S = 0.005  # a long replay lets the loop run (reads, pings) this often
RETRY_MAX_S = 2.0
SOCKET_TIMEOUTS = {"socket_timeout": 5.0, "socket_connect_timeout": 2.0}
_REDIS_DOWN = (RedisError, OSError, TimeoutError)


def _still_running() -> None:
    """Raise the cancellation a library swallowed. Python 3.11's `wait_for` (which redis-py uses
    when it connects) can swallow a `cancel()` that lands as its inner call completes; the task
    stays marked as cancelling, and a `while True` loop would otherwise never end."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Role(StrEnum):
    STARTING = "starting"  # not loaded yet
    FOLLOWER = "follower"
    LEADER = "leader"
    DOWN = "down"  # Redis unreachable (or the state cannot be loaded)


class _Resync(Exception):
    """The replica must be reloaded from the snapshot (a gap in the log, a new store epoch)."""


class _LeaseLost(Exception):
    pass


class _Write:
    __slots__ = ("deadline", "events", "future", "kind", "raw", "reply_to", "request")

    def __init__(
        self,
        kind: str,
        events: list[Any] | None = None,
        *,
        raw: bytes | None = None,
        request: str | None = None,
        reply_to: str | None = None,
        deadline: float | None = None,
        future: asyncio.Future[list[EventResult]] | None = None,
    ) -> None:
        self.kind = kind
        self.events = events
        self.raw = raw  # the events as JSON, as forwarded
        self.request = request  # a forwarded write's request id
        self.reply_to = reply_to
        self.deadline = deadline  # wall clock: past it, the follower has given up
        self.future = future  # a local write's waiter


def connect(url: str) -> Redis:
    """A client that never retries by itself: a write retried after a lost answer could be
    applied twice; the store decides what to retry."""
    return Redis.from_url(url, retry=Retry(NoBackoff(), 0), **SOCKET_TIMEOUTS)


def connect_sentinel(settings: Settings) -> tuple[Redis, Sentinel]:
    """A client of the master the sentinels name, the same as `connect`'s otherwise. It asks the
    sentinels for the master's address whenever it opens a connection, and a connection to a
    master demoted by a failover fails (READONLY) and is dropped: the store's reconnection after
    any Redis error (`_drop_connections`) then finds the new master by itself."""
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


class RedisStore:
    def __init__(self, service: Service, client: Redis | None = None) -> None:
        settings = service.settings
        assert settings.redis_enabled, "RedisStore needs ACD_REDIS_URL or ACD_REDIS_SENTINELS"
        self._service = service
        self._settings = settings
        self.instance_id = (
            settings.instance_id or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        )
        self._sentinel: Sentinel | None = None
        if client is not None:
            self.client = client
        elif settings.redis_sentinels:
            self.client, self._sentinel = connect_sentinel(settings)
        else:
            assert settings.redis_url is not None
            self.client = connect(settings.redis_url)
        self.log = RedisLog(self.client, settings.redis_prefix)
        self.outbox_store = RedisOutboxStore(
            self.client,
            settings.redis_prefix,
            lease=lambda: self._lease,
            delivered_ttl_s=settings.redis_delivered_ttl_s,
            lease_key=self.log.lease_key,
        )
        self.metrics = StoreMetrics(service.registry)
        self._fingerprint = snap.config_fingerprint(service.config)
        self._ttl = settings.redis_lease_ttl_s
        self._reply_channel = self.log.reply_channel(self.instance_id)

        self.role = Role.STARTING
        self.position = Position()  # the last log entry the engine has applied
        self._dirty = True  # the engine may hold effects the log does not: reload before use
        self._epoch: str | None = None
        self._reseed = False
        self._lease: str | None = None
        self._lease_valid_until = 0.0  # monotonic

        self._queue: asyncio.Queue[_Write] = asyncio.Queue()
        self._writing = False
        self._forwards: dict[str, asyncio.Future[list[EventResult]]] = {}
        # With ACD_REDIS_MIN_REPLICAS, a forwarded write is answered once both have come: the
        # results this replica computed and the leader's word that the replicas have the entry.
        self._replayed: dict[str, list[EventResult]] = {}
        self._confirmed: set[str] = set()
        self._short_warned_at = 0.0
        self._short_since_warning = 0
        self._recent: OrderedDict[str, None] = OrderedDict()  # request ids seen in the log
        self._since_snapshot = 0
        self._snapshot_at = time.monotonic()
        self._snapshot_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._main: asyncio.Task[None] | None = None
        self._replies: asyncio.Task[None] | None = None
        self._settled = asyncio.Event()
        self._stopping = False

    # ------------------------------------------------------------------ the Store protocol

    @property
    def leading(self) -> bool:
        return self.role is Role.LEADER

    async def start(self) -> None:
        if self._settings.router == "numba":
            # Compile the kernels now: a first call compiling while this instance holds the lease
            # would stall the loop past the lease's renewal.
            from acd.routing import warm_up

            warm_up()
        self._replies = asyncio.create_task(self._listen_replies(), name="acd-store-replies")
        self._main = asyncio.create_task(self._run(), name="acd-store")
        # Serve only once the state is loaded (or Redis found unreachable: then readyz says 503).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(120.0):
                await self._settled.wait()

    async def stop(self) -> None:
        self._stopping = True
        if self.role is Role.LEADER:
            await self._drain(5.0)
            with contextlib.suppress(Exception):
                async with asyncio.timeout(60.0):
                    await self._final_snapshot()
        for task in (self._main, self._replies, self._snapshot_task, *self._background):
            if task is not None:
                task.cancel()
        await asyncio.gather(
            *(t for t in (self._main, self._replies, self._snapshot_task, *self._background) if t),
            return_exceptions=True,
        )
        self._fail_forwards(StoreUnavailable("the service is stopping"))
        await self.client.aclose()
        for sentinel in self._sentinel.sentinels if self._sentinel is not None else ():
            await sentinel.aclose()

    async def ready(self) -> bool:
        if self.role not in (Role.LEADER, Role.FOLLOWER):
            return False
        try:
            async with asyncio.timeout(1.0):
                await self.client.ping()
        except (*_REDIS_DOWN, asyncio.CancelledError):
            return False
        return True

    async def apply(self, events: list[Any]) -> tuple[list[EventResult], list[Command]]:
        if self._stopping:
            raise StoreUnavailable("the service is stopping; retry on another instance")
        if self.role is Role.LEADER:
            future: asyncio.Future[list[EventResult]] = asyncio.get_running_loop().create_future()
            self._queue.put_nowait(_Write(APPLY, events, future=future))
            return await future, []
        if self.role is Role.FOLLOWER:
            return await self._forward(events), []
        raise StoreUnavailable("the state store is unreachable", {"role": str(self.role)})

    async def tick(self, now: float) -> list[Command]:
        if self.role is not Role.LEADER:
            return []
        future: asyncio.Future[list[EventResult]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Write(TICK, future=future))
        with contextlib.suppress(StoreUnavailable):  # leadership lost meanwhile: the next leader ticks
            await future
        return []

    # ------------------------------------------------------------------ the role loop

    async def _run(self) -> None:
        delay = 0.1
        while True:
            _still_running()
            try:
                await self._resync()
                await self._follow()
                await self._lead()
                delay = 0.1
            except asyncio.CancelledError:
                raise
            except _Resync as exc:
                log.info("redis store: reloading the state: %s", exc)
                self._dirty = True
            except _LeaseLost as exc:
                log.warning("redis store: stepped down: %s", exc)
            except Exception as exc:
                down = isinstance(exc, (*_REDIS_DOWN, Fenced, snap.SnapshotError))
                if down:
                    log.warning("redis store: %s: %s; retrying in %.1f s", type(exc).__name__, exc, delay)
                    if isinstance(exc, _REDIS_DOWN):
                        await self._drop_connections()
                else:
                    log.exception("redis store: unexpected failure; retrying in %.1f s", delay)
                self._set_role(Role.DOWN)
                self._settled.set()
                await asyncio.sleep(delay)
                delay = min(RETRY_MAX_S, delay * 2)

    async def _drop_connections(self) -> None:
        """Close every pooled connection: after Redis restarted, a connection kept from before
        fails on its next command, and the client retries nothing by itself."""
        with contextlib.suppress(Exception):
            await self.client.connection_pool.disconnect()

    def _set_role(self, role: Role) -> None:
        if role is self.role:
            return
        log.info("redis store: %s -> %s", self.role, role, extra={"instance": self.instance_id})
        self.role = role
        self.metrics.leader.set(1 if role is Role.LEADER else 0)
        if role in (Role.LEADER, Role.FOLLOWER):
            self._settled.set()
        self._service.wake()

    async def _resync(self) -> None:
        """Make sure the replica matches the store: reload it when it is dirty, or when Redis was
        emptied or replaced under it."""
        epoch = await self.log.epoch()
        if epoch is None and self._epoch is not None and self.position.seq > 0:
            if not self._reseed:
                log.error(
                    "redis store: Redis lost the ACD state (restarted without persistence?); this "
                    "instance will write its own state back if it takes the lease"
                )
            self._reseed = True
            return
        self._reseed = False
        if self._dirty or epoch != self._epoch:
            await self._reload()
        self._epoch = epoch

    async def _reload(self) -> None:
        started = time.perf_counter()
        service = self._service
        stored = await self.log.load_snapshot()
        if stored is None:
            engine = Engine(service.config, router=self._settings.router)
            position = Position()
        else:
            header = snap.read_header(stored.header)
            if header.get("acd") != __version__ or header.get("config") != self._fingerprint:
                log.warning(
                    "redis store: the snapshot was made by acd %s (format %s) under another configuration "
                    "or version (fingerprint %s, ours %s): its state is restored under the current "
                    "config/, which applies (what changed is logged by acd.engine.state)",
                    header.get("acd"),
                    header.get("format"),
                    header.get("config"),
                    self._fingerprint,
                )
            engine = snap.decode(stored.data, header, config=service.config, router=self._settings.router)
            position = Position(stored.seq, stored.id, float(header.get("now", 0.0)))
        answered: list[tuple[str, list[EventResult]]] = []
        engine.observer = service.replica_observer  # records of replayed contacts are queued again
        position, entries = await self._catch_up(engine, position, answered)
        engine.observer = service.replica_observer
        service.engine = engine
        self.position = position
        self._dirty = False
        self._since_snapshot = entries
        self.metrics.position.set(position.seq)
        for request, results in answered:
            self._answer(request, results)
        service.wake()
        log.info(
            "redis store: state loaded",
            extra={
                "snapshot_seq": stored.seq if stored else 0,
                "replayed": entries,
                "seq": position.seq,
                "seconds": round(time.perf_counter() - started, 3),
            },
        )

    async def _catch_up(
        self,
        engine: Engine,
        position: Position,
        answered: list[tuple[str, list[EventResult]]] | None = None,
    ) -> tuple[Position, int]:
        """Replay every log entry after `position` (see `_replay`); returns the new position and
        how many entries were read. The next chunk is read while this one is applied, so Redis
        and the network work while the engine does."""
        count = 0
        batch = await self.log.read(position.id, READ_CHUNK)
        with _collector_paused() if len(batch) == READ_CHUNK else contextlib.nullcontext():
            while batch:
                ahead = asyncio.ensure_future(self.log.read(batch[-1].id, READ_CHUNK))
                try:
                    position = await self._replay(engine, batch, position, answered)
                except BaseException:
                    ahead.cancel()
                    ahead.add_done_callback(_retrieve)
                    raise
                count += len(batch)
                batch = await ahead
        return position, count

    async def _replay(
        self,
        engine: Engine,
        entries: list[LogEntry],
        position: Position,
        answered: list[tuple[str, list[EventResult]]] | None = None,
    ) -> Position:
        """Apply log entries to `engine` from `position`; returns the new position. Forwarded
        requests found are answered at once (`answered` None: the live replica, whose position
        moves with each entry) or collected.

        Each entry is applied `trusted`: it was validated against this very state when it was
        first applied (a refused batch is never logged) and the engine is deterministic, so the
        reference checks would pass again; skipping them is about a third of the engine's time.
        The events are decoded by the validator itself, without the adapter's per-call wrapping.
        """
        live = answered is None
        decode = _decode_events
        seq, entry_id, now = position.seq, position.id, position.now
        yield_at = time.perf_counter() + YIELD_EVERY_S
        for entry in entries:
            if entry.seq <= seq:
                continue
            if entry.seq != seq + 1:
                raise _Resync(f"gap in the log: entry {entry.seq} follows {seq}")
            results: list[EventResult] = []
            if entry.kind == TICK:
                engine.tick(entry.now)
            else:
                try:
                    results = snap.apply_logged(engine, decode(entry.events or b"[]"), entry.now)
                except (EngineError, ValidationError) as exc:  # determinism broken: say so loudly
                    log.error("redis store: log entry %d no longer applies (%s); skipped", entry.seq, exc)
            seq, entry_id, now = entry.seq, entry.id, entry.now
            if live:
                self.position = Position(seq, entry_id, now)
            if entry.request is not None:
                self._remember(entry.request)
                if live:
                    self._answer(entry.request, results)
                else:
                    answered.append((entry.request, results))  # type: ignore[union-attr]
            if time.perf_counter() >= yield_at:
                await asyncio.sleep(0)
                yield_at = time.perf_counter() + YIELD_EVERY_S
        if live:
            self.metrics.position.set(seq)
        return Position(seq, entry_id, now)

    # ------------------------------------------------------------------ follower

    async def _follow(self) -> None:
        """Keep the replica in step until this instance takes the lease."""
        poll = min(0.5, self._ttl / 4)
        next_try = 0.0
        while True:
            _still_running()
            if time.monotonic() >= next_try:
                sent = time.monotonic()
                lease = await self.log.acquire(self.instance_id, self._ttl)
                if lease is not None:
                    self._lease, self._lease_valid_until = lease, sent + self._ttl
                    return
                next_try = time.monotonic() + poll
                if self._reseed and await self.log.epoch() is not None:
                    raise _Resync("another instance wrote its state back into Redis")
            self._set_role(Role.FOLLOWER)
            if self._reseed:  # the log we followed is gone: wait for the new base
                await asyncio.sleep(poll)
                continue
            entries = await self.log.tail(self.position.id, READ_CHUNK, block_ms=round(poll * 1000))
            if entries:
                await self._replay(self._service.engine, entries, self.position)

    async def _forward(self, events: list[Any]) -> list[EventResult]:
        request = uuid.uuid4().hex
        future: asyncio.Future[list[EventResult]] = asyncio.get_running_loop().create_future()
        self._forwards[request] = future
        timeout = self._settings.redis_forward_timeout_s
        try:
            async with asyncio.timeout(timeout):
                await self.log.forward(
                    request, self._reply_channel, time.time() + timeout, EVENTS.dump_json(events)
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
            self._forwards.pop(request, None)
            self._replayed.pop(request, None)
            self._confirmed.discard(request)

    def _answer(self, request: str, results: list[EventResult], *, confirmed: bool = False) -> None:
        """A forwarded write's results, as this replica computed them. With
        ACD_REDIS_MIN_REPLICAS the leader must also have confirmed that the replicas have it."""
        future = self._forwards.get(request)
        if future is None or future.done():
            return
        if confirmed or not self._settings.redis_min_replicas or request in self._confirmed:
            future.set_result(results)
        else:
            self._replayed[request] = results

    def _remember(self, request: str) -> None:
        self._recent[request] = None
        if len(self._recent) > 100_000:
            self._recent.popitem(last=False)

    async def _listen_replies(self) -> None:
        """The leader's refusals of this instance's forwarded writes."""
        while True:
            _still_running()
            pubsub = self.client.pubsub()
            try:
                await pubsub.subscribe(self._reply_channel)
                while True:
                    _still_running()
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
            future = self._forwards.get(reply["q"])
        except (ValueError, KeyError, TypeError):
            return
        if future is not None and not future.done():
            future.set_exception(
                EngineError(error["status"], error["code"], error["message"], error.get("details"))
            )

    def _on_confirmed(self, requests: list[str]) -> None:
        """The leader's word that the replicas have these forwarded writes."""
        for request in requests:
            future = self._forwards.get(request)
            if future is None or future.done():
                continue
            if request in self._replayed:
                future.set_result(self._replayed.pop(request))
            else:  # the word came before this replica applied the entry
                self._confirmed.add(request)

    def _fail_forwards(self, error: Exception) -> None:
        for future in self._forwards.values():
            if not future.done():
                future.set_exception(error)

    # ------------------------------------------------------------------ leader

    async def _lead(self) -> None:
        service = self._service
        tasks: list[asyncio.Task[None]] = []
        try:
            await self._take_charge()
            self._queue = asyncio.Queue()
            service.engine.observer = service.observer
            self._set_role(Role.LEADER)
            log.info("redis store: leading", extra={"instance": self.instance_id, "lease": self._lease})
            tasks = [
                asyncio.create_task(self._keep_lease(), name="acd-store-lease"),
                asyncio.create_task(self._write_loop(), name="acd-store-writer"),
                asyncio.create_task(self._serve_inbox(), name="acd-store-inbox"),
            ]
            await service.outbox.start()
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._step_down()

    async def _take_charge(self) -> None:
        """With the lease just taken: write our state back if Redis lost it, then catch up the log
        (every write of a former leader landed before our lease began: the fencing saw to it)."""
        assert self._lease is not None
        epoch = await self.log.epoch()
        if epoch is None:
            if self._reseed:
                data = await snap.Encoding(self._service.engine, fork=False).result()
                header = snap.make_header(
                    Position(self.position.seq, "0-0", self.position.now), self._fingerprint, len(data)
                )
                epoch = await self.log.reseed(self._lease, self.position.seq, header, data)
                if epoch is None:
                    raise _Resync("another instance wrote its state back into Redis")
                log.warning(
                    "redis store: wrote this instance's state back into Redis",
                    extra={"seq": self.position.seq},
                )
                self.position = Position(self.position.seq, "0-0", self.position.now)
                self._reseed = False
                self._since_snapshot = 0
            else:
                epoch = await self.log.create_epoch()
            self._epoch = epoch
        elif epoch != self._epoch:
            raise _Resync("the store changed under this instance")
        await self._catch_up(self._service.engine, self.position)

    async def _step_down(self) -> None:
        service = self._service
        if self.role is Role.LEADER:
            self._set_role(Role.FOLLOWER)
        service.engine.observer = service.replica_observer
        error = StoreUnavailable("this instance stopped leading before the write was stored; retry it")
        while not self._queue.empty():
            self._fail(self._queue.get_nowait(), error)
        try:
            await service.outbox.stop(drain_timeout_s=0.2)
        except Exception as exc:  # its claims are fenced from now on: it cannot send anything
            log.warning("redis store: the outbox dispatcher did not stop cleanly: %s", exc)
        lease, self._lease = self._lease, None
        if lease is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await self.log.release(lease)

    async def _keep_lease(self) -> None:
        period = self._ttl / 3
        while True:
            _still_running()
            await asyncio.sleep(period)
            assert self._lease is not None
            sent = time.monotonic()
            try:
                async with asyncio.timeout(period):
                    held = await self.log.renew(self._lease, self._ttl)
            except _REDIS_DOWN as exc:
                if time.monotonic() + period >= self._lease_valid_until:
                    raise _LeaseLost(f"the lease could not be renewed: {exc}") from None
                continue
            if not held:
                raise _LeaseLost("the lease lapsed and was taken over")
            self._lease_valid_until = sent + self._ttl

    async def _serve_inbox(self) -> None:
        """Queue the writes followers forwarded (those still within their deadline)."""
        horizon_ms = round(self._settings.redis_forward_timeout_s * 1000)
        after = f"{max(0, await self.log.server_time_ms() - horizon_ms)}-0"
        while True:
            _still_running()
            for item in await self.log.inbox(after, 500, block_ms=1000):
                after = item.id
                if item.request in self._recent or time.time() > item.deadline:
                    continue
                try:
                    events = EVENTS.validate_json(item.events)
                except ValidationError as exc:
                    self._publish_error(
                        item.reply_to, item.request, EngineError(422, "invalid_event", str(exc))
                    )
                    continue
                self._queue.put_nowait(
                    _Write(
                        APPLY,
                        events,
                        raw=item.events,
                        request=item.request,
                        reply_to=item.reply_to,
                        deadline=item.deadline,
                    )
                )

    async def _write_loop(self) -> None:
        queue = self._queue
        while True:
            _still_running()
            interval = self._settings.redis_snapshot_interval_s
            wait = self._snapshot_at + interval - time.monotonic() if self._since_snapshot else interval
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                async with asyncio.timeout(max(wait, 0.05)):
                    first = await queue.get()
            except TimeoutError:
                self._maybe_snapshot()
                continue
            group, size = [first], len(first.events or ())
            while not queue.empty() and size < MAX_GROUP_EVENTS:
                write = queue.get_nowait()
                group.append(write)
                size += len(write.events or ())
            self._writing = True
            try:
                await self._write(group)
            finally:
                self._writing = False
            self._maybe_snapshot()

    async def _write(self, group: list[_Write]) -> None:
        service = self._service
        engine = service.engine
        position = self.position
        entries: list[LogEntry] = []
        done: list[tuple[_Write, list[EventResult]]] = []
        commands: list[Command] = []
        started = time.perf_counter()
        try:
            for write in group:
                if write.request is not None and (
                    write.request in self._recent or (write.deadline or 0.0) < time.time()
                ):
                    continue  # logged already, or its follower gave up on it
                now = max(service.clock.now(), position.now)  # the log's time never runs backwards
                try:
                    if write.kind == TICK:
                        results, produced = [], engine.tick(now)
                    else:
                        results, produced = engine.apply(write.events or [], now)
                except EngineError as exc:  # a bad batch: nothing applied, nothing logged
                    self._fail(write, exc)
                    continue
                raw = None if write.kind == TICK else write.raw or EVENTS.dump_json(write.events)
                position = Position(position.seq + 1, position.id, now)
                entries.append(LogEntry("", position.seq, now, write.kind, raw, write.request))
                done.append((write, results))
                commands += produced
            if not entries:
                return
            ids, replicated = await self._append(entries, [(c.id, encode_command(c)) for c in commands])
        except BaseException as exc:
            # The engine may hold effects the log does not: rebuild it before anything else.
            log.warning("redis store: a write was not confirmed: %s: %s", type(exc).__name__, exc)
            self._dirty = True
            error = StoreUnavailable(
                "the state store did not confirm the write; it may not be stored: retry it"
            )
            for write in group:
                self._fail(write, error)
            raise
        self.metrics.append.observe(time.perf_counter() - started)
        self.position = Position(position.seq, ids[-1], position.now)
        self.metrics.position.set(position.seq)
        self._since_snapshot += len(entries)
        if replicated:
            self._acknowledge(done)
        else:
            self._refuse_unreplicated(done)
        if commands:
            self.outbox_store.note_persisted(commands)
            self._spawn(service.outbox.submit(commands))
        service.wake()

    async def _append(
        self, entries: list[LogEntry], commands: list[tuple[str, str]]
    ) -> tuple[list[str], bool]:
        """Append a group (fenced); with ACD_REDIS_MIN_REPLICAS, then wait for that many replicas
        to have it. Returns the stream ids and whether the replicas confirmed in time."""
        assert self._lease is not None
        wanted = self._settings.redis_min_replicas
        if not wanted:
            return await self.log.append(self._lease, entries, commands), True
        ids, replicas = await self.log.append_replicated(
            self._lease, entries, commands, wanted, self._settings.redis_replica_timeout_ms
        )
        self.metrics.replicas.set(replicas)
        return ids, replicas >= wanted

    def _acknowledge(self, done: list[tuple[_Write, list[EventResult]]]) -> None:
        confirm: dict[str, list[str]] = {}
        for write, results in done:
            if write.request is not None:
                self._remember(write.request)
                self._answer(write.request, results, confirmed=True)
                if self._settings.redis_min_replicas and write.reply_to is not None:
                    confirm.setdefault(write.reply_to, []).append(write.request)
            if write.future is not None and not write.future.done():
                write.future.set_result(results)
        for channel, requests in confirm.items():  # the followers answer on this word
            self._spawn(self.log.reply(channel, json.dumps({"ok": requests}).encode()))

    def _refuse_unreplicated(self, done: list[tuple[_Write, list[EventResult]]]) -> None:
        """The group is applied and stored on the primary, but too few replicas have it: a
        failover now would lose it, so it is not acknowledged (503; a retry is safe: it answers
        `duplicate` with the first decision, or applies afresh if a failover lost the write)."""
        wanted = self._settings.redis_min_replicas
        timeout_ms = self._settings.redis_replica_timeout_ms
        self.metrics.unreplicated.inc(len(done))
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
        for write, _ in done:
            if write.request is not None:
                self._remember(write.request)
            self._fail(write, error)

    def _fail(self, write: _Write, error: EngineError) -> None:
        if write.future is not None:
            if not write.future.done():
                write.future.set_exception(error)
            return
        if write.request is None:
            return
        future = self._forwards.get(write.request)
        if future is not None:  # forwarded by this very instance before it took the lease
            if not future.done():
                future.set_exception(error)
        elif write.reply_to is not None:
            self._publish_error(write.reply_to, write.request, error)

    def _publish_error(self, channel: str, request: str, error: EngineError) -> None:
        body = {
            "status": error.status,
            "code": error.code,
            "message": error.message,
            "details": error.details,
        }
        payload = json.dumps({"q": request, "error": body}, default=str).encode()
        self._spawn(self.log.reply(channel, payload))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(_quietly(coro))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _drain(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while (self._writing or not self._queue.empty()) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    # ------------------------------------------------------------------ snapshots

    def _maybe_snapshot(self, *, force: bool = False) -> None:
        """Snapshot the engine as it is now (the writer calls this between groups, when the
        engine matches the log exactly), if enough has been logged since the last one."""
        if self._writing or self._since_snapshot == 0:
            return
        if self._snapshot_task is not None and not self._snapshot_task.done():
            return
        settings = self._settings
        due = (
            force
            or self._since_snapshot >= settings.redis_snapshot_every
            or time.monotonic() - self._snapshot_at >= settings.redis_snapshot_interval_s
        )
        if not due:
            return
        started = time.perf_counter()
        position, covered = self.position, self._since_snapshot
        encoding = snap.Encoding(self._service.engine, fork=settings.redis_snapshot_fork)
        self._since_snapshot = 0
        self._snapshot_at = time.monotonic()
        self._snapshot_task = asyncio.create_task(self._save_snapshot(encoding, position, covered, started))

    async def _save_snapshot(
        self, encoding: snap.Encoding, position: Position, covered: int, started: float
    ) -> None:
        try:
            data = await encoding.result()
            header = snap.make_header(position, self._fingerprint, len(data))
            saved = await self.log.save_snapshot(self._lease or "-", position.seq, position.id, header, data)
        except Exception as exc:
            self._since_snapshot += covered  # try again later
            log.warning("redis store: snapshot failed: %s: %s", type(exc).__name__, exc)
            return
        seconds = time.perf_counter() - started
        if saved:
            self.metrics.snapshots.inc()
            self.metrics.snapshot_seconds.set(seconds)
            self.metrics.snapshot_bytes.set(len(data))
        log.info(
            "redis store: snapshot written" if saved else "redis store: a newer snapshot was there",
            extra={"seq": position.seq, "bytes": len(data), "seconds": round(seconds, 3)},
        )

    async def _final_snapshot(self) -> None:
        if self._snapshot_task is not None:
            with contextlib.suppress(Exception):
                await self._snapshot_task
        await self._drain(5.0)
        self._maybe_snapshot(force=True)  # no await since the drain: the engine matches the log
        if self._snapshot_task is not None:
            await self._snapshot_task


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


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Consume the outcome of a read-ahead nobody awaits any more (no 'never retrieved' warning)."""
    if not task.cancelled():
        task.exception()


async def _quietly(coro: Any) -> None:
    try:
        await coro
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.debug("redis store: background step failed: %s", exc)
