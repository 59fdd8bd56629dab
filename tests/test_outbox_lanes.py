"""The outbox's lanes (audit outbox D7): a command that puts a caller through or concerns a caller
on the line now (`connect`, `overflow`, `originate`, `offer_callback`, and a kind this release does
not know) never waits behind the deferred ones (`remind`, `survey`). The store finds it however
many older reminders are due, and the deferred lane never holds every delivery slot, however slow
the platform is to acknowledge reminders. The platform is a real aiohttp server on 127.0.0.1.

The scenarios take the store as an argument: tests/store/test_outbox_lanes_redis.py runs them on
Redis. No wall-clock thresholds: tests wait on conditions with generous timeouts.
"""

from __future__ import annotations

from typing import Any

from acd.model import Command
from acd.outbox_lanes import DEFERRED, LANES, URGENT, lane_of
from acd.outbox_store import MemoryOutboxStore, OutboxStore

__all__ = ["connect", "remind", "store_serves_each_lane_oldest_first"]

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


# -- the lanes


def test_the_contracts_commands_are_in_their_lane_and_an_unknown_kind_is_urgent() -> None:
    assert {command: lane_of(command) for command in CONTRACT_COMMANDS} == CONTRACT_COMMANDS
    assert lane_of("a_future_kind") == URGENT
    assert LANES == (URGENT, DEFERRED)  # the order the dispatcher serves them


async def test_the_memory_store_serves_each_lane_oldest_first() -> None:
    await store_serves_each_lane_oldest_first(MemoryOutboxStore())
