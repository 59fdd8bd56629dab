"""Callback windows (config/callbacks.yaml `windows`, each with its capacity): which ones a
waiting caller is offered, with the places left. The bookings themselves are the callbacks'
state (acd/engine/callbacks.py's `window_booked`: (local date, window index) -> callbacks).

On a day the line closes before a window's end (a dated exception of config/calendar.yaml: the
16:00 close of Christmas Eve, say), the window ends at the closing, and takes the share of its
places that its open part holds (rounded up); one that starts after the closing is not offered.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from acd.calendar import Calendar
from acd.engine.calls import accepted_before_its_end
from acd.model import CallbackDecision, CallStatus

_Window = tuple[int, int, float, float, bool, str, str]


#: Per calendar (the engine's, weakly held) and its settings: each local date's windows, as
#: (index, capacity, start, end, open at start, start and end in RFC 3339). A pure function of the
#: configuration, asked for every waiting caller offered a callback: worked out once per date.
_PLANS: WeakKeyDictionary[Calendar, tuple[Any, dict[date, list[_Window]]]] = WeakKeyDictionary()
_PLAN_DAYS = 64  # dates kept per calendar (a simulated year walks through them)


def _plan(settings: Any, calendar: Calendar, day: date) -> list[_Window]:
    entry = _PLANS.get(calendar)
    if entry is None or entry[0] is not settings:
        entry = _PLANS[calendar] = (settings, {})
    days = entry[1]
    found = days.get(day)
    if found is None:
        hours = calendar.hours
        found = []
        for index, window in enumerate(settings.windows):
            start, end = (
                datetime.combine(day, time.fromisoformat(x), hours.zone).timestamp()
                for x in (window.start, window.end)
            )
            is_open = calendar.is_open(start)
            capacity = window.capacity
            close = hours.next_change(start) if is_open else None  # open at its start: the closing
            if close is not None and close < end:
                # the line closes early that day (a dated exception): the window ends then, with
                # the share of its places its open part holds (rounded up)
                capacity = math.ceil(capacity * (close - start) / (end - start))
                end = close
            found.append((index, capacity, start, end, is_open, hours.isoformat(start), hours.isoformat(end)))
        if len(days) >= _PLAN_DAYS:
            days.clear()
        days[day] = found
    return found


class Bookings(dict[tuple[str, int], int]):
    """The callbacks booked per (local date, window index); changed by item assignment (or del)
    only, which forgets the answers `offered` kept (`answers`: limit -> (settings, calendar, the
    instant asked, the first window start offered, the end of that local day, the windows))."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.answers: dict[int, tuple[Any, Calendar, float, float, float, list[dict[str, Any]]]] = {}

    def __setitem__(self, key: tuple[str, int], value: int) -> None:
        super().__setitem__(key, value)
        self.answers.clear()

    def __delitem__(self, key: tuple[str, int]) -> None:
        super().__delitem__(key)
        self.answers.clear()


def offered(
    settings: Any, calendar: Calendar, booked: dict[tuple[str, int], int], now: float, limit: int = 2
) -> list[dict[str, Any]]:
    """The next `limit` callback windows with room: today's that start at least `window_lead_s`
    from now, then the next days', on days and at times the line is open. Each: `start`, `end`
    (RFC 3339), `remaining`, and `_key` (local date, window index, start, end) for the engine;
    shared by later answers (read them, do not change them).

    `Bookings` keep the answer, asked for every waiting caller offered a callback: it holds, for the
    same settings and calendar, until a booking, the local midnight, or the instant the first window
    offered comes within the lead (the windows before it that were too close stay so; later ones go
    after it). Never for an earlier instant."""
    if not settings.windows:
        return []
    answers = getattr(booked, "answers", None)
    if answers is not None:
        kept = answers.get(limit)
        if kept is not None:
            kept_settings, kept_calendar, asked, first, day_end, windows = kept
            if (
                kept_settings is settings
                and kept_calendar is calendar
                and asked <= now < day_end
                and not first < now + settings.window_lead_s  # the comparison below (start < earliest)
            ):
                return list(windows)
    day, _, day_end = calendar.hours.day_span(now)
    earliest = now + settings.window_lead_s
    out: list[dict[str, Any]] = []
    for _ in range(8):  # a week ahead at most
        day_iso = day.isoformat()
        for index, capacity, start, end, is_open, start_iso, end_iso in _plan(settings, calendar, day):
            if start < earliest or not is_open:
                continue
            remaining = capacity - booked.get((day_iso, index), 0)
            if remaining > 0:
                out.append(
                    {
                        "start": start_iso,
                        "end": end_iso,
                        "remaining": remaining,
                        "_key": (day_iso, index, start, end),
                    }
                )
        if len(out) >= limit:
            break
        day += timedelta(days=1)
    out.sort(key=lambda w: w["_key"][2])
    out = out[:limit]
    if answers is not None:
        first = out[0]["_key"][2] if out else math.inf
        answers[limit] = (settings, calendar, now, first, day_end, out)
    return list(out)


