"""When a callback may ring its caller: the line open, and daytime where the caller lives.

The national line's hours are Paris time, and it serves the overseas departments too: its 08:30
opening is 03:30 in Guadeloupe and Martinique in winter, its 19:00 closing 22:00 in Réunion. A
callback is dialled only while the line is open and the caller's own clock reads within
`callbacks.caller_hours` (08:00-20:00 by default). The caller's zone is its overseas
department's (acd/calendar.py's DEPARTMENT_TIMEZONE), else its number's overseas country code
(where the phone is: a metropolitan department's caller on an overseas number is never rung in
its night); anyone else is on the line's own zone, where the line's hours already fall within the
caller's (as shipped), so metropolitan callbacks are due at the opening as before.

Appointment reminders (a `remind` command, acd/engine/appointments.py) go out at a decent hour
for the caller: within the same caller's hours, on a day that is neither a Sunday nor a public
holiday of the caller's calendar (its department's, or its overseas number's): `reminder_at`
moves one due outside them to the decent instant nearest it, the caller's last minute before it
or, at least an hour before the slot, the caller's next morning: 12 h before a Monday 14:30
slot is the Monday at 08:00, not the Saturday at 19:59.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from acd.calendar import DEPARTMENT_TIMEZONE, HOLIDAY_SUBDIVISION, Calendar, french_holidays

#: Overseas E.164 prefixes and their zones, longest first (Mayotte shares +262 with Réunion).
NUMBER_TIMEZONE = (
    ("+262269", "Indian/Mayotte"),
    ("+262639", "Indian/Mayotte"),
    ("+262", "Indian/Reunion"),
    ("+590", "America/Guadeloupe"),
    ("+594", "America/Cayenne"),
    ("+596", "America/Martinique"),
    ("+508", "America/Miquelon"),
)
#: The prefixes alone: most numbers are metropolitan, settled by one `startswith` (asked on every offer).
_OVERSEAS = tuple(prefix for prefix, _ in NUMBER_TIMEZONE)
_ZONES = {name: ZoneInfo(name) for name in {*DEPARTMENT_TIMEZONE.values(), *dict(NUMBER_TIMEZONE).values()}}
_ZONE_DEPARTMENT = {zone: department for department, zone in DEPARTMENT_TIMEZONE.items()}
#: How many times the search below may hop between the line's hours and the caller's.
_HOPS = 32


def caller_zone(department: str | None, number: str) -> ZoneInfo | None:
    """The caller's time zone when it is not the line's: its overseas department's, else its
    overseas number's."""
    name = DEPARTMENT_TIMEZONE.get(department or "")
    if name is None and number.startswith(_OVERSEAS):
        name = next((zone for prefix, zone in NUMBER_TIMEZONE if number.startswith(prefix)), None)
    return _ZONES[name] if name is not None else None


def caller_subdivision(department: str | None, number: str) -> str | None:
    """The `holidays` subdivision of the caller's calendar (None: the national holidays): its
    department's, or, with no department, its overseas number's."""
    if not department:
        zone = caller_zone(None, number)
        department = None if zone is None else _ZONE_DEPARTMENT.get(zone.key)
    return HOLIDAY_SUBDIVISION.get(department or "")


#: How far a reminder is looked for, in days, before or after its nominal instant.
_REMINDER_DAYS = 15
#: A reminder moved back from after the caller's hours goes out this long before their end.
_LAST_MINUTE = 60.0
#: A reminder moved on to the caller's next morning goes out at least this long before the slot.
_AHEAD = 3600.0


