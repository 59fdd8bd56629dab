"""Durability with Redis (in-process instances, a real Redis): nothing acknowledged is lost.

Every accepted write is in the log before its answer; a refused one never is; a restarted instance
(after a crash: no snapshot, no goodbye) rebuilds exactly the state it had, timers included; the
snapshot is versioned and trims the log; commands survive with the entry that caused them.
"""

from __future__ import annotations

import json

import pytest

from acd.clock import ManualClock
from acd.store import snapshot as snap
from acd.store.redis_log import LogEntry
from tests.conftest import T0
from tests.store.conftest import eventually, leader_of
from tests.store.helpers import agent_state, eid, engine_state, offered, store_config

DB = 12


async def test_an_accepted_event_is_in_the_log_before_it_is_acknowledged(cluster, raw_redis) -> None:
    [one] = await cluster()
    status, body = await one.events(offered("c1"))
    assert status == 200 and body["results"][0]["status"] == "applied", body
    [(entry_id, fields)] = raw_redis.xrange("acd:log")
    entry = LogEntry.from_stream(entry_id, fields)
    assert (entry.seq, entry.kind) == (1, "a")
    assert [e["call_id"] for e in json.loads(entry.events)] == ["c1"]


async def test_a_refused_batch_is_neither_applied_nor_logged(cluster, raw_redis) -> None:
    [one] = await cluster()
    await one.events(offered("c1"))
    status, body = await one.events(offered("c2"), agent_state("nobody", "available"))
    assert status == 422 and body["error"]["code"] == "unknown_agent"
    assert raw_redis.xlen("acd:log") == 1
    assert "c2" not in one.service.engine.calls


async def test_a_crashed_instance_comes_back_with_calls_callbacks_appointments_and_seen_ids(cluster) -> None:
    clock = ManualClock(T0)
    config = store_config()
    [first] = await cluster(config=config, clock=clock)
    await first.events(agent_state("a1", "available"), agent_state("a3", "available"))
    for i in range(6):
        status, _ = await first.events(offered(f"c{i}", priority=i % 3))
        assert status == 200
    clock.advance(5)
    status, callback = await first.request(
        "POST", "/v1/callbacks", {"number": "+33611111111", "skill": "paiement"}
    )
    assert status == 201
    status, appointment = await first.request(
        "POST",
        "/v1/appointments",
        {"number": "+33622222222", "skill": "impot_revenu", "start": "2026-03-03T10:00:00+01:00"},
    )
    assert status == 201, appointment
    repeated = offered("c-dup")
    await first.events(repeated)
    before = engine_state(first.service.engine, clock.now())

    await first.crash()
    [second] = await cluster(config=config, clock=clock)
    await leader_of([second])  # once the crashed instance's lease lapsed
    assert engine_state(second.service.engine, clock.now()) == before
    for i in range(6):
        _, call = await second.request("GET", f"/v1/calls/c{i}")
        assert call["status"] == before["calls"][f"c{i}"]["status"]
    _, again = await second.request("GET", f"/v1/callbacks/{callback['callback_id']}")
    assert again["status"] == before["callbacks"][callback["callback_id"]]["status"] == "dialing"
    _, booked = await second.request("GET", f"/v1/appointments/{appointment['appointment_id']}")
    assert booked["status"] == "booked"
    status, body = await second.events(repeated)
    assert body["results"][0]["status"] == "duplicate"


async def test_timer_ticks_are_logged_so_a_replay_fires_them_at_the_same_times(cluster, raw_redis) -> None:
    clock = ManualClock(T0)
    [first] = await cluster(config=store_config(), clock=clock)
    await first.events(agent_state("a1", "available"))
    await first.events(offered("c1"))  # a1 takes it
    await first.events(offered("c2"))  # waits
    await first.events({"id": eid(), "type": "call.answered", "call_id": "c1", "agent_id": "a1"})
    await first.events({"id": eid(), "type": "call.ended", "call_id": "c1", "reason": "completed"})
    clock.advance(31)  # a1's wrap-up ends: the timer hands it c2
    first.service.wake()
    await eventually(lambda: first.service.engine.calls["c2"].agent_id == "a1")
    assert any(LogEntry.from_stream(i, f).kind == "t" for i, f in raw_redis.xrange("acd:log"))
    before = engine_state(first.service.engine, clock.now())

    await first.crash()
    [second] = await cluster(config=store_config(), clock=clock)
    assert engine_state(second.service.engine, clock.now()) == before


