"""The replica: the engine this instance keeps, where it stands in the log, and its recovery.

Every instance keeps one. A follower tails the log into it (reads are served locally and a
takeover needs no reload); the leader applies its writes to it first (see `writer`).

Recovery (a start, a takeover, a reload): load the snapshot (if any), then replay the log entries
after it in order, each at its recorded `now`: `engine.apply(events, now)` or `engine.tick(now)`.
Entries carry a gapless sequence number, so a replica that missed trimmed entries notices
(`Resync`) and reloads. The log is read 2,000 entries at a time, the next chunk while the engine
applies the current one. The cyclic garbage collector is paused meanwhile, from the snapshot's
decoding to the last entry: both allocate the state they rebuild, object after object that
survives, and each collection would walk all of it again for nothing. Under `acd serve`'s
collector policy what it made is then frozen (acd/gcpolicy.py), not walked by the first young
collection after it.

Each entry is applied `trusted`: it was validated against this very state when it was first
applied (a refused batch is never logged) and the engine is deterministic, so the reference checks
would pass again. The events are decoded by the validator itself, without the adapter's per-call
wrapping, or, for an entry that carries its events' digests under the same configuration, into
the plain structs of `acd.store.log_events` (values, not validation). After a snapshot loaded
under a changed `config/` an entry may name what the configuration no longer has (a removed agent
or skill): `apply_logged` (acd.engine.replay) then applies its events one at a time, validated,
and skips (and logs) the refused ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from acd.aio import retrieve
from acd.engine import Engine, EngineError, EventResult, apply_logged
from acd.engine.observer import NULL_OBSERVER, Observer
from acd.gcpolicy import collector_paused
from acd.store import log_events
from acd.store.redis.forwarding import EVENTS
from acd.store.redis.metrics import StoreMetrics
from acd.store.redis.snapshots import Snapshots
from acd.store.redis_log import TICK, LogEntry, RedisLog
from acd.store.snapshot import Position

if TYPE_CHECKING:
    from acd.config import Config
    from acd.settings import Settings

log = logging.getLogger("acd.store")

READ_CHUNK = 2000  # log entries per read
YIELD_EVERY_S = 0.005  # a long replay lets the loop run (reads, pings) this often
_decode_events = EVENTS.validator.validate_json  # the replay's decoder: no per-call wrapping
mirrored = log_events.decode  # the trusted replay's (acd/store/log_events.py)

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
        self.same_config = False  # the snapshot loaded was made by this release under this config/
        # The replica is the state the log says: loaded and followed under the configuration that
        # wrote the log, ours or not (a rolling change of config/ has instances on both for a
        # while). `refit`: it is another one, and ours applies when this instance leads.
        self.refit = False
        self.term: bytes | None = None  # the log's term of configuration it follows under

    def fit(self) -> None:
        """This instance leads: the replica, followed under the configuration that wrote the log,
        fitted to ours (what it no longer has is handled and logged by acd.engine.state)."""
        if not self.refit:
            return
        self.engine = self._snapshots.refit(self.engine, self._observer)
        self.engine.observer = self._observer
        self.same_config = False
        self.refit = False

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
        answered: list[tuple[str, list[EventResult]]] = []
        # the snapshot's objects too (decoding a large one takes half the time); all kept: frozen
        # after under the serving policy (acd/gcpolicy.py)
        with collector_paused(keep=True):
            loaded = await self._snapshots.load(self._observer)
            engine = loaded.engine if loaded.engine is not None else self._new_engine()
            engine.observer = self._observer  # records of replayed contacts are queued again
            self.same_config = loaded.same_config
            position, entries = await self.catch_up(engine, loaded.position, answered)
        if await self._snapshots.log_term() != loaded.term:  # a leader claimed the log meanwhile
            raise Resync("the log's configuration changed while the state was loaded")
        self.refit, self.term = loaded.refit, loaded.term
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
        with collector_paused(keep=True) if len(batch) == READ_CHUNK else contextlib.nullcontext():
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
                    raw = entry.events or b"[]"
                    # values, not validation, when nothing else is asked of the events (log_events)
                    events = mirrored(raw) if entry.digests is not None and self.same_config else None
                    results = apply_logged(
                        engine,
                        decode(raw) if events is None else events,
                        entry.now,
                        same_config=self.same_config,
                        digests=entry.digests,
                        models=None if events is None else partial(decode, raw),
                    )
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


async def read_state(log: RedisLog, config: Config, settings: Settings, records: Any = None) -> Engine:
    """The engine a restart under `config` would rebuild from the store as it is now, by the
    restart's own steps (`Replica.reload`: the snapshot, the log after it replayed under the
    configuration that wrote it, then the state fitted to `config`), reading only: what
    `acd state export` writes. `records` (a records sink that never writes, or None) gets the
    call records that restart would queue: the snapshot's, the replay's, the fit's. Raises
    `Resync` when the log moved under it (a snapshot trimmed what it was about to read: try
    again) and `SnapshotError` for a snapshot it cannot read."""
    from prometheus_client import CollectorRegistry

    metrics = StoreMetrics(CollectorRegistry())
    snapshots = Snapshots(log, config, settings, metrics, lambda: None, records=records)
    replica = Replica(
        log=log,
        snapshots=snapshots,
        metrics=metrics,
        new_engine=lambda: Engine(config, router=settings.router),
        observer=NULL_OBSERVER if records is None else records,
        answered=lambda request, results: None,
    )
    await replica.reload()
    replica.fit()  # what a restart under `config` leads with
    return replica.engine


__all__ = ["Answered", "Replica", "Resync", "read_state"]
