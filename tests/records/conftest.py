"""Records tests run on both backends: the embedded SQLite file and a real PostgreSQL (a database of
their own on `ACD_TEST_POSTGRES_URL`, default 127.0.0.1:5432, created and dropped per test)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import clock, make_platform  # noqa: F401  (the HTTP fixtures, shared)

PG_BASE = os.environ.get("ACD_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _admin() -> Any:
    import psycopg

    return psycopg.connect(PG_BASE, autocommit=True, connect_timeout=3)


class Backend:
    def __init__(self, kind: str, url: str, name: str | None = None) -> None:
        self.kind = kind
        self.url = url
        self.name = name  # the PostgreSQL database

    def settings(self) -> dict[str, Any]:
        return {"records_url": self.url}

    # -- an outage and its end

    def stop(self) -> None:
        """The database goes away for the service: PostgreSQL refuses connections to our database
        (and drops the open ones); SQLite is locked by another writer."""
        if self.kind == "postgresql":
            with _admin() as conn:
                conn.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (self.name,)
                )
        else:
            import sqlite3

            self._lock = sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None)
            self._lock.execute("BEGIN EXCLUSIVE")

    def create_empty(self) -> None:
        """The SQLite file exists (to be locked) before the service first opens it."""
        if self.kind == "sqlite":
            import sqlite3

            sqlite3.connect(self.url.removeprefix("sqlite:///")).close()

    def restart(self) -> None:
        if self.kind == "postgresql":
            with _admin() as conn:
                conn.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')
        else:
            self._lock.execute("ROLLBACK")
            self._lock.close()

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        if self.kind == "postgresql":
            import psycopg

            with psycopg.connect(self.url) as conn:
                return conn.execute(sql.replace("?", "%s"), params).fetchall()
        import sqlite3

        conn = sqlite3.connect(self.url.removeprefix("sqlite:///"))
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        yield Backend("sqlite", f"sqlite:///{tmp_path / 'records.sqlite3'}")
        return
    name = f"acd_test_records_{uuid.uuid4().hex[:12]}"
    try:
        with _admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # pragma: no cover - CI provides PostgreSQL (.ci/run)
        pytest.fail(f"no PostgreSQL at {PG_BASE}: {exc}")
    yield Backend("postgresql", PG_BASE.rsplit("/", 1)[0] + f"/{name}", name)
    with _admin() as conn:
        # FORCE ends the sessions still open (the service's writer may reconnect between a
        # terminate and the drop, which then waited or failed), in one statement
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
