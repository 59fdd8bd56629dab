"""Moving a deployment's state (docs/state.md: `acd state export` on the old store, clear it,
`acd state import`, start the service) loses no call record: those a restart of the old store would
write (the records its snapshot carries, those the replay of the log after it makes again, those of
the contacts the fit to a changed config/ ends) go with the document, and the service the import
starts writes them. On SQLite and PostgreSQL, with Redis."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from acd.clock import ManualClock
from acd.config import Config
from acd.settings import Settings
from acd.store.state_cli import StateCommandError, export_state, import_state
from tests.conftest import T0
from tests.records.test_records_day import day_config
from tests.records.test_records_replay import calls
from tests.store.conftest import cluster, leader_of, raw_redis, redis_url  # noqa: F401  (fixtures)

DB = 5  # this module's Redis database


def _without_paiement() -> Config:
    data: dict[str, Any] = day_config().model_dump(mode="json")
    data["skills"] = [s for s in data["skills"] if s["id"] != "paiement"]
    for agent in data["agents"]:
        agent["skills"].pop("paiement", None)
    data["agents"] = [a for a in data["agents"] if a["skills"]]
    return Config.model_validate(data)


async def test_export_then_import_carries_the_records_a_restart_would_write(
    cluster,  # noqa: F811
    raw_redis,  # noqa: F811
    redis_url,  # noqa: F811
    backend,
) -> None:
    clock = ManualClock(T0)
    settings = {**backend.settings(), "redis_snapshot_fork": False}
    [first] = await cluster(1, config=day_config(), clock=clock, **settings)
    await leader_of([first])
    status, _ = await first.events(
        {"id": "a1-on", "type": "agent.state", "agent_id": "a1", "state": "available"}
    )
    assert status == 200
    backend.stop()  # the records database away: the records wait in memory
    try:
        await calls(first, range(0, 1), clock)  # r0: ends before the snapshot, which carries its record
        first.service.store.writer.maybe_snapshot(force=True)  # type: ignore[attr-defined]
        await first.service.store.snapshots.settle()  # type: ignore[attr-defined]
        assert raw_redis.hget("acd:snapshot", "records")
        await calls(first, range(1, 2), clock)  # r1: after the snapshot, in the log
        status, _ = await first.events({"id": "s1", "type": "survey.result", "call_id": "r1", "score": 4})
        assert status == 200
        p2 = {"type": "call.offered", "call_id": "p2", "caller": "+33611111111", "skill": "paiement"}
        status, body = await first.events({"id": "p2", **p2})
        assert body["results"][0]["decision"]["action"] == "queue"  # nobody for paiement: it waits
        writer = first.service.records._task
        await first.crash()
        writer.cancel()  # the process is gone: so is what it had queued
        with contextlib.suppress(asyncio.CancelledError):
            await writer
    finally:
        backend.restart()

    changed = _without_paiement()  # p2's skill is gone: the export's fit ends it (lost)
    move = Settings(redis_url=redis_url, **backend.settings())
    document = await export_state(move, changed)
    assert {c["id"]: c["status"] for c in document["calls"]}["p2"] == "ended"
    raw_redis.flushdb()  # the old store cleared (or another one)
    await import_state(move, changed, document)

    [second] = await cluster(1, config=changed, clock=clock, **settings)
    await leader_of([second])
    await second.service.records.flush(30)
    rows = backend.rows("SELECT call_id, kind, outcome, survey_score FROM call_records ORDER BY call_id")
    assert rows == [
        ("p2", "call", "lost", None),
        ("r0", "call", "answered", None),
        ("r1", "call", "answered", 4),
    ]


@pytest.mark.parametrize(
    "records",
    [
        "not a list",
        [["record", {"call_id": "x"}]],  # a record without its fields
        [["survey", ["x", "call"]]],  # a score without its score
        [["mystery", {}]],
    ],
)
async def test_an_import_refuses_records_it_cannot_read(records, redis_url, tmp_path) -> None:  # noqa: F811
    from acd.engine import Engine
    from acd.engine import state as engine_state

    document = engine_state.dump(Engine(day_config(), router="reference"))
    document["records"] = records
    settings = Settings(redis_url=redis_url, records_url=f"sqlite:///{tmp_path / 'r.sqlite3'}")
    with pytest.raises(StateCommandError, match="records"):
        await import_state(settings, day_config(), document)
