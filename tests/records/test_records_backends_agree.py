"""The same records give the same answers on SQLite and on PostgreSQL, to the last digit: every
`by` of the indicators (with and without the skill and site filters) and the export, over a year
of made-up contacts (both nights the clocks change, waits on the thresholds' edges, callbacks
answered and failed, surveys), and at the days' edges (local midnight, in winter and in summer
time)."""

from __future__ import annotations

import random
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from acd.records import queries
from acd.records.db import PostgresDB, SQLiteDB
from acd.records.model import LINE_TZ, Record
from tests.records.conftest import PG_BASE, _admin

SKILLS = ("impot_revenu", "paiement")
SITES = ("lille", "pau", None)
START = date(2026, 1, 1)


def _contacts(n: int, seed: int = 7) -> list[Record]:
    rng = random.Random(seed)
    year_s = 365 * 86400.0
    first = datetime(2026, 1, 1, tzinfo=LINE_TZ).timestamp()
    out: list[Record] = []
    edges = [
        datetime(2026, 1, 5, 0, 0, tzinfo=LINE_TZ).timestamp(),  # winter midnight
        datetime(2026, 7, 6, 0, 0, tzinfo=LINE_TZ).timestamp(),  # summer midnight
        datetime(2026, 10, 25, 1, 30, tzinfo=LINE_TZ).timestamp() + 3600,  # 02:30 winter time
        datetime(2026, 10, 25, 2, 30, tzinfo=LINE_TZ).timestamp(),  # 02:30 summer time
    ]
    instants = [t + d for t in edges for d in (-0.000001, 0.0, 0.5)]
    instants += [first + rng.random() * year_s for _ in range(n)]
    for i, offered in enumerate(instants):
        outcome = rng.choice(
            ("answered", "answered", "abandoned", "overflowed", "callback", "closed", "lost")
        )
        wait = rng.choice((0.0, 4.9996, 5.0, 5.0004, 5.0006, 19.9999, 20.0, 20.0004, rng.random() * 300))
        answered = outcome == "answered"
        site = rng.choice(SITES[:2]) if answered else None
        call_id = f"k{i:05d}"
        out.append(
            Record(
                call_id,
                "call",
                rng.choice(SKILLS),
                rng.choice(("59", "2A", None)),
                site,
                "a1" if answered else None,
                0,
                "",
                offered,
                offered,
                None,
                offered + wait if answered else None,
                offered + wait + 60,
                wait,
                outcome,
                survey_score=rng.choice((None, None, 1, 3, 4, 5)) if answered else None,
                callback_id=f"cb-{call_id}" if outcome == "callback" else None,
            )
        )
        if outcome == "callback":
            done = rng.random() < 0.6
            out.append(
                Record(
                    f"cb-{call_id}",
                    "callback",
                    out[-1].skill,
                    out[-1].department,
                    rng.choice(SITES[:2]) if done else None,
                    "a2" if done else None,
                    0,
                    "",
                    offered + wait,
                    None,
                    None,
                    offered + wait + 900 if done else None,
                    offered + wait + 1000,
                    None,
                    "answered" if done else "failed",
                    origin_call_id=call_id,
                    callback_id=f"cb-{call_id}",
                    survey_score=rng.choice((None, 2, 5)) if done else None,
                )
            )
    return out


@pytest.fixture
async def both(tmp_path) -> Any:
    name = f"acd_test_records_{uuid.uuid4().hex[:12]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    dbs = [SQLiteDB(tmp_path / "records.sqlite3"), PostgresDB(PG_BASE.rsplit("/", 1)[0] + f"/{name}")]
    records = _contacts(1500)
    for db in dbs:
        await db.open()
        await db.write([("record", r) for r in records])
    yield dbs
    for db in dbs:
        await db.close()
    with _admin() as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


async def _answers(db: Any) -> dict[str, Any]:
    end = START + timedelta(days=364)
    out: dict[str, Any] = {}
    for by in (None, *queries.BY):
        for skill, site in ((None, None), ("paiement", None), (None, "lille")):
            out[f"{by} {skill} {site}"] = await queries.indicators(
                db, START, end, by=by, service_level_s=20.0, skill=skill, site=site
            )
    out["records"] = [r async for page in queries.records(db, START, end, page=333) for r in page]
    out["midnight"] = [
        (r["call_id"], r["offered_at"])
        async for page in queries.records(db, date(2026, 1, 5), date(2026, 1, 5))
        for r in page
    ]
    return out


async def test_sqlite_and_postgresql_give_the_same_answers(both) -> None:
    sqlite, postgresql = [await _answers(db) for db in both]
    assert sqlite.keys() == postgresql.keys()
    for key in sqlite:
        assert sqlite[key] == postgresql[key], key
    [total] = sqlite["None None None"]
    assert total["offered"] > 1000 and total["satisfaction"]["n"] > 100
    assert len(sqlite["records"]) == 1500 + 12 + sum(1 for r in sqlite["records"] if r["kind"] == "callback")
    # the day's first instant is the day's, the instant before it the day before's
    assert [c for c, _ in sqlite["midnight"]][:2] == ["k00001", "k00002"]
    by_day = {r["day"]: r for r in sqlite["day None None"]}
    assert sum(r["offered"] for r in by_day.values()) == total["offered"]
    by_hour = sqlite["hour None None"]
    assert sum(r["offered"] for r in by_hour) == total["offered"]
    assert len({r["hour_start"] for r in by_hour}) == len(by_hour)  # one row per hour, the autumn's two too
