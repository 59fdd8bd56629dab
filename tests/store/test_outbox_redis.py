"""The outbox on Redis keeps the outbox's rules: due commands oldest first, a delivered id never
again, and a claim refused to an instance that lost the lease."""

from __future__ import annotations

import asyncio
import sys

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from acd.model import Command
from acd.outbox import Outbox
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

    async def next_due_at(self) -> float | None:
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
        return await super().next_due_at()


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
