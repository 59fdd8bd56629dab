"""Phone appointments: slots, booking, cancelling, rescheduling, the dial at its time."""

from __future__ import annotations

import zlib
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from acd.config import Config
from acd.engine import Engine, EngineError
from tests.conftest import T0, Driver, ev, small_config

PARIS = ZoneInfo("Europe/Paris")


def ap_config(**appointments: Any) -> Config:
    base = small_config(wrap_up_s=0).model_dump()
    base["appointments"] = {
        "slot_minutes": 30,
        "afternoon_from": "13:00",
        "reminder_lead_s": 86400,
        "retry_delays_s": [300, 300],
        "priority": 9,
        "capacity": [
            {"site": "lille", "skill": "impot_revenu", "morning": 2, "afternoon": 1},
            {"site": "pau", "skill": "impot_revenu", "morning": 1, "afternoon": 1},
        ],
        **appointments,
    }
    base["overflow"] = {"mode": "off"}
    return Config.model_validate(base)


def driver(router_kind: str, now: float = T0, **kw: Any) -> Driver:
    return Driver(Engine(ap_config(**kw), router=router_kind), now=now)


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS)


def caller_of(appointment_id: str) -> str:
    """Each appointment its own caller (one number holds one appointment at a start): ap1's is
    +33622222222, the number the commands' tests name."""
    return (
        "+33622222222" if appointment_id == "ap1" else f"+3363{zlib.crc32(appointment_id.encode()):010d}"[:12]
    )


def book(d: Driver, appointment_id: str, start: str, **fields: Any) -> dict:
    return d.send(
        "appointment.booked",
        appointment_id=appointment_id,
        number=fields.pop("number", None) or caller_of(appointment_id),
        skill=fields.pop("skill", "impot_revenu"),
        start=local(start).isoformat(),
        **fields,
    )


# -- slots


def test_a_working_day_has_slots_from_opening_to_closing_with_half_day_capacity(router_kind):
    d = driver(router_kind)
    slots = d.engine.queries.appointment_slots("impot_revenu", date(2026, 3, 3), "lille", d.now)
    assert len(slots) == 21  # 08:30-19:00 in 30-minute slots
    first, last = slots[0], slots[-1]
    assert datetime.fromtimestamp(first["start"], PARIS).strftime("%H:%M") == "08:30"
    assert datetime.fromtimestamp(last["end"], PARIS).strftime("%H:%M") == "19:00"
    assert first["remaining"] == 2  # morning
    assert slots[-1]["remaining"] == 1  # afternoon


def test_without_a_site_the_places_of_every_site_add_up(router_kind):
    d = driver(router_kind)
    slots = d.engine.queries.appointment_slots("impot_revenu", date(2026, 3, 3), None, d.now)
    assert slots[0]["remaining"] == 3


def test_closed_days_and_holidays_have_no_slot(router_kind):
    d = driver(router_kind)
    assert (
        d.engine.queries.appointment_slots("impot_revenu", date(2026, 3, 7), "lille", d.now) == []
    )  # Saturday
    assert (
        d.engine.queries.appointment_slots("impot_revenu", date(2026, 5, 14), "lille", d.now) == []
    )  # Ascension


def test_past_slots_have_no_place_left(router_kind):
    d = driver(router_kind)  # Monday 10:00 Paris
    slots = d.engine.queries.appointment_slots("impot_revenu", date(2026, 3, 2), "lille", d.now)
    past = [s for s in slots if s["start"] <= d.now]
    assert past and all(s["remaining"] == 0 for s in past)
    assert any(s["remaining"] > 0 for s in slots if s["start"] > d.now)


# -- booking


def test_a_slot_of_n_places_takes_n_bookings_then_refuses(router_kind):
    d = driver(router_kind)
    book(d, "ap1", "2026-03-03T09:00:00", site="lille")
    book(d, "ap2", "2026-03-03T09:00:00", site="lille")
    with pytest.raises(EngineError) as exc:
        book(d, "ap3", "2026-03-03T09:00:00", site="lille")
    assert (exc.value.status, exc.value.code) == (409, "slot_full")
    assert "ap3" not in d.engine.appointments


def test_a_booking_without_a_site_goes_where_places_are_left(router_kind):
    d = driver(router_kind)
    sites = [d.engine.appointments[a].site for a in ("a", "b", "c") if book(d, a, "2026-03-03T09:00:00")]
    assert sorted(sites) == ["lille", "lille", "pau"]


@pytest.mark.parametrize(
    ("start", "status", "code"),
    [
        ("2026-03-03T09:10:00", 422, "not_a_slot"),
        ("2026-03-03T20:00:00", 422, "outside_hours"),
        ("2026-03-07T10:00:00", 422, "outside_hours"),
        ("2026-03-02T09:00:00", 422, "in_past"),
    ],
)
def test_bad_starts_are_refused(router_kind, start, status, code):
    d = driver(router_kind)
    with pytest.raises(EngineError) as exc:
        book(d, "ap1", start, site="lille")
    assert (exc.value.status, exc.value.code) == (status, code)


def test_a_skill_without_appointments_is_refused(router_kind):
    d = driver(router_kind)
    with pytest.raises(EngineError) as exc:
        book(d, "ap1", "2026-03-03T09:00:00", skill="lsf")
    assert exc.value.code == "no_appointments"


