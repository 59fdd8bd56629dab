"""One number, one appointment at a time: a booking (or a move) for a number that already has an
appointment booked or being dialled at that start is refused, naming it (`409 appointment_open`,
`details.appointment_id`; the API answers 200 with it when it is the same booking asked again, of
the same skill), so a form sent twice never takes two places and has two agents ring the caller
at once. A replay of an older release's log, which made the second one, keeps it."""

from __future__ import annotations

import json

import pytest

from acd.engine import EngineError
from acd.engine import state as engine_state
from acd.engine.replay import apply_logged
from tests.conftest import ev
from tests.engine.test_appointments import book, driver, local


def refused(d, appointment_id: str, start: str, **fields) -> str:
    """Book for the caller of ap1, to be refused as booked at that start already: the one named."""
    with pytest.raises(EngineError) as exc:
        book(d, appointment_id, start, number=X, **fields)
    assert (exc.value.status, exc.value.code) == (409, "appointment_open")
    assert appointment_id not in d.engine.appointments
    return exc.value.details["appointment_id"]


X = "+33622222222"  # ap1's caller (tests/engine/test_appointments.py `caller_of`)


def test_a_second_booking_of_the_number_at_the_same_start_is_refused_naming_the_first(router_kind):
    d = driver(router_kind)
    book(d, "ap1", "2026-03-03T09:00:00", site="lille")
    assert refused(d, "ap2", "2026-03-03T09:00:00") == "ap1"  # another site's place: still the caller
    assert refused(d, "ap3", "2026-03-03T09:00:00", site="pau") == "ap1"
    assert d.engine.appointment_book.slots.taken == {
        ("lille", "impot_revenu", local("2026-03-03T09:00:00").timestamp()): 1
    }


def test_another_start_or_another_number_is_another_appointment(router_kind):
    d = driver(router_kind)
    book(d, "ap1", "2026-03-03T09:00:00", site="lille")
    assert book(d, "ap2", "2026-03-03T09:30:00", site="lille", number=X)["appointment_id"] == "ap2"
    other = {"number": "+33633333333", "skill": "impot_revenu", "site": "lille"}
    start = local("2026-03-03T09:00:00").isoformat()
    assert d.send("appointment.booked", appointment_id="ap3", start=start, **other)["status"] == "booked"


def test_a_cancelled_appointment_leaves_its_start_free_for_its_number(router_kind):
    d = driver(router_kind)
    book(d, "ap1", "2026-03-03T09:00:00", site="lille")
    d.send("appointment.cancelled", appointment_id="ap1")
    assert book(d, "ap2", "2026-03-03T09:00:00", site="lille", number=X)["status"] == "booked"


def test_moving_onto_the_numbers_other_appointment_is_refused_and_moving_away_frees_it(router_kind):
    d = driver(router_kind)
    book(d, "ap1", "2026-03-03T09:00:00", site="lille")
    book(d, "ap2", "2026-03-03T10:00:00", site="lille", number=X)
    with pytest.raises(EngineError) as exc:
        d.send(
            "appointment.rescheduled", appointment_id="ap2", start=local("2026-03-03T09:00:00").isoformat()
        )
    assert exc.value.code == "appointment_open" and exc.value.details["appointment_id"] == "ap1"
    d.send("appointment.rescheduled", appointment_id="ap1", start=local("2026-03-03T11:00:00").isoformat())
    d.send("appointment.rescheduled", appointment_id="ap2", start=local("2026-03-03T09:00:00").isoformat())
    assert refused(d, "ap3", "2026-03-03T11:00:00") == "ap1"


def test_two_bookings_in_one_batch_at_one_start_are_refused_whole(router_kind):
    d = driver(router_kind)
    asked = {
        "number": "+33622222222",
        "skill": "impot_revenu",
        "start": local("2026-03-03T09:00:00").isoformat(),
    }
    batch = [ev("appointment.booked", appointment_id=ap, **asked) for ap in ("ap1", "ap2")]
    with pytest.raises(EngineError) as exc:
        d.engine.apply(batch, d.now)
    assert exc.value.code == "appointment_open" and d.engine.appointments == {}


def test_a_state_loaded_knows_each_numbers_appointments(router_kind):
    d = driver(router_kind)
    book(d, "ap1", "2026-03-03T09:00:00", site="lille")
    doc = json.loads(json.dumps(engine_state.dump(d.engine)))
    d.engine = engine_state.load(d.engine.config, doc, router=router_kind)
    assert refused(d, "ap2", "2026-03-03T09:00:00") == "ap1"


def test_a_replay_keeps_the_second_booking_an_older_release_made(router_kind):
    d = driver(router_kind)
    asked = {
        "number": "+33622222222",
        "skill": "impot_revenu",
        "start": local("2026-03-03T09:00:00").isoformat(),
    }
    for ap in ("ap1", "ap2"):
        apply_logged(d.engine, [ev("appointment.booked", appointment_id=ap, **asked)], d.now)
    assert sorted(d.engine.appointments) == ["ap1", "ap2"]


def test_a_start_a_microsecond_past_the_slot_is_that_slot_for_its_number_too(router_kind):
    """A start within a millisecond of a slot's is that slot (Slots.slot_at): the same booking."""
    d = driver(router_kind)
    book(d, "ap1", "2026-03-03T09:00:00", site="lille")
    assert refused(d, "ap2", "2026-03-03T09:00:00.000400") == "ap1"
