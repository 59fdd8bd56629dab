"""The outbox's lanes on Redis (audit outbox D7): the memory store's rules (tests/test_outbox_lanes.py)
on the keys every instance shares, and a rolling upgrade: the release before lanes
(tests/store/previous_outbox_redis.py, its scripts frozen) and this one on the same keys lose
nothing, and send nothing twice."""

from __future__ import annotations

import json

import pytest
from redis.asyncio import Redis

from acd.outbox_lanes import DEFERRED, URGENT
from acd.store.outbox_redis import RedisOutboxStore
from acd.store.state_cli import _pending_commands
from tests.store import previous_outbox_redis as previous
from tests.store.conftest import eventually
from tests.test_outbox import Platform, make_outbox
from tests.test_outbox_lanes import (
    Held,
    connect,
    remind,
    store_serves_each_lane_oldest_first,
    survey,
    urgent_passes_held_reminders,
)

DB = 11


def ids(pending: list) -> list[str]:
    return [p.command.id for p in pending]


@pytest.fixture
async def client(redis_url: str):
    c = Redis.from_url(redis_url)
    yield c
    await c.aclose()


async def test_the_redis_store_serves_each_lane_oldest_first(client) -> None:
    await store_serves_each_lane_oldest_first(RedisOutboxStore(client, "t:"))


async def test_commands_the_previous_release_wrote_are_filed_in_their_lane_and_none_is_lost(client) -> None:
    """The previous release filed every command in one order (creation): after an upgrade its
    commands are found (in the deferred lane's place), and `file_lanes` (the outbox's start, as
    leader) moves its urgent ones to the urgent lane, whether due or on a claim or a backoff."""
    old = previous.RedisOutboxStore(client, "t:")
    await old.put([remind(f"r{i:03d}") for i in range(500)])
    await old.put([connect("c1"), survey("s1"), connect("c2"), connect("c3")])
    await old.reschedule("c3", 100.0, 1, "HTTP 503")  # on the timeline (a claim, or a backoff)
    await old.mark_delivered("c2")

    store = RedisOutboxStore(client, "t:")
    everything = ids(await store.due(10.0, 1000))
    assert len(everything) == 502 and everything[-1] == "s1"  # found, in creation order
    assert "c1" in everything
    assert await store.file_lanes() == 2  # c1 and c3; c2 was delivered
    assert await store.file_lanes() == 0  # once
    assert ids(await store.due(10.0, 10, URGENT)) == ["c1"]
    assert ids(await store.due(100.0, 10, URGENT)) == ["c1", "c3"]
    assert ids(await store.due(100.0, 2, DEFERRED)) == ["r000", "r001"]
    assert await store.pending_count() == 503


async def test_the_previous_release_finds_and_delivers_what_this_one_wrote(client) -> None:
    """A rollback, or the previous release still leading while this one starts: it serves what this
    release wrote (urgent first: they sort before in its one order), moves them on its timeline and
    back into their lane, and marks them delivered, each once."""
    store = RedisOutboxStore(client, "t:")
    await store.put([remind("r1"), connect("c1"), survey("s1"), connect("c2")])
    old = previous.RedisOutboxStore(client, "t:")
    assert ids(await old.due(10.0, 10)) == ["c1", "c2", "r1", "s1"]
    await old.reschedule("c1", 20.0, 1, "HTTP 503")
    await old.reschedule("r1", 20.0, 1, "HTTP 503")
    assert ids(await old.due(20.0, 10)) == ["c1", "c2", "r1", "s1"]  # its promote keeps the lanes
    assert ids(await store.due(20.0, 10, URGENT)) == ["c1", "c2"]
    await old.mark_delivered("c1")
    assert ids(await store.due(20.0, 10, URGENT)) == ["c2"]
    await old.put([connect("c3")])  # then this release leads again: its start files it
    assert await store.file_lanes() == 1
    assert ids(await store.due(20.0, 10, URGENT)) == ["c2", "c3"]
    assert ids(await old.due(20.0, 10)) == ["c2", "c3", "r1", "s1"]


async def test_state_export_lists_pending_commands_oldest_first_whatever_their_lane(client) -> None:
    store = RedisOutboxStore(client, "t:")
    await store.put([remind("r1"), connect("c1"), survey("s1"), connect("c2")])
    assert [c["id"] for c in await _pending_commands(client, "t:")] == ["r1", "c1", "s1", "c2"]
    assert json.loads(await client.hget("t:outbox:commands", "c1"))["command"] == "connect"
    # a place is exact (an integer below 2**53, written with %d, never Lua's 14 digits)
    assert [int(await client.hget("t:outbox:order", cid)) for cid in ("r1", "c1")] == [1, 2 - 2**50]


async def test_on_redis_a_connect_behind_500_due_reminders_passes_the_slow_ones_in_flight(client) -> None:
    held = Held(lambda body: body["command"] == "remind")
    platform = await Platform(held).start()
    try:
        outbox = await urgent_passes_held_reminders(RedisOutboxStore(client, "t:"), platform, held)
        await outbox.stop(drain_timeout_s=0)
    finally:
        await platform.stop()


async def test_a_connect_the_previous_release_wrote_behind_500_reminders_is_delivered_at_once(client) -> None:
    """A rolling upgrade: the previous release, leading, wrote 500 reminders then a connect, in one
    order; this release takes the lead, its outbox files the connect in the urgent lane as it
    starts, and delivers it while the platform holds every reminder in flight."""
    old = previous.RedisOutboxStore(client, "t:")
    await old.put([remind(f"r{i:03d}") for i in range(500)])
    await old.put([connect("c1")])
    held = Held(lambda body: body["command"] == "remind")
    platform = await Platform(held).start()
    outbox = make_outbox(platform.url, store=RedisOutboxStore(client, "t:"), timeout_s=60.0)
    await outbox.start()
    try:
        await eventually(lambda: "c1" in platform.acked)
        assert held.most <= 12
    finally:
        held.release.set()
    try:
        await eventually(lambda: len(platform.acked) == 501)
        assert platform.attempts["c1"] == 1
    finally:
        await outbox.stop(drain_timeout_s=0)
        await platform.stop()