async def test_a_snapshot_is_versioned_covers_the_log_and_trims_it(cluster, raw_redis) -> None:
    clock = ManualClock(T0)
    [first] = await cluster(clock=clock, redis_snapshot_every=5)
    for i in range(12):
        await first.events(offered(f"c{i}"))
    await eventually(lambda: raw_redis.exists("acd:snapshot"))
    header = snap.read_header(raw_redis.hget("acd:snapshot", "header"))
    assert header["format"] == snap.FORMAT_VERSION and header["acd"]
    assert header["config"] == snap.config_fingerprint(first.service.config)
    covered = raw_redis.hget("acd:snapshot", "id").decode()
    await eventually(lambda: raw_redis.xrange("acd:log")[0][0].decode() >= covered)  # trimmed
    assert raw_redis.xlen("acd:log") < 12
    before = engine_state(first.service.engine, clock.now())

    await first.crash()
    [second] = await cluster(clock=clock)
    assert engine_state(second.service.engine, clock.now()) == before


async def test_a_clean_stop_writes_a_snapshot_and_hands_the_lease_over(cluster, raw_redis) -> None:
    [one] = await cluster()
    await one.events(offered("c1"))
    await one.client.close()
    assert int(raw_redis.hget("acd:snapshot", "seq")) == 1
    assert raw_redis.get("acd:lease") is None


async def test_a_snapshot_of_an_unknown_format_is_refused_and_the_instance_is_not_ready(
    cluster, raw_redis
) -> None:
    [one] = await cluster()
    await one.events(offered("c1"))
    await one.client.close()
    header = json.loads(raw_redis.hget("acd:snapshot", "header"))
    raw_redis.hset("acd:snapshot", "header", json.dumps({**header, "format": 99}))
    [two] = await cluster()
    status, body = await two.request("GET", "/readyz")
    assert status == 503
    status, body = await two.events(offered("c2"))
    assert status == 503 and body["error"]["code"] == "store_unavailable"


async def test_commands_are_stored_with_their_entry_and_delivered_after_a_crash(
    cluster, sink, raw_redis
) -> None:
    clock = ManualClock(T0)
    nowhere = "http://127.0.0.1:9/commands"  # the platform is unreachable for now
    [first] = await cluster(clock=clock, command_url=nowhere)
    await first.events(offered("c1"))
    await first.events(agent_state("a1", "available"))  # a1 takes c1: a `connect` command
    assert raw_redis.hlen("acd:outbox:commands") == 1
    await first.crash()

    await cluster(clock=clock, command_url=sink.url)
    await eventually(lambda: sink.ids)
    await eventually(lambda: raw_redis.hlen("acd:outbox:commands") == 0)
    assert list(sink.ids.values()) == [1]
    assert sink.received[0]["command"] == "connect" and sink.received[0]["call_id"] == "c1"


async def test_deployments_with_different_prefixes_share_one_redis_without_seeing_each_other(
    cluster, raw_redis
) -> None:
    [blue] = await cluster(redis_prefix="blue:")
    [green] = await cluster(redis_prefix="green:")
    assert (blue.role, green.role) == ("leader", "leader")
    await blue.events(offered("c1"))
    status, _ = await green.events(offered("c1"))  # no clash: another deployment
    assert status == 200
    assert {k.decode().split(":")[0] for k in raw_redis.keys("*")} == {"blue", "green"}


@pytest.mark.parametrize("fork", [True, False])
async def test_snapshots_made_in_a_forked_child_or_in_place_load_the_same(
    cluster, raw_redis, fork: bool
) -> None:
    clock = ManualClock(T0)
    [first] = await cluster(clock=clock, redis_snapshot_every=3, redis_snapshot_fork=fork)
    for i in range(4):
        await first.events(offered(f"c{i}"))
    await eventually(lambda: raw_redis.exists("acd:snapshot"))
    before = engine_state(first.service.engine, clock.now())
    await first.crash()
    [second] = await cluster(clock=clock)
    assert engine_state(second.service.engine, clock.now()) == before


async def test_a_log_that_lost_its_tail_is_not_written_on_with_a_gap(cluster, raw_redis) -> None:
    [one] = await cluster()
    await leader_of([one])
    for n in range(3):
        status, body = await one.events(offered(f"c{n}"))
        assert status == 200, body
    [(last_id, _)] = raw_redis.xrevrange("acd:log", count=1)
    raw_redis.xdel("acd:log", last_id)  # Redis lost the last acknowledged write (a failover, say)

    status, body = await one.events(offered("next"))
    assert status == 503 and body["error"]["code"] == "store_unavailable", body
    await eventually(lambda: one.role == "leader")
    status, body = await one.events(offered("next"))  # the platform's retry
    assert status == 200 and body["results"][0]["status"] == "applied", body

    seqs = [LogEntry.from_stream(i, f).seq for i, f in raw_redis.xrange("acd:log")]
    assert seqs == [1, 2, 3]  # no gap: the instance reloaded what Redis holds, then wrote on
    assert set(one.service.engine.calls) == {"c0", "c1", "next"}
