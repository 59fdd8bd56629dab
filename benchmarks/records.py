"""Call-records benchmark: what the records sink costs per call, and the indicators over a million
records, on SQLite and on PostgreSQL.

    python -m benchmarks.records [--quick] [--records N] [--postgres URL] [--no-postgres]

1. `engine`: the engine's cost per call (offer, answer, end; the shipped configuration) with no
   observer and with the records sink observing (it builds the record and queues it; the writer is
   not running), so the difference is what the sink adds to event handling.
2. `write`: the writer's throughput, records upserted per second in batches of 500 (one transaction
   each), into a fresh database of each backend.
3. `indicators`: `--records` records (1,000,000; `--quick`: 20,000) spread over a year (2025-03-01
   to 2026-02-28) are loaded in bulk, then each query is timed (best of 3): the indicators by day
   over a month, by site over the year, by hour over a day, by skill over the year; and the export
   of a month of records (`GET /v1/records`' paged query).

PostgreSQL: a database of its own (`acd_bench_records_<random>`) on `--postgres` (default
postgresql://postgres@127.0.0.1:5432/postgres), dropped at the end. Results go to
benchmarks/results/records.json (quick runs: benchmarks/results/quick/records.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from acd.config import load_config
from acd.engine import Engine
from acd.events import event_adapter
from acd.records import queries
from acd.records.db import PostgresDB, RecordsDB, SQLiteDB
from acd.records.model import COLUMNS, Record
from acd.records.sink import RecordMetrics, RecordSink
from benchmarks._common import CONFIG_DIR, log, run_metadata, write_results

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
YEAR_START = datetime(2025, 3, 1, 7, 0, tzinfo=UTC).timestamp()
SITES = ["lille", "pau", "nancy", "toulouse", "rennes", "clermont", None]
SKILLS = ["impot_revenu", "prelevement_source", "paiement", "professionnels", "foncier"]
SCORES = [1, 2, 3, 4, 4, 5, 5, 5]
OUTCOMES = ["answered"] * 80 + ["abandoned"] * 10 + ["overflowed"] * 4 + ["callback"] * 3 + ["closed"] * 3


# -- 1. the sink's cost in event handling


def engine_cost(calls: int, with_sink: bool) -> float:
    """Seconds per call (offer, answer, end) through the engine."""
    config = load_config(CONFIG_DIR)
    engine = Engine(config, router="numba")
    sink = RecordSink(SQLiteDB(":memory:"), RecordMetrics(CollectorRegistry()), max_queue=calls + 10)
    if with_sink:
        engine.observer = sink
    agent = next(iter(engine.agents.values()))
    skill = next(iter(agent.skills))
    now = YEAR_START
    n = 0

    def ev(**fields: Any) -> Any:
        nonlocal n
        n += 1
        return event_adapter.validate_python({"id": f"e{n}", **fields})

    engine.apply([ev(type="agent.state", agent_id=agent.id, state="available")], now)
    batches = [
        [
            ev(type="call.offered", call_id=f"c{i}", caller="+33612345678", skill=skill),
            ev(type="call.answered", call_id=f"c{i}", agent_id=agent.id),
            ev(type="call.ended", call_id=f"c{i}", reason="completed"),
            ev(type="agent.state", agent_id=agent.id, state="available"),
        ]
        for i in range(calls)
    ]
    queue = sink._queue if with_sink else None
    started = time.perf_counter()
    for batch in batches:
        now += 60
        engine.apply(batch, now, trusted=True)
        if queue is not None:
            queue.clear()  # the writer keeps up: records do not pile up in memory
    return (time.perf_counter() - started) / calls


def hook_cost(calls: int) -> float:
    """Seconds per call spent in the sink's hooks alone (answered, ended: build and queue a record)."""
    from acd.engine.records import Agent, Call

    sink = RecordSink(SQLiteDB(":memory:"), RecordMetrics(CollectorRegistry()), max_queue=calls + 10)
    agent = Agent("a1", "lille", {"impot_revenu": 3}, "sip:a1@x", 0)
    prepared = []
    for i in range(calls):
        call = Call(f"c{i}", "+33612345678", "impot_revenu", 0, YEAR_START + i, i, department="59")
        call.enqueued_at = call.offered_at
        call.agent_id, call.answered_at, call.ended_at = "a1", call.offered_at + 10, call.offered_at + 300
        call.end_reason = "completed"
        prepared.append(call)
    best = float("inf")
    for _ in range(5):
        sink._queue.clear()
        started = time.perf_counter()
        for call in prepared:
            sink.call_answered(call, agent, 10.0)
            sink.call_ended(call, "completed", None)
        best = min(best, time.perf_counter() - started)
    return best / calls