def test_cancelling_frees_the_place(router_kind):
    d = driver(router_kind)
    book(d, "ap1", "2026-03-03T14:00:00", site="lille")
    with pytest.raises(EngineError):
        book(d, "ap2", "2026-03-03T14:00:00", site="lille")
    d.send("appointment.cancelled", appointment_id="ap1")
    book(d, "ap2", "2026-03-03T14:00:00", site="lille")
    assert d.engine.appointments["ap1"].status == "cancelled"


def test_rescheduling_takes_the_new_place_and_frees_the_old(router_kind):
    d = driver(router_kind)
    book(d, "ap1", "2026-03-03T14:00:00", site="lille")
    d.send("appointment.rescheduled", appointment_id="ap1", start=local("2026-03-03T15:00:00").isoformat())
    book(d, "ap2", "2026-03-03T14:00:00", site="lille")  # the old place is free again
    with pytest.raises(EngineError):
        book(d, "ap3", "2026-03-03T15:00:00", site="lille")  # the new one is taken


def test_rescheduling_to_a_full_slot_keeps_the_old_booking(router_kind):
    d = driver(router_kind)
    book(d, "ap1", "2026-03-03T14:00:00", site="lille")
    book(d, "ap2", "2026-03-03T15:00:00", site="lille")
    with pytest.raises(EngineError) as exc:
        d.send(
            "appointment.rescheduled", appointment_id="ap1", start=local("2026-03-03T15:00:00").isoformat()
        )
    assert exc.value.status == 409
    appointment = d.engine.appointments["ap1"]
    assert datetime.fromtimestamp(appointment.start, PARIS).strftime("%H:%M") == "14:00"
    assert appointment.status == "booked"


@pytest.mark.parametrize(
    ("fields", "start"),
    [
        ({"department": "971"}, "2026-03-03T09:00:00"),  # 04:00 in Guadeloupe
        ({"number": "+590590123456"}, "2026-03-03T09:00:00"),  # a Guadeloupe number, no department
        ({"department": "974"}, "2026-03-03T18:30:00"),  # 21:30-22:00 in Réunion
    ],
)
def test_an_appointment_outside_the_caller_s_own_hours_is_refused(router_kind, fields, start):
    """The line's slots are Paris time; an overseas caller booking one in their own night would be
    dialled then (the reminder already waited for their daytime, the dial did not): 422
    `outside_caller_hours` (callbacks.caller_hours on the caller's clock, as a callback), at
    booking and at rescheduling; a slot in their daytime is taken, a metropolitan caller's as
    before. Before, 09:00 Paris was booked for a Guadeloupe caller and dialled at 04:00 their
    time (audit time F1)."""
    d = driver(router_kind)
    with pytest.raises(EngineError) as exc:
        book(d, "ap1", start, site="lille", **fields)
    assert (exc.value.status, exc.value.code) == (422, "outside_caller_hours")
    assert "caller's clock" in exc.value.message
    book(d, "ap1", "2026-03-03T14:00:00", site="lille", **fields)  # 09:00 there, 17:00 in Réunion
    with pytest.raises(EngineError) as exc:
        d.send("appointment.rescheduled", appointment_id="ap1", start=local(start).isoformat())
    assert exc.value.code == "outside_caller_hours"
    book(d, "ap2", start, site="lille")  # a metropolitan caller: as before


@pytest.mark.parametrize(
    ("caller", "bookable"),
    [
        ({"department": "971"}, ("13:00", "19:00")),  # Guadeloupe: 08:00-14:00 there
        ({"number": "+590590123456"}, ("13:00", "19:00")),  # its number, no department
        ({"department": "974"}, ("08:30", "17:00")),  # Réunion: 11:30-20:00 there
        ({"number": "+262262123456"}, ("08:30", "17:00")),
        ({"department": "974", "number": "+590590123456"}, ("08:30", "17:00")),  # department first
        ({"department": "59", "number": "+33622222222"}, ("08:30", "19:00")),  # metropolitan
        ({}, ("08:30", "19:00")),  # no caller: the listing as before
    ],
)
def test_the_slots_listed_for_a_caller_are_the_ones_they_can_book(router_kind, caller, bookable):
    """Given the caller (`department`, `number`: the booking's), the day's listing leaves no place
    in a slot outside their own hours, which the booking refuses (`outside_caller_hours`): every
    slot it offers books, every other is refused. Before, a Guadeloupe caller was offered 08:30
    Paris (03:30 there) and refused when booking it (audit time F1)."""
    d = driver(router_kind)
    iso = d.engine.queries.isoformat
    listed = d.engine.queries.appointment_slots("impot_revenu", date(2026, 3, 3), "lille", d.now, **caller)
    offered = [s for s in listed if s["remaining"] > 0]
    assert len(listed) == 21 and offered
    assert (iso(offered[0]["start"])[11:16], iso(offered[-1]["end"])[11:16]) == bookable
    for i, slot in enumerate(listed):
        fields = {"number": f"+3361{i:07d}", **caller}
        try:
            book(d, f"ap{i}", iso(slot["start"])[:19], site="lille", **fields)
        except EngineError as exc:
            assert slot["remaining"] == 0 and exc.code == "outside_caller_hours", iso(slot["start"])
        else:
            assert slot["remaining"] > 0, iso(slot["start"])


