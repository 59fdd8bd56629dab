"""How long an appointment that is over (done, a no-show, cancelled) is kept: a week after its
slot's end (its view, `GET /v1/appointments/{id}`, and its dial's call), then forgotten, as ended
calls are past their retention, so the engine's state (memory, each snapshot, each export) does
not grow with every appointment ever booked. Its record stays in the records database
(`records.retention_days`).

Nothing of it is in the state document: a loaded engine finds when to forget each appointment
from the appointment itself (`keep_all`)."""

from __future__ import annotations

import heapq

from acd.engine.records import Appointment, Call
from acd.model import AppointmentStatus, CallStatus

KEPT_AFTER_SLOT_S = 7 * 86400.0
LOOK_AGAIN_S = 86400.0  # one over but whose call still goes on is looked at again this much later

_OPEN = (AppointmentStatus.BOOKED, AppointmentStatus.DIALING)
_OVER = (CallStatus.ENDED, CallStatus.CLOSED)

ForgetAt = list[tuple[float, str]]  # a heap: (the slot's end + the week kept, appointment id)


def keep(heap: ForgetAt, appointment: Appointment) -> None:
    """Booked, or moved to another slot: forgotten a week after that slot, if over by then."""
    heapq.heappush(heap, (appointment.end + KEPT_AFTER_SLOT_S, appointment.id))


def keep_all(appointments: dict[str, Appointment]) -> ForgetAt:
    """After a state is loaded: when each appointment is to be forgotten."""
    heap = [(ap.end + KEPT_AFTER_SLOT_S, ap.id) for ap in appointments.values()]
    heapq.heapify(heap)
    return heap


def forget(
    heap: ForgetAt,
    appointments: dict[str, Appointment],
    calls: dict[str, Call],
    taken: dict[tuple[str, str, float], int],
    open_at: dict[tuple[str, float], str],
    now: float,
) -> None:
    """Forget the appointments over whose slot ended KEPT_AFTER_SLOT_S ago, with their dial's call,
    their slot's count of places (nothing reads a past slot's) and their place in `open_at`. One
    still open, or whose call still goes on, is looked at again later; the entry of an earlier
    slot (rescheduled since) or of one forgotten already is dropped."""
    while heap and heap[0][0] <= now:
        _, appointment_id = heapq.heappop(heap)
        appointment = appointments.get(appointment_id)
        if appointment is None or appointment.end + KEPT_AFTER_SLOT_S > now:
            continue
        call = calls.get(appointment_id)
        if appointment.status in _OPEN or (call is not None and call.status not in _OVER):
            heapq.heappush(heap, (now + LOOK_AGAIN_S, appointment_id))
            continue
        del appointments[appointment_id]
        if call is not None:
            del calls[appointment_id]
        taken.pop((appointment.site, appointment.skill, appointment.start), None)
        if open_at.get((appointment.number, appointment.start)) == appointment_id:
            del open_at[(appointment.number, appointment.start)]
