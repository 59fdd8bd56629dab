"""The records database stopped and restarted under traffic: the engine never waits, records queue
and are retried (counted in the metrics), and nothing is lost. Retention purges old records."""

from __future__ import annotations

import asyncio
from datetime import date, datetime

from acd.api.handlers import SERVICE
from acd.records.model import LINE_TZ, Record
from tests.records.test_records_day import DAY, day_config


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not exposed")


async def calls(platform, clock, ids: range) -> None:
    for i in ids:
        assert (await platform.offer(f"o{i}"))["action"] == "connect"
        clock.advance(2)
        await platform.send("call.answered", call_id=f"o{i}", agent_id="a1")
        clock.advance(30)
        await platform.send("call.ended", call_id=f"o{i}", reason="completed")


async def test_the_database_stopped_and_restarted_under_traffic_loses_nothing(make_platform, clock, backend):
    platform = await make_platform(config=day_config(), **backend.settings())
    service = platform.client.app[SERVICE]
    await platform.agent("a1", "available")
    await calls(platform, clock, range(0, 20))
    await service.records.flush()
    backend.stop()
    try:
        await calls(platform, clock, range(20, 60))  # every event still answered at once
        async with asyncio.timeout(30):
            while service.records.metrics.failed._value.get() == 0:
                await asyncio.sleep(0.05)
        _, text = await platform.request("GET", "/metrics", sign=False)
        assert metric(text, "acd_records_queued") > 0
        assert metric(text, "acd_records_failed_total") > 0
        assert metric(text, "acd_records_lag_seconds") > 0
    finally:
        backend.restart()
    await calls(platform, clock, range(60, 70))
    await service.records.flush(30)
    rows = backend.rows("SELECT call_id FROM call_records WHERE kind = 'call'")
    assert sorted(r[0] for r in rows) == sorted(f"o{i}" for i in range(70))
    _, text = await platform.request("GET", "/metrics", sign=False)
    assert metric(text, "acd_records_queued") == 0
    assert metric(text, "acd_records_written_total") >= 70
    assert metric(text, "acd_records_dropped_total") == 0


async def test_a_database_away_at_start_up_does_not_stop_the_service(make_platform, clock, backend):
    backend.create_empty()
    backend.stop()
    try:
        platform = await make_platform(config=day_config(), **backend.settings())
        service = platform.client.app[SERVICE]
        await platform.agent("a1", "available")
        await calls(platform, clock, range(0, 5))
        assert service.records.pending == 5
    finally:
        backend.restart()
    await service.records.flush(30)
    assert len(backend.rows("SELECT call_id FROM call_records")) == 5


async def test_a_full_queue_drops_the_oldest_and_counts_it(make_platform, clock, backend):
    platform = await make_platform(config=day_config(), records_queue_max=100, **backend.settings())
    service = platform.client.app[SERVICE]
    await platform.agent("a1", "available")
    backend.stop()
    try:
        await calls(platform, clock, range(0, 120))
        # one record and one survey command per call (the survey share is 1): 120 records queued
        _, text = await platform.request("GET", "/metrics", sign=False)
        assert metric(text, "acd_records_queued") == 100
        assert metric(text, "acd_records_dropped_total") == 20
    finally:
        backend.restart()
    await service.records.flush(30)
    written = {r[0] for r in backend.rows("SELECT call_id FROM call_records")}
    assert written >= {f"o{i}" for i in range(20, 120)}  # the newest 100, all of them
    # and at most what a write in flight when the oldest were dropped took with it
    assert len(written) <= 100 + 20


async def test_writing_a_record_again_leaves_one_row_and_keeps_the_first_survey_score(
    make_platform, clock, backend
):
    platform = await make_platform(config=day_config(), **backend.settings())
    sink = platform.client.app[SERVICE].records
    record = Record(
        "x1",
        "call",
        "impot_revenu",
        None,
        "lille",
        "a1",
        0,
        "",
        1772442000.0,
        None,
        None,
        None,
        None,
        1.0,
        "answered",
    )
    await sink.db.write([("record", record), ("survey", ("x1", "call", 4)), ("survey", ("x1", "call", 1))])
    await sink.db.write([("record", record)])  # a replay
    assert backend.rows("SELECT COUNT(*), MAX(survey_score) FROM call_records") == [(1, 4)]


async def test_retention_purges_records_older_than_the_configured_days(make_platform, clock, backend):
    platform = await make_platform(config=day_config(retention_days=30), **backend.settings())
    sink = platform.client.app[SERVICE].records
    old = Record(
        "old",
        "call",
        "impot_revenu",
        None,
        None,
        None,
        0,
        "",
        1767261600.0,
        None,
        None,
        None,
        None,
        1.0,
        "abandoned",
    )
    new = Record(
        "new",
        "call",
        "impot_revenu",
        None,
        None,
        None,
        0,
        "",
        1772442000.0,
        None,
        None,
        None,
        None,
        1.0,
        "abandoned",
    )
    await sink.db.write([("record", old), ("record", new)])  # 2026-01-01 and 2026-03-02
    # The service's day is its clock's (2026-03-02 here, whatever the date of the run): 30 days
    # keep the new record; the wall clock's day would purge both.
    assert datetime.fromtimestamp(clock.now(), LINE_TZ).date() == date(2026, 3, 2)
    assert await sink.purge() == 1
    assert backend.rows("SELECT call_id FROM call_records") == [("new",)]
    assert DAY == "2026-03-02"


async def test_records_dropped_while_their_batch_is_written_never_take_newer_ones_with_them(tmp_path):
    """The queue overflows while the writer's batch is in flight: what the writer removes after
    writing is exactly what it wrote, so every record still queued is written later."""
    from prometheus_client import CollectorRegistry

    from acd.records.db import SQLiteDB
    from acd.records.sink import RecordMetrics, RecordSink

    release = asyncio.Event()

    class Held(SQLiteDB):
        async def write(self, ops):
            await release.wait()
            await super().write(ops)

    db = Held(tmp_path / "r.sqlite3")
    sink = RecordSink(db, RecordMetrics(CollectorRegistry()), max_queue=10, batch=5)
    await sink.start()

    def record(i: int) -> Record:
        return Record(
            f"q{i}",
            "call",
            "impot_revenu",
            None,
            None,
            None,
            0,
            "",
            1772442000.0 + i,
            None,
            None,
            None,
            None,
            1.0,
            "abandoned",
        )

    try:
        for i in range(5):
            sink._record(record(i))
        await asyncio.sleep(0.2)  # the writer holds q0-q4
        for i in range(5, 18):
            sink._record(record(i))  # 8 dropped: q0-q7 (q0-q4 are in the batch being written)
        release.set()
        await sink.flush(10)
        rows = {r[0] for r in db._connect().execute("SELECT call_id FROM call_records").fetchall()}
        assert rows == {f"q{i}" for i in range(5)} | {f"q{i}" for i in range(8, 18)}
        assert sink.metrics.dropped._value.get() == 8
    finally:
        await sink.stop()
