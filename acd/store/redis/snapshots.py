"""Snapshots of the engine in Redis: when to take one, writing it, and loading it back.

This is the one place that encodes and decodes the engine (`acd.store.snapshot`: `Encoding` and
`decode`) for the Redis store. A snapshot is taken by the writer between two groups, when the
engine matches the log exactly, once `ACD_REDIS_SNAPSHOT_EVERY` entries or
`ACD_REDIS_SNAPSHOT_INTERVAL_S` seconds have passed since the last one; it is encoded in a forked
child (`ACD_REDIS_SNAPSHOT_FORK`) and saved fenced by the lease, trimming the log it covers.

A snapshot also carries the call records still waiting to be written when it is taken (the
`RecordCarry` of the store's context): the replay after a crash starts after the snapshot, so
the records of contacts that ended before it could not be made again. Loading queues them again
before the replay, in place of whatever was queued: a follower that reloads (or a leader after a
resync) would otherwise queue the records of the same contacts twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from acd import __version__
from acd.config import Config
from acd.engine import Engine
from acd.engine.observer import NULL_OBSERVER, Observer
from acd.gcpolicy import collector_paused
from acd.settings import Settings
from acd.store import RecordCarry
from acd.store import snapshot as snap
from acd.store.redis.metrics import StoreMetrics
from acd.store.redis_log import RedisLog
from acd.store.snapshot import Position, SnapshotError

log = logging.getLogger("acd.store")

__all__ = ["Loaded", "Position", "SnapshotError", "Snapshots"]


@dataclass(frozen=True, slots=True)
class Loaded:
    """A snapshot read back: its engine (None: no snapshot, start empty) and where it stands."""

    engine: Engine | None
    position: Position
    #: made by this release under this configuration: a log entry after it that fails to
    #: replay is a defect, not a changed config/ (acd.engine.replay)
    same_config: bool = False
    #: `engine` is built from the configuration the log after the snapshot was written under, not
    #: the current one: replay the log into it, and keep it so while following that log; fit the
    #: state to the current config/ on taking the lead (or for a restart's view: `read_state`)
    refit: bool = False
    #: the log's term of configuration when loading began (`Snapshots.log_term`)
    term: bytes | None = None


class Snapshots:
    def __init__(
        self,
        log: RedisLog,
        config: Config,
        settings: Settings,
        metrics: StoreMetrics,
        lease: Callable[[], str | None],
        *,
        records: RecordCarry | None = None,
    ) -> None:
        self._log = log
        self._config = config
        self._records = records
        self._settings = settings
        self._metrics = metrics
        self._lease = lease
        self.fingerprint = snap.config_fingerprint(config)
        self.since = 0  # log entries written since the last snapshot
        self.taken_at = time.monotonic()
        self.task: asyncio.Task[None] | None = None

    # -- the configuration the log is written under

    def _config_key(self, fingerprint: str) -> str:
        return f"{self._settings.redis_prefix}config:{fingerprint}"

    def _term_key(self) -> str:
        return f"{self._settings.redis_prefix}config:log:term"

    async def log_term(self) -> bytes | None:
        """The log's term of configuration: counted up each time a leader claims the log under
        another configuration than the one before (`claim_log`). A replica follows the log under
        the configuration it was loaded with; once the term moves, the entries that follow are
        written under another one, and it reloads (acd/store/redis/store.py, `_follow`)."""
        value: bytes | None = await self._log.client.get(self._term_key())
        return value

    async def _log_config(self) -> tuple[str, Config] | None:
        """The configuration the log after the snapshot was written under, when it is not ours
        and this release still reads it (`claim_log` keeps it); None otherwise."""
        client = self._log.client
        fingerprint = await client.get(f"{self._settings.redis_prefix}config:log")
        if fingerprint is None or fingerprint.decode() == self.fingerprint:
            return None
        fingerprint = fingerprint.decode()
        blob = await client.get(self._config_key(fingerprint))
        try:
            config = Config.model_validate_json(zlib.decompress(blob)) if blob is not None else None
        except Exception as exc:  # an older release's configuration this one no longer reads
            log.warning("redis store: the log's configuration %s no longer reads: %s", fingerprint, exc)
            config = None
        return None if config is None else (fingerprint, config)

    async def claim_log(self, engine: Engine, position: Position) -> None:
        """The leader, before its first write: the log after the snapshot is written under one
        configuration, named in `config:log` (with that configuration kept beside it), so that a
        restart under a changed config/ replays it under the configuration that wrote it and only
        then fits the state to the new one. What the log holds under another configuration is
        covered by a snapshot first."""
        client = self._log.client
        prefix = self._settings.redis_prefix
        await client.set(
            self._config_key(self.fingerprint), zlib.compress(self._config.model_dump_json().encode())
        )
        current = await client.get(f"{prefix}config:log")
        if current is not None and current.decode() == self.fingerprint:
            return
        if self.since:
            await self.settle()
            self.maybe(engine, position, force=True)
            if self.task is not None:
                await self.task
            if self.since:  # not written: the leader must not write on under another configuration
                raise SnapshotError("could not snapshot the state before writing under a changed config/")
        await client.set(f"{prefix}config:log", self.fingerprint)
        await client.incr(self._term_key())  # the followers reload under it before reading on

    # -- loading

    async def load(self, observer: Observer = NULL_OBSERVER) -> Loaded:
        """The snapshot's engine and position; `observer` hears of the contacts that fitting the
        state to the current config/ ends (their records are queued after the carried ones)."""
        term = await self.log_term()  # read first: a change after it is seen by the next check
        stored = await self._log.load_snapshot()
        logged = await self._log_config()
        config = self._config if logged is None else logged[1]
        fingerprint = self.fingerprint if logged is None else logged[0]
        if logged is not None:
            log.warning(
                "redis store: the log was written under another configuration (fingerprint %s, ours "
                "%s): replayed and followed under it; the current config/ applies once this instance "
                "leads",
                fingerprint,
                self.fingerprint,
            )
        if stored is None:  # the replay starts at the log's first entry and makes every record again
            if self._records is not None:
                self._records.restore(b"")
            if logged is None:
                return Loaded(None, Position(), term=term)
            return Loaded(Engine(config, router=self._settings.router), Position(), refit=True, term=term)
        header = snap.read_header(stored.header)
        same_config = header.get("acd") == __version__ and header.get("config") == fingerprint
        if not same_config:
            log.warning(
                "redis store: the snapshot was made by acd %s (format %s) under another configuration "
                "or version (fingerprint %s, ours %s): its state is restored under the current "
                "config/, which applies (what changed is logged by acd.engine.state)",
                header.get("acd"),
                header.get("format"),
                header.get("config"),
                self.fingerprint,
            )
        if self._records is not None:  # before the fit and the replay: what they make comes after
            self._records.restore(stored.records)
        engine = snap.decode(
            stored.data, header, config=config, router=self._settings.router, observer=observer
        )
        position = Position(stored.seq, stored.id, float(header.get("now", 0.0)))
        return Loaded(engine, position, same_config, refit=logged is not None, term=term)

    def refit(self, engine: Engine, observer: Observer = NULL_OBSERVER) -> Engine:
        """`engine`, replayed under the log's configuration, fitted to the current config/ (what
        it no longer has is handled and logged by acd.engine.state; `observer` hears of the
        contacts that ends)."""
        from acd.engine import state as engine_state

        with collector_paused():
            document = engine_state.dump(engine)
            return engine_state.load(self._config, document, router=self._settings.router, observer=observer)

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
        carried = self._carried()  # the unwritten records, at the same position
        self.since = 0
        self.taken_at = time.monotonic()
        self.task = asyncio.create_task(self._save(encoding, carried, position, covered, started))

    def _carried(self) -> bytes:
        return self._records.carried() if self._records is not None else b""

    async def _save(
        self, encoding: snap.Encoding, carried: bytes, position: Position, covered: int, started: float
    ) -> None:
        try:
            data = await encoding.result()
            header = snap.make_header(position, self.fingerprint, len(data))
            saved = await self._log.save_snapshot(
                self._lease() or "-", position.seq, position.id, header, data, carried
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
        epoch = await self._log.reseed(lease, position.seq, header, data, self._carried())
        if epoch is not None:
            self.since = 0
        return epoch
