"""The outbox on Redis keeps the outbox's rules: due commands oldest first, a delivered id never
again, a claim refused to an instance that lost the lease, and after an outage the commands waiting
on a backoff retried at once, never one claimed (whichever instance claimed it, whichever release)."""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from collections.abc import Awaitable, Collection

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from acd.model import Command
from acd.outbox import Outbox, OutboxMetrics
from acd.store.outbox_redis import RedisOutboxStore
from tests.store.conftest import PATIENCE_S, eventually

DB = 11


def cmd(cid: str) -> Command:
    return Command(
        id=cid, command="connect", fields={"call_id": f"call-{cid}", "agent_id": "a1"}, created_at=1.5
    )


@pytest.fixture
async def client(redis_url: str):
    c = Redis.from_url(redis_url)
    yield c
    await c.aclose()


async def test_due_commands_come_oldest_first_and_rescheduled_ones_wait_their_time(client) -> None:
    store = RedisOutboxStore(client, "t:")
    added = await store.put([cmd("a"), cmd("b"), cmd("c"), cmd("a")])
    assert [c.id for c in added] == ["a", "b", "c"]

    await store.reschedule("a", 100.0, 1, "HTTP 500")
    assert [p.command.id for p in await store.due(50.0, 10)] == ["b", "c"]
    assert [p.command.id for p in await store.due(50.0, 1)] == ["b"]
    assert await store.next_due_at() == 0.0
    due = await store.due(100.0, 10)
    assert [p.command.id for p in due] == ["a", "b", "c"]  # creation order
    assert (due[0].attempts, due[0].next_attempt_at, due[0].last_error) == (1, 100.0, "HTTP 500")
    assert due[0].command == cmd("a")

    await store.mark_delivered("b")
    await store.mark_delivered("c")
    assert await store.next_due_at() == 100.0
    assert await store.pending_count() == 1


async def test_a_delivered_id_is_never_added_again_until_it_is_forgotten(client) -> None:
    store = RedisOutboxStore(client, "t:", delivered_ttl_s=60.0, clock=lambda: 1000.0)
    await store.put([cmd("a"), cmd("b")])
    await store.mark_delivered("a")
    assert await store.put([cmd("a")]) == []
    later = RedisOutboxStore(client, "t:", delivered_ttl_s=60.0, clock=lambda: 2000.0)
    await later.mark_delivered("b")  # prunes what was delivered more than 60 s before
    assert [c.id for c in await later.put([cmd("a"), cmd("b")])] == ["a"]


async def test_the_same_keys_are_one_outbox_for_every_instance(client) -> None:
    one, two = RedisOutboxStore(client, "t:"), RedisOutboxStore(client, "t:")
    await one.put([cmd("a")])
    assert await two.put([cmd("a")]) == []
    assert [p.command.id for p in await two.due(10.0, 10)] == ["a"]
    other_deployment = RedisOutboxStore(client, "other:")
    assert await other_deployment.pending_count() == 0


async def test_an_instance_without_the_lease_cannot_claim_a_command(client) -> None:
    holder = {"lease": "me/1"}
    store = RedisOutboxStore(client, "t:", lease=lambda: holder["lease"])
    await store.put([cmd("a")])
    await client.set("t:lease", "me/1")
    await store.reschedule("a", 50.0, 0, None)  # the claim of the lease holder
    await client.set("t:lease", "someone-else/2")
    with pytest.raises(ResponseError, match="FENCED"):
        await store.reschedule("a", 0.0, 0, None)
    assert await store.next_due_at() == 50.0


async def test_commands_noted_as_persisted_with_their_log_entry_are_reported_added_without_a_write(
    client,
) -> None:
    store = RedisOutboxStore(client, "t:")
    store.note_persisted([cmd("x")])
    assert [c.id for c in await store.put([cmd("x")])] == ["x"]
    assert await store.pending_count() == 0  # it was the log's script that wrote it (not here)
    assert [c.id for c in await store.put([cmd("x")])] == ["x"]  # no longer noted: an ordinary put


