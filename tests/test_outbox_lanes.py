"""The outbox's lanes (audit outbox D7): a command that puts a caller through or concerns a caller
on the line now (`connect`, `overflow`, `originate`, `offer_callback`, and a kind this release does
not know) never waits behind the deferred ones (`remind`, `survey`). The store finds it however
many older reminders are due, and the deferred lane never holds every delivery slot, however slow
the platform is to acknowledge reminders. The platform is a real aiohttp server on 127.0.0.1.

The scenarios take the store as an argument: tests/store/test_outbox_lanes_redis.py runs them on
Redis. No wall-clock thresholds: tests wait on conditions with generous timeouts.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from acd.model import Command
from acd.outbox import Outbox, OutboxMetrics
from acd.outbox_lanes import DEFERRED, LANES, URGENT, lane_of
from acd.outbox_store import MemoryOutboxStore, OutboxStore
from tests.test_outbox import Platform, Responder, eventually, make_outbox

__all__ = ["Held", "connect", "remind", "store_serves_each_lane_oldest_first", "urgent_passes_held_reminders"]

CONTRACT_COMMANDS = {  # ../shared/CONTRACT.md, "Outbound commands"
    "connect": URGENT,
    "overflow": URGENT,
    "originate": URGENT,
    "offer_callback": URGENT,
    "remind": DEFERRED,
    "survey": DEFERRED,
}


def connect(cid: str) -> Command:
    return Command(cid, "connect", {"call_id": f"call-{cid}", "agent_id": "a1", "target": "sip:a1@x"})


def remind(cid: str) -> Command:
    return Command(cid, "remind", {"appointment_id": f"ap-{cid}", "number": "+33612345678", "start": "x"})


def survey(cid: str) -> Command:
    return Command(cid, "survey", {"call_id": f"call-{cid}", "number": "+33612345678"})


def ids(pending: list[Any]) -> list[str]:
    return [p.command.id for p in pending]


class Held:
    """A platform's answer that holds the commands `holds(body)` picks until `release` is set, and
    counts those held at once (`now`, `most`)."""

    def __init__(self, holds: Any) -> None:
        self.holds = holds
        self.release = asyncio.Event()
        self.now = 0
        self.most = 0

    async def __call__(self, body: dict[str, Any], attempt: int) -> int:
        if self.holds(body):
            self.now += 1
            self.most = max(self.most, self.now)
            try:
                await self.release.wait()
            finally:
                self.now -= 1
        return 200


@pytest.fixture
async def platforms():
    started: list[Platform] = []

    async def start(respond: Responder | None = None) -> Platform:
        started.append(await Platform(respond).start())
        return started[-1]

    yield start
    for platform in started:
        await platform.stop()


@pytest.fixture
async def outboxes():
    made: list[Outbox] = []

    async def start(url: str, **kwargs: Any) -> Outbox:
        made.append(make_outbox(url, **kwargs))
        await made[-1].start()
        return made[-1]

    yield start
    for outbox in made:
        await outbox.stop(drain_timeout_s=0)


# -- scenarios, run on each store


async def store_serves_each_lane_oldest_first(store: OutboxStore) -> None:
    await store.put([remind(f"r{i:03d}") for i in range(500)])
    await store.put([connect("c1"), survey("s1"), connect("c2"), Command("x1", "a_future_kind", {})])
    assert ids(await store.due(10.0, 2, URGENT)) == ["c1", "c2"]  # not the 500 reminders before them
    assert ids(await store.due(10.0, 10, URGENT)) == ["c1", "c2", "x1"]  # an unknown kind is urgent
    assert ids(await store.due(10.0, 3, DEFERRED)) == ["r000", "r001", "r002"]
    assert ids(await store.due(10.0, 4)) == ["c1", "c2", "x1", "r000"]  # every lane: urgent first

    # a backoff, then due again: back in its lane, in creation order
    await store.reschedule("c1", 20.0, 1, "HTTP 503", backoff=True)
    assert ids(await store.due(10.0, 10, URGENT)) == ["c2", "x1"]
    await store.mark_delivered("c2")
    await store.mark_delivered("x1")
    assert await store.next_due_at([URGENT]) == 20.0  # the reminders due meanwhile do not count
    assert await store.next_due_at([DEFERRED]) == 0.0
    assert ids(await store.due(20.0, 10, URGENT)) == ["c1"]
    # a claim released (a clean stop), a backoff ended (a recovery): back in the urgent lane
    await store.reschedule("c1", 30.0, 1, "HTTP 503")
    assert ids(await store.due(20.0, 10, URGENT)) == []
    assert await store.release({"c1": 30.0}, 21.0) == 1
    assert ids(await store.due(21.0, 10, URGENT)) == ["c1"]
    await store.reschedule("c1", 40.0, 2, "HTTP 503", backoff=True)
    await store.reschedule("r000", 40.0, 1, "HTTP 503", backoff=True)
    assert await store.end_backoffs(22.0) == 2
    assert ids(await store.due(22.0, 10, URGENT)) == ["c1"]
    assert ids(await store.due(22.0, 2, DEFERRED)) == ["r000", "r001"]
    for cid in ("c1", *(f"r{i:03d}" for i in range(500))):
        await store.mark_delivered(cid)
    assert ids(await store.due(22.0, 10, URGENT)) == []
    assert await store.next_due_at([URGENT]) is None
    assert ids(await store.due(22.0, 10, DEFERRED)) == ["s1"]


async def urgent_passes_held_reminders(store: OutboxStore, platform: Platform, held: Held) -> Outbox:
    """500 reminders due before the outbox starts, every one held by the platform: the deferred lane
    takes 12 of the 16 slots, never more, and a connect submitted then is delivered at once."""
    await store.put([remind(f"r{i:03d}") for i in range(500)])
    outbox = make_outbox(platform.url, store=store, timeout_s=60.0)
    await outbox.start()
    try:
        await eventually(lambda: held.now >= 12)
        await outbox.submit([connect("c1")])
        await eventually(lambda: "c1" in platform.acked)
        await asyncio.sleep(0.05)  # a chance for the dispatcher to start more than it may
        assert held.most == held.now == 12  # 16 minus the 4 slots kept for the urgent lane
    finally:
        held.release.set()
    await eventually(lambda: len(platform.acked) == 501)
    return outbox


# -- the lanes


def test_the_contracts_commands_are_in_their_lane_and_an_unknown_kind_is_urgent() -> None:
    assert {command: lane_of(command) for command in CONTRACT_COMMANDS} == CONTRACT_COMMANDS
    assert lane_of("a_future_kind") == URGENT
    assert LANES == (URGENT, DEFERRED)  # the order the dispatcher serves them


async def test_the_memory_store_serves_each_lane_oldest_first() -> None:
    await store_serves_each_lane_oldest_first(MemoryOutboxStore())


async def test_a_connect_behind_500_due_reminders_passes_the_slow_ones_in_flight(platforms) -> None:
    held = Held(lambda body: body["command"] == "remind")
    outbox = await urgent_passes_held_reminders(MemoryOutboxStore(), await platforms(held), held)
    await outbox.stop(drain_timeout_s=0)


async def test_the_deferred_lane_never_takes_the_slots_kept_for_the_urgent_one(platforms, outboxes) -> None:
    held = Held(lambda body: True)
    platform = await platforms(held)
    outbox = await outboxes(platform.url, concurrency=4, urgent_reserve=1, timeout_s=60.0)
    await outbox.submit([survey(f"s{i}") for i in range(10)])
    await eventually(lambda: held.now == 3)
    await outbox.submit([connect(f"c{i}") for i in range(3)])
    await eventually(lambda: held.now == 4)  # the one slot kept: the urgent lane's first connect
    await outbox.submit([survey("s10")])
    await asyncio.sleep(0.05)  # a chance for the dispatcher to start more than it may
    assert held.most == held.now == 4  # never more than the outbox's 4 slots in all
    assert sorted(b["body"]["id"] for b in platform.requests) == ["c0", "s0", "s1", "s2"]
    held.release.set()
    await eventually(lambda: len(platform.acked) == 14)


async def test_the_urgent_lane_may_take_every_slot(platforms, outboxes) -> None:
    held = Held(lambda body: True)
    platform = await platforms(held)
    outbox = await outboxes(platform.url, concurrency=4, urgent_reserve=1, timeout_s=60.0)
    await outbox.submit([remind("r0"), *(connect(f"c{i}") for i in range(6))])
    await eventually(lambda: held.now == 4)
    await asyncio.sleep(0.05)  # a chance for the dispatcher to start more than it may
    assert held.most == 4
    assert sorted(b["body"]["id"] for b in platform.requests) == ["c0", "c1", "c2", "c3"]
    held.release.set()
    await eventually(lambda: len(platform.acked) == 7)


def test_the_reserve_must_leave_the_deferred_lane_a_slot() -> None:
    with pytest.raises(ValueError, match="urgent_reserve"):
        Outbox(MemoryOutboxStore(), None, None, concurrency=4, urgent_reserve=4)
    with pytest.raises(ValueError, match="urgent_reserve"):
        Outbox(MemoryOutboxStore(), None, None, concurrency=4, urgent_reserve=-1)
    Outbox(MemoryOutboxStore(), None, None, concurrency=1)  # the default reserve fits: none


async def test_the_attempts_in_flight_are_counted_by_lane(platforms, outboxes) -> None:
    held = Held(lambda body: body["command"] == "remind")
    platform = await platforms(held)
    registry = CollectorRegistry()
    metrics = OutboxMetrics(registry)
    outbox = await outboxes(platform.url, concurrency=4, urgent_reserve=1, metrics=metrics, timeout_s=60.0)

    def inflight(lane: str) -> float | None:
        return registry.get_sample_value("acd_outbox_inflight", {"lane": lane})

    await outbox.submit([remind(f"r{i}") for i in range(5)])
    await eventually(lambda: inflight(DEFERRED) == 3)
    assert inflight(URGENT) == 0
    await outbox.submit([connect("c1")])
    await eventually(lambda: "c1" in platform.acked)
    await eventually(lambda: inflight(URGENT) == 0)
    held.release.set()
    await eventually(lambda: inflight(DEFERRED) == 0 and len(platform.acked) == 6)


class SlowNextDue(MemoryOutboxStore):
    """A store whose `next_due_at` takes a second of the outbox's clock (a slow round trip)."""

    def __init__(self, clock: list[float]) -> None:
        super().__init__()
        self.clock = clock

    async def next_due_at(self, lanes: Any = None) -> float | None:
        self.clock[0] += 1.0
        return await super().next_due_at(lanes)


async def test_a_backoff_ending_while_the_dispatcher_looks_is_not_left_to_the_next_wake(platforms) -> None:
    """The deferred lane at its cap (a reminder held in flight): a connect whose backoff ends
    between the dispatcher's look at what is due and its look at what falls due next is started at
    once, not when the held reminder finishes (the dispatcher once took it for an attempt in flight
    past its lease, and slept until woken)."""
    held = Held(lambda body: body["command"] == "remind")
    platform = await platforms(held)
    clock = [1000.0]
    store = SlowNextDue(clock)
    await store.put([connect("c1"), remind("r1")])
    await store.reschedule("c1", 1000.5, 1, "HTTP 503", backoff=True)
    outbox = make_outbox(
        platform.url, store=store, concurrency=2, urgent_reserve=1, timeout_s=60.0, clock=lambda: clock[0]
    )
    await outbox.start()
    try:
        await eventually(lambda: held.now == 1)
        await eventually(lambda: "c1" in platform.acked)
    finally:
        held.release.set()
        await outbox.stop(drain_timeout_s=0)
