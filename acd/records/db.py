"""Where the records live: an embedded SQLite file (the default) or PostgreSQL (`ACD_RECORDS_URL`).

Both backends take the same versioned migrations (`migrations/<dialect>/NNNN_*.sql`, applied in
order at start-up and noted in `schema_migrations`) and run the same queries (`acd.records.queries`,
written with `?` placeholders; PostgreSQL gets them as `%s`). A record is one contact, keyed by
`(call_id, kind, offered_ts)`: a call id the platform offers again once acd has forgotten the first
call is another contact with its own record (migration 0005). Writes are upserts on that key, so
writing a record again (a retry, a replay after a crash, a late answer) leaves one row, and a
survey score once set is never replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from acd.records.model import COLUMNS, TIME_COLUMNS, Record

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

#: A survey score for the record `(call_id, kind, offered_ts)`: set once, later ones ignored.
#: `(call_id, kind, score)` without the offer's instant (queued by a release before 0005, carried in
#: its snapshots and state exports): the latest contact with that call id and kind.
SurveyOp = tuple[str, str, int] | tuple[str, str, int, float]
Op = tuple[str, Any]  # ("record", Record) | ("survey", SurveyOp)

_UPSERT = (
    f"INSERT INTO call_records ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)}) "
    "ON CONFLICT (call_id, kind, offered_ts) DO UPDATE SET "
    + ", ".join(
        f"{c} = excluded.{c}"
        if c != "survey_score"
        else "survey_score = COALESCE(call_records.survey_score, excluded.survey_score)"
        for c in COLUMNS
        if c not in ("call_id", "kind", "offered_ts")
    )
)
_MIGRATIONS_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)"
)
_SURVEY = (
    "UPDATE call_records SET survey_score = ? WHERE call_id = ? AND kind = ? AND survey_score IS NULL "
    "AND offered_ts = COALESCE(CAST(? AS DOUBLE PRECISION), "
    "(SELECT MAX(c.offered_ts) FROM call_records c WHERE c.call_id = ? AND c.kind = ?))"
)


def _survey_params(op: SurveyOp) -> tuple[Any, ...]:
    """`_SURVEY`'s parameters: the score, the record's key (its offer's instant, or none: the
    latest contact with the id)."""
    call_id, kind, score = op[0], op[1], op[2]
    offered_ts = op[3] if len(op) > 3 else None
    return (score, call_id, kind, offered_ts, call_id, kind)


def migrations(dialect: str) -> list[tuple[int, str, str]]:
    """(version, name, SQL) of every migration for the dialect, in order."""
    out = []
    for path in sorted((MIGRATIONS / dialect).glob("*.sql")):
        out.append((int(path.name.split("_", 1)[0]), path.name, path.read_text(encoding="utf-8")))
    return out


class RecordsDB:
    """The interface both backends offer (all async; SQLite runs in its own thread)."""

    dialect: str
    url: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def write(self, ops: Sequence[Op]) -> None:
        """Apply record upserts, then survey scores, in one transaction."""

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int: ...

    def day(self, d: date) -> Any:
        """A local date as the backend compares it."""
        return d


def _row_params(record: Record, *, text_times: bool) -> list[Any]:
    """The row of `record` in `COLUMNS` order (`Record.row`'s values, built without its dict):
    times as ISO text for SQLite, aware datetimes and a `date` for PostgreSQL."""
    params = record.params()
    day = params[_LOCAL_DAY]
    params[_LOCAL_DAY] = day.isoformat() if text_times else day
    for i in _TIME_INDEXES:
        value = params[i]
        if value is not None:
            value = datetime.fromtimestamp(value, UTC)
            params[i] = value.isoformat(timespec="microseconds") if text_times else value
    return params


_TIME_INDEXES = tuple(COLUMNS.index(name) for name in TIME_COLUMNS)
_LOCAL_DAY = COLUMNS.index("local_day")


class SQLiteDB(RecordsDB):
    dialect = "sqlite"

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 0.5) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self._timeout = busy_timeout_s
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="acd-records-sqlite")
        self._conn: sqlite3.Connection | None = None

    # everything below `_call` runs in the backend's one thread

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._conn = conn
        return self._conn

    def _migrate(self) -> None:
        conn = self._connect()
        conn.execute(_MIGRATIONS_TABLE)
        done = {v for (v,) in conn.execute("SELECT version FROM schema_migrations")}
        for version, name, sql in migrations(self.dialect):
            if version in done:
                continue
            note = f"INSERT INTO schema_migrations (version, name) VALUES ({version}, '{name}');"
            conn.executescript(f"BEGIN;\n{sql}\n{note}\nCOMMIT;")

    async def open(self) -> None:
        await self._call(self._migrate)

    async def close(self) -> None:
        def close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await self._call(close)
        self._pool.shutdown(wait=True)

    def _write(self, ops: Sequence[Op]) -> None:
        conn = self._connect()
        records = [_row_params(v, text_times=True) for k, v in ops if k == "record"]
        scores = [_survey_params(v) for k, v in ops if k == "survey"]
        conn.execute("BEGIN IMMEDIATE")
        try:
            # the records first, then the scores (as on PostgreSQL): a score finds its record
            if records:
                conn.executemany(_UPSERT, records)
            if scores:
                conn.executemany(_SURVEY, scores)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    async def write(self, ops: Sequence[Op]) -> None:
        await self._call(self._write, ops)

    def _fetch(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return self._connect().execute(sql, tuple(params)).fetchall()

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return await self._call(self._fetch, sql, params)

    def _execute(self, sql: str, params: Sequence[Any]) -> int:
        return self._connect().execute(sql, tuple(params)).rowcount

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return await self._call(self._execute, sql, params)

    def day(self, d: date) -> Any:
        return d.isoformat()


class PostgresDB(RecordsDB):
    dialect = "postgresql"

    def __init__(self, url: str, *, connect_timeout_s: float = 3.0) -> None:
        self.url = url
        self._timeout = connect_timeout_s
        self._conn: Any = None
        self._lock = asyncio.Lock()
        self._reader: Any = None
        self._read_lock = asyncio.Lock()

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s")

    async def _connect(self) -> Any:
        import psycopg

        return await psycopg.AsyncConnection.connect(self.url, connect_timeout=max(1, round(self._timeout)))

    async def _writer(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = await self._connect()
        return self._conn

    async def open(self) -> None:
        conn = await self._connect()
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(72161)")  # one migrator at a time
                await conn.execute(_MIGRATIONS_TABLE)
                cur = await conn.execute("SELECT version FROM schema_migrations")
                done = {v for (v,) in await cur.fetchall()}
                for version, name, sql in migrations(self.dialect):
                    if version not in done:
                        await conn.execute(sql.encode())
                        await conn.execute(
                            "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (version, name)
                        )
        finally:
            await conn.close()

    async def close(self) -> None:
        for name in ("_conn", "_reader"):
            conn = getattr(self, name)
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
                setattr(self, name, None)

    async def write(self, ops: Sequence[Op]) -> None:
        async with self._lock:
            try:
                conn = await self._writer()
                async with conn.transaction(), conn.cursor() as cur:
                    records = [_row_params(v, text_times=False) for k, v in ops if k == "record"]
                    if records:
                        await cur.executemany(self._sql(_UPSERT), records)
                    for k, v in ops:
                        if k == "survey":
                            await cur.execute(self._sql(_SURVEY), _survey_params(v))
            except BaseException:
                conn, self._conn = self._conn, None  # opened again on the next write
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()
                raise

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Reads share one autocommit connection (queries are short: reports, export pages)."""
        async with self._read_lock:
            try:
                if self._reader is None or self._reader.closed:
                    self._reader = await self._connect()
                    await self._reader.set_autocommit(True)
                cur = await self._reader.execute(self._sql(sql), tuple(params))
                return await cur.fetchall()
            except BaseException:
                if self._reader is not None:
                    with contextlib.suppress(Exception):
                        await self._reader.close()
                    self._reader = None
                raise

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        conn = await self._connect()
        try:
            async with conn.transaction():
                cur = await conn.execute(self._sql(sql), tuple(params))
                return cur.rowcount
        finally:
            await conn.close()


def open_db(url: str | None, data_dir: str | Path) -> RecordsDB:
    """The backend for `ACD_RECORDS_URL` (PostgreSQL), or SQLite in `ACD_DATA_DIR`."""
    if url:
        if url.startswith(("postgresql://", "postgres://")):
            return PostgresDB(url)
        if url.startswith("sqlite:///"):
            return SQLiteDB(url.removeprefix("sqlite:///"))
        raise ValueError("ACD_RECORDS_URL must start with postgresql:// (or sqlite:///)")
    return SQLiteDB(Path(data_dir) / "records.sqlite3")


def as_date(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()[:10]
    return str(value)