def book_window(book: Any, call: Any, start: float, t: float, now: float, number: str) -> CallbackDecision:
    """The caller takes a callback window (`book`: the callbacks' part): it leaves the line, and
    its callback (to `number`) is due at the window's start, dialled then in the order of its
    first call's arrival."""
    window = book.window_at(start, now, call)
    assert window is not None  # validated
    day, index, *_ = window["_key"]
    book.window_booked[(day, index)] = book.window_booked.get((day, index), 0) + 1
    book.line._dequeue(call)
    callback = book.hold(call, t, due=start, requested=True, number=number)
    decision = CallbackDecision(
        callback.id,
        call_id=call.id,
        window={"start": window["start"], "end": window["end"]},
        due_at=window["start"],
    )
    book.line._record(call, now, decision.to_wire())
    book.note(callback, now, "scheduled", why="window", window=window["start"])
    book.line.observer.callback(callback, "scheduled", now)
    book.line.observer.callback_accepted(call, callback, now)
    book.arm(callback)
    return decision


def release(book: Any, callback: Any) -> None:
    """A window's callback cancelled before its first dial frees its place in the window (`book`:
    the callbacks' part); a virtual hold or a requested callback holds no place."""
    start = next((entry["window"] for _, entry in callback.history if entry.get("why") == "window"), None)
    if start is None or callback.first_dial_at is not None:
        return
    at = datetime.fromisoformat(start).timestamp()
    day = datetime.fromtimestamp(at, book.calendar.hours.zone).date()
    for index, *_, start_iso, _end_iso in _plan(book.settings, book.calendar, day):
        key = (day.isoformat(), index)
        if start_iso == start and book.window_booked.get(key, 0) > 0:
            book.window_booked[key] -= 1
            return


def check_window(book: Any, e: Any, batch: Any) -> None:
    """A `callback.accepted` naming a window (`window_start`): one offered to its caller now,
    with room, counting the batch's own bookings (`book`: the callbacks' part, acd/engine/callbacks.py)."""
    call = book.line.calls.get(e.call_id)
    if call is None or call.callback_id:
        return  # unknown (said next), or a callback already: the handler says it is ignored
    if not (call.status is CallStatus.QUEUED and call.waiting) and not accepted_before_its_end(call, e):
        return  # no longer waiting (and not taken before its end, delivered late): ignored
    start = e.window_start.timestamp()
    windows = book.windows(batch.now, len(book.settings.windows) * 8, call)
    window = next((w for w in windows if w["_key"][2] == start), None)
    if window is None:
        starts = [w["start"] for w in windows]
        batch.fail(
            422,
            "unknown_window",
            f"no callback window with room starts at {e.window_start.isoformat()}; "
            f"open windows: {', '.join(starts) or 'none'}",
            "window_start",
            valid=starts,
        )
    booked = batch.windows
    booked[start] = booked.get(start, 0) + 1
    if booked[start] > window["remaining"]:
        batch.fail(409, "window_full", f"the callback window at {window['start']} is full", "window_start")