@pytest.mark.parametrize(
    ("booked_at", "start", "taken"),
    [
        # summer to winter: the horizon is Tuesday 1 December at 10:00 CET, the hour the booking
        # was made (90 x 86,400 s ended at 09:00 and refused the 09:00-10:00 slots)
        ("2026-09-02T10:00:00", "2026-12-01T09:30:00", True),
        ("2026-09-02T10:00:00", "2026-12-01T10:00:00", True),
        ("2026-09-02T10:00:00", "2026-12-01T10:30:00", False),
        # winter to summer: Tuesday 7 April at 10:00 CEST (90 x 86,400 s took 10:30 too)
        ("2026-01-07T10:00:00", "2026-04-07T10:00:00", True),
        ("2026-01-07T10:00:00", "2026-04-07T10:30:00", False),
    ],
)
def test_the_booking_horizon_counts_days_on_the_line_s_clock_across_a_dst_change(
    router_kind, booked_at, start, taken
):
    """`max_days_ahead` days are calendar days of the line (Paris): the horizon is the same hour
    90 days on, whether the clocks changed between or not, in the booking and in the listing
    (audit time F3)."""
    d = driver(router_kind, now=local(booked_at).timestamp())
    slots = d.engine.queries.appointment_slots("impot_revenu", local(start).date(), "lille", d.now)
    [listed] = [s for s in slots if s["start"] == local(start).timestamp()]
    assert (listed["remaining"] > 0) is taken
    if taken:
        book(d, "ap1", start, site="lille")
        return
    with pytest.raises(EngineError) as exc:
        book(d, "ap1", start, site="lille")
    assert exc.value.code == "beyond_horizon"
    assert (
        local(booked_at).replace(month=local(start).month, day=local(start).day).isoformat()
        in exc.value.message
    )


# -- at its time


def test_the_appointment_is_dialled_at_its_time_with_an_agent_reserved(router_kind):
    d = driver(router_kind)
    book(d, "ap1", "2026-03-02T11:00:00", site="lille")
    d.agent("a1", "available")
    d.advance(local("2026-03-02T11:00:00").timestamp() - d.now - 1)
    assert d.commands == []
    d.advance(1)
    [command] = d.commands
    assert command.command == "originate"
    assert command.fields == {
        "appointment_id": "ap1",
        "call_id": "ap1",  # an appointment's dial is a call of its own id
        "number": "+33622222222",
        "agent_id": "a1",
        "target": "sip:a1@lille.sip.acd.example",
    }
    assert d.engine.appointments["ap1"].status == "dialing"
    assert d.engine.agent_state(d.engine.agents["a1"]).wire == "busy"


def test_with_nobody_free_the_first_agent_to_be_free_takes_the_appointment_first(router_kind):
    d = driver(router_kind)
    book(d, "ap1", "2026-03-02T11:00:00", site="lille")
    d.offer("live1")  # waiting since 10:00
    d.advance(local("2026-03-02T11:00:00").timestamp() - d.now)
    d.agent("a1", "available")
    assert d.commands[-1].fields.get("appointment_id") == "ap1"  # priority 9 beats the live call


def test_answered_appointment_is_done(router_kind):
    d = driver(router_kind)
    book(d, "ap1", "2026-03-02T11:00:00", site="lille")
    d.agent("a1", "available")
    d.advance(local("2026-03-02T11:00:00").timestamp() - d.now)
    d.send("appointment.result", appointment_id="ap1", outcome="answered")
    assert d.engine.appointments["ap1"].status == "done"
    d.send("call.ended", call_id="ap1", reason="completed")
    assert d.engine.agent_state(d.engine.agents["a1"]).wire == "available"


def test_no_answer_is_retried_within_the_slot_then_no_show(router_kind):
    d = driver(router_kind)
    book(d, "ap1", "2026-03-02T11:00:00", site="lille")
    d.agent("a1", "available")
    d.advance(local("2026-03-02T11:00:00").timestamp() - d.now)
    d.send("appointment.result", appointment_id="ap1", outcome="no_answer")
    d.advance(300)
    d.send("appointment.result", appointment_id="ap1", outcome="busy")
    d.advance(300)
    d.send("appointment.result", appointment_id="ap1", outcome="no_answer")
    assert [c.command for c in d.commands] == ["originate"] * 3
    assert d.engine.appointments["ap1"].status == "no_show"
    d.advance(3600)
    assert len(d.commands) == 3


def test_a_result_naming_an_earlier_dial_of_the_appointment_changes_nothing(router_kind):
    d = driver(router_kind)
    book(d, "ap1", "2026-03-02T11:00:00", site="lille")
    d.agent("a1", "available")
    d.advance(local("2026-03-02T11:00:00").timestamp() - d.now)
    first = d.commands[-1]
    d.send("appointment.result", appointment_id="ap1", outcome="no_answer", originate_id=first.id)
    d.advance(300)
    second = d.commands[-1]
    assert second.command == "originate" and second.id != first.id
    d.send("appointment.result", appointment_id="ap1", outcome="busy", originate_id=first.id)  # late
    assert d.engine.appointments["ap1"].status == "dialing" and d.engine.appointments["ap1"].attempts == 2
    d.send("appointment.result", appointment_id="ap1", outcome="answered", originate_id=second.id)
    assert d.engine.appointments["ap1"].status == "done"
    with pytest.raises(EngineError) as exc:
        d.send("appointment.result", appointment_id="ap1", outcome="answered", originate_id="ap2.originate.1")
    assert exc.value.code == "unknown_originate"


