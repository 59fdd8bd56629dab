"""Callback windows: beside virtual hold, a caller may take a callback later in the day (or the
next morning) when the line is quieter; windows have a capacity, are filled in order and dialled
at their time, and the call answered then counts for the caller."""

from __future__ import annotations

import random
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from acd.config import Config
from acd.engine import Engine, windows
from acd.engine.errors import EngineError
from tests.conftest import T0, Driver, ev, small_config

PARIS = ZoneInfo("Europe/Paris")
EVENING = datetime(2026, 3, 2, 17, 30, tzinfo=PARIS).timestamp()  # T0 is 10:00 that Monday


def _config(capacity: int = 2) -> Config:
    data = small_config(callback_offer_ewt_s=0).model_dump()
    data["callbacks"]["windows"] = [
        {"start": "08:30", "end": "09:30", "capacity": capacity},
        {"start": "17:30", "end": "19:00", "capacity": capacity},
    ]
    return Config.model_validate(data)


@pytest.fixture
def d(router_kind: str) -> Driver:
    return Driver(Engine(_config(), router=router_kind), T0)


def test_a_queue_decision_offering_a_callback_lists_the_next_windows_with_room(d: Driver) -> None:
    decision = d.offer("c1")  # nobody logged in: it waits
    assert decision["action"] == "queue" and decision["callback_offer"] is True
    windows = decision["callback_windows"]
    assert [w["start"] for w in windows] == ["2026-03-02T17:30:00+01:00", "2026-03-03T08:30:00+01:00"]
    assert all(w["remaining"] == 2 for w in windows)


def test_a_caller_taking_a_window_leaves_the_line_and_is_dialled_at_its_start(d: Driver) -> None:
    d.offer("c1")
    decision = d.send("callback.accepted", call_id="c1", window_start="2026-03-02T17:30:00+01:00")
    assert decision["action"] == "callback" and decision["due_at"] == "2026-03-02T17:30:00+01:00"
    assert not d.engine.calls["c1"].waiting
    d.agent("a1", "available")
    assert not [c for c in d.commands if c.command == "originate"]  # not before its time
    d.advance(EVENING - d.now + 1)
    [dial] = [c for c in d.commands if c.command == "originate"]
    assert dial.fields["callback_id"] == "cb-c1" and dial.fields["agent_id"] == "a1"


def test_windows_have_a_capacity_filled_in_order(d: Driver) -> None:
    for i in range(3):
        d.offer(f"c{i}")
    for i in range(2):
        d.send("callback.accepted", call_id=f"c{i}", window_start="2026-03-02T17:30:00+01:00")
    with pytest.raises(EngineError) as info:
        d.send("callback.accepted", call_id="c2", window_start="2026-03-02T17:30:00+01:00")
    assert info.value.status == 422 and info.value.code == "unknown_window"  # full: no longer offered
    assert "2026-03-03T08:30:00+01:00" in info.value.message
    assert next(w["start"] for w in d.engine.callback_book.windows(d.now)) == "2026-03-03T08:30:00+01:00"


def test_cancelling_a_window_callback_before_its_dial_frees_its_place(d: Driver) -> None:
    """A window takes `capacity` callbacks a day (config/callbacks.yaml); a callback cancelled
    (DELETE /v1/callbacks/{id}) before it was dialled takes none: its place is offered again, as
    an appointment's is when cancelled. It stayed taken: a window emptied by cancellations was
    refused as full."""
    for i in range(3):
        d.offer(f"c{i}")
    for i in range(2):
        d.send("callback.accepted", call_id=f"c{i}", window_start="2026-03-02T17:30:00+01:00")
    d.send("callback.cancelled", callback_id="cb-c0")
    [evening] = [
        w for w in d.engine.callback_book.windows(d.now) if w["start"] == "2026-03-02T17:30:00+01:00"
    ]
    assert evening["remaining"] == 1
    decision = d.send("callback.accepted", call_id="c2", window_start="2026-03-02T17:30:00+01:00")
    assert decision["due_at"] == "2026-03-02T17:30:00+01:00"


def test_a_batch_cannot_book_more_than_a_window_holds(d: Driver) -> None:
    for i in range(3):
        d.offer(f"c{i}")
    batch = [
        ev("callback.accepted", call_id=f"c{i}", window_start="2026-03-02T17:30:00+01:00") for i in range(3)
    ]
    with pytest.raises(EngineError) as info:
        d.engine.apply(batch, d.now)
    assert info.value.status == 409 and info.value.code == "window_full"
    assert all(d.engine.calls[f"c{i}"].waiting for i in range(3))  # nothing applied