# -- 2 and 3: the databases


def synthetic(n: int, seed: int = 7) -> list[Record]:
    rng = random.Random(seed)
    span = 365 * 86400
    out = []
    for i in range(n):
        offered = YEAR_START + span * i / n
        outcome = rng.choice(OUTCOMES)
        wait = rng.expovariate(1 / 40) if outcome != "closed" else 0.0
        site = rng.choice(SITES[:-1]) if outcome == "answered" else None
        out.append(
            Record(
                call_id=f"c{i:08d}",
                kind="call",
                skill=rng.choice(SKILLS),
                department=f"{rng.randint(1, 95):02d}",
                site=site,
                agent_id=f"a{rng.randint(1, 800)}" if site else None,
                priority=0,
                needs="",
                offered_at=offered,
                queued_at=offered,
                connected_at=None,
                answered_at=offered + wait if outcome == "answered" else None,
                ended_at=offered + wait + 300,
                wait_s=wait,
                outcome=outcome,
                survey_score=rng.choice([1, 2, 3, 4, 4, 5, 5, 5])
                if outcome == "answered" and i % 5 == 0
                else None,
            )
        )
    return out


async def bulk_load(db: RecordsDB, records: list[Record]) -> float:
    """Load records the fastest way each backend offers (COPY on PostgreSQL); returns seconds."""
    from acd.records.db import _row_params

    started = time.perf_counter()
    if isinstance(db, SQLiteDB):
        conn = db._connect()
        conn.execute("BEGIN")
        placeholders = ", ".join("?" for _ in COLUMNS)
        conn.executemany(
            f"INSERT INTO call_records ({', '.join(COLUMNS)}) VALUES ({placeholders})",
            (_row_params(r, text_times=True) for r in records),
        )
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    else:
        import psycopg

        copy_sql = f"COPY call_records ({', '.join(COLUMNS)}) FROM STDIN"
        async with await psycopg.AsyncConnection.connect(db.url) as conn:
            async with conn.cursor() as cur, cur.copy(copy_sql) as copy:
                for r in records:
                    await copy.write_row(_row_params(r, text_times=False))
            await conn.commit()
            await conn.execute("ANALYZE call_records")
    return time.perf_counter() - started


async def write_throughput(db: RecordsDB, records: list[Record]) -> float:
    """Records per second through the sink's own write path (upserts, 500 per transaction)."""
    started = time.perf_counter()
    for i in range(0, len(records), 500):
        await db.write([("record", r) for r in records[i : i + 500]])
    return len(records) / (time.perf_counter() - started)


async def best_of(n: int, fn: Any) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(n):
        started = time.perf_counter()
        result = await fn()
        best = min(best, time.perf_counter() - started)
    return best, result