def test_a_reminder_goes_out_the_day_before(router_kind):
    d = driver(router_kind)
    book(d, "ap1", "2026-03-03T15:00:00", site="lille")
    d.advance(local("2026-03-02T15:00:00").timestamp() - d.now)
    [command] = d.commands
    assert command.command == "remind"
    assert command.fields == {
        "appointment_id": "ap1",
        "number": "+33622222222",
        "start": "2026-03-03T15:00:00+01:00",
    }


def test_a_cancelled_appointment_is_neither_reminded_nor_dialled(router_kind):
    d = driver(router_kind)
    book(d, "ap1", "2026-03-03T15:00:00", site="lille")
    d.send("appointment.cancelled", appointment_id="ap1")
    d.agent("a1", "available")
    d.advance(2 * 86400)
    assert d.commands == []


# -- property: no overbooking under any interleaving


class SlotAccounting(RuleBasedStateMachine):
    """Random book / cancel / reschedule: places taken never exceed capacity and always equal the
    live bookings, slot by slot."""

    STARTS = tuple(
        local(f"2026-03-03T{h}").timestamp() for h in ("09:00:00", "09:30:00", "14:00:00", "14:30:00")
    )

    def __init__(self) -> None:
        super().__init__()
        self.driver = Driver(Engine(ap_config(), router="reference"))
        self.ids: list[str] = []

    @rule(start=st.sampled_from(STARTS), site=st.sampled_from(["lille", "pau", None]))
    def book(self, start: float, site: str | None) -> None:
        appointment_id = f"ap{len(self.ids)}"
        try:
            self.driver.send(
                "appointment.booked",
                appointment_id=appointment_id,
                number=f"+336222{len(self.ids):05d}",
                skill="impot_revenu",
                start=datetime.fromtimestamp(start, PARIS).isoformat(),
                site=site,
            )
            self.ids.append(appointment_id)
        except EngineError as exc:
            assert exc.code == "slot_full"

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        if self.ids:
            appointment_id = data.draw(st.sampled_from(self.ids))
            try:
                self.driver.send("appointment.cancelled", appointment_id=appointment_id)
            except EngineError as exc:
                assert exc.code == "appointment_not_changeable"

    @rule(data=st.data(), start=st.sampled_from(STARTS))
    def reschedule(self, data: st.DataObject, start: float) -> None:
        if self.ids:
            appointment_id = data.draw(st.sampled_from(self.ids))
            before = self.driver.engine.appointments[appointment_id].start
            try:
                self.driver.send(
                    "appointment.rescheduled",
                    appointment_id=appointment_id,
                    start=datetime.fromtimestamp(start, PARIS).isoformat(),
                )
            except EngineError as exc:
                assert exc.code in ("slot_full", "appointment_not_changeable")
                assert self.driver.engine.appointments[appointment_id].start == before

    @invariant()
    def places_match_bookings_and_capacity(self) -> None:
        engine = self.driver.engine
        live: dict[tuple, int] = {}
        for a in engine.appointments.values():
            if a.status == "booked":
                live[(a.site, a.skill, a.start)] = live.get((a.site, a.skill, a.start), 0) + 1
        assert engine.appointment_book.slots.taken == live
        for (site, skill, start), taken in live.items():
            slot = engine.appointment_book.slots.slot_at(site, skill, start)
            assert slot is not None and taken <= slot.capacity


TestSlotAccounting = SlotAccounting.TestCase
TestSlotAccounting.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)


def test_an_appointment_between_two_dials_is_not_taken_by_an_agent_who_says_he_answered_it(router_kind):
    """Between two dials its call waits for the retry (queued, out of line): a call.answered for
    it changed its state to answered under an agent nobody rang, and the retry due later put that
    answered call back in line, for a second agent."""
    d = driver(router_kind)
    book(d, "ap1", "2026-03-02T11:00:00", site="lille")
    d.agent("a1", "available")
    d.advance(local("2026-03-02T11:00:00").timestamp() - d.now)
    d.send("appointment.result", appointment_id="ap1", outcome="no_answer")  # a retry in 300 s
    d.agent("a2", "available")
    results, _ = d.engine.apply([ev("call.answered", call_id="ap1", agent_id="a2")], d.now)
    assert results[0].ignored == "not_dialing"
    assert d.engine.agents["a2"].call_id is None and d.engine.calls["ap1"].agent_id is None
    d.advance(300)
    assert [c.command for c in d.commands] == ["originate", "originate"]  # the retry, one agent rung


# -- the reserved agent lets the dial ring out (RONA)


def at_its_time(router_kind: str, *agents: str) -> Driver:
    """ap1 booked at 11:00 at Lille, its time come, with `agents` available before it."""
    d = driver(router_kind)
    book(d, "ap1", "2026-03-02T11:00:00", site="lille")
    for agent in agents:
        d.agent(agent, "available")
    d.advance(local("2026-03-02T11:00:00").timestamp() - d.now)
    return d


def dialled_from(d: Driver) -> list[str]:
    return [c.fields["agent_id"] for c in d.commands if c.command == "originate"]


def test_a_dial_rung_out_by_its_agent_goes_to_the_next_free_agent_at_once_no_attempt_counted(router_kind):
    """`call.unanswered` from the reserved agent is that agent's ring-out, not the caller's no
    answer: before, the appointment spent a retry of its slot on it and the agent was released,
    never counted toward rona_pause."""
    d = at_its_time(router_kind, "a1", "a2")
    engine = d.engine
    first = dialled_from(d)[0]
    other = "a2" if first == "a1" else "a1"
    d.send("call.unanswered", call_id="ap1", agent_id=first)
    appointment, call = engine.appointments["ap1"], engine.calls["ap1"]
    assert dialled_from(d) == [first, other]  # at once
    assert len({c.id for c in d.commands}) == 2
    assert appointment.status == "dialing" and appointment.agent_id == other and appointment.attempts == 1
    assert call.unanswered == 1 and engine.agents[first].call_id is None and engine._no_answer[first] == 1
    assert {"status": "ring_out", "agent_id": first} in [h for _, h in appointment.history]