def test_a_window_too_close_or_closed_is_not_offered(router_kind: str) -> None:
    late = datetime(2026, 3, 2, 17, 20, tzinfo=PARIS).timestamp()  # 10 min before the evening window
    d = Driver(Engine(_config(), router=router_kind), late)
    decision = d.offer("c1")
    assert [w["start"] for w in decision["callback_windows"]] == [
        "2026-03-03T08:30:00+01:00",
        "2026-03-03T17:30:00+01:00",
    ]


def test_without_windows_the_decision_offers_virtual_hold_only(make_driver) -> None:
    d = make_driver(callback_offer_ewt_s=0)
    decision = d.offer("c1")
    assert decision["callback_offer"] is True and "callback_windows" not in decision


def test_a_window_callback_answered_counts_for_the_caller(d: Driver) -> None:
    answered = []
    d.engine.observer.call_answered = lambda call, agent, wait: answered.append((call.id, wait))  # type: ignore[method-assign]
    d.offer("c1")
    d.send("callback.accepted", call_id="c1", window_start="2026-03-02T17:30:00+01:00")
    d.send("call.ended", call_id="c1", reason="completed")  # the caller hangs up: expected
    d.agent("a1", "available")
    d.advance(EVENING - d.now + 1)
    d.send("callback.result", callback_id="cb-c1", outcome="answered")
    [(call_id, wait)] = answered
    assert call_id == "c1" and wait >= EVENING - T0  # from the caller's first call to the answer


def test_a_window_asked_for_a_call_that_no_longer_waits_is_ignored_not_refused(d: Driver) -> None:
    d.offer("c1")
    d.send("call.ended", call_id="c1", reason="abandoned")
    results, _ = d.engine.apply(
        [ev("callback.accepted", call_id="c1", window_start="2026-03-02T12:00:00+01:00")], d.now
    )
    assert results[0].to_wire()["ignored"] == "call_ended"


def test_a_caller_overseas_is_offered_only_windows_in_its_daytime(d: Driver) -> None:
    """17:30-19:00 Paris is 20:30-22:00 in Réunion (UTC+4): offered such a window, the caller
    was rung at the line's next opening instead (acd rings nobody in its night), not when
    promised. Windows that start outside the caller's hours are not offered, nor taken."""
    decision = d.offer("c1", caller="+262262123456", department="974")
    assert [w["start"] for w in decision["callback_windows"]] == [
        "2026-03-03T08:30:00+01:00",  # 11:30 in Réunion
        "2026-03-04T08:30:00+01:00",
    ]
    with pytest.raises(EngineError) as info:
        d.send("callback.accepted", call_id="c1", window_start="2026-03-02T17:30:00+01:00")
    assert info.value.code == "unknown_window"
    metropolitan = d.offer("c2", department="59")  # unchanged for the line's own zone
    assert metropolitan["callback_windows"][0]["start"] == "2026-03-02T17:30:00+01:00"


def test_a_window_that_ends_after_the_caller_s_evening_is_not_offered_to_it(router_kind: str) -> None:
    """16:30-18:00 Paris is 19:30-21:00 in Réunion (UTC+4): it starts in the caller's hours but
    most of it is in their night. Offered, a callback not reached by 20:00 there was dialled the
    next morning, outside the window promised, its place used (audit time F2). A window is
    offered to a caller only when the whole of it lies in the caller's hours."""
    data = _config().model_dump()
    data["callbacks"]["windows"] = [{"start": "16:30", "end": "18:00", "capacity": 2}]
    d = Driver(Engine(Config.model_validate(data), router=router_kind), T0)
    overseas = d.offer("c1", caller="+262262123456", department="974")
    assert overseas.get("callback_windows") in (None, [])
    with pytest.raises(EngineError) as info:
        d.send("callback.accepted", call_id="c1", window_start="2026-03-02T16:30:00+01:00")
    assert info.value.code == "unknown_window"
    metropolitan = d.offer("c2", department="59")
    assert metropolitan["callback_windows"][0]["start"] == "2026-03-02T16:30:00+01:00"


def test_a_window_on_a_day_an_exception_closes_early_ends_at_the_close_with_its_share_of_places(
    router_kind: str,
) -> None:
    """The line closes at 18:00 that Monday (a dated exception): the 17:30-19:00 window is offered
    as 17:30-18:00, with the places of its open third (2 x 30/90, rounded up: 1); the next day's
    windows are as usual."""
    data = _config().model_dump()
    data["calendar"]["hours"]["exceptions"] = {"2026-03-02": ["08:30-18:00"]}
    d = Driver(Engine(Config.model_validate(data), router=router_kind), T0)
    decision = d.offer("c1")
    first, second = decision["callback_windows"]
    assert (first["start"], first["end"], first["remaining"]) == (
        "2026-03-02T17:30:00+01:00",
        "2026-03-02T18:00:00+01:00",
        1,
    )
    assert (second["start"], second["end"], second["remaining"]) == (
        "2026-03-03T08:30:00+01:00",
        "2026-03-03T09:30:00+01:00",
        2,
    )
    d.offer("c2")
    d.send("callback.accepted", call_id="c1", window_start="2026-03-02T17:30:00+01:00")
    with pytest.raises(EngineError) as info:
        d.send("callback.accepted", call_id="c2", window_start="2026-03-02T17:30:00+01:00")
    assert info.value.code == "unknown_window"  # its one place taken


