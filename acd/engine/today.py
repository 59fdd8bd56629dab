"""The day's figures per skill (offered, answered, abandoned, short_abandoned, closed, overflowed)
since local midnight of the national line: part of the engine's state, so every instance shows the
same (a follower's replica counts as the leader does, with no observer) and a restart keeps them.

They mean what the records' indicators of the same names mean (docs/records.md), so the wallboard's
answer rate is the published one: `offered` leaves out the calls that came in closed hours
(`closed`) and the short abandons (hung up within `SHORT_ABANDON_S` of waiting, `short_abandoned`),
`abandoned` the short abandons; a call counts on the day it was offered, its answer too (a callback
answered the next morning counts on the day of its call, which the board no longer shows).
"""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from acd.records.model import short_abandon

FIELDS = ("offered", "answered", "abandoned", "short_abandoned", "closed", "overflowed")
# A caller who hung up within SHORT_ABANDON_S of waiting (the records' own bound, included, to the
# millisecond as the records publish waits) is a short abandon, left out of `offered` and `abandoned`.


class DayTally:
    __slots__ = ("_end", "_start", "_zone", "counts", "day")

    def __init__(self, zone: ZoneInfo) -> None:
        self._zone = zone
        self.day: str | None = None  # the local date counted (ISO), None before the first count
        self._start = math.inf  # the day's bounds (engine time)
        self._end = -math.inf
        self.counts: dict[str, dict[str, int]] = {f: {} for f in FIELDS}

    def add(self, field: str, skill: str, now: float, offered_at: float | None = None) -> bool:
        """Count one at `now`; with `offered_at` (the call's offer), only if the call was offered
        the day counted (the records count a call, and its answer, on the day of its offer).
        Whether it counted."""
        if not self._start <= now < self._end:
            self._roll(now)
        if offered_at is not None and not self._start <= offered_at < self._end:
            return False
        counts = self.counts[field]
        counts[skill] = counts.get(skill, 0) + 1
        return True

    def abandoned(self, skill: str, now: float, offered_at: float, wait_s: float) -> None:
        """A caller hung up unanswered after `wait_s`: a short abandon leaves `offered`."""
        if not short_abandon(wait_s):
            self.add("abandoned", skill, now, offered_at)
            return
        if self.add("short_abandoned", skill, now, offered_at):  # may roll the day: read after
            offered = self.counts["offered"]
            if offered.get(skill, 0) > 0:
                offered[skill] -= 1

    def unabandoned(self, skill: str, now: float, offered_at: float, wait_s: float) -> None:
        """`abandoned`'s count taken back: the caller had taken a callback before hanging up (its
        acceptance delivered after the hang-up); a short abandon is offered again."""
        field = "short_abandoned" if short_abandon(wait_s) else "abandoned"
        if not self._start <= now < self._end:
            self._roll(now)
        counts = self.counts[field]
        if not self._start <= offered_at < self._end or not counts.get(skill):
            return
        counts[skill] -= 1
        if not counts[skill]:
            del counts[skill]
        if field == "short_abandoned":
            self.add("offered", skill, now, offered_at)

    def _roll(self, now: float) -> None:
        day = datetime.fromtimestamp(now, self._zone).date()
        if self.day is not None and day.isoformat() < self.day:
            return  # a time before the day counted (out of order): counted in the day it reached
        start = datetime.combine(day, time(0), self._zone).timestamp()
        end = datetime.combine(day + timedelta(days=1), time(0), self._zone).timestamp()
        if day.isoformat() != self.day:
            self.day = day.isoformat()
            self.counts = {f: {} for f in FIELDS}
        self._start, self._end = start, end

    def read(self, now: float) -> tuple[str, dict[str, dict[str, int]]]:
        """The local day of `now` and its figures (none yet if nothing was counted that day).
        Reading changes nothing."""
        day = datetime.fromtimestamp(now, self._zone).date().isoformat()
        if day != self.day:
            return day, {f: {} for f in FIELDS}
        return day, {f: dict(c) for f, c in self.counts.items()}

    def dump(self) -> dict[str, object]:
        return {"day": self.day, "counts": {f: dict(c) for f, c in self.counts.items()}}

    def load(self, data: dict[str, object]) -> None:
        """The figures of a state document (the day's bounds are found again at the next count)."""
        day, counts = data.get("day"), data.get("counts") or {}
        self.day = day if isinstance(day, str) else None
        self.counts = {f: {str(k): int(v) for k, v in dict(counts.get(f, {})).items()} for f in FIELDS}  # type: ignore[union-attr]
        self._start, self._end = math.inf, -math.inf
