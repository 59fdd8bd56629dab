"""How long the engine keeps an appointment that is over: a week after its slot's end (its view,
`GET /v1/appointments/{id}`), then it is forgotten, as ended calls are past their retention: the
state (memory, each snapshot) must not grow with every appointment ever booked. Its record stays
in the records database."""

from __future__ import annotations

import json

from acd.engine import state as engine_state
from acd.engine.kept import KEPT_AFTER_SLOT_S
from tests.engine.test_appointments import book, driver, local

DAY = 86400.0


def _three_over_one_ahead(router_kind: str):
    """ap1 done, ap2 cancelled, ap3 a no-show (slots of 2 March), ap4 booked for 20 March."""
    d = driver(router_kind)
    book(d, "ap1", "2026-03-02T11:00:00", site="lille")
    book(d, "ap2", "2026-03-02T11:00:00", site="pau")
    book(d, "ap3", "2026-03-02T14:00:00", site="lille")
    book(d, "ap4", "2026-03-20T10:00:00", site="lille")
    d.send("appointment.cancelled", appointment_id="ap2")
    d.agent("a1", "available")
    d.advance(local("2026-03-02T11:00:00").timestamp() - d.now)
    d.send("appointment.result", appointment_id="ap1", outcome="answered")
    d.advance(600)
    d.send("call.ended", call_id="ap1", reason="completed")
    d.advance(local("2026-03-02T14:00:00").timestamp() - d.now)
    for _ in range(3):
        d.send("appointment.result", appointment_id="ap3", outcome="no_answer")
        d.advance(300)
    assert [d.engine.appointments[a].status for a in ("ap1", "ap2", "ap3", "ap4")] == [
        "done",
        "cancelled",
        "no_show",
        "booked",
    ]
    return d


def _at(d, instant: float) -> None:
    """Move the clock to `instant` and apply an event there (the engine's upkeep runs on events)."""
    d.advance(instant - d.now)
    d.agent("a1", "available")


def test_an_appointment_over_is_forgotten_a_week_after_its_slot_and_not_before(router_kind):
    d = _three_over_one_ahead(router_kind)
    morning_end = local("2026-03-02T11:30:00").timestamp()
    _at(d, morning_end + KEPT_AFTER_SLOT_S - 1)
    assert {"ap1", "ap2", "ap3", "ap4"} <= set(d.engine.appointments)
    assert d.engine.queries.appointment("ap1")["status"] == "done"
    _at(d, morning_end + KEPT_AFTER_SLOT_S + 1)
    assert "ap1" not in d.engine.appointments and "ap2" not in d.engine.appointments
    assert d.engine.queries.appointment("ap1") is None
    assert "ap1" not in d.engine.calls  # its dial's call with it: nothing names it any more
    assert "ap3" in d.engine.appointments  # its slot ended at 14:30
    _at(d, local("2026-03-02T14:30:00").timestamp() + KEPT_AFTER_SLOT_S + 1)
    assert set(d.engine.appointments) == {"ap4"}  # booked, ahead: kept
    slots = d.engine.appointment_book.slots.taken
    assert [key for key in slots if key[2] < local("2026-03-03T00:00:00").timestamp()] == []
    assert KEPT_AFTER_SLOT_S == 7 * DAY


def test_the_appointment_booked_ahead_is_dialled_and_kept_until_its_own_week_is_over(router_kind):
    d = _three_over_one_ahead(router_kind)
    _at(d, local("2026-03-20T10:00:00").timestamp())
    assert d.engine.appointments["ap4"].status == "dialing"
    d.send("appointment.result", appointment_id="ap4", outcome="answered")
    d.send("call.ended", call_id="ap4", reason="completed")
    _at(d, local("2026-03-20T10:30:00").timestamp() + KEPT_AFTER_SLOT_S - 1)
    assert set(d.engine.appointments) == {"ap4"}
    _at(d, local("2026-03-20T10:30:00").timestamp() + KEPT_AFTER_SLOT_S + 1)
    assert d.engine.appointments == {}
    assert d.engine.appointment_book.slots.taken == {}


def test_a_rescheduled_appointment_is_kept_by_its_new_slot(router_kind):
    d = driver(router_kind)
    book(d, "ap1", "2026-03-03T10:00:00", site="lille")
    d.send("appointment.rescheduled", appointment_id="ap1", start=local("2026-03-13T10:00:00").isoformat())
    d.send("appointment.cancelled", appointment_id="ap1")
    _at(d, local("2026-03-03T10:30:00").timestamp() + KEPT_AFTER_SLOT_S + 1)
    assert "ap1" in d.engine.appointments  # its slot is the 13th's now
    _at(d, local("2026-03-13T10:30:00").timestamp() + KEPT_AFTER_SLOT_S + 1)
    assert "ap1" not in d.engine.appointments


def test_a_state_loaded_forgets_as_the_engine_that_wrote_it_would(router_kind):
    """The forgetting needs nothing in the state document: a loaded engine finds what is over from
    the appointments themselves."""
    d = _three_over_one_ahead(router_kind)
    doc = json.loads(json.dumps(engine_state.dump(d.engine)))
    d.engine = engine_state.load(d.engine.config, doc, router=router_kind)
    _at(d, local("2026-03-02T14:30:00").timestamp() + KEPT_AFTER_SLOT_S + 1)
    assert set(d.engine.appointments) == {"ap4"}
