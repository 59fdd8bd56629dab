"""ACD_REDIS_MIN_REPLICAS: a write is answered only once that many replicas hold its log entry
(Redis `WAIT` after the fenced append); short of them in time, it answers 503 and is counted, yet
stays stored on the primary, so the platform's retry answers `duplicate`. Against a real primary
and a real replica (`--replicaof`), each a redis-server of its own on a free loopback port."""

from __future__ import annotations

import asyncio
from typing import Any

from acd.store.redis_log import LogEntry
from tests.store.conftest import RedisServer, eventually, leader_of
from tests.store.helpers import offered

DB = 11  # only for the shared fixtures' flush: these tests run their own redis-servers


def logged_event_ids(server: RedisServer) -> set[str]:
    """The event ids in the log as `server` holds it now."""
    import json

    client = server.client()
    try:
        entries = [LogEntry.from_stream(i, f) for i, f in client.xrange("acd:log")]
    finally:
        client.close()
    return {event["id"] for entry in entries if entry.events for event in json.loads(entry.events)}


def sample(instance: Any, name: str) -> float:
    return instance.service.registry.get_sample_value(name) or 0.0


async def primary_and_replica(redis_server) -> tuple[RedisServer, RedisServer]:
    primary = redis_server(persistent=False)
    replica = redis_server(persistent=False, replica_of=primary)
    primary.wait_replicas(1)
    return primary, replica


async def test_a_write_is_answered_once_the_replica_holds_its_log_entry(cluster, redis_server) -> None:
    primary, replica = await primary_and_replica(redis_server)
    instances = await cluster(2, redis_url=primary.url, redis_min_replicas=1, redis_replica_timeout_ms=4000)
    leader = await leader_of(instances)
    follower = next(i for i in instances if i is not leader)
    await eventually(lambda: follower.role == "follower")

    for n, instance in enumerate((leader, follower, leader, follower)):
        event = offered(f"c{n}")
        status, body = await instance.events(event)
        assert status == 200, body
        assert body["results"][0]["status"] == "applied"
        # Answered: the replica has it already (read at once, no waiting).
        assert event["id"] in logged_event_ids(replica), instance is leader

    assert sample(leader, "acd_store_replicas_acknowledged") == 1
    assert sample(leader, "acd_store_unreplicated_writes_total") == 0


async def test_a_write_the_replica_does_not_confirm_in_time_answers_503_but_stays_stored(
    cluster, redis_server, caplog
) -> None:
    primary, replica = await primary_and_replica(redis_server)
    instances = await cluster(2, redis_url=primary.url, redis_min_replicas=1, redis_replica_timeout_ms=300)
    leader = await leader_of(instances)
    follower = next(i for i in instances if i is not leader)
    await eventually(lambda: follower.role == "follower")

    replica.pause()  # connected, but confirms nothing
    refused = []
    for n, instance in enumerate((leader, follower)):
        event = offered(f"stalled{n}")
        status, body = await instance.events(event)
        assert status == 503, body
        assert body["error"]["code"] == "store_unavailable"
        assert "replicas" in body["error"]["message"]
        refused.append(event)
    assert sample(leader, "acd_store_unreplicated_writes_total") == 2
    assert sample(leader, "acd_store_replicas_acknowledged") == 0
    assert any("replicas confirmed" in r.getMessage() for r in caplog.records)
    # Not acknowledged, yet applied and stored on the primary: nothing is rolled back.
    assert {e["id"] for e in refused} <= logged_event_ids(primary)
    assert {"stalled0", "stalled1"} <= set(leader.service.engine.calls)

    replica.resume()
    await asyncio.to_thread(primary.wait_replicas, 1)  # off the loop: the lease is renewed meanwhile
    for event, instance in zip(refused, (leader, follower), strict=True):  # the platform retries
        status, body = await instance.events(event)
        assert status == 200, body
        assert body["results"][0]["status"] == "duplicate"
    status, body = await follower.events(offered("after"))
    assert status == 200, body
    assert leader.role == "leader"  # a shortfall is no reason to step down
