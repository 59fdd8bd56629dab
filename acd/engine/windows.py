"""Callback windows (config/callbacks.yaml `windows`, each with its capacity): which ones a
waiting caller is offered, with the places left. The bookings themselves are the callbacks'
state (acd/engine/callbacks.py's `window_booked`: (local date, window index) -> callbacks).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from acd.calendar import Calendar


def offered(
    settings: Any, calendar: Calendar, booked: dict[tuple[str, int], int], now: float, limit: int = 2
) -> list[dict[str, Any]]:
    """The next `limit` callback windows with room: today's that start at least `window_lead_s`
    from now, then the next days', on days and at times the line is open. Each: `start`, `end`
    (RFC 3339), `remaining`, and `_key` (local date, window index, start) for the engine."""
    if not settings.windows:
        return []
    hours = calendar.hours
    day = hours.local_date(now)
    out: list[dict[str, Any]] = []
    for _ in range(8):  # a week ahead at most
        for index, window in enumerate(settings.windows):
            start, end = (
                datetime.combine(day, time.fromisoformat(x), hours.zone).timestamp()
                for x in (window.start, window.end)
            )
            if start < now + settings.window_lead_s or not calendar.is_open(start):
                continue
            remaining = window.capacity - booked.get((day.isoformat(), index), 0)
            if remaining > 0:
                out.append(
                    {
                        "start": hours.isoformat(start),
                        "end": hours.isoformat(end),
                        "remaining": remaining,
                        "_key": (day.isoformat(), index, start),
                    }
                )
        if len(out) >= limit:
            break
        day += timedelta(days=1)
    out.sort(key=lambda w: w["_key"][2])
    return out[:limit]
