"""Appointment slots: each site's opening hours (the national calendar with the site's
department's holidays) cut in `slot_minutes` steps; each slot has the places set aside for the
skill at the site for that half-day (`capacity`), and counts the places taken.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time
from typing import Any, NamedTuple

from acd.calendar import Hours
from acd.config import Config


class Slot(NamedTuple):
    start: float
    end: float
    capacity: int


class Slots:
    """Slot arithmetic and the count of places taken, per (site, skill, slot start)."""

    def __init__(self, config: Config) -> None:
        settings = config.appointments
        self.length = settings.slot_minutes * 60.0
        hh, mm = (int(x) for x in settings.afternoon_from.split(":"))
        self.afternoon_from = time(hh, mm)
        self.capacity: dict[tuple[str, str], tuple[int, int]] = {
            (c.site, c.skill): (c.morning, c.afternoon) for c in settings.capacity
        }
        departments = {s.id: s.department for s in config.sites}
        self.hours: dict[str, Hours] = {
            site: Hours(config.calendar.hours, departments[site], always_open=False)
            for site in {c.site for c in settings.capacity}
        }
        self.taken: dict[tuple[str, str, float], int] = {}

    def sites_for(self, skill: str) -> list[str]:
        return [site for (site, sk) in self.capacity if sk == skill]

    def day_slots(self, site: str, skill: str, day: date) -> Iterator[Slot]:
        places = self.capacity.get((site, skill))
        if places is None:
            return
        hours = self.hours[site]
        for t0, t1 in hours.intervals(day):
            start = t0
            while start + self.length <= t1 + 1e-6:
                local = datetime.fromtimestamp(start, hours.zone).time()
                yield Slot(
                    start, start + self.length, places[1] if local >= self.afternoon_from else places[0]
                )
                start += self.length

    def slot_at(self, site: str, skill: str, start: float) -> Slot | None:
        hours = self.hours.get(site)
        if hours is None:
            return None
        for slot in self.day_slots(site, skill, hours.local_date(start)):
            if abs(slot.start - start) < 1e-3:
                return slot
        return None

    def remaining(self, site: str, skill: str, slot: Slot, now: float) -> int:
        if slot.start <= now:
            return 0
        return max(0, slot.capacity - self.taken.get((site, skill, slot.start), 0))

    # -- what readers see (acd/engine/queries.py)

    def day_left(
        self, skill: str, day: date, site: str | None, now: float, horizon: float
    ) -> list[dict[str, Any]]:
        """The day's slots with the places left (summed over the sites unless one is named); a
        slot starting past `horizon` (the booking horizon) has none left."""
        sites = [site] if site is not None else self.sites_for(skill)
        merged: dict[float, dict[str, Any]] = {}
        for s in sites:
            for slot in self.day_slots(s, skill, day):
                entry = merged.setdefault(
                    slot.start, {"start": slot.start, "end": slot.end, "remaining": 0, "capacity": 0}
                )
                if slot.start <= horizon:
                    entry["remaining"] += self.remaining(s, skill, slot, now)
                entry["capacity"] += slot.capacity
        return [merged[k] for k in sorted(merged)]

    def occupancy(self, now: float) -> dict[str, tuple[int, int]]:
        """Per skill, (places taken, places) over today's slots at every site."""
        out: dict[str, tuple[int, int]] = {}
        for (site, skill), _ in self.capacity.items():
            hours = self.hours[site]
            taken, places = out.get(skill, (0, 0))
            for slot in self.day_slots(site, skill, hours.local_date(now)):
                places += slot.capacity
                taken += self.taken.get((site, skill, slot.start), 0)
            out[skill] = (taken, places)
        return out