class SwallowingStore(RedisOutboxStore):
    """The Redis outbox store, whose `next_due_at` once awaits an inner call through `wait_for`
    (as redis-py sends every command when it has a socket timeout) and has the dispatcher
    cancelled at the very moment that call completes: Python 3.11's `wait_for` then returns
    normally and the cancel is lost, though the task stays marked as cancelling."""

    calls = 0
    armed = False
    swallowed = False

    async def next_due_at(self, lanes: Collection[str] | None = None) -> float | None:
        self.calls += 1
        if self.armed:
            self.armed = False
            task = asyncio.current_task()
            assert task is not None
            inner = asyncio.get_running_loop().create_future()

            def complete_then_cancel() -> None:
                inner.set_result(None)
                task.cancel()  # what `Outbox.stop()` does, landing at the worst moment

            asyncio.get_running_loop().call_soon(complete_then_cancel)
            await asyncio.wait_for(inner, PATIENCE_S)
            self.swallowed = True  # only reached when wait_for swallowed the cancel (3.11)
        return await super().next_due_at(lanes)


async def test_a_cancel_swallowed_in_the_stores_io_still_ends_the_dispatcher(client) -> None:
    store = SwallowingStore(client, "t:")
    outbox = Outbox(store, "http://127.0.0.1:9/commands", None)  # nothing pending: never POSTs
    await outbox.start()
    dispatcher = outbox._task
    assert dispatcher is not None
    await eventually(lambda: store.calls > 0)  # asleep, nothing due
    store.armed = True
    outbox._wake.set()
    done, _ = await asyncio.wait({dispatcher}, timeout=PATIENCE_S)
    assert dispatcher in done and dispatcher.cancelled()  # not asleep for ever: stop() would hang
    assert store.swallowed or sys.version_info >= (3, 12)
    await outbox.stop(drain_timeout_s=0.1)


async def test_an_instance_without_the_lease_cannot_mark_a_command_delivered(client) -> None:
    """A former leader (paused past its lease, then resumed) whose delivery completes late writes
    nothing: the command stays pending for the leader, which sends it again under the same id
    (the platform deduplicates by id). Marked delivered, it was a write of an instance fenced out
    (the three-instance fault run's `paused_former_leader_wrote`)."""
    holder = {"lease": "me/1"}
    store = RedisOutboxStore(client, "t:", lease=lambda: holder["lease"])
    await store.put([cmd("a"), cmd("b")])
    await client.set("t:lease", "someone-else/2")
    with pytest.raises(ResponseError, match="FENCED"):
        await store.mark_delivered("a")
    assert await store.pending_count() == 2
    await client.set("t:lease", "me/1")
    await store.mark_delivered("b")  # the lease holder's own delivery
    assert await store.pending_count() == 1


# -- after an outage


async def test_ending_backoffs_makes_due_the_commands_waiting_on_one_never_a_claim(client) -> None:
    """`end_backoffs(now)`, one script: every command whose next attempt is a backoff is due now
    (ready, in creation order); a claim (an attempt in flight) stays on its lease."""
    store = RedisOutboxStore(client, "t:")
    await store.put([cmd("claimed"), cmd("b1"), cmd("moved"), cmd("b2"), cmd("due"), cmd("gone")])
    await store.reschedule("claimed", 110.0, 2, "HTTP 503")  # a claim: `backoff` not said
    await store.reschedule("b1", 130.0, 1, "HTTP 503", backoff=True)
    await store.reschedule("moved", 120.0, 1, "HTTP 503", backoff=True)
    await store.reschedule("moved", 115.0, 1, "HTTP 503")  # claimed since: no longer a backoff
    error = 'ClientOSError: [Errno 104] "reset" by 127.0.0.1/commands, été'  # kept as it was
    await store.reschedule("b2", 125.0, 12, error, backoff=True)
    await store.reschedule("due", 40.0, 1, None, backoff=True)  # over already
    await store.reschedule("gone", 140.0, 1, "HTTP 503", backoff=True)
    await store.mark_delivered("gone")

    assert await store.end_backoffs(50.25) == 2
    assert await store.next_due_at() == 40.0
    due = await store.due(50.25, 10)
    assert [p.command.id for p in due] == ["b1", "b2", "due"]  # creation order
    assert [(p.attempts, p.next_attempt_at, p.last_error) for p in due] == [
        (1, 50.25, "HTTP 503"),
        (12, 50.25, error),
        (1, 40.0, None),
    ]
    for p in due:
        await store.mark_delivered(p.command.id)
    assert await store.next_due_at() == 110.0  # the claims still wait on their lease
    assert await store.end_backoffs(60.0) == 0
    assert [p.command.id for p in await store.due(115.0, 10)] == ["claimed", "moved"]
    assert await client.exists("t:outbox:backoff") == 0  # nothing left behind


