"""With Redis: a leader that crashes with records still queued (its database away) loses none of
them, and the replay after the crash writes no record twice. Only the leader writes."""

from __future__ import annotations

import asyncio
import contextlib

from acd.clock import ManualClock
from tests.conftest import T0
from tests.records.test_records_day import day_config
from tests.store.conftest import cluster, eventually, leader_of, redis_url  # noqa: F401  (fixtures)

DB = 9  # this module's Redis database


async def calls(instance, ids: range, clock: ManualClock) -> None:
    for i in ids:
        for event in (
            {"type": "call.offered", "call_id": f"r{i}", "caller": "+33612345678", "skill": "impot_revenu"},
            {"type": "call.answered", "call_id": f"r{i}", "agent_id": "a1"},
            {"type": "call.ended", "call_id": f"r{i}", "reason": "completed"},
        ):
            clock.advance(5)
            status, body = await instance.events({"id": f"{event['type']}-{i}", **event})
            assert status == 200, body


async def leader_and_follower(cluster, clock: ManualClock, settings: dict) -> tuple:  # noqa: F811
    """Two instances sharing the Redis store; the leader's agent a1 available."""
    instances = await cluster(2, config=day_config(), clock=clock, **settings)
    leader = await leader_of(instances)
    follower = next(i for i in instances if i is not leader)
    await leader.events({"id": "a1-on", "type": "agent.state", "agent_id": "a1", "state": "available"})
    return leader, follower


async def test_a_crash_with_records_queued_then_the_replay_writes_each_record_once(cluster, backend):  # noqa: F811
    clock = ManualClock(T0)
    [first] = await cluster(1, config=day_config(), clock=clock, **backend.settings())
    await leader_of([first])
    status, _ = await first.events(
        {"id": "a1-on", "type": "agent.state", "agent_id": "a1", "state": "available"}
    )
    assert status == 200
    await calls(first, range(0, 10), clock)
    await first.service.records.flush(30)
    before = backend.rows("SELECT call_id, ended_at FROM call_records ORDER BY call_id")
    assert len(before) == 10
    backend.stop()
    try:
        await calls(first, range(10, 20), clock)  # acknowledged; their records wait in memory
        assert first.service.records.pending >= 10
        writer = first.service.records._task
        await first.crash()
        writer.cancel()  # the process is gone: so is what it had queued
        with contextlib.suppress(asyncio.CancelledError):
            await writer
    finally:
        backend.restart()
    [second] = await cluster(1, config=day_config(), clock=clock, **backend.settings())
    await leader_of([second])
    await second.service.records.flush(30)
    after = backend.rows("SELECT call_id, ended_at FROM call_records ORDER BY call_id")
    assert sorted(c for c, _ in after) == sorted(f"r{i}" for i in range(20))  # each once
    assert [row for row in after if row[0] in {c for c, _ in before}] == before  # rewritten the same


async def test_followers_keep_records_queued_but_never_write(cluster, backend):  # noqa: F811
    clock = ManualClock(T0)
    leader, follower = await leader_and_follower(cluster, clock, backend.settings())
    await calls(leader, range(0, 5), clock)
    await leader.service.records.flush(30)
    await eventually(lambda: follower.service.records.pending >= 5)
    assert follower.service.records.metrics.written._value.get() == 0
    assert follower.service.records.lag() == 0.0  # a follower's queue is no backlog: no lag alert
    assert leader.service.records.metrics.written._value.get() == 5
    assert len(backend.rows("SELECT call_id FROM call_records")) == 5


async def test_records_queued_before_the_last_snapshot_survive_a_crash(cluster, backend):  # noqa: F811
    """The replay after a crash starts at the last snapshot: records of contacts that ended before
    it, still queued when the leader died, must come from the snapshot itself."""
    clock = ManualClock(T0)
    settings = {**backend.settings(), "redis_snapshot_every": 6, "redis_snapshot_fork": False}
    [first] = await cluster(1, config=day_config(), clock=clock, **settings)
    await leader_of([first])
    status, _ = await first.events(
        {"id": "a1-on", "type": "agent.state", "agent_id": "a1", "state": "available"}
    )
    assert status == 200
    backend.stop()
    try:
        await calls(first, range(0, 6), clock)
        status, _ = await first.events({"id": "s3", "type": "survey.result", "call_id": "r3", "score": 5})
        assert status == 200
        await calls(first, range(6, 10), clock)  # 31 entries: snapshots cover all but the tail
        assert first.service.records.pending >= 11
        redis = first.service.store.log.client
        await eventually(lambda: first.service.store.position.seq >= 32)
        snapshot_seq = await snapshot_seq_at_least_25(redis, first.service.store.log.snapshot_key)
        assert snapshot_seq >= 25  # the crash comes after a snapshot covering most of the contacts
        writer = first.service.records._task
        await first.crash()
        writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await writer
    finally:
        backend.restart()
    [second] = await cluster(1, config=day_config(), clock=clock, **settings)
    await leader_of([second])
    await second.service.records.flush(30)
    after = backend.rows("SELECT call_id, survey_score FROM call_records ORDER BY call_id")
    assert sorted(c for c, _ in after) == sorted(f"r{i}" for i in range(10))
    assert {c: s for c, s in after if s is not None} == {"r3": 5}  # the survey's op was carried too