def test_a_dial_rung_out_after_its_slot_ended_is_not_dialled_again_after_it(router_kind):
    """An appointment is dialled within its slot only (docs/operations.md). Its dial rang the
    agent past the slot's end (the slot-end timer found it dialling) and the agent let it ring
    out: it went back in line and a second `originate` rang the caller after the slot. It ends
    as a no-show acd did not dial (`not_dialled`: a ring-out never reached the caller)."""
    d = at_its_time(router_kind, "a1", "a2")
    engine = d.engine
    first = dialled_from(d)[0]
    d.advance(31 * 60)  # 11:31: the slot ended while its dial rings the agent
    d.send("call.unanswered", call_id="ap1", agent_id=first)
    d.advance(1)
    appointment = engine.appointments["ap1"]
    assert dialled_from(d) == [first]
    assert appointment.status == "no_show" and appointment.attempts == 0
    assert {"status": "no_show", "why": "not_dialled"} in [h for _, h in appointment.history]
    assert engine.agents[first].call_id is None and engine.calls["ap1"].status == "ended"


def test_ring_outs_never_make_a_no_show_however_many(router_kind):
    """More ring-outs than the slot's retries (two), on agents paused in turn after two each: the
    appointment waits in line, booked, no attempt counted; the caller's own no answer then
    counts and is retried after its delay."""
    d = at_its_time(router_kind)  # nobody free: in line
    engine = d.engine
    appointment = engine.appointments["ap1"]
    for agent in ("a1", "a2", "a4"):
        d.agent(agent, "available")
        for _ in range(2):  # max_no_answer: 2, then paused
            assert appointment.agent_id == agent and appointment.status == "dialing"
            d.send("call.unanswered", call_id="ap1", agent_id=agent)
        assert engine.agent_state(engine.agents[agent]).wire == "paused"
        assert engine.agents[agent].reason == "no_answer"
    assert appointment.status == "booked" and appointment.attempts == 0 and appointment.agent_id is None
    assert engine.calls["ap1"].waiting and engine.calls["ap1"].status == "queued"
    assert len(dialled_from(d)) == 6
    d.agent("a5", "available")
    d.send("appointment.result", appointment_id="ap1", outcome="no_answer")
    assert appointment.attempts == 1 and appointment.status == "booked" and not engine.calls["ap1"].waiting
    d.advance(300)  # the retry within the slot
    assert dialled_from(d)[-1] == "a5" and appointment.status == "dialing" and appointment.attempts == 2


def test_a_late_result_of_a_rung_out_dial_changes_nothing(router_kind):
    """The rung-out dial's result, stamped when it rang out: delivered while the appointment waits
    in line, `not_dialing`; once the next dial began, `stale`. The dial in progress goes on."""
    d = at_its_time(router_kind, "a1")
    engine = d.engine
    rung_out_at = d.now + 4
    d.advance(5)
    d.agent("a1", "paused")  # asked while rung: taken when the call leaves it
    engine.apply([ev("call.unanswered", at=rung_out_at, call_id="ap1", agent_id="a1")], d.now)
    appointment = engine.appointments["ap1"]
    assert appointment.status == "booked" and engine.calls["ap1"].waiting
    late = ev("appointment.result", at=rung_out_at, appointment_id="ap1", outcome="no_answer")
    results, commands = engine.apply([late], d.now)
    assert results[0].ignored == "not_dialing" and commands == []
    d.advance(10)
    d.agent("a2", "available")
    assert dialled_from(d) == ["a1", "a2"]
    d.advance(5)
    late = ev("appointment.result", at=rung_out_at, appointment_id="ap1", outcome="failed")
    results, commands = engine.apply([late], d.now)
    assert results[0].ignored == "stale" and commands == []
    assert (
        appointment.status == "dialing" and appointment.attempts == 1 and engine.agents["a2"].call_id == "ap1"
    )
    d.send("appointment.result", appointment_id="ap1", outcome="answered")
    assert appointment.status == "done" and appointment.attempts == 1


def test_a_late_end_of_a_dial_never_ends_an_appointment_waiting_for_its_next_dial(router_kind):
    """The first dial was not answered (`appointment.result` no_answer); its leg's `call.ended`
    (same call id) comes after, while the appointment waits for its retry, or in line for an agent
    at the retry. The end is that earlier leg's: the appointment stays booked and is dialled again,
    its call is not ended (no record written `failed`, nothing stuck `booked` with its call over)."""
    d = driver(router_kind)
    book(d, "ap1", "2026-03-02T11:00:00", site="lille")
    d.agent("a1", "available")
    d.advance(local("2026-03-02T11:00:00").timestamp() - d.now)
    d.send("appointment.result", appointment_id="ap1", outcome="no_answer")
    d.send("call.ended", call_id="ap1", reason="failed")  # waiting for the retry
    assert d.engine.calls["ap1"].status != "ended"
    d.send("call.offered", call_id="live1", caller="+33612345678", skill="impot_revenu")  # a1 taken
    d.advance(300)  # the retry is due: in line, a1 busy
    assert d.engine.calls["ap1"].waiting
    d.send("call.ended", call_id="ap1", reason="failed")  # another late leg end, in line
    assert d.engine.calls["ap1"].waiting and d.engine.appointments["ap1"].status == "booked"
    d.send("call.ended", call_id="live1", reason="completed")  # a1 free: dials the appointment
    assert [c.command for c in d.commands].count("originate") == 2
    assert d.engine.appointments["ap1"].status == "dialing"


