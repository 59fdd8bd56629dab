"""The day's figures per skill (offered, answered, abandoned, closed, overflowed) since local
midnight of the national line: part of the engine's state, so every instance shows the same (a
follower's replica counts as the leader does, with no observer) and a restart keeps them.

They count what the metrics' counters of the same names count; the counters are per process and
feed Prometheus, these feed the wallboard.
"""

from __future__ import annotations

import math
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

FIELDS = ("offered", "answered", "abandoned", "closed", "overflowed")


class DayTally:
    __slots__ = ("_end", "_start", "_zone", "counts", "day")

    def __init__(self, zone: ZoneInfo) -> None:
        self._zone = zone
        self.day: str | None = None  # the local date counted (ISO), None before the first count
        self._start = math.inf  # the day's bounds (engine time)
        self._end = -math.inf
        self.counts: dict[str, dict[str, int]] = {f: {} for f in FIELDS}

    def add(self, field: str, skill: str, now: float) -> None:
        if not self._start <= now < self._end:
            self._roll(now)
        counts = self.counts[field]
        counts[skill] = counts.get(skill, 0) + 1

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
