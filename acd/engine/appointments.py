"""Phone appointments: slots, bookings and the dial at the booked time.

Slots follow each site's opening hours (the national calendar with the site's department's
holidays) in `slot_minutes` steps; each slot has the places set aside for the skill at the site
for that half-day (`capacity`). Booking, cancelling and rescheduling are engine events, applied
one at a time, so a slot of N places takes exactly N bookings however many requests race for it.

At the slot's start the appointment joins the line with its priority (above live calls by
default) and the first eligible agent to be free is reserved and an `originate` command sent.
`appointment.result` closes it: `answered` -> done (`call.ended` on the appointment's id ends
the conversation), otherwise it is dialled again within the slot after the configured delays,
then `no_show`; one still in line at its slot's end is not dialled after it (`no_show`,
why `not_dialled`); a `call.unanswered` from the reserved agent is that agent's ring-out: no attempt
counted, the appointment back in line at once for another agent (acd/engine/outbound.py). A slot
outside `callbacks.caller_hours` on the caller's own clock (an overseas caller's night) is refused
(`outside_caller_hours`, acd/engine/caller_hours.py). A `remind` goes out `reminder_lead_s` before
the slot at a decent hour for the caller: within those hours, not on a Sunday or a public holiday
of the caller's calendar; one nominally due outside them goes out at the nearest decent instant,
before it or (an hour or more before the slot) after it; with none, none is sent (at night or
on a Sunday is worse than none). A reminder timer firing at an indecent hour (armed by an older
release) waits for the next decent instant before the slot, or is dropped (acd/engine/reminders.py).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from acd.engine import reminders
from acd.engine.agents import Ignored
from acd.engine.caller_hours import CallerHours
from acd.engine.errors import EngineError
from acd.engine.kept import ForgetAt, keep
from acd.engine.line import Line
from acd.engine.outbound import Outbound
from acd.engine.records import Agent, Appointment, Call
from acd.engine.slots import Slots
from acd.engine.validation import Batch
from acd.events import AppointmentBooked, AppointmentCancelled, AppointmentRescheduled, AppointmentResult
from acd.model import AppointmentDecision, AppointmentStatus, CallKind, CallStatus, Command

log = logging.getLogger("acd.engine.appointments")

BOOKED, DIALING, DONE, NO_SHOW, CANCELLED = (
    AppointmentStatus.BOOKED,
    AppointmentStatus.DIALING,
    AppointmentStatus.DONE,
    AppointmentStatus.NO_SHOW,
    AppointmentStatus.CANCELLED,
)


class Appointments:
    """The appointments' part: their records, slots and rules, over the line and the outbound
    machine."""

    key = "appointment_id"
    waiting_status = BOOKED
    dialing_status = DIALING
    done_status = DONE
    answered_entry: ClassVar[dict[str, Any]] = {}

    def __init__(self, line: Line, outbound: Outbound) -> None:
        self.line = line
        self.outbound = outbound
        self.settings = line.config.appointments
        self.calendar = line.calendar
        self.caller_hours = CallerHours(*line.config.callbacks.caller_hours, line.calendar)
        self.records: dict[str, Appointment] = {}
        self.slots = Slots(line.config)
        self.forget_at: ForgetAt = []  # when those over are forgotten (acd/engine/kept.py)
        self.open_at: dict[tuple[str, float], str] = {}  # (number, start) -> its appointment (made)

    # -- queries

    def horizon(self, now: float) -> float:
        """The latest start an appointment booked or moved at `now` may have (calendar days)."""
        return self.calendar.hours.days_after(now, self.settings.max_days_ahead)

    # -- checks (pure, batch-aware: `batch.places` holds the places the batch takes and frees)

    def check_booked(self, e: AppointmentBooked, batch: Batch) -> None:
        batch.known("skill", e.skill, self.line.skill_index, "skill")
        if e.site is not None:
            batch.known("site", e.site, self.line._site_ids, "site")
        if (
            e.appointment_id in self.records
            or e.appointment_id in self.line.calls
            or e.appointment_id in batch.new_ids
        ):
            batch.fail(
                409,
                "appointment_exists",
                f"appointment {e.appointment_id!r} exists already",
                "appointment_id",
            )
        start = e.start.timestamp()
        self.check_free(e.number, start, batch)
        self.caller_hours.check_slot(e.number, e.department, start, start + self.slots.length, batch.fail)
        site = self.choose_slot(e.skill, e.site, start, batch.now, batch.fail, batch.places)
        batch.places[(site, e.skill, start)] = batch.places.get((site, e.skill, start), 0) + 1
        batch.new_ids.add(e.appointment_id)

    def known(self, e: Any, batch: Batch) -> Appointment:
        appointment = self.records.get(e.appointment_id)
        if appointment is None:
            batch.fail(
                422, "unknown_appointment", f"unknown appointment {e.appointment_id!r}", "appointment_id"
            )
        return appointment

    def check_result(self, e: AppointmentResult, batch: Batch) -> None:
        self.outbound.check_originate_id(self, self.known(e, batch), e, batch)

    def changeable(self, e: Any, batch: Batch) -> Appointment:
        """A booked appointment whose time has not come: it may be cancelled or moved."""
        appointment = self.known(e, batch)
        if appointment.status is not BOOKED or appointment.start <= batch.now:
            batch.fail(
                409,
                "appointment_not_changeable",
                f"appointment {appointment.id!r} is {appointment.status}"
                + (" and its time has come" if appointment.start <= batch.now else ""),
                "appointment_id",
            )
        return appointment

    def check_cancelled(self, e: AppointmentCancelled, batch: Batch) -> None:
        appointment = self.changeable(e, batch)
        key = (appointment.site, appointment.skill, appointment.start)
        batch.places[key] = batch.places.get(key, 0) - 1

    def check_rescheduled(self, e: AppointmentRescheduled, batch: Batch) -> None:
        appointment = self.changeable(e, batch)
        start = e.start.timestamp()
        if start == appointment.start:
            return
        self.check_free(appointment.number, start, batch)
        hours, number, department = self.caller_hours, appointment.number, appointment.department
        hours.check_slot(number, department, start, start + self.slots.length, batch.fail)
        places = batch.places
        key = (appointment.site, appointment.skill, appointment.start)
        places[key] = places.get(key, 0) - 1
        self.choose_slot(appointment.skill, appointment.site, start, batch.now, batch.fail, places)
        new_key = (appointment.site, appointment.skill, start)
        places[new_key] = places.get(new_key, 0) + 1

    def check_free(self, number: str, start: float, batch: Batch) -> None:
        """The number has no appointment open (booked, being dialled) at `start`, nor one the
        batch books or moves there: one caller, one call at a time (a form sent twice). Slots start
        on whole seconds, and a start within a millisecond of one is that slot's (Slots.slot_at)."""
        start = float(round(start))
        held = self.open_at.get((number, start))
        open_id = held if held is not None and self.records[held].status in (BOOKED, DIALING) else None
        open_id = open_id or batch.asked.get((number, start))
        if open_id is not None:
            what = f"{number} has an appointment at that start already: {open_id!r}"
            batch.fail(409, "appointment_open", what, "start", appointment_id=open_id)
        batch.asked[(number, start)] = batch.event.appointment_id

    def choose_slot(
        self,
        skill: str,
        site: str | None,
        start: float,
        now: float,
        fail: Any,
        pending: dict[tuple, int],
        full_ok: bool = False,
    ) -> str:
        """The site whose slot at `start` has a place (the one with most left), or fail
        (`full_ok`: a full slot is no failure, see `Slots.choose`)."""
        if start <= now:
            fail(422, "in_past", "the appointment's start is in the past", "start")
        if start > self.horizon(now):
            days, latest = self.settings.max_days_ahead, self.calendar.hours.isoformat(self.horizon(now))
            fail(
                422,
                "beyond_horizon",
                f"the appointment's start is more than {days} days ahead (the booking horizon,"
                f" appointments.max_days_ahead): the latest is {latest}",
                "start",
            )
        return self.slots.choose(skill, site, start, now, fail, pending, full_ok)

    # -- events

    def on_booked(
        self, e: AppointmentBooked, t: float, now: float, commands: list[Command]
    ) -> AppointmentDecision:
        start = e.start.timestamp()
        # validated: a slot with a place, but in a replay under capacities config/ has since made
        # smaller, where the booking acknowledged (201) is kept, over them
        site = self.choose_slot(e.skill, e.site, start, now, _no_fail, {}, full_ok=True)
        slot = self.slots.slot_at(site, e.skill, start)
        assert slot is not None
        if self.slots.remaining(site, e.skill, slot, now) <= 0:
            log.warning(
                "appointment %s replayed into a slot now full (%s, %s): kept, over the capacity of config/",
                e.appointment_id,
                site,
                e.skill,
            )
        appointment = Appointment(
            id=e.appointment_id,
            number=e.number,
            skill=e.skill,
            site=site,
            start=slot.start,
            end=slot.end,
            status=BOOKED,
            created_at=t,
            department=e.department,
        )
        self.records[appointment.id] = appointment
        self.open_at[(appointment.number, appointment.start)] = appointment.id
        self.take_place(appointment, +1)
        keep(self.forget_at, appointment)
        self.note(appointment, now, "booked")
        self.arm(appointment, now)  # after `booked`: a reminder skipped says so next (reminders.py)
        self.line.observer.appointment(appointment, "booked", now)
        return AppointmentDecision(appointment.id, BOOKED)

    def on_cancelled(
        self, e: AppointmentCancelled, t: float, now: float, commands: list[Command]
    ) -> AppointmentDecision:
        appointment = self.records[e.appointment_id]
        appointment.status = CANCELLED
        appointment.token += 1
        self.take_place(appointment, -1)
        self.note(appointment, now, "cancelled")
        self.line.observer.appointment(appointment, "cancelled", now)
        return AppointmentDecision(appointment.id, CANCELLED)

    def on_rescheduled(
        self, e: AppointmentRescheduled, t: float, now: float, commands: list[Command]
    ) -> AppointmentDecision:
        appointment = self.records[e.appointment_id]
        start = e.start.timestamp()
        if start != appointment.start:
            slot = self.slots.slot_at(appointment.site, appointment.skill, start)
            assert slot is not None
            self.take_place(appointment, -1)
            if self.open_at.get((appointment.number, appointment.start)) == appointment.id:
                del self.open_at[(appointment.number, appointment.start)]
            self.open_at[(appointment.number, slot.start)] = appointment.id
            appointment.start, appointment.end = slot.start, slot.end
            self.take_place(appointment, +1)
            appointment.reminded = False
            keep(self.forget_at, appointment)
            self.note(appointment, now, "rescheduled")
            self.arm(appointment, now)
            self.line.observer.appointment(appointment, "rescheduled", now)
        return AppointmentDecision(appointment.id, appointment.status)

    def on_result(
        self, e: AppointmentResult, t: float, now: float, commands: list[Command]
    ) -> Ignored | None:
        return self.outbound.result(
            self, self.records[e.appointment_id], e.outcome, t, now, commands, e.originate_id
        )

    # -- the outbound machine's questions (acd/engine/outbound.py)

    def contact_of(self, call: Call) -> Appointment:
        return self.records[call.id]

    def call_id_of(self, appointment: Appointment) -> str:
        return appointment.id

    def dialing(self, appointment: Appointment, now: float) -> None:
        self.line.observer.appointment(appointment, "dialing", now)

    def answered(
        self,
        appointment: Appointment,
        call: Call,
        agent: Agent | None,
        t: float,
        now: float,
        commands: list[Command],
    ) -> None:
        self.line.observer.appointment(appointment, "done", now)

    def not_answered(
        self, appointment: Appointment, call: Call, t: float, now: float, commands: list[Command]
    ) -> None:
        """Dialled again within the slot after the configured delays, then a no-show."""
        delays = self.settings.retry_delays_s
        retry_at = now + delays[appointment.attempts - 1] if appointment.attempts <= len(delays) else None
        if retry_at is not None and retry_at < appointment.end:
            appointment.status = BOOKED
            call.status = CallStatus.QUEUED
            self.outbound.arm(appointment, retry_at, "appointment")
            self.note(appointment, now, "retry")
        else:
            appointment.status = NO_SHOW
            self.line._finish_call(call, t, now, "no_show")
            self.line.observer.appointment(appointment, "no_show", now)

    # -- timers

    def arm(self, appointment: Appointment, now: float) -> None:
        """Wake at the slot's start, and for the reminder before it (at a decent hour)."""
        self.outbound.arm(appointment, appointment.start, "appointment")
        reminders.arm(self, appointment, now)

    def timer_live(self, key: str, token: int) -> bool:
        appointment = self.records.get(key)
        return self.outbound.live(appointment, token, BOOKED)

    def due(self, appointment: Appointment, now: float, commands: list[Command]) -> None:
        """Its time has come (or a retry within the slot): into the line, at its priority."""
        call = self.line.calls.get(appointment.id)
        if call is None:
            call = Call(
                id=appointment.id,
                caller=appointment.number,
                skill=appointment.skill,
                priority=self.settings.priority,
                offered_at=appointment.start,
                seq=0,
                department=appointment.department,
                kind=CallKind.APPOINTMENT,
                stranded=True,
            )
            self.line.calls[call.id] = call
        if call.waiting:
            return
        if now >= appointment.end:  # come too late (a timer fired after the slot): not dialled now
            self.slot_over(appointment, now)
            return
        self.line._seq += 1
        call.seq = self.line._seq
        call.enqueued_at = now
        call.status = CallStatus.QUEUED
        self.line._enqueue(call)
        self.line.timers.set(appointment.end, "slot_end", appointment.id, appointment.token)
        self.line._try_route(call, now, commands)

    def slot_over(self, appointment: Appointment, now: float) -> None:
        """The slot ended with the appointment still waiting for an agent: the caller agreed to be
        called within it, so it is not dialled later (after the closing, or the next morning); it
        leaves the line as a no-show that acd did not dial (`why`: not_dialled)."""
        call = self.line.calls[appointment.id]
        if call.waiting:
            self.line._dequeue(call)
        appointment.status = NO_SHOW
        appointment.token += 1
        self.line._finish_call(call, now, now, "no_show")
        self.note(appointment, now, "no_show", why="not_dialled")
        self.line.observer.appointment(appointment, "no_show", now)

    def remind(self, appointment: Appointment, now: float, commands: list[Command]) -> None:
        reminders.remind(self, appointment, now, commands)

    # -- helpers

    def take_place(self, appointment: Appointment, delta: int) -> None:
        key = (appointment.site, appointment.skill, appointment.start)
        taken = self.slots.taken.get(key, 0) + delta
        if taken:
            self.slots.taken[key] = taken
        else:
            self.slots.taken.pop(key, None)

    def note(self, appointment: Appointment, now: float, what: str, **extra: Any) -> None:
        appointment.history.append((now, {"status": what, **extra}))


def _no_fail(status: int, code: str, message: str, field: str, **more: Any) -> None:
    """A booking replayed from the log was validated when first applied; under a changed config/
    it may fail: an `EngineError`, which the replay (acd/engine/replay.py) skips and logs."""
    raise EngineError(status, code, message)
