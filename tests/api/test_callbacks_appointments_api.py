"""Callbacks and appointments through HTTP, as the contract names them."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from acd.api.handlers import SERVICE
from acd.api.schemas import AppointmentView, CallbackView, SlotList
from tests.api.test_bad_input import assert_error
from tests.engine.test_appointments import ap_config
from tests.engine.test_callbacks import cb_config

PARIS = ZoneInfo("Europe/Paris")


def local(text: str) -> str:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS).isoformat()


# -- callbacks


async def test_a_requested_callback_is_created_scheduled_and_readable(make_platform):
    platform = await make_platform(config=cb_config())
    status, body = await platform.request(
        "POST", "/v1/callbacks", {"number": "+33611111111", "skill": "paiement"}
    )
    assert status == 201
    CallbackView.model_validate(body)
    assert body["status"] == "scheduled"
    assert body["due_at"] == "2026-03-02T10:00:00+01:00"
    status, again = await platform.get(f"/v1/callbacks/{body['callback_id']}")
    assert status == 200 and again["callback_id"] == body["callback_id"]


async def test_a_callback_asked_again_for_its_number_and_skill_is_the_same_callback(make_platform):
    """A form sent twice is not two agents ringing the caller: 201 then 200 with the callback still
    open; once it is over (cancelled), a new request makes a new one."""
    platform = await make_platform(config=cb_config())
    asked = {"number": "+33611111111", "skill": "paiement", "not_before": "2026-03-02T15:00:00+01:00"}
    status, first = await platform.request("POST", "/v1/callbacks", asked)
    assert status == 201
    status, again = await platform.request("POST", "/v1/callbacks", {**asked, "not_before": None})
    assert status == 200 and again == first
    status, other = await platform.request("POST", "/v1/callbacks", {**asked, "skill": "lsf"})
    assert status == 201 and other["callback_id"] != first["callback_id"]
    await platform.request("DELETE", f"/v1/callbacks/{first['callback_id']}")
    status, new = await platform.request("POST", "/v1/callbacks", asked)
    assert status == 201 and new["callback_id"] != first["callback_id"]


async def test_a_cancelled_callback_is_never_dialled(make_platform):
    platform = await make_platform(config=cb_config())
    _, body = await platform.request("POST", "/v1/callbacks", {"number": "+33611111111", "skill": "paiement"})
    status, cancelled = await platform.request("DELETE", f"/v1/callbacks/{body['callback_id']}")
    assert status == 200 and cancelled["status"] == "cancelled"
    await platform.agent("a3", "available")
    _, agent = await platform.get("/v1/agents/a3")
    assert agent["state"] == "available"
    status, err = await platform.request("DELETE", f"/v1/callbacks/{body['callback_id']}")
    assert_error(status, err, 409, "callback_not_cancellable")


async def test_virtual_hold_through_http_shows_on_the_call_and_the_callback(make_platform):
    platform = await make_platform(config=cb_config())
    await platform.offer("c1")
    result = await platform.send("callback.accepted", call_id="c1")
    assert result["decision"]["callback_id"] == "cb-c1"
    _, call = await platform.get("/v1/calls/c1")
    assert (call["status"], call["callback_id"]) == ("callback", "cb-c1")
    _, callback = await platform.get("/v1/callbacks/cb-c1")
    assert (callback["status"], callback["call_id"]) == ("scheduled", "c1")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        # a number acd can dial (a national one is taken in E.164: tests/test_phone.py)
        ({"number": "anonymous", "skill": "paiement"}, "invalid_callback"),
        ({"number": "06 11", "skill": "paiement"}, "invalid_callback"),
        ({"number": "+33611111111", "skill": "astrologie"}, "unknown_skill"),
        ({"number": "+33611111111", "skill": "paiement", "not_before": "tomorrow"}, "invalid_callback"),
        ({"number": "+33611111111", "skill": "paiement", "department": "99"}, "invalid_callback"),
        ({"number": "+33611111111"}, "invalid_callback"),
        ({"number": "+33611111111", "skill": "paiement", "colour": "red"}, "invalid_callback"),
    ],
)
async def test_bad_callback_requests_are_refused_and_change_nothing(make_platform, body, code):
    platform = await make_platform(config=cb_config())
    status, err = await platform.request("POST", "/v1/callbacks", body)
    assert_error(status, err, 422, code)
    assert platform.client.app[SERVICE].engine.callbacks == {}
    _, text = await platform.request("GET", "/metrics", sign=False)
    assert "acd_callbacks_total{" not in text


async def test_an_unknown_callback_is_a_404(make_platform):
    platform = await make_platform(config=cb_config())
    assert_error(*(await platform.get("/v1/callbacks/nope")), 404, "unknown_callback")
    assert_error(*(await platform.request("DELETE", "/v1/callbacks/nope")), 404, "unknown_callback")


# -- appointments


async def test_slots_list_the_day_with_places_left(make_platform):
    platform = await make_platform(config=ap_config())
    status, slots = await platform.get("/v1/appointments/slots?skill=impot_revenu&date=2026-03-03&site=lille")
    assert status == 200
    SlotList.model_validate(slots)
    assert slots[0] == {
        "start": "2026-03-03T08:30:00+01:00",
        "end": "2026-03-03T09:00:00+01:00",
        "remaining": 2,
        "capacity": 2,
    }
    _, sunday = await platform.get("/v1/appointments/slots?skill=impot_revenu&date=2026-03-08")
    assert sunday == []


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("skill=impot_revenu", "invalid_query"),
        ("skill=impot_revenu&date=03/03/2026", "invalid_query"),
        ("skill=impot_revenu&date=2026-02-30", "invalid_query"),
        ("date=2026-03-03", "invalid_query"),
        ("skill=astrologie&date=2026-03-03", "unknown_skill"),
        ("skill=impot_revenu&date=2026-03-03&site=paris", "unknown_site"),
    ],
)
async def test_bad_slot_queries_are_refused(make_platform, query, code):
    platform = await make_platform(config=ap_config())
    assert_error(*(await platform.get(f"/v1/appointments/slots?{query}")), 422, code)


SLOTS = "/v1/appointments/slots?skill=impot_revenu&date=2026-03-03&site=lille"


@pytest.mark.parametrize(
    "caller",
    ["department=971", "number=%2B590590123456", "number=+590590123456", "number=0590123456"],
)
async def test_slots_for_an_overseas_caller_offer_only_those_they_can_book(make_platform, caller):
    """`department` and `number` (the booking's, department first): the day's slots outside the
    caller's own hours have no place left, so the first one offered books. A number's `+` may be
    written as it is (a query's `+` is otherwise a space). Before, the listing took no caller:
    08:30 Paris (03:30 in Guadeloupe) was offered, and refused (422 outside_caller_hours)."""
    platform = await make_platform(config=ap_config())
    status, everyone = await platform.get(SLOTS)
    assert status == 200 and everyone[0]["remaining"] > 0
    status, slots = await platform.get(f"{SLOTS}&{caller}")
    assert status == 200, slots
    SlotList.model_validate(slots)
    assert [s["start"] for s in slots] == [s["start"] for s in everyone]  # the same day, the same slots
    offered = [s["start"] for s in slots if s["remaining"] > 0]
    assert offered[0] == "2026-03-03T13:00:00+01:00" and offered[-1] == "2026-03-03T18:30:00+01:00"
    body = {"number": "+590590123456", "skill": "impot_revenu", "start": offered[0], "site": "lille"}
    status, booked = await platform.request("POST", "/v1/appointments", body)
    assert status == 201, booked


@pytest.mark.parametrize(
    ("caller", "code", "field"),
    [
        ("department=99", "invalid_query", "department"),
        ("department=", "invalid_query", "department"),
        ("number=abc", "invalid_query", "number"),
        ("number=", "invalid_query", "number"),
        ("number=3949", "number_short", "number"),
        ("number=%2B3361234", "number_wrong_length", "number"),
        ("number=%2B33899123456", "number_surcharged", "number"),
    ],
)
async def test_a_bad_caller_in_the_slots_query_is_refused_as_the_booking_refuses_it(
    make_platform, caller, code, field
):
    platform = await make_platform(config=ap_config())
    status, body = await platform.get(f"{SLOTS}&{caller}")
    assert_error(status, body, 422, code)
    assert body["error"]["details"]["field"] == field


async def test_an_appointment_asked_again_for_its_number_and_start_is_the_same_appointment(make_platform):
    """A form sent twice takes one place: 201 then 200 with the appointment already booked; the
    same number at that start for another skill is 409 appointment_open naming it."""
    platform = await make_platform(config=ap_config())
    body = {"number": "+33622222222", "skill": "impot_revenu", "start": local("2026-03-03T09:00:00")}
    status, first = await platform.request("POST", "/v1/appointments", {**body, "site": "lille"})
    assert status == 201
    status, again = await platform.request("POST", "/v1/appointments", body)
    assert status == 200 and again == first
    status, err = await platform.request("POST", "/v1/appointments", {**body, "skill": "paiement"})
    assert_error(status, err, 409, "appointment_open")
    assert err["error"]["details"]["appointment_id"] == first["appointment_id"]
    _, slots = await platform.get("/v1/appointments/slots?skill=impot_revenu&date=2026-03-03&site=lille")
    assert [s["remaining"] for s in slots if s["start"].startswith("2026-03-03T09:00")] == [1]


async def test_book_read_reschedule_and_cancel_an_appointment(make_platform):
    platform = await make_platform(config=ap_config())
    body = {
        "number": "+33622222222",
        "skill": "impot_revenu",
        "start": local("2026-03-03T09:00:00"),
        "site": "lille",
    }
    status, booked = await platform.request("POST", "/v1/appointments", body)
    assert status == 201
    AppointmentView.model_validate(booked)
    assert (booked["status"], booked["start"], booked["end"]) == (
        "booked",
        "2026-03-03T09:00:00+01:00",
        "2026-03-03T09:30:00+01:00",
    )
    path = f"/v1/appointments/{booked['appointment_id']}"
    assert (await platform.get(path))[1]["appointment_id"] == booked["appointment_id"]
    status, moved = await platform.request("PATCH", path, {"start": local("2026-03-03T15:00:00")})
    assert status == 200 and moved["start"] == "2026-03-03T15:00:00+01:00"
    status, cancelled = await platform.request("DELETE", path)
    assert status == 200 and cancelled["status"] == "cancelled"
    _, slots = await platform.get("/v1/appointments/slots?skill=impot_revenu&date=2026-03-03&site=lille")
    assert {s["start"]: s["remaining"] for s in slots}["2026-03-03T15:00:00+01:00"] == 1


async def test_n_places_and_n_plus_k_concurrent_bookings_give_n_201_and_k_409(make_platform):
    platform = await make_platform(config=ap_config())
    body = {
        "number": "+33622222222",
        "skill": "impot_revenu",
        "start": local("2026-03-03T09:00:00"),
        "site": "lille",
    }
    callers = [{**body, "number": f"+3362222220{i}"} for i in range(7)]  # seven callers race
    answers = await asyncio.gather(*(platform.request("POST", "/v1/appointments", b) for b in callers))
    statuses = sorted(status for status, _ in answers)
    assert statuses == [201, 201, 409, 409, 409, 409, 409]
    for status, err in answers:
        if status == 409:
            assert err["error"]["code"] == "slot_full"


async def test_rescheduling_into_a_full_slot_is_a_409_and_keeps_the_booking(make_platform):
    platform = await make_platform(config=ap_config())
    first = {
        "number": "+33622222222",
        "skill": "impot_revenu",
        "start": local("2026-03-03T14:00:00"),
        "site": "lille",
    }
    _, a = await platform.request("POST", "/v1/appointments", first)
    other = {**first, "number": "+33633333333", "start": local("2026-03-03T15:00:00")}  # another caller
    await platform.request("POST", "/v1/appointments", other)
    status, err = await platform.request(
        "PATCH", f"/v1/appointments/{a['appointment_id']}", {"start": local("2026-03-03T15:00:00")}
    )
    assert_error(status, err, 409, "slot_full")
    assert (await platform.get(f"/v1/appointments/{a['appointment_id']}"))[1][
        "start"
    ] == "2026-03-03T14:00:00+01:00"


@pytest.mark.parametrize(
    ("override", "status", "code"),
    [
        ({"start": local("2026-03-03T09:10:00")}, 422, "not_a_slot"),
        ({"start": local("2026-03-03T21:00:00")}, 422, "outside_hours"),
        ({"start": local("2026-03-01T09:00:00")}, 422, "in_past"),
        ({"start": "2026-03-03T09:00:00"}, 422, "invalid_appointment"),  # no offset
        ({"number": "06 11"}, 422, "invalid_appointment"),  # not a number (a short one: number_short)
        ({"skill": "astrologie"}, 422, "unknown_skill"),
        ({"site": "paris"}, 422, "unknown_site"),
    ],
)
async def test_bad_bookings_are_refused_and_take_no_place(make_platform, override, status, code):
    platform = await make_platform(config=ap_config())
    body = {
        "number": "+33622222222",
        "skill": "impot_revenu",
        "start": local("2026-03-03T09:00:00"),
        "site": "lille",
        **override,
    }
    assert_error(*(await platform.request("POST", "/v1/appointments", body)), status, code)
    _, slots = await platform.get("/v1/appointments/slots?skill=impot_revenu&date=2026-03-03&site=lille")
    assert all(s["remaining"] == s["capacity"] for s in slots)


async def test_unknown_appointments_are_404(make_platform):
    platform = await make_platform(config=ap_config())
    for method in ("GET", "DELETE"):
        assert_error(*(await platform.request(method, "/v1/appointments/nope")), 404, "unknown_appointment")
    assert_error(
        *(await platform.request("PATCH", "/v1/appointments/nope", {"start": local("2026-03-03T09:00:00")})),
        404,
        "unknown_appointment",
    )


async def test_the_appointment_is_dialled_at_its_time(make_platform, clock):
    platform = await make_platform(config=ap_config())
    body = {
        "number": "+33622222222",
        "skill": "impot_revenu",
        "start": local("2026-03-02T11:00:00"),
        "site": "lille",
    }
    _, booked = await platform.request("POST", "/v1/appointments", body)
    await platform.agent("a1", "available")
    clock.t = datetime.fromisoformat(local("2026-03-02T11:00:00")).timestamp()
    await platform.agent("a2", "paused")  # any traffic re-arms the timer loop on the moved clock
    for _ in range(100):  # the service's timer loop fires on its own
        _, appointment = await platform.get(f"/v1/appointments/{booked['appointment_id']}")
        if appointment["status"] == "dialing":
            break
        await asyncio.sleep(0.05)
    assert appointment["status"] == "dialing"
    assert appointment["agent_id"] == "a1"


# -- creations retried: Idempotency-Key


async def test_a_callback_request_retried_with_its_key_creates_one_callback(make_platform):
    """A POST whose answer was lost (a timeout, an instance killed) is retried: with the same
    `Idempotency-Key` it is the first request's duplicate, the same callback, dialled once.
    Without a key, a POST for another number is a new callback; for the same number and skill,
    while that callback is open, it is that callback (200)."""
    platform = await make_platform(config=cb_config())
    body = {"number": "+33611111111", "skill": "paiement"}
    key = {"Idempotency-Key": "3f0c2a9e-6a53-4f55-9a7c-platform-1"}
    first = await platform.request("POST", "/v1/callbacks", body, headers=key)
    again = await platform.request("POST", "/v1/callbacks", body, headers=key)
    assert first[0] == again[0] == 201
    assert first[1]["callback_id"] == again[1]["callback_id"]
    engine = platform.client.app[SERVICE].engine
    assert [cb.number for cb in engine.callbacks.values()] == ["+33611111111"]
    others = [{**body, "number": f"+3362222222{i}"} for i in range(2)]
    unkeyed = [await platform.request("POST", "/v1/callbacks", other) for other in others]
    assert [status for status, _ in unkeyed] == [201, 201]
    assert len({b["callback_id"] for _, b in unkeyed} | {first[1]["callback_id"]}) == 3
    status, same = await platform.request("POST", "/v1/callbacks", body)
    assert status == 200 and same["callback_id"] == first[1]["callback_id"]


async def test_a_key_used_again_for_another_callback_is_a_conflict(make_platform):
    platform = await make_platform(config=cb_config())
    key = {"Idempotency-Key": "k-1"}
    first = {"number": "+33611111111", "skill": "paiement"}
    await platform.request("POST", "/v1/callbacks", first, headers=key)
    status, err = await platform.request(
        "POST", "/v1/callbacks", {"number": "+33622222222", "skill": "paiement"}, headers=key
    )
    assert_error(status, err, 409, "idempotency_conflict")
    assert "Idempotency-Key 'k-1'" in err["error"]["message"]
    assert len(platform.client.app[SERVICE].engine.callbacks) == 1


async def test_an_appointment_booking_retried_with_its_key_takes_one_place(make_platform):
    platform = await make_platform(config=ap_config())
    start = local("2026-03-03T09:00:00")
    body = {"number": "+33622222222", "skill": "impot_revenu", "start": start, "site": "lille"}
    key = {"Idempotency-Key": "booking-42"}
    answers = [await platform.request("POST", "/v1/appointments", body, headers=key) for _ in range(3)]
    assert {status for status, _ in answers} == {201}
    assert len({b["appointment_id"] for _, b in answers}) == 1
    _, slots = await platform.get("/v1/appointments/slots?skill=impot_revenu&date=2026-03-03&site=lille")
    remaining = {s["start"]: s["remaining"] for s in slots}
    assert remaining["2026-03-03T09:00:00+01:00"] == 1  # two places, one taken


@pytest.mark.parametrize("key", ["", "a b", "x" * 129, "a/b"])
async def test_a_malformed_idempotency_key_is_refused_and_creates_nothing(make_platform, key):
    platform = await make_platform(config=cb_config())
    body = {"number": "+33611111111", "skill": "paiement"}
    status, err = await platform.request("POST", "/v1/callbacks", body, headers={"Idempotency-Key": key})
    assert_error(status, err, 422, "invalid_idempotency_key")
    assert not platform.client.app[SERVICE].engine.callbacks


# -- the booking horizon (appointments.max_days_ahead, callbacks.max_days_ahead: 90 days)


@pytest.mark.parametrize(
    "not_before",
    [
        "2099-12-31T18:30:00+01:00",  # its due date fell in 2100, with no error
        local("2026-06-15T10:00:00"),  # 105 days after the service's clock (2026-03-02)
        # within 90 days, but the first instant it may be dialled (Monday 1 June 08:30) is not
        local("2026-05-30T12:00:00"),
    ],
)
async def test_a_callback_beyond_the_horizon_is_a_422_naming_not_before(make_platform, not_before):
    platform = await make_platform(config=cb_config())
    body = {"number": "+33611111111", "skill": "paiement", "not_before": not_before}
    status, err = await platform.request("POST", "/v1/callbacks", body)
    assert_error(status, err, 422, "beyond_horizon")
    assert err["error"]["details"]["field"] == "not_before"
    assert "callbacks.max_days_ahead" in err["error"]["message"]
    assert platform.client.app[SERVICE].engine.callbacks == {}


async def test_a_callback_within_the_horizon_is_scheduled(make_platform):
    platform = await make_platform(config=cb_config())
    body = {"number": "+33611111111", "skill": "paiement", "not_before": local("2026-05-29T12:00:00")}
    status, created = await platform.request("POST", "/v1/callbacks", body)
    assert status == 201 and created["due_at"] == "2026-05-29T12:00:00+02:00"


@pytest.mark.parametrize("start", ["2099-06-01T09:00:00+02:00", local("2026-06-15T09:00:00")])
async def test_a_booking_beyond_the_horizon_is_a_422_naming_start(make_platform, start):
    platform = await make_platform(config=ap_config())
    body = {"number": "+33622222222", "skill": "impot_revenu", "start": start, "site": "lille"}
    status, err = await platform.request("POST", "/v1/appointments", body)
    assert_error(status, err, 422, "beyond_horizon")
    assert err["error"]["details"]["field"] == "start"
    assert "appointments.max_days_ahead" in err["error"]["message"]
    assert platform.client.app[SERVICE].engine.appointments == {}
    # nor moved there
    body["start"] = local("2026-03-03T09:00:00")
    _, booked = await platform.request("POST", "/v1/appointments", body)
    status, err = await platform.request(
        "PATCH", f"/v1/appointments/{booked['appointment_id']}", {"start": start}
    )
    assert_error(status, err, 422, "beyond_horizon")
    _, kept = await platform.get(f"/v1/appointments/{booked['appointment_id']}")
    assert kept["start"] == "2026-03-03T09:00:00+01:00"


async def test_slots_beyond_the_horizon_are_a_422_naming_date(make_platform):
    platform = await make_platform(config=ap_config())
    for day in ("2099-06-01", "2026-06-15"):
        status, err = await platform.get(f"/v1/appointments/slots?skill=impot_revenu&date={day}")
        assert_error(status, err, 422, "beyond_horizon")
        assert err["error"]["details"]["field"] == "date"
    status, slots = await platform.get("/v1/appointments/slots?skill=impot_revenu&date=2026-05-29")
    assert status == 200 and slots and all(s["remaining"] > 0 for s in slots)


async def test_the_long_wait_gauges_count_callers_on_hold_not_callbacks_in_line(make_platform, clock):
    """`GET /v1/queues`' `waiting` and `oldest_wait_s` (and their gauges) count every call in
    line, a caller who took a callback and hung up included (the contract's figures, kept);
    `acd_queue_waiting_callers` and `acd_queue_oldest_caller_wait_seconds` count the callers on
    hold, which the long-wait alert reads, as the wallboard shows them. Before, a callback waiting
    10 minutes raised "a caller has waited more than 10 minutes" for a caller who was not on the
    line (audit views V4)."""
    platform = await make_platform(config=cb_config())
    await platform.offer("c1")
    await platform.send("callback.accepted", call_id="c1")  # hung up, keeps its place
    clock.advance(30)
    await platform.offer("c2")
    clock.advance(12)
    _, body = await platform.get("/v1/queues")
    q = {x["skill"]: x for x in body["queues"]}["impot_revenu"]
    assert (q["waiting"], q["oldest_wait_s"]) == (2, 42)
    _, text = await platform.request("GET", "/metrics", sign=False)
    assert 'acd_queue_waiting_callers{skill="impot_revenu"} 1.0' in text
    assert 'acd_queue_oldest_caller_wait_seconds{skill="impot_revenu"} 12.0' in text
    assert 'acd_queue_oldest_wait_seconds{skill="impot_revenu"} 42.0' in text
    assert 'acd_queue_waiting_callers{skill="paiement"} 0.0' in text