async def time_queries(db: RecordsDB) -> dict[str, Any]:
    out: dict[str, Any] = {}

    async def ind(start: date, end: date, by: str | None) -> Any:
        return await queries.indicators(db, start, end, by=by, service_level_s=60)

    cases = {
        "by_day_one_month": (date(2025, 11, 1), date(2025, 11, 30), "day"),
        "by_site_one_year": (date(2025, 3, 1), date(2026, 2, 28), "site"),
        "by_hour_one_day": (date(2025, 11, 18), date(2025, 11, 18), "hour"),
        "by_skill_one_year": (date(2025, 3, 1), date(2026, 2, 28), "skill"),
    }
    for name, (start, end, by) in cases.items():
        seconds, rows = await best_of(3, lambda s=start, e=end, b=by: ind(s, e, b))
        out[name] = {"seconds": round(seconds, 4), "rows": len(rows)}
        log(f"  indicators {name}: {seconds * 1000:.1f} ms ({len(rows)} rows)")

    async def export_month() -> int:
        n = 0
        async for page in queries.records(db, date(2025, 11, 1), date(2025, 11, 30)):
            n += len(page)
        return n

    seconds, n = await best_of(1, export_month)
    out["export_one_month"] = {
        "seconds": round(seconds, 3),
        "records": n,
        "records_per_s": round(n / seconds),
    }
    log(f"  export one month: {n} records in {seconds:.2f} s")
    return out


async def backend_run(kind: str, url_or_path: str, records: list[Record], write_n: int) -> dict[str, Any]:
    db: RecordsDB = SQLiteDB(url_or_path) if kind == "sqlite" else PostgresDB(url_or_path)
    await db.open()
    try:
        log(f"{kind}: upserting {write_n} records through the writer's path")
        rate = await write_throughput(db, synthetic(write_n, seed=11))
        await db.execute("DELETE FROM call_records")
        log(f"{kind}: bulk loading {len(records)} records")
        load_s = await bulk_load(db, records)
        timings = await time_queries(db)
    finally:
        await db.close()
    return {
        "write_records_per_s": round(rate),
        "write_us_per_record": round(1e6 / rate, 1),
        "bulk_load_seconds": round(load_s, 1),
        "queries": timings,
    }


def pg_database(base: str) -> tuple[str, str]:
    import psycopg

    name = f"acd_bench_records_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name, base.rsplit("/", 1)[0] + f"/{name}"


def pg_drop(base: str, name: str) -> None:
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def run(n_records: int, engine_calls: int, write_n: int, postgres: str | None) -> dict[str, Any]:
    results: dict[str, Any] = {
        "meta": run_metadata(),
        "settings": {"records": n_records, "engine_calls": engine_calls, "write_records": write_n},
    }
    log(f"engine: {engine_calls} calls without and with the records sink")
    engine_cost(min(engine_calls, 2000), False)  # warm-up (numba, caches)
    bare, sink = [], []
    for _ in range(7):  # interleaved, best of each: the machine's other load moves both alike
        bare.append(engine_cost(engine_calls, False))
        sink.append(engine_cost(engine_calls, True))
    hook = hook_cost(engine_calls)
    results["engine"] = {
        "us_per_call_without_sink": round(min(bare) * 1e6, 2),
        "us_per_call_with_sink": round(min(sink) * 1e6, 2),
        "sink_us_per_call": round((min(sink) - min(bare)) * 1e6, 2),
        "sink_hooks_us_per_call": round(hook * 1e6, 2),
    }
    log(
        f"  {min(bare) * 1e6:.1f} µs/call bare, {min(sink) * 1e6:.1f} µs/call with the sink; "
        f"the sink's hooks alone {hook * 1e6:.2f} µs/call"
    )
    records = synthetic(n_records)
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = asyncio.run(
            backend_run("sqlite", str(Path(tmp) / "bench.sqlite3"), records, write_n)
        )
    if postgres:
        name, url = pg_database(postgres)
        try:
            results["postgresql"] = asyncio.run(backend_run("postgresql", url, records, write_n))
        finally:
            pg_drop(postgres, name)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 records, fewer calls (CI)")
    parser.add_argument("--records", type=int, help="records for the indicators (default 1,000,000)")
    parser.add_argument("--postgres", default=PG_DEFAULT, help="a PostgreSQL server to create a database on")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    n = args.records or (20_000 if args.quick else 1_000_000)
    results = run(
        n,
        engine_calls=2_000 if args.quick else 20_000,
        write_n=5_000 if args.quick else 50_000,
        postgres=None if args.no_postgres else args.postgres,
    )
    path = write_results("records", results, quick=args.quick)
    log(f"results: {path}")
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