async def test_a_claim_of_another_instance_is_not_made_due_by_this_ones_drain(client) -> None:
    """Two instances on the same keys (the leader and the one before it): the drain of one never
    touches the command the other claimed, its attempt possibly still in flight."""
    one, two = RedisOutboxStore(client, "t:"), RedisOutboxStore(client, "t:")
    await one.put([cmd("a"), cmd("b")])
    await one.reschedule("a", 200.0, 1, "HTTP 503", backoff=True)
    await one.reschedule("b", 200.0, 1, "HTTP 503", backoff=True)
    await one.reschedule("a", 110.0, 1, "HTTP 503")  # `one` claims a: its attempt is in flight
    assert await two.end_backoffs(50.0) == 1
    assert [p.command.id for p in await two.due(50.0, 10)] == ["b"]
    assert [p.command.id for p in await two.due(110.0, 10)] == ["a", "b"]


async def test_an_instance_without_the_lease_cannot_end_backoffs(client) -> None:
    store = RedisOutboxStore(client, "t:", lease=lambda: "me/1")
    await client.set("t:lease", "me/1")
    await store.put([cmd("a")])
    await store.reschedule("a", 100.0, 1, "HTTP 503", backoff=True)
    await client.set("t:lease", "someone-else/2")
    with pytest.raises(ResponseError, match="FENCED"):
        await store.end_backoffs(50.0)
    assert await store.next_due_at() == 100.0


async def test_commands_the_previous_release_rescheduled_keep_their_time_and_are_delivered(client) -> None:
    """The previous release stored claims and backoffs alike (`outbox:timeline`, `outbox:state`)
    and no `outbox:backoff`: after an upgrade such a command may be a claim of an instance still on
    it, so the drain leaves it to its time, when it is due as before (nothing lost, nothing
    stranded). A backoff this release drew that an instance on the previous one claimed since
    (its time moved) is no longer a backoff either. The state keeps its shape for a rollback."""
    store = RedisOutboxStore(client, "t:")
    await store.put([cmd("old"), cmd("mixed"), cmd("new")])
    # as the previous release's reschedule wrote them (its script, by hand)
    await client.hset("t:outbox:state", "old", json.dumps([3, 100.0, "HTTP 503"]))
    await client.zrem("t:outbox:ready", "old")
    await client.zadd("t:outbox:timeline", {"old": 100.0})
    await store.reschedule("mixed", 120.0, 1, "HTTP 503", backoff=True)
    await client.hset("t:outbox:state", "mixed", json.dumps([1, 110.0, "HTTP 503"]))
    await client.zadd("t:outbox:timeline", {"mixed": 110.0})  # claimed by the previous release
    await store.reschedule("new", 130.0, 1, "HTTP 503", backoff=True)

    assert await store.end_backoffs(50.0) == 1
    assert [p.command.id for p in await store.due(50.0, 10)] == ["new"]
    assert await store.next_due_at() == 50.0
    await store.mark_delivered("new")
    assert await store.next_due_at() == 100.0
    due = await store.due(110.0, 10)
    assert [(p.command.id, p.attempts, p.next_attempt_at) for p in due] == [
        ("old", 3, 100.0),
        ("mixed", 1, 110.0),
    ]
    for cid in ("old", "mixed"):  # what the previous release reads: [attempts, next, error]
        assert len(json.loads(await client.hget("t:outbox:state", cid))) == 3


