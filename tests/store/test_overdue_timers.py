"""A timer that came due before a write is applied fires before it, in both stores: the engine's
order follows its clock even when the timer loop has not woken yet (a busy loop, or a new leader
taking over with timers overdue and forwarded writes waiting in its inbox).

Raised while the fault model's reminder checks were extended to three instances (read in the
code when working out which reminders a failover may delay): a booking moved after its reminder
came due, but before the timer loop fired it, got no `remind` at all (the move disarmed the overdue
timer and armed the new start's), though it was in force when its reminder came due; likewise a
callback or an appointment due, or a caller's maximum wait, overtaken by a later write. Here the
clock is moved by hand past the reminder, and the move is posted before the timer loop wakes."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from acd.api.app import create_app
from acd.clock import ManualClock
from acd.settings import Settings
from tests.api.conftest import SECRET, Platform
from tests.conftest import T0
from tests.store.conftest import eventually, leader_of
from tests.store.helpers import store_config

DB = 10

# T0 is Monday 2026-03-02 10:00 in Paris; reminders a day ahead (store_config): this booking's
# reminder comes due half an hour after T0, the moved one's an hour after.
START = "2026-03-03T10:30:00+01:00"
MOVED = "2026-03-03T11:00:00+01:00"
BOOKING = {"number": "+33622222222", "skill": "impot_revenu", "start": START}


def statuses(appointment: dict[str, Any]) -> list[str]:
    return [entry["status"] for entry in appointment["history"]]


async def book_then_move_past_the_reminder(client: Any, hand: ManualClock) -> dict[str, Any]:
    status, booked = await client.request("POST", "/v1/appointments", BOOKING)
    assert status == 201, booked
    hand.advance(1900)  # past the reminder (due at T0 + 1800); the timer loop still sleeps
    status, moved = await client.request(
        "PATCH", f"/v1/appointments/{booked['appointment_id']}", {"start": MOVED}
    )
    assert status == 200, moved
    status, view = await client.request("GET", f"/v1/appointments/{booked['appointment_id']}")
    assert status == 200
    return view


async def test_an_overdue_reminder_fires_before_a_move_in_memory(aiohttp_client: Any) -> None:
    hand = ManualClock(T0)
    settings = Settings(webhook_secret=SECRET)
    app = create_app(settings, store_config(), registry=CollectorRegistry(), clock=hand)
    platform = Platform(await aiohttp_client(app), SECRET, hand)
    view = await book_then_move_past_the_reminder(platform, hand)
    # the booking was in force when its reminder came due: reminded, then moved (re-armed)
    assert statuses(view) == ["booked", "reminded", "rescheduled"], view["history"]


@pytest.mark.usefixtures("redis_url")
async def test_an_overdue_reminder_fires_before_a_move_with_redis_and_replays_so(cluster: Any) -> None:
    hand = ManualClock(T0)
    instances = await cluster(n=2, config=store_config(), clock=hand)
    leader = await leader_of(instances)
    follower = next(i for i in instances if i is not leader)
    view = await book_then_move_past_the_reminder(leader, hand)
    assert statuses(view) == ["booked", "reminded", "rescheduled"], view["history"]
    # the timer's firing is in the log before the move: a replica replays the same order
    appointment_id = view["appointment_id"]

    def replayed() -> bool:
        record = follower.service.engine.appointments.get(appointment_id)
        return record is not None and len(record.history) == 3

    await eventually(replayed)
    record = follower.service.engine.appointments[appointment_id]
    assert [entry["status"] for _, entry in record.history] == ["booked", "reminded", "rescheduled"]