# -- the slot's end


def test_an_appointment_no_agent_could_dial_within_its_slot_is_never_dialled_after_it(router_kind):
    """Booked 18:30-19:00, every agent busy through the slot: it waited in line past the slot and
    the line's closing, and the first agent free, at 19:05 or the next morning at 09:00, dialled
    the caller hours after the time agreed. At the slot's end it leaves the line as a no-show
    (why: not_dialled); nobody is dialled after."""
    d = driver(router_kind)
    book(d, "ap1", "2026-03-02T18:30:00", site="lille")
    d.agent("a1", "available")
    d.offer("live1")  # a1 talks through the whole slot
    d.send("call.answered", call_id="live1", agent_id="a1")
    d.advance(local("2026-03-02T18:59:00").timestamp() - d.now)
    assert d.engine.calls["ap1"].waiting  # in line within its slot: still to be dialled
    d.advance(local("2026-03-02T19:00:00").timestamp() - d.now)
    appointment = d.engine.appointments["ap1"]
    assert appointment.status == "no_show" and not d.engine.calls["ap1"].waiting
    assert appointment.history[-1][1] == {"status": "no_show", "why": "not_dialled"}
    d.advance(300)
    d.send("call.ended", call_id="live1", reason="completed")  # 19:05: a1 free
    d.advance(local("2026-03-03T09:00:00").timestamp() - d.now)
    d.agent("a2", "available")
    assert [c.command for c in d.commands if c.command == "originate"] == []


def test_an_appointment_whose_time_comes_after_its_slot_is_over_is_not_dialled(router_kind):
    """Its timer fired late (the service down through the slot, say): not dialled then either."""
    d = driver(router_kind)
    book(d, "ap1", "2026-03-02T11:00:00", site="lille")
    d.agent("a1", "available")
    d.now = local("2026-03-02T11:40:00").timestamp()  # no tick within the slot
    d.advance(0)
    assert [c.command for c in d.commands] == []
    assert d.engine.appointments["ap1"].status == "no_show"


def test_a_callback_accepted_for_an_appointments_call_changes_nothing(router_kind):
    """`callback.accepted` is a waiting caller's answer to a callback offer. An appointment's call
    in line for an agent has no caller on the line (acd dials the customer when an agent is
    free) and was never offered one: the event is ignored, the appointment keeps its call. Taken,
    it gave the appointment a virtual-hold callback that was never dialled, `scheduled` for good
    after the appointment's call ended (found by the chaos test of tests/engine/test_faults.py)."""
    d = driver(router_kind)
    book(d, "ap1", "2026-03-02T11:00:00", site="lille")
    d.advance(local("2026-03-02T11:00:00").timestamp() - d.now)  # due, nobody free: in line
    assert d.engine.calls["ap1"].status == "queued"
    results, _ = d.engine.apply([ev("callback.accepted", call_id="ap1")], d.now)
    assert results[0].ignored == "not_a_caller"
    assert d.engine.calls["ap1"].callback_id is None and d.engine.callbacks == {}
    d.agent("a1", "available")
    assert [c.fields.get("appointment_id") for c in d.commands] == ["ap1"]


# -- the reminder at a decent hour (callbacks.caller_hours, no Sunday or public holiday)


def reminders(d: Driver) -> list[tuple[str, str]]:
    """(when, appointment id) of each `remind` command sent, in Paris time."""
    return [
        (datetime.fromtimestamp(c.created_at, PARIS).isoformat(), c.fields["appointment_id"])
        for c in d.commands
        if c.command == "remind"
    ]


@pytest.mark.parametrize(
    ("slot", "lead", "sent"),
    [
        # a Monday 09:00 slot: the day before is a Sunday -> the Saturday's last minute
        ("2026-03-09T09:00:00", 86400, "2026-03-07T19:59:00+01:00"),
        # Friday after Ascension Day (Thursday 14 May 2026, a public holiday) -> the Wednesday
        ("2026-05-15T10:00:00", 86400, "2026-05-13T19:59:00+02:00"),
        # 12 h before a 08:30 slot is 20:30 the night before -> 19:59 that evening
        ("2026-03-04T08:30:00", 43200, "2026-03-03T19:59:00+01:00"),
        # within the caller's hours on a working day: at the nominal instant, as before
        ("2026-03-04T15:00:00", 86400, "2026-03-03T15:00:00+01:00"),
        # the nearest decent instant, the morning of the slot when nearer than the last evening:
        # 12 h before a Monday 14:30 slot is Monday 02:30 -> Monday 08:00 (5 h 30 after), not the
        # Saturday at 19:59 (30 h 31 before, two days before the slot)
        ("2026-03-09T14:30:00", 43200, "2026-03-09T08:00:00+01:00"),
        # 24 h before Monday 15:00 is Sunday 15:00: Monday 08:00 (17 h after) beats Saturday
        # 19:59 (19 h 01 before); Monday 09:00 above keeps its Saturday (13 h before, 23 h after)
        ("2026-03-09T15:00:00", 86400, "2026-03-09T08:00:00+01:00"),
        # Tuesday after Easter Monday (6 April 2026): the morning of the slot, not the Saturday
        ("2026-04-07T10:00:00", 86400, "2026-04-07T08:00:00+02:00"),
        # the morning of the slot only an hour or more before it: 12 h before a Monday 08:30 slot
        # (Sunday 20:30) stays on the Saturday
        ("2026-03-09T08:30:00", 43200, "2026-03-07T19:59:00+01:00"),
    ],
)
def test_a_reminder_due_at_night_on_a_sunday_or_a_holiday_goes_out_at_the_nearest_decent_hour(
    router_kind, slot, lead, sent
):
    d = driver(router_kind, reminder_lead_s=lead)
    book(d, "ap1", slot, site="lille")
    d.advance(local(slot).timestamp() - d.now - 1)
    assert reminders(d) == [(sent, "ap1")]