class CallerHours:
    """The instants a callback may be dialled, for a caller in `zone` (None: the line's zone);
    `..._for` take a contact (a callback, or its request: `department`, `number`)."""

    def __init__(self, start: str, end: str, calendar: Calendar) -> None:
        self.start, self.end = time.fromisoformat(start), time.fromisoformat(end)
        self.calendar = calendar

    def daytime(self, t: float, zone: ZoneInfo | None) -> bool:
        if zone is None:
            return True
        return self.start <= datetime.fromtimestamp(t, zone).time() < self.end

    def fits(self, zone: ZoneInfo | None, start: float, end: float) -> bool:
        """Whether a slot `[start, end)` lies within the caller's own hours (its dial goes out at
        the start, its retries until the end)."""
        return zone is None or (self.daytime(start, zone) and self.daytime(end - 1.0, zone))

    def check_slot(self, number: str, department: str | None, start: float, end: float, fail: Any) -> None:
        """An appointment's slot `[start, end)` lies within the caller's own hours (`fits`), else
        `fail` 422 `outside_caller_hours`."""
        zone = caller_zone(department, number)
        if self.fits(zone, start, end):
            return
        there = f"{datetime.fromtimestamp(start, zone):%H:%M}-{datetime.fromtimestamp(end, zone):%H:%M}"
        fail(
            422,
            "outside_caller_hours",
            f"the slot is {there} on the caller's clock ({zone.key}), outside {self.start:%H:%M}-"
            f"{self.end:%H:%M} (callbacks.caller_hours): the caller would be called in their night",
            "start",
        )

    def slots_for(
        self, slots: list[dict[str, Any]], department: str | None = None, number: str | None = None
    ) -> Any:
        """The slots listing (`start`, `end`, `remaining`) for the caller when given (its
        `department`, its `number`: zone as the booking finds it): a slot `check_slot` would
        refuse has no place left, as a past one; without a caller, as it is."""
        zone = caller_zone(department, number or "")
        if zone is None:
            return slots
        for slot in slots:
            if not self.fits(zone, slot["start"], slot["end"]):
                slot["remaining"] = 0
        return slots

    def may_dial(self, t: float, zone: ZoneInfo | None) -> bool:
        return self.calendar.is_open(t) and self.daytime(t, zone)

    def next_dial(self, t: float, zone: ZoneInfo | None) -> float | None:
        """The first instant from `t` when the line is open and it is daytime for the caller;
        None when there is none (the line never open, or never while the caller is awake)."""
        for _ in range(_HOPS):
            opening = self.calendar.next_opening(t)
            if opening is None or self.daytime(opening, zone):
                return opening
            assert zone is not None
            local = datetime.fromtimestamp(opening, zone)
            day = local.date() if local.time() < self.start else local.date() + timedelta(days=1)
            t = datetime.combine(day, self.start, zone).timestamp()
        return None

    def may_dial_for(self, contact: Any, t: float) -> bool:
        return self.may_dial(t, caller_zone(contact.department, contact.number))

    def next_dial_for(self, contact: Any, t: float) -> float | None:
        return self.next_dial(t, caller_zone(contact.department, contact.number))

    def until_for(self, contact: Any, t: float) -> float | None:
        """When dialling the contact, allowed at `t`, stops: the line's closing or the end of the
        caller's day, whichever comes first (None: never, or not allowed now)."""
        zone = caller_zone(contact.department, contact.number)
        if not self.may_dial(t, zone):
            return None
        stop = self.calendar.hours.next_change(t)  # open now: its next change is the closing
        if zone is not None:
            end = datetime.combine(datetime.fromtimestamp(t, zone).date(), self.end, zone).timestamp()
            stop = end if stop is None else min(stop, end)
        return stop

    # -- reminders: a decent hour, on a day that is neither a Sunday nor a public holiday

    def _reminder_days(self, contact: Any) -> tuple[ZoneInfo, Any]:
        zone = caller_zone(contact.department, contact.number) or self.calendar.zone
        return zone, french_holidays(caller_subdivision(contact.department, contact.number))

    def _day_span(self, day: Any, zone: ZoneInfo, holidays: Any) -> tuple[float, float] | None:
        """The caller's hours of a local day as instants, None on a Sunday or public holiday."""
        if day.weekday() == 6 or day in holidays:
            return None
        lo = datetime.combine(day, self.start, zone).timestamp()
        return lo, datetime.combine(day, self.end, zone).timestamp()

    def reminder_at(self, contact: Any, nominal: float, after: float, start: float) -> float | None:
        """When the contact's reminder nominally due at `nominal` goes out: `nominal` itself when
        it falls in the caller's hours on a working day (Saturday included), else the decent
        instant nearest it (the earlier when as near): the latest before it (the caller's last
        minute of the day, 19:59 by default) after `after` (the booking), or the first after it
        (the caller's next morning) at least `_AHEAD` before `start` (the slot). None when
        `nominal` is past at `after` (booked too soon), or neither is (no reminder is sent)."""
        if nominal <= after:
            return None
        zone, holidays = self._reminder_days(contact)
        day = datetime.fromtimestamp(nominal, zone).date()
        before = None
        for i in range(_REMINDER_DAYS):
            span = self._day_span(day - timedelta(days=i), zone, holidays)
            if span is None or nominal < span[0]:
                continue
            lo, hi = span
            if nominal < hi:
                return nominal
            before = max(lo, hi - _LAST_MINUTE)
            break
        before = before if before is not None and before > after else None
        later = self.next_reminder(contact, nominal)
        later = later if later is not None and later <= start - _AHEAD else None
        if before is None or later is None:
            return later if before is None else before
        return before if nominal - before <= later - nominal else later

    def next_reminder(self, contact: Any, t: float) -> float | None:
        """The first decent instant for a reminder from `t` (`t` itself when it is one; None: none
        within the days searched)."""
        zone, holidays = self._reminder_days(contact)
        day = datetime.fromtimestamp(t, zone).date()
        for i in range(_REMINDER_DAYS):
            span = self._day_span(day + timedelta(days=i), zone, holidays)
            if span is None or t >= span[1]:
                continue
            return max(t, span[0])
        return None


def arm_stop(line: Any, hours: CallerHours, callback: Any, t: float, *, leave: bool = False) -> None:
    """A callback waiting in line is woken when dialling it stops (`callback_stop`): still
    waiting then, it leaves the line, due at the next instant it may be dialled, so its `due_at`
    never stays in a past evening while it waits for the morning. With `leave`, one that may not
    be dialled now (a virtual hold accepted in the caller's night) leaves the line at once, its
    place kept: its `due_at` says the caller's morning, and it is not counted among the callers
    waiting (a callback entering the line is routed next, which defers it so itself)."""
    stop = hours.until_for(callback, t)
    if stop is not None:
        line.timers.set(stop, "callback_stop", callback.id, callback.token)
    elif leave and (call := line.calls.get(callback.call_id)) is not None and call.waiting:
        line.callback_book.defer(call, t)


def stop_due(line: Any, hours: CallerHours, callback: Any, now: float) -> None:
    """The `callback_stop` timer (`arm_stop`): a callback still waiting in line when dialling it
    stops leaves the line (deferred to the next instant it may be dialled)."""
    call = line.calls.get(callback.call_id)
    if call is not None and call.waiting and not hours.may_dial_for(callback, now):
        line.callback_book.defer(call, now)
