"""The records writer: the bounded queue of call records waiting for the database, and the task
that stores them.

The engine never waits for the database: the sink (acd/records/sink.py) only appends to this
queue. The writer drains it in batches (one transaction each, upserts by `(call_id, kind,
offered_ts)`, one row per contact): it
writes when `batch` records wait or the oldest has waited `linger_s` (0.1 s), so a busy line pays
for one transaction per tenth of a second rather than one per contact (see docs/performance.md).
On a database error it keeps the batch, counts the failure and retries with backoff, so an outage
delays records without losing them (unless the queue overflows, which drops the oldest and says
so in `acd_records_dropped_total`). Only the instance in charge writes (`leading`); a follower's
replica observes too and keeps the latest records queued, so when it takes over it writes them
again (upserts: one row each) and nothing its predecessor had still queued is lost. A snapshot
carries what is queued (`carried`, `restore`). Without one (the embedded memory state), a stop that
cannot flush writes what is still queued to a spool file (`spool`, in ACD_DATA_DIR), which the
next start queues again and removes once those records are written.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from acd import jsonio
from acd.records import queries
from acd.records.db import Op, RecordsDB
from acd.records.model import Record, line_date

log = logging.getLogger("acd.records")


class RecordMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.written = Counter(
            "acd_records_written_total", "Call records written to the records database", registry=registry
        )
        self.failed = Counter(
            "acd_records_failed_total",
            "Call records whose write failed (they stay queued and are retried)",
            registry=registry,
        )
        self.dropped = Counter(
            "acd_records_dropped_total",
            "Call records dropped because the queue was full (lost: the database was away too long)",
            registry=registry,
        )
        self.queued = Gauge("acd_records_queued", "Call records waiting to be written", registry=registry)
        self.lag = Gauge(
            "acd_records_lag_seconds",
            "Age of the oldest call record waiting to be written (0 when none waits)",
            registry=registry,
        )
        self.purged = Counter(
            "acd_records_purged_total", "Call records deleted by the retention purge", registry=registry
        )


class RecordWriter:
    """The queue of records and ops waiting to be written, and the task that writes them."""

    def __init__(
        self,
        db: RecordsDB,
        metrics: RecordMetrics,
        *,
        leading: Callable[[], bool] = lambda: True,
        max_queue: int = 100_000,
        batch: int = 500,
        linger_s: float = 0.1,
        retention_days: int = 400,
        purge_every_s: float = 3600.0,
        today: Callable[[], date] | None = None,
        spool: Path | None = None,
    ) -> None:
        self.db = db
        self.metrics = metrics
        self._leading = leading
        self._max = max_queue
        self._batch = batch
        self._linger_s = linger_s
        self._hurry = 0  # flushes under way: write what waits without lingering
        self._retention_days = retention_days
        self._purge_every_s = purge_every_s
        self._today = today or (lambda: line_date(time.time()))
        self._queue: deque[tuple[float, Op]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._opened = False
        self._where = db.url.split("@")[-1]  # no password in the logs
        #: where a stop that cannot flush leaves the queue (None: a snapshot carries it, Redis)
        self._spool = spool
        self._spooled: Op | None = None  # the last op read from the spool, until it is written
        metrics.queued.set_function(lambda: len(self._queue))
        metrics.lag.set_function(self.lag)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Open the database (migrations) and start the writer. A database away at start-up does
        not stop the service: the writer opens it when it answers, and records queue meanwhile."""
        self._unspool()
        await self._open()
        self._task = asyncio.create_task(self._run(), name="acd-records-writer")

    async def _open(self) -> bool:
        if not self._opened:
            try:
                await self.db.open()
            except Exception as exc:
                log.warning("records: the database %s does not answer (%s); records queue", self._where, exc)
                return False
            self._opened = True
        return True

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        if self._task is not None:
            if self._leading():
                with contextlib.suppress(TimeoutError):
                    await self.flush(drain_timeout_s)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            if self._queue and self._leading() and self._spool is not None:
                self._spill(self._spool)
        await self.db.close()

    # ------------------------------------------------------------------ the spool (memory state)

    def _spill(self, path: Path) -> None:
        """Write what is still queued to the spool (replacing it: what it held is in the queue),
        as `queued` gives it; said at ERROR, and counted as dropped if even that fails."""
        n = sum(1 for _, (kind, _) in self._queue if kind == "record")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            with open(tmp, "wb") as f:
                f.write(jsonio.dumps(self.queued()))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except Exception as exc:
            self.metrics.dropped.inc(n)
            log.error(
                "records: the database %s did not take %d records before the stop and the spool %s "
                "cannot be written (%s): those records are lost",
                self._where,
                n,
                path,
                exc,
            )
            return
        log.error(
            "records: the database %s did not take %d records before the stop: written to the spool %s, "
            "queued again at the next start",
            self._where,
            n,
            path,
        )

    def _unspool(self) -> None:
        """Queue the records a stop left in the spool (before any new one); the spool stays until
        they are written (`_written`). One that cannot be read is left as it is, and said."""
        path = self._spool
        if path is None or not path.is_file():
            return
        try:
            n = self.queue(jsonio.loads(path.read_bytes()))
        except (OSError, ValueError) as exc:
            log.error("records: the spool %s cannot be read (%s); left as it is", path, exc)
            return
        if n:
            self._spooled = self._queue[-1][1]
            log.warning("records: %d records queued again from the spool %s", n, path)
        else:
            path.unlink(missing_ok=True)

    def _written(self, op: Op) -> None:
        """`op` left the queue (written, or dropped and counted): the spool goes with its last."""
        if op is self._spooled and self._spool is not None:
            self._spooled = None
            with contextlib.suppress(OSError):
                self._spool.unlink(missing_ok=True)

    async def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until every queued record is written (tests, shutdown)."""
        self._hurry += 1
        try:
            async with asyncio.timeout(timeout_s):
                while self._queue:
                    self._wake.set()
                    await asyncio.sleep(0.01)
        finally:
            self._hurry -= 1

    def lag(self) -> float:
        """Age of the oldest record waiting to be written (0 on a follower: it does not write)."""
        if not self._queue or not self._leading():
            return 0.0
        return time.monotonic() - self._queue[0][0]

    @property
    def pending(self) -> int:
        return len(self._queue)

    # ------------------------------------------------------------------ carried in snapshots

    def carried(self) -> bytes:
        """The records still waiting to be written, as bytes a snapshot carries (empty when none).

        A snapshot taken at log position P replaces the entries up to P: after a crash the replay
        starts after P and never sees again the contacts that ended before it. Whatever of theirs
        the writer had not stored yet is in this queue at P (the engine applies events one at a
        time, so the queue holds exactly the records of events up to P), so the snapshot keeps it
        and `restore` queues it again. Writes are upserts: a record written meanwhile is written
        once more, the same row."""
        if not self._queue:
            return b""
        return zlib.compress(jsonio.dumps(self.queued()), 1)

    def queued(self) -> list[list[Any]]:
        """What waits to be written, as plain JSON values, oldest first: `["record", {field:
        value}]` (times as Unix seconds) and `["survey", [call_id, kind, score, offered_ts]]` (what a
        snapshot carries, and `acd state export` writes under `records`; an earlier release's,
        without `offered_ts`, scores the latest contact with that call id)."""
        return [
            [kind, asdict(value) if kind == "record" else list(value)] for _, (kind, value) in self._queue
        ]

    def queue(self, ops: Any) -> int:
        """Queue `ops` (as `queued` gives them) after what waits; returns how many. Read whole
        before any is queued: `ValueError` saying which one when one cannot be read."""
        if not isinstance(ops, list):
            raise ValueError(f"not a list of records but {type(ops).__name__}")
        read: list[Op] = []
        for i, op in enumerate(ops):
            try:
                kind, value = op
                if kind == "record":
                    record = Record(**value)
                    if not isinstance(record.call_id, str) or not isinstance(record.kind, str):
                        raise ValueError("call_id and kind must be strings")
                    float(record.offered_at)
                    read.append(("record", record))
                elif kind == "survey":
                    if not isinstance(value, (list, tuple)) or len(value) not in (3, 4):
                        raise ValueError("a survey is [call_id, kind, score(, offered_ts)]")
                    call_id, record_kind, score = value[:3]
                    survey = (str(call_id), str(record_kind), int(score))
                    if len(value) == 4:
                        survey += (float(value[3]),)
                    read.append(("survey", survey))
                else:
                    raise ValueError(f"unknown op {kind!r}")
            except (TypeError, ValueError) as exc:
                raise ValueError(f"record {i} cannot be read: {type(exc).__name__}: {exc}") from None
        for op in read:
            self._put(op)
        return len(read)

    def restore(self, carried: bytes | None) -> int:
        """The queue becomes the records a snapshot carried (see `carried`), before the engine is
        rebuilt from that snapshot and the log after it; returns how many ops.

        What was queued goes: the records of events up to the snapshot still unwritten when it was
        taken are the ones it carries, and those of the events after it are made again by the
        replay (a follower's queue, which holds every record it replayed, would otherwise hold the
        same contacts twice after a reload). A batch being written meanwhile is written; its
        records, queued again, are written once more (an upsert: the same rows). `None`: the
        snapshot predates carried records, so nothing is known of what was unwritten then: the
        queue is kept as it is."""
        if carried is None:
            return 0
        self._queue.clear()
        if not carried:
            return 0
        return self.queue(jsonio.loads(zlib.decompress(carried)))

    # ------------------------------------------------------------------ the queue

    def _put(self, op: Op) -> None:
        queue = self._queue
        if len(queue) >= self._max:
            self._written(queue.popleft()[1])
            if self._leading():
                self.metrics.dropped.inc()
        queue.append((time.monotonic(), op))
        if len(queue) == 1 or len(queue) == self._batch:
            self._wake.set()  # the writer starts its linger, or writes a full batch

    def _record(self, record: Record) -> None:
        self._put(("record", record))

    # ------------------------------------------------------------------ the writer

    async def _run(self) -> None:
        backoff = 0.05
        next_purge = time.monotonic() + 5.0
        while True:
            if not self._queue or not self._leading():
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.05, min(1.0, next_purge - time.monotonic()))):
                        await self._wake.wait()
            if self._leading() and self._opened and time.monotonic() >= next_purge:
                next_purge = time.monotonic() + self._purge_every_s
                await self.purge()
            if not self._queue or not self._leading():
                continue
            linger = self._linger_s - (time.monotonic() - self._queue[0][0])
            if linger > 0 and len(self._queue) < self._batch and not self._hurry:
                self._wake.clear()  # set again by a full batch (or a flush)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(linger):
                        await self._wake.wait()
                continue
            if not await self._open():
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            ops = [op for _, op in itertools.islice(self._queue, self._batch)]
            try:
                await self.db.write(ops)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                n = sum(1 for kind, _ in ops if kind == "record")
                self.metrics.failed.inc(n)
                log.warning(
                    "records: write failed (%s); %d queued, retrying in %.2f s",
                    exc,
                    len(self._queue),
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.05
            queue = self._queue
            for op in ops:  # the observer may have dropped the oldest (a full queue) meanwhile
                if queue and queue[0][1] is op:
                    queue.popleft()
                    self._written(op)
            self.metrics.written.inc(sum(1 for kind, _ in ops if kind == "record"))

    async def purge(self) -> int:
        cutoff = self._today() - timedelta(days=self._retention_days)
        try:
            n = await queries.purge(self.db, cutoff)
        except Exception as exc:
            log.warning("records: retention purge failed (%s)", exc)
            return 0
        if n:
            self.metrics.purged.inc(n)
            log.info("records: purged %d records offered before %s", n, cutoff.isoformat())
        return n