def test_a_reminder_follows_the_callers_own_clock_overseas(router_kind):
    """A Guadeloupe caller (UTC-4) booked for Monday 14:00 Paris (09:00 there): 24 h before is
    Sunday 09:00 in Guadeloupe; it goes out on the Saturday at 19:59 Guadeloupe time."""
    d = driver(router_kind)
    book(d, "ap1", "2026-03-09T14:00:00", site="lille", department="971")
    d.advance(local("2026-03-09T14:00:00").timestamp() - d.now - 1)
    [(when, _)] = reminders(d)
    assert datetime.fromisoformat(when).astimezone(ZoneInfo("America/Guadeloupe")).isoformat() == (
        "2026-03-07T19:59:00-04:00"
    )


def test_with_no_decent_hour_between_booking_and_the_nominal_reminder_none_is_sent(router_kind):
    """Booked on Saturday at 21:00 for Monday 08:30: the nominal reminder (Sunday 08:30) has no
    decent instant before it after the booking, and the Monday's 08:00 is less than an hour before
    the slot: no reminder (the caller booked it a day and a half before; a reminder in the night or
    on the Sunday would be worse than none). For Monday 09:00, Monday 08:00 is an hour before: the
    reminder goes out then (before, none was sent)."""
    d = driver(router_kind, now=local("2026-03-07T21:00:00").timestamp())
    book(d, "ap1", "2026-03-09T08:30:00", site="lille")
    book(d, "ap2", "2026-03-09T09:00:00", site="lille")
    d.advance(local("2026-03-09T09:00:00").timestamp() - d.now - 1)
    assert reminders(d) == [("2026-03-09T08:00:00+01:00", "ap2")]
    assert d.engine.appointments["ap1"].status == "booked"


def statuses(d: Driver, appointment_id: str) -> list[dict]:
    """The appointment's history as `GET /v1/appointments/{id}` shows it, without the times."""
    return [
        {k: v for k, v in entry.items() if k != "at"}
        for entry in d.engine.queries.appointment(appointment_id)["history"]
    ]


@pytest.mark.parametrize(
    ("booked_at", "slot", "why"),
    [
        # Monday 10:00 for 15:00 the same day: 24 h before is already past
        ("2026-03-02T10:00:00", "2026-03-02T15:00:00", "too_soon"),
        # Saturday 21:00 for Monday 08:30: no decent instant between the booking and Sunday 08:30,
        # Monday 08:00 less than an hour before the slot
        ("2026-03-07T21:00:00", "2026-03-09T08:30:00", "caller_hours"),
    ],
)
def test_a_reminder_skipped_at_booking_says_so_in_the_history(router_kind, booked_at, slot, why):
    """No reminder is sent when its time is past at booking (booked less than reminder_lead_s
    before the slot) or has no decent instant before it after the booking: the appointment's
    history says `not_reminded` and why, right after `booked` (before, it said nothing, and a
    caller who was never reminded looked like one whose reminder was lost; audit time F4)."""
    d = driver(router_kind, now=local(booked_at).timestamp())
    book(d, "ap1", slot, site="lille")
    assert statuses(d, "ap1") == [{"status": "booked"}, {"status": "not_reminded", "why": why}]
    d.advance(local(slot).timestamp() - d.now - 1)
    assert reminders(d) == []
    assert statuses(d, "ap1")[1:] == [{"status": "not_reminded", "why": why}]


def test_a_reminder_skipped_at_rescheduling_says_so_and_one_armed_says_nothing(router_kind):
    """Booked for Wednesday (reminded Tuesday 15:00: nothing said at booking), moved at 10:00 to
    15:00 the same day: too soon for a reminder, said after `rescheduled`."""
    d = driver(router_kind)
    book(d, "ap1", "2026-03-04T15:00:00", site="lille")
    assert statuses(d, "ap1") == [{"status": "booked"}]
    d.send("appointment.rescheduled", appointment_id="ap1", start=local("2026-03-02T15:00:00").isoformat())
    assert statuses(d, "ap1") == [
        {"status": "booked"},
        {"status": "rescheduled"},
        {"status": "not_reminded", "why": "too_soon"},
    ]


