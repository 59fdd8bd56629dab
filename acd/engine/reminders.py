"""Appointment reminders: a `remind` command (`appointment_id`, `number`, `start`) goes out
`appointments.reminder_lead_s` before the slot, at a decent hour for the caller: when is
acd/engine/caller_hours.py's (`reminder_at` at booking, `next_reminder` when the timer fires).
Each function takes the appointments' part (acd/engine/appointments.py), typed `Any`: this module
is imported by it, never the other way round.
"""

from __future__ import annotations

from typing import Any

from acd.engine.records import Appointment
from acd.model import Command


def arm(book: Any, appointment: Appointment, now: float) -> None:
    """Booked or moved at `now`: wake for the reminder at its decent instant; with none, the
    history says `not_reminded` and why: `too_soon` (booked less than the lead before the slot:
    the reminder's time is past), `caller_hours` (no decent instant between the booking and the
    reminder's time: the caller's night, a Sunday, a public holiday)."""
    nominal = appointment.start - book.settings.reminder_lead_s
    remind_at = book.caller_hours.reminder_at(appointment, nominal, now, appointment.start)
    if remind_at is not None:
        book.line.timers.set(remind_at, "remind", appointment.id, appointment.token)
    else:
        book.note(appointment, now, "not_reminded", why="too_soon" if nominal <= now else "caller_hours")


def remind(book: Any, appointment: Appointment, now: float, commands: list[Command]) -> None:
    """The reminder's timer: the `remind` command, now if now is a decent instant."""
    if appointment.reminded:
        return
    decent = book.caller_hours.next_reminder(appointment, now)
    if decent != now:
        # armed by an older release (or fired late): the next decent instant before the slot
        if decent is not None and decent < appointment.start:
            book.line.timers.set(decent, "remind", appointment.id, appointment.token)
        else:
            book.note(appointment, now, "not_reminded", why="caller_hours")
        return
    appointment.reminded = True
    fields = {
        "appointment_id": appointment.id,
        "number": appointment.number,
        "start": book.calendar.hours.isoformat(appointment.start),
    }
    commands.append(
        Command(
            id=f"{appointment.id}.remind.{len(appointment.history)}",
            command="remind",
            fields=fields,
            created_at=now,
        )
    )
    book.note(appointment, now, "reminded")