def test_the_windows_offered_are_kept_until_a_booking_or_the_first_ones_lead_passes(d: Driver) -> None:
    """`offered` keeps its answer in the bookings (asked for every caller offered a callback); a
    booking, or the instant the first window offered comes within the lead, changes it."""
    book = d.engine.callback_book
    lead = book.settings.window_lead_s
    starts = lambda now: [(w["start"], w["remaining"]) for w in book.windows(now)]  # noqa: E731
    today, tomorrow = "2026-03-02T17:30:00+01:00", "2026-03-03T08:30:00+01:00"
    assert starts(T0) == [(today, 2), (tomorrow, 2)]
    assert book.window_booked.answers  # kept
    assert starts(T0 + 60) == [(today, 2), (tomorrow, 2)]
    book.window_booked[("2026-03-02", 1)] = 1  # a booking (book_window's)
    assert starts(T0 + 60) == [(today, 1), (tomorrow, 2)]
    assert starts(EVENING - lead) == [(today, 1), (tomorrow, 2)]  # just far enough ahead
    assert starts(EVENING - lead + 0.001) == [(tomorrow, 2), ("2026-03-03T17:30:00+01:00", 2)]
    book.window_booked[("2026-03-03", 0)] = 2  # full
    assert starts(EVENING) == [("2026-03-03T17:30:00+01:00", 2), ("2026-03-04T08:30:00+01:00", 2)]


@pytest.mark.parametrize("seed", range(3))
def test_the_windows_kept_are_those_worked_out_afresh(d: Driver, seed: int) -> None:
    """Along days of callers (instants now and then past a midnight or a window's lead, or back) and
    bookings, with limits that reach past the week ahead: the answer kept in the bookings is the
    one worked out from a plain dict of the same bookings, and is kept often."""
    rng = random.Random(seed)
    book = d.engine.callback_book
    settings, calendar, booked = book.settings, book.calendar, book.window_booked
    now, kept = T0, 0
    for _ in range(600):
        now += rng.choice([0.0, 1.0, 60.0, 900.0, 3600.0, 4 * 3600.0, rng.uniform(0, 6 * 3600), -1800.0])
        if rng.random() < 0.1:
            day = calendar.hours.local_date(now + rng.uniform(0, 3 * 86400)).isoformat()
            key = (day, rng.randrange(2))
            booked[key] = min(2, booked.get(key, 0) + 1)
        limit = rng.choice([1, 2, 16, 40])
        before = booked.answers.get(limit)
        got = windows.offered(settings, calendar, booked, now, limit)
        assert got == windows.offered(settings, calendar, dict(booked), now, limit), (now, limit)
        kept += before is not None and bool(got) and got[0] is before[5][0]
    assert kept > 100


def test_a_window_taken_before_the_callers_hang_up_but_delivered_after_it_is_kept(d: Driver) -> None:
    """As a virtual hold's (tests/engine/test_untidy_platform.py): the caller took a window, then
    hung up, and the hang-up came first. The window is kept, checked as a timely one is."""
    n = d.now
    d.offer("c1")
    d.advance(30)
    d.send("call.ended", at=n + 30, call_id="c1", reason="abandoned")
    with pytest.raises(EngineError) as refused:  # a window not offered: refused, as in time
        d.engine.apply(
            [ev("callback.accepted", at=n + 29, call_id="c1", window_start="2026-03-02T16:00:00+01:00")],
            d.now,
        )
    assert refused.value.status == 422 and d.engine.calls["c1"].status == "ended"
    late = ev("callback.accepted", at=n + 29, call_id="c1", window_start="2026-03-02T17:30:00+01:00")
    results, _ = d.engine.apply([late], d.now)
    assert results[0].decision.to_wire()["due_at"] == "2026-03-02T17:30:00+01:00"
    assert d.engine.calls["c1"].status == "callback" and not d.engine.calls["c1"].waiting
    d.agent("a1", "available")
    d.advance(EVENING - d.now + 1)
    [dial] = [c for c in d.commands if c.command == "originate"]
    assert dial.fields["callback_id"] == "cb-c1"
