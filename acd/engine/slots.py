"""Appointment slots: each site's opening hours (the national calendar with the site's
department's holidays) cut in `slot_minutes` steps; each slot has the places set aside for the
skill at the site for that half-day (`capacity`), and counts the places taken.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time
from typing import NamedTuple

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