class SetRandom(random.Random):
    """With `jitter=1`: 0.0 draws the whole backoff, a value near 1.0 almost none."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


async def test_after_an_outage_the_first_success_has_the_commands_waiting_on_a_backoff_retried_at_once(
    client, sink
) -> None:
    """The outbox on Redis, the platform down: the pending commands back off 600 s (the test's
    timings). It comes back: a command that had failed goes through, and the others are retried at
    once, each delivered once, instead of waiting out their backoff (audit-outbox D4)."""
    registry = CollectorRegistry()
    rng = SetRandom(0.0)
    outbox = Outbox(
        RedisOutboxStore(client, "t:"),
        sink.url,
        None,
        base_delay_s=600.0,
        max_delay_s=600.0,
        jitter=1.0,
        rng=rng,
        metrics=OutboxMetrics(registry),
    )

    def failures() -> float:
        return registry.get_sample_value("acd_command_retries_total", {"command": "connect"}) or 0.0

    sink.status = 503
    await outbox.start()
    try:
        waiting = [f"c{i}" for i in range(5)]
        await outbox.submit([cmd(cid) for cid in waiting])
        await eventually(lambda: failures() >= 5)
        rng.value = 1.0 - 1e-4  # the next backoff drawn is 0.06 s
        await outbox.submit([cmd("probe")])
        await eventually(lambda: failures() >= 6)
        sink.status = 200
        await eventually(lambda: _equals(outbox.pending(), 0))
        assert all(sink.ids[cid] == 2 for cid in waiting)  # one failure, one delivery each
        assert registry.get_sample_value("acd_command_backoffs_ended_total") == 5
    finally:
        await outbox.stop(drain_timeout_s=0)


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


# -- a clean stop


async def test_a_claim_is_released_only_while_it_is_the_one_given(client) -> None:
    """`release({id: claimed_until}, now)`, one fenced script: each command still claimed until
    that time is due now; one rescheduled since (a backoff, a claim of another instance or
    release), delivered, or due already is left as it is."""
    store, other = RedisOutboxStore(client, "t:"), RedisOutboxStore(client, "t:")
    await store.put([cmd("a"), cmd("backed"), cmd("reclaimed"), cmd("gone"), cmd("lapsed")])
    for cid in ("a", "backed", "reclaimed", "gone"):
        await store.reschedule(cid, 110.0, 2, "HTTP 503")  # claimed until 110
    await store.reschedule("backed", 130.0, 3, "HTTP 503", backoff=True)
    await other.reschedule("reclaimed", 115.0, 2, "HTTP 503")
    await store.mark_delivered("gone")
    await store.reschedule("lapsed", 40.0, 1, "HTTP 503")

    claims = {cid: 110.0 for cid in ("a", "backed", "reclaimed", "gone", "unknown")}
    assert await store.release({**claims, "lapsed": 40.0}, 50.0) == 1
    due = await store.due(50.0, 10)
    assert [(p.command.id, p.attempts, p.next_attempt_at, p.last_error) for p in due] == [
        ("a", 2, 50.0, "HTTP 503"),
        ("lapsed", 1, 40.0, "HTTP 503"),
    ]
    assert await store.end_backoffs(60.0) == 1  # "backed" is still a backoff
    assert await store.release({}, 60.0) == 0


async def test_an_instance_without_the_lease_cannot_release_a_claim(client) -> None:
    store = RedisOutboxStore(client, "t:", lease=lambda: "me/1")
    await client.set("t:lease", "me/1")
    await store.put([cmd("a")])
    await store.reschedule("a", 110.0, 0, None)
    await client.set("t:lease", "someone-else/2")
    with pytest.raises(ResponseError, match="FENCED"):
        await store.release({"a": 110.0}, 50.0)
    assert await store.next_due_at() == 110.0


async def test_at_a_handover_the_next_instance_retries_at_once_what_the_stopped_one_cut_off(
    client, sink
) -> None:
    """Two instances on the same keys: the first stops cleanly while an attempt hangs at the
    platform; the command is due at once, and the next one sends it without waiting out the
    claim (65 s here) (audit-outbox D6)."""
    release = asyncio.Event()
    hangs = {"on": True}

    async def respond() -> None:
        if hangs["on"]:
            await release.wait()

    sink.before_answer = respond
    first = Outbox(RedisOutboxStore(client, "t:"), sink.url, None, timeout_s=60.0)
    await first.start()
    await first.submit([cmd("c1")])
    await eventually(lambda: sink.ids["c1"] == 1)
    hangs["on"] = False
    await first.stop(drain_timeout_s=0.1)
    release.set()

    store = RedisOutboxStore(client, "t:")
    next_due = await store.next_due_at()
    assert next_due is not None and next_due <= time.time()
    second = Outbox(store, sink.url, None, timeout_s=60.0)
    await second.start()
    try:
        await eventually(lambda: _equals(second.pending(), 0))
        assert sink.ids["c1"] == 2
    finally:
        await second.stop(drain_timeout_s=0)