async def snapshot_seq_at_least_25(redis, key: str) -> int:
    """The snapshot's seq once the snapshot written in the background has landed."""
    for _ in range(200):
        seq = await redis.hget(key, "seq")
        if seq is not None and int(seq) >= 25:
            return int(seq)
        await asyncio.sleep(0.02)
    seq = await redis.hget(key, "seq")
    return int(seq or 0)


def queued_records(instance) -> list[tuple[str, str]]:
    """The (call_id, kind) of each record in the instance's queue, in order."""
    return [(op[1].call_id, op[1].kind) for _, op in instance.service.records._queue if op[0] == "record"]


async def test_a_follower_that_reloads_queues_each_record_once(cluster, backend):  # noqa: F811
    """A follower keeps the records it replays queued (it takes them over if it leads). Reloading
    its state (a resync) replays the log again: its queue must not then hold a contact twice."""
    clock = ManualClock(T0)
    leader, follower = await leader_and_follower(cluster, clock, backend.settings())
    await calls(leader, range(0, 5), clock)
    await eventually(lambda: follower.service.store.position.seq == leader.service.store.position.seq)
    before = queued_records(follower)
    assert sorted({c for c, _ in before}) == [f"r{i}" for i in range(5)]
    assert len(before) == len(set(before))
    await follower.service.store.replica.reload()  # no snapshot: the whole log again
    assert queued_records(follower) == before


async def test_a_follower_that_reloads_from_a_snapshot_queues_what_it_carried_and_the_rest_once(
    cluster,  # noqa: F811
    backend,
):
    clock = ManualClock(T0)
    settings = {**backend.settings(), "redis_snapshot_every": 6, "redis_snapshot_fork": False}
    leader, follower = await leader_and_follower(cluster, clock, settings)
    backend.stop()  # the leader cannot write: its queue, so its snapshots, carry every record
    try:
        await calls(leader, range(0, 10), clock)
        redis = leader.service.store.log.client
        snapshot_seq = await snapshot_seq_at_least_25(redis, leader.service.store.log.snapshot_key)
        assert snapshot_seq >= 25
        await eventually(lambda: follower.service.store.position.seq == leader.service.store.position.seq)
        before = queued_records(follower)
        assert len(before) == len(set(before)) and {c for c, _ in before} == {f"r{i}" for i in range(10)}
        await follower.service.store.replica.reload()
        after = queued_records(follower)
        assert len(after) == len(set(after))  # each contact once, not its replayed copy beside it
        assert sorted(after) == sorted(before)  # none lost: the snapshot carried those before it
    finally:
        backend.restart()


def test_restoring_a_snapshots_carry_replaces_the_queue_unless_the_snapshot_predates_carries(tmp_path):
    from prometheus_client import CollectorRegistry

    from acd.records.db import open_db
    from acd.records.model import Record
    from acd.records.sink import RecordMetrics, RecordSink

    def record(call_id: str) -> Record:
        return Record(
            call_id,
            "inbound",
            "impot_revenu",
            None,
            None,
            None,
            0,
            "",
            T0,
            None,
            None,
            None,
            T0 + 5,
            5.0,
            "abandoned",
        )

    sink = RecordSink(open_db(None, tmp_path), RecordMetrics(CollectorRegistry()))
    sink._record(record("c1"))
    carried = sink.carried()
    sink._record(record("c2"))
    assert sink.restore(None) == 0 and sink.pending == 2  # an older snapshot: the queue is kept
    assert sink.restore(carried) == 1 and [op[1].call_id for _, op in sink._queue] == ["c1"]
    assert sink.restore(b"") == 0 and sink.pending == 0  # nothing was unwritten at the snapshot