def test_a_reminder_timer_armed_by_an_older_release_at_an_indecent_hour_waits_for_a_decent_one(router_kind):
    """A state document of an older release holds the reminder's timer at the nominal instant
    (Sunday 09:00 for a Monday 09:00 slot, armed before the booking's reminder moved earlier):
    loaded, it goes out at the next decent instant before the slot, Monday 08:00, not on the
    Sunday; one with no decent instant left before the slot (a Guadeloupe caller's Monday 08:30
    Paris slot is 03:30 there) is not sent."""
    import json

    from acd.engine import state as engine_state

    d = driver(router_kind)
    book(d, "ap1", "2026-03-09T09:00:00", site="lille")
    book(d, "ap2", "2026-03-09T08:30:00", site="lille")
    doc = json.loads(json.dumps(engine_state.dump(d.engine)))
    # booked by a release that did not check the caller's hours: 03:30 in Guadeloupe
    next(a for a in doc["appointments"] if a["id"] == "ap2")["department"] = "971"
    for timer in doc["timers"]["due"]:
        if timer[2] == "remind":  # the older release's reminder: at the nominal instant
            start = d.engine.appointments[timer[3]].start
            timer[0] = start - 86400
    doc["timers"]["due"].sort()
    d.engine = engine_state.load(d.engine.config, doc, router=router_kind)
    d.advance(local("2026-03-09T09:00:00").timestamp() - d.now - 1)
    assert reminders(d) == [("2026-03-09T08:00:00+01:00", "ap1")]
    assert d.engine.appointments["ap2"].history[-1][1] == {"status": "not_reminded", "why": "caller_hours"}


def test_slots_on_a_day_an_exception_closes_early_end_at_the_close(router_kind):
    """Christmas Eve closes at 16:00 (a dated exception): the day's last slot ends then."""
    base = ap_config().model_dump()
    base["calendar"]["hours"]["exceptions"] = {"2026-12-24": ["08:30-16:00"]}
    d = Driver(
        Engine(Config.model_validate(base), router=router_kind), local("2026-12-01T10:00:00").timestamp()
    )
    slots = d.engine.queries.appointment_slots("impot_revenu", date(2026, 12, 24), "lille", d.now)
    iso = d.engine.queries.isoformat
    assert (iso(slots[0]["start"]), iso(slots[-1]["end"])) == (
        "2026-12-24T08:30:00+01:00",
        "2026-12-24T16:00:00+01:00",
    )
    with pytest.raises(EngineError) as info:
        book(d, "ap1", "2026-12-24T16:00:00", site="lille")
    assert info.value.code == "outside_hours"


# -- an older release's state: an appointment in line without its slot's end


def _in_line_at_its_slot(router_kind: str) -> Driver:
    """ap1 (11:00-11:30) in line at 11:05, its agent a1 talking to a live caller."""
    d = driver(router_kind)
    book(d, "ap1", "2026-03-02T11:00:00", site="lille")
    d.agent("a1", "available")
    d.offer("live1")
    d.send("call.answered", call_id="live1", agent_id="a1")
    d.advance(local("2026-03-02T11:05:00").timestamp() - d.now)
    assert d.engine.calls["ap1"].waiting
    return d


def test_an_appointment_in_line_in_an_older_document_without_its_slot_end_timer_gets_one(router_kind):
    """Releases before 15ddc04 armed no `slot_end` timer when an appointment joined the line: a
    state document (format 3, as they wrote it) with one waiting loads with the timer armed, so at
    the slot's end it is a no-show acd did not dial, never dialled later."""
    import json

    from acd.engine import state as engine_state

    d = _in_line_at_its_slot(router_kind)
    doc = json.loads(json.dumps(engine_state.dump(d.engine)))
    doc["timers"]["due"] = [t for t in doc["timers"]["due"] if t[2] != "slot_end"]  # as they wrote it
    doc["format"], doc["acd"] = 3, "0.9.0"
    del doc["remembered"]["ignored"]
    d.engine = engine_state.load(d.engine.config, doc, router=router_kind)
    d.advance(local("2026-03-02T11:30:00").timestamp() - d.now)
    appointment = d.engine.appointments["ap1"]
    assert appointment.status == "no_show" and not d.engine.calls["ap1"].waiting
    assert appointment.history[-1][1] == {"status": "no_show", "why": "not_dialled"}
    d.send("call.ended", call_id="live1", reason="completed")  # a1 free at 11:30: nothing to dial
    assert [c.command for c in d.commands if c.command == "originate"] == []


def test_a_document_with_the_slot_end_timer_loads_without_a_second_one(router_kind):
    import json

    from acd.engine import state as engine_state

    d = _in_line_at_its_slot(router_kind)
    doc = json.loads(json.dumps(engine_state.dump(d.engine)))
    loaded = engine_state.load(d.engine.config, doc, router=router_kind)
    assert [t[2] for t in engine_state.dump(loaded)["timers"]["due"]].count("slot_end") == 1


@pytest.mark.parametrize(("above", "wire"), [(None, None), (60, True), (7200, False)])
def test_the_queue_decision_offers_an_appointment_when_the_wait_is_above_the_threshold(
    router_kind, above, wire
):
    """`appointments.offer_above_ewt_s`: a caller expected to wait longer is offered an
    appointment (`appointment_offer` in the queue decision, beside `callback_offer`), as the
    simulator's callers are; without a threshold the decision does not name it. Here nobody is
    staffed: the expected wait is `ewt_unstaffed_s` (3600 s)."""
    data = small_config().model_dump()
    data["appointments"]["offer_above_ewt_s"] = above
    d = Driver(Engine(Config.model_validate(data), router=router_kind))
    decision = d.offer("c1")
    assert decision["action"] == "queue" and decision["ewt_s"] == 3600
    assert decision.get("appointment_offer") == wire
    assert ("appointment_offer" in decision) == (above is not None)
