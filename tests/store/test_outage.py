"""Redis stopped (kill -9) and restarted under running instances: `/readyz` turns 503, writes
answer 503 with a JSON error and nothing is acknowledged that is not stored; the service recovers
by itself when Redis returns. Each test runs its own redis-server on a free port."""

from __future__ import annotations

import asyncio

from acd.clock import ManualClock
from tests.conftest import T0
from tests.store.conftest import eventually, leader_of
from tests.store.helpers import agent_state, engine_state, offered

DB = 11  # only for the shared fixtures' flush: these tests run their own redis-server


async def ready(instance) -> bool:
    status, _ = await instance.request("GET", "/readyz")
    return status == 200


async def not_ready(instance) -> bool:
    status, _ = await instance.request("GET", "/readyz")
    return status == 503


async def test_while_redis_is_down_writes_get_503_and_the_service_recovers_by_itself(
    cluster, redis_server
) -> None:
    server = redis_server(persistent=True)
    clock = ManualClock(T0)
    [one] = await cluster(clock=clock, redis_url=server.url)
    acknowledged = []
    for i in range(5):
        status, _ = await one.events(offered(f"c{i}"))
        assert status == 200
        acknowledged.append(f"c{i}")

    server.kill()
    await eventually(lambda: not_ready(one), timeout=10)
    status, body = await one.events(offered("lost"))
    assert status == 503
    assert body["error"]["code"] == "store_unavailable" and body["error"]["message"]
    # bad input by config/ alone is still bad input, with the store away: its 4xx, not a 503
    for bad, field in (
        ([offered("x1"), offered("x2", skill="astrologie")], "skill"),
        ([offered("x3", needs=["klingon"])], "needs"),
    ):
        status, body = await one.events(bad)
        assert status == 422 and body["error"]["code"] == "unknown_skill", body
        assert body["error"]["details"]["field"] == field
    status, body = await one.request(
        "POST", "/v1/callbacks", {"number": "+33612345678", "skill": "astrologie"}
    )
    assert status == 422 and body["error"]["code"] == "unknown_skill", body
    # what only the state can say (an unknown call, agent) waits for the store: a stale replica
    # could refuse what the leader has
    ended = {"id": "u1", "type": "call.ended", "call_id": "nope", "reason": "completed"}
    status, body = await one.events(ended)
    assert status == 503 and body["error"]["code"] == "store_unavailable"

    server.start()  # same port, same append-only file
    await eventually(lambda: ready(one), timeout=20)
    await leader_of([one])
    status, body = await one.events(offered("after"))
    assert status == 200, body
    assert set(one.service.engine.calls) == {*acknowledged, "after"}


async def test_two_instances_ride_out_an_outage_and_one_leads_afterwards(cluster, redis_server) -> None:
    server = redis_server(persistent=True)
    clock = ManualClock(T0)
    instances = await cluster(2, clock=clock, redis_url=server.url)
    leader = await leader_of(instances)
    await leader.events(agent_state("a1", "available"))
    await instances[0].events(offered("c1"))
    await instances[1].events(offered("c2"))

    server.kill()
    await asyncio.gather(*(eventually(lambda i=i: not_ready(i), timeout=10) for i in instances))
    for instance in instances:
        status, body = await instance.events(offered("during"))
        assert status == 503 and body["error"]["code"] == "store_unavailable"

    server.start()
    leader = await leader_of(instances, timeout=20)
    status, body = await instances[0].events(offered("c3"))
    assert status == 200, (body, [i.role for i in instances], instances[0] is leader)
    expected = engine_state(leader.service.engine, clock.now())
    assert set(expected["calls"]) == {"c1", "c2", "c3"}
    await eventually(lambda: all(engine_state(i.service.engine, clock.now()) == expected for i in instances))


async def test_redis_restarted_empty_gets_the_leaders_state_written_back(cluster, redis_server) -> None:
    server = redis_server(persistent=False)  # against the advice of docs/redis.md
    clock = ManualClock(T0)
    [one] = await cluster(clock=clock, redis_url=server.url)
    for i in range(3):
        await one.events(offered(f"c{i}"))
    before = engine_state(one.service.engine, clock.now())

    server.kill()
    await eventually(lambda: not_ready(one), timeout=10)
    server.start()  # comes back empty
    await eventually(lambda: ready(one), timeout=20)
    await leader_of([one])
    status, _ = await one.events(offered("c3"))
    assert status == 200
    assert set(one.service.engine.calls) == {"c0", "c1", "c2", "c3"}

    await one.crash()  # and the state written back is what a restart loads
    [two] = await cluster(clock=clock, redis_url=server.url)
    await leader_of([two])
    state = engine_state(two.service.engine, clock.now())
    assert set(state["calls"]) == {"c0", "c1", "c2", "c3"}
    assert {k: state["calls"][k] for k in before["calls"]} == before["calls"]
