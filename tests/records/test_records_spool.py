"""The memory state (no Redis) stopped while the records database is away: the records still queued
are not lost but written to a spool file in ACD_DATA_DIR, queued again at the next start and
written; the spool goes once they are. A spool that cannot be written is said (ERROR, the count)
and counted in `acd_records_dropped_total`."""

from __future__ import annotations

import logging
from pathlib import Path

from acd.api.handlers import SERVICE
from tests.records.test_records_day import day_config
from tests.records.test_records_outage import calls

SPOOL = "records-spool.json"


async def test_records_queued_at_a_stop_without_the_database_are_spooled_and_written_later(
    make_platform, clock, backend, tmp_path: Path, caplog
):
    data = tmp_path / "data"
    backend.create_empty()
    platform = await make_platform(config=day_config(), data_dir=str(data), **backend.settings())
    service = platform.client.app[SERVICE]
    await platform.agent("a1", "available")
    await calls(platform, clock, range(0, 3))
    await service.records.flush()
    backend.stop()
    try:
        await calls(platform, clock, range(3, 10))  # 7 records queued
        assert service.records.pending == 7
        with caplog.at_level(logging.ERROR, logger="acd.records"):
            await platform.client.close()  # the service stops (SIGTERM)
        assert (data / SPOOL).is_file()
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any("7 records" in m and SPOOL in m for m in errors), errors
        assert service.records.metrics.dropped._value.get() == 0
    finally:
        backend.restart()
    assert sorted(r[0] for r in backend.rows("SELECT call_id FROM call_records")) == ["o0", "o1", "o2"]

    # the next start (a new memory state) queues them again and writes them; the spool goes
    again = await make_platform(config=day_config(), data_dir=str(data), **backend.settings())
    await again.client.app[SERVICE].records.flush(30)
    rows = backend.rows("SELECT call_id, survey_score FROM call_records WHERE kind = 'call'")
    assert sorted(r[0] for r in rows) == [f"o{i}" for i in range(10)]
    assert not (data / SPOOL).exists()


async def test_a_spool_that_cannot_be_written_is_said_and_counted(
    make_platform, clock, backend, tmp_path: Path, caplog
):
    data = tmp_path / "data"
    backend.create_empty()
    platform = await make_platform(config=day_config(), data_dir=str(data), **backend.settings())
    service = platform.client.app[SERVICE]
    await platform.agent("a1", "available")
    (data / SPOOL).mkdir(parents=True)  # the spool's name is taken: it cannot be written
    backend.stop()
    try:
        await calls(platform, clock, range(0, 4))
        with caplog.at_level(logging.ERROR, logger="acd.records"):
            await platform.client.close()
        errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert any("4 records" in m and "lost" in m for m in errors), errors
        assert service.records.metrics.dropped._value.get() == 4
    finally:
        backend.restart()
