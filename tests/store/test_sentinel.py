"""Redis Sentinel: with ACD_REDIS_SENTINELS and ACD_REDIS_SENTINEL_MASTER the store asks the
sentinels where the master is, serves through it, and after a failover (`SENTINEL FAILOVER`)
finds the new master by itself, losing nothing it acknowledged. Real processes: a primary, a
replica (`--replicaof`) and a sentinel (`redis-server --sentinel`), each on a free loopback port."""

from __future__ import annotations

import asyncio
import json

from acd.store.redis_log import LogEntry
from tests.store.conftest import PATIENCE_S, RedisServer, SentinelServer, eventually, leader_of
from tests.store.helpers import engine_state, offered

DB = 11  # only for the shared fixtures' flush: these tests run their own redis-servers


def logged_call_ids(server: RedisServer) -> set[str]:
    """The calls offered in the log as `server` holds it now."""
    client = server.client()
    try:
        entries = [LogEntry.from_stream(i, f) for i, f in client.xrange("acd:log")]
    finally:
        client.close()
    return {
        event["call_id"]
        for entry in entries
        if entry.events
        for event in json.loads(entry.events)
        if event["type"] == "call.offered"
    }


def through(sentinel: SentinelServer, **settings) -> dict:
    return {
        "redis_url": None,
        "redis_sentinels": sentinel.address,
        "redis_sentinel_master": sentinel.name,
        **settings,
    }


async def test_the_service_serves_through_the_master_the_sentinels_name(
    cluster, redis_server, sentinel_server
) -> None:
    primary = redis_server(persistent=False)
    replica = redis_server(persistent=False, replica_of=primary)
    sentinel = sentinel_server(primary)
    instances = await cluster(2, **through(sentinel))
    leader = await leader_of(instances)
    for n, instance in enumerate(instances):
        status, body = await instance.events(offered(f"c{n}"))
        assert status == 200, body
    assert logged_call_ids(primary) == {"c0", "c1"}  # written to the master, not the replica
    assert set(leader.service.engine.calls) == {"c0", "c1"}
    status, _ = await instances[1].request("GET", "/readyz")
    assert status == 200
    del replica


async def test_after_a_sentinel_failover_the_service_recovers_by_itself_and_loses_nothing_acknowledged(
    cluster, redis_server, sentinel_server
) -> None:
    primary = redis_server(persistent=False)
    replica = redis_server(persistent=False, replica_of=primary)
    primary.wait_replicas(1)
    sentinel = sentinel_server(primary)
    sentinel.wait_replicas(1)
    # Every acknowledged write is on the replica first: the failover cannot lose it.
    [one] = await cluster(1, **through(sentinel, redis_min_replicas=1, redis_replica_timeout_ms=1000))
    await leader_of([one])

    acknowledged: list[str] = []
    refused = 0
    after_failover = asyncio.Event()
    switched = False

    async def write_on() -> None:
        nonlocal refused
        n = 0
        while not after_failover.is_set():
            n += 1
            status, body = await one.events(offered(f"c{n}"))
            if status == 200:
                acknowledged.append(f"c{n}")
                if switched and len(acknowledged) >= acknowledged_before + 5:
                    after_failover.set()
            else:
                assert status == 503, body
                assert body["error"]["code"] == "store_unavailable"
                refused += 1
                await asyncio.sleep(0.05)

    writer = asyncio.create_task(write_on())
    await eventually(lambda: len(acknowledged) >= 20)
    acknowledged_before = len(acknowledged)
    sentinel.failover()
    await eventually(lambda: sentinel.master_port() == replica.port)
    switched = True
    async with asyncio.timeout(PATIENCE_S):
        await after_failover.wait()  # acknowledged writes again, through the new master
    await writer

    assert set(acknowledged) <= logged_call_ids(replica)  # the new master has every one of them
    assert one.role == "leader"
    # A fresh instance, loading from whatever the sentinels name now, rebuilds the same state.
    [fresh] = await cluster(1, **through(sentinel))
    await eventually(lambda: fresh.role == "follower")
    await eventually(lambda: fresh.service.store.position == one.service.store.position)
    assert set(acknowledged) <= set(fresh.service.engine.calls)
    assert engine_state(fresh.service.engine, 0.0) == engine_state(one.service.engine, 0.0)
