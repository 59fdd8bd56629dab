"""A records database written by the release before the contact key (migrations 0001-0004, primary
key `(call_id, kind)`) is migrated at start-up: every record stays, the queries read them, and a
call id offered again then gets its own record."""

from __future__ import annotations

import sqlite3
from datetime import date

from acd.records import queries
from acd.records.db import migrations, open_db
from acd.records.model import Record
from tests.records.conftest import Backend

OLD = 4  # the last migration of the release with records keyed by (call_id, kind)


def old_database(backend: Backend) -> None:
    """The schema as that release left it, its migrations noted, and records in it."""
    steps = [(v, name, sql) for v, name, sql in migrations(backend.kind) if v <= OLD]
    assert [v for v, _, _ in steps] == [1, 2, 3, 4]
    table = "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)"
    rows = [
        # call_id, kind, outcome, offered_ts, site, survey_score, origin_call_id
        ("c1", "call", "answered", 1772442000.0, "lille", 5, None),
        ("c2", "call", "abandoned", 1772442100.5, None, None, None),
        ("c3", "call", "callback", 1772442200.25, "lille", None, None),
        ("cb-c3", "callback", "answered", 1772442230.25, "lille", 3, "c3"),
        ("c1", "appointment", "answered", 1772449200.0, "lille", None, None),
    ]
    cols = "call_id, kind, skill, outcome, offered_at, offered_ts, local_day, local_hour, site, "
    cols += "survey_score, origin_call_id, wait_s"
    if backend.kind == "sqlite":
        conn = sqlite3.connect(backend.url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute(table)
        for version, name, sql in steps:
            conn.executescript(f"BEGIN;\n{sql}\nCOMMIT;")
            conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (version, name))
        for call_id, kind, outcome, ts, site, score, origin in rows:
            conn.execute(
                f"INSERT INTO call_records ({cols}) VALUES (?, ?, 'impot_revenu', ?, "
                "strftime('%Y-%m-%dT%H:%M:%f+00:00', ?, 'unixepoch'), ?, '2026-03-02', 10, ?, ?, ?, 20.0)",
                (call_id, kind, outcome, ts, ts, site, score, origin),
            )
        conn.close()
        return
    import psycopg

    with psycopg.connect(backend.url, autocommit=True) as conn:
        conn.execute(table)
        for version, name, sql in steps:
            conn.execute(sql.encode())
            conn.execute("INSERT INTO schema_migrations VALUES (%s, %s)", (version, name))
        for call_id, kind, outcome, ts, site, score, origin in rows:
            conn.execute(
                f"INSERT INTO call_records ({cols}) VALUES (%s, %s, 'impot_revenu', %s, "
                "to_timestamp(%s), %s, '2026-03-02', 10, %s, %s, %s, 20.0)",
                (call_id, kind, outcome, ts, ts, site, score, origin),
            )


async def test_a_database_of_the_previous_release_is_migrated_without_losing_a_record(backend):
    old_database(backend)
    before = sorted(backend.rows("SELECT call_id, kind, outcome, offered_ts, survey_score FROM call_records"))
    assert len(before) == 5
    db = open_db(backend.url, "unused")
    await db.open()
    try:
        after = sorted(
            backend.rows("SELECT call_id, kind, outcome, offered_ts, survey_score FROM call_records")
        )
        assert after == before
        day = date(2026, 3, 2)
        pages = [r async for page in queries.records(db, day, day) for r in page]
        assert [(r["call_id"], r["kind"]) for r in pages] == [
            ("c1", "call"),
            ("c2", "call"),
            ("c3", "call"),
            ("cb-c3", "callback"),
            ("c1", "appointment"),
        ]
        [total] = await queries.indicators(db, day, day, by=None, service_level_s=60)
        assert (total["offered"], total["answered"], total["callbacks_answered"]) == (3, 2, 1)
        assert total["satisfaction"]["n"] == 2
        # the id c1 offered again, another contact: a second record, the first one untouched
        again = Record(
            "c1",
            "call",
            "impot_revenu",
            None,
            None,
            None,
            0,
            "",
            1772445600.0,
            None,
            None,
            None,
            1772445640.0,
            40.0,
            "abandoned",
        )
        await db.write([("record", again)])
        assert backend.rows(
            "SELECT outcome, survey_score FROM call_records WHERE call_id = 'c1' AND kind = 'call' "
            "ORDER BY offered_ts"
        ) == [("answered", 5), ("abandoned", None)]
        versions = [v for (v,) in backend.rows("SELECT version FROM schema_migrations ORDER BY version")]
        assert versions == [v for v, _, _ in migrations(backend.kind)] and versions[-1] > OLD
    finally:
        await db.close()
    # a second start migrates nothing more and keeps everything
    db = open_db(backend.url, "unused")
    await db.open()
    await db.close()
    assert len(backend.rows("SELECT 1 FROM call_records")) == 6
