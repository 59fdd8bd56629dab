"""Several instances on one Redis (in-process instances, a real Redis): any instance takes writes,
exactly one applies them, the others forward and keep a replica; a follower takes over when the
leader dies; a former leader that lost its lease cannot write.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter

from acd.clock import ManualClock
from acd.store.redis_log import LogEntry
from tests.conftest import T0
from tests.store.conftest import eventually, leader_of
from tests.store.helpers import agent_state, engine_state, offered, store_config

DB = 13


async def test_a_follower_forwards_writes_to_the_leader_and_serves_reads_from_its_replica(
    cluster, raw_redis
) -> None:
    instances = await cluster(2)
    leader = await leader_of(instances)
    [follower] = [i for i in instances if i is not leader]
    await follower.events(agent_state("a1", "available"))
    status, body = await follower.events(offered("c1"))
    assert status == 200
    assert body["results"][0]["decision"]["agent_id"] == "a1"
    status, call = await follower.request("GET", "/v1/calls/c1")  # its replica has it already
    assert status == 200 and call["agent_id"] == "a1"
    assert leader.service.engine.calls["c1"].agent_id == "a1"
    entries = [LogEntry.from_stream(i, f) for i, f in raw_redis.xrange("acd:log")]
    assert all(e.request for e in entries)  # both came through the inbox


async def test_a_write_the_leader_refuses_is_refused_by_the_follower_too(cluster, raw_redis) -> None:
    instances = await cluster(2)
    leader = await leader_of(instances)
    [follower] = [i for i in instances if i is not leader]
    status, body = await follower.events(agent_state("nobody", "available"))
    assert status == 422 and body["error"]["code"] == "unknown_agent"
    await follower.events(offered("c1"))
    status, body = await follower.events(offered("c1", id="another-id"))
    assert status == 409 and body["error"]["code"] == "call_exists"
    assert raw_redis.xlen("acd:log") == 1


async def test_concurrent_offers_through_three_instances_never_connect_two_calls_to_one_agent(
    cluster, sink
) -> None:
    clock = ManualClock(T0)
    instances = await cluster(3, clock=clock, command_url=sink.url)
    await leader_of(instances)
    ring = itertools.cycle(instances)
    agents = ["a1", "a2", "a4", "a5"]  # every one of them has impot_revenu
    await asyncio.gather(*(next(ring).events(agent_state(a, "available")) for a in agents))
    answers = await asyncio.gather(*(next(ring).events(offered(f"c{i}")) for i in range(30)))
    assert all(status == 200 for status, _ in answers)
    decisions = [body["results"][0]["decision"] for _, body in answers]
    connected = Counter(d["agent_id"] for d in decisions if d["action"] == "connect")
    assert set(connected) == set(agents) and max(connected.values()) == 1
    assert sorted(d["position"] for d in decisions if d["action"] == "queue") == list(range(1, 27))

    # Agents freed through different instances take the waiting calls one each.
    for agent in agents:
        call = next(c for c, cl in instances[0].service.engine.calls.items() if cl.agent_id == agent)
        await next(ring).events(
            {"id": f"ans-{agent}", "type": "call.answered", "call_id": call, "agent_id": agent}
        )
        await next(ring).events(
            {"id": f"end-{agent}", "type": "call.ended", "call_id": call, "reason": "completed"}
        )
    clock.advance(31)  # wrap-up over: each agent takes the best waiting call
    for instance in instances:
        instance.service.wake()
    await eventually(lambda: len(sink.received) == 4)
    taken = Counter(c["agent_id"] for c in sink.received)
    assert set(taken) == set(agents) and max(taken.values()) == 1
    await asyncio.sleep(0.2)
    assert max(sink.ids.values()) == 1  # each command sent once, by the leader alone
    states = [engine_state(i.service.engine, clock.now()) for i in instances]
    await eventually(lambda: all(engine_state(i.service.engine, clock.now()) == states[0] for i in instances))


async def test_a_slot_is_never_overbooked_through_several_instances(cluster) -> None:
    instances = await cluster(3, config=store_config())
    await leader_of(instances)
    body = {"skill": "impot_revenu", "start": "2026-03-03T10:00:00+01:00"}
    answers = await asyncio.gather(  # twelve callers race for the slot
        *(instances[i % 3].request("POST", "/v1/appointments", {**body, "number": f"+336222222{i:02d}"})
          for i in range(12))
    )  # fmt: skip
    statuses = Counter(status for status, _ in answers)
    assert statuses == {201: 3, 409: 9}  # Lille has 2 places that morning, Pau 1
    assert len({b["appointment_id"] for s, b in answers if s == 201}) == 3


async def test_one_callers_form_sent_to_every_instance_takes_one_place(cluster) -> None:
    """The same booking sent twice to each of three instances (a form sent again and again): one
    appointment, 201 once, 200 with it for the others, wherever the leader is."""
    instances = await cluster(3, config=store_config())
    await leader_of(instances)
    body = {"number": "+33622222222", "skill": "impot_revenu", "start": "2026-03-03T10:00:00+01:00"}
    answers = await asyncio.gather(
        *(instances[i % 3].request("POST", "/v1/appointments", body) for i in range(6))
    )
    assert Counter(status for status, _ in answers) == {201: 1, 200: 5}
    assert len({b["appointment_id"] for _, b in answers}) == 1


async def test_each_outbound_command_is_sent_once_whichever_instance_took_the_write(cluster, sink) -> None:
    instances = await cluster(3, command_url=sink.url)
    await leader_of(instances)
    for i in range(10):
        await instances[i % 3].events(offered(f"c{i}"))
    for n, agent in enumerate(["a1", "a2", "a4", "a5"]):
        await instances[n % 3].events(agent_state(agent, "available"))  # each takes a waiting call
    await eventually(lambda: len(sink.received) == 4)
    await asyncio.sleep(0.5)
    assert sorted(sink.ids.values()) == [1, 1, 1, 1]


async def test_a_follower_takes_over_when_the_leader_dies(cluster) -> None:
    """The follower becomes leader once the lease lapses, with the same state. The time it took is
    printed, not asserted; the deadline of leader_of only stops a test that would hang."""
    clock = ManualClock(T0)
    instances = await cluster(2, clock=clock)
    leader = await leader_of(instances)
    [follower] = [i for i in instances if i is not leader]
    for i in range(5):
        await leader.events(offered(f"c{i}"))
    before = engine_state(leader.service.engine, clock.now())

    died = time.monotonic()
    await leader.crash()
    await leader_of([follower], timeout=30)
    print(f"the follower took over {time.monotonic() - died:.2f} s after the crash (lease 1 s)")
    assert engine_state(follower.service.engine, clock.now()) == before
    status, _ = await follower.events(offered("after"))
    assert status == 200


async def test_writes_forwarded_while_nobody_leads_are_applied_once_a_follower_takes_over(cluster) -> None:
    instances = await cluster(3)
    leader = await leader_of(instances)
    followers = [i for i in instances if i is not leader]
    await leader.crash()
    answers = await asyncio.gather(*(followers[n % 2].events(offered(f"c{n}")) for n in range(6)))
    assert [status for status, _ in answers] == [200] * 6
    new_leader = await leader_of(followers)
    assert set(new_leader.service.engine.calls) == {f"c{n}" for n in range(6)}


async def test_a_former_leader_that_lost_its_lease_cannot_write_and_reloads_the_log(
    cluster, raw_redis
) -> None:
    clock = ManualClock(T0)
    instances = await cluster(2, clock=clock)
    old = await leader_of(instances)
    await old.events(offered("c1"))
    # While it was paused, its lease lapsed and another instance took the next fencing token.
    raw_redis.set("acd:lease", "someone-else/99", px=1500)
    status, body = await old.events(offered("c2"))
    assert status == 503 and body["error"]["code"] == "store_unavailable"
    assert [LogEntry.from_stream(i, f).seq for i, f in raw_redis.xrange("acd:log")] == [1]  # nothing written
    await eventually(lambda: old.role in ("follower", "leader") and "c2" not in old.service.engine.calls)
    await leader_of(instances)
    assert all("c2" not in i.service.engine.calls and "c1" in i.service.engine.calls for i in instances)


async def test_an_event_id_reused_with_another_body_is_a_conflict_on_every_instance_and_after_a_restart(
    cluster, raw_redis
) -> None:
    clock = ManualClock(T0)
    instances = await cluster(2, clock=clock)
    leader = await leader_of(instances)
    [follower] = [i for i in instances if i is not leader]
    first = offered("c1", id="evt-reused")
    status, body = await follower.events(first)
    assert status == 200 and body["results"][0]["status"] == "applied"
    other = {**first, "call_id": "c2"}
    for instance in (leader, follower):
        status, body = await instance.events(other)
        assert status == 409 and body["error"]["code"] == "idempotency_conflict", body
        status, body = await instance.events(first)  # a true retry is still a duplicate
        assert status == 200 and body["results"][0]["status"] == "duplicate"
    logged = raw_redis.xlen("acd:log")
    status, body = await leader.events(offered("c3"), other)  # one conflict refuses the batch
    assert status == 409
    assert "c3" not in leader.service.engine.calls and "c2" not in leader.service.engine.calls
    assert raw_redis.xlen("acd:log") == logged
    for instance in instances:
        await instance.crash()
    [again] = await cluster(clock=clock)  # rebuilt from the log: the digest with it
    await leader_of([again])
    status, body = await again.events(other)
    assert status == 409 and body["error"]["code"] == "idempotency_conflict", body


async def test_an_engine_replaced_by_a_reload_is_freed_at_once(cluster) -> None:
    """A reload (a resync, a fenced write) builds a new engine from the snapshot and the log: the
    one it replaces, a whole state, must be freed then, not left to the cyclic collector (which
    never frees it under `acd serve`'s collector policy: it is frozen)."""
    import gc
    import weakref

    instances = await cluster(2)
    leader = await leader_of(instances)
    [follower] = [i for i in instances if i is not leader]
    await leader.events(agent_state("a1", "available"))
    for i in range(3):
        assert (await leader.events(offered(f"c{i}")))[0] == 200
    await eventually(lambda: "c2" in follower.service.engine.calls)
    for instance in (follower, leader):
        old = weakref.ref(instance.service.store.replica.engine)
        was = gc.isenabled()
        gc.disable()  # freed by reference counting, or not at all
        try:
            await instance.service.store.replica.reload()
            assert instance.service.engine is not old()
            assert old() is None
        finally:
            if was:
                gc.enable()
        assert "c2" in instance.service.engine.calls
