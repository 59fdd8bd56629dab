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

    def choose(
        self,
        skill: str,
        site: str | None,
        start: float,
        now: float,
        fail: Any,
        pending: dict[tuple, int],
        full_ok: bool = False,
    ) -> str:
        """The site whose slot at `start` has a place (the one with most left: `pending`, the places
        a batch takes already), or `fail` with why not (no site offers the skill or the site named
        does not, not a slot's start, the line closed then, the slot full unless `full_ok`: then
        the site whose slot there is the least over)."""
        offering = self.sites_for(skill)
        if not offering:
            with_places = sorted({sk for (_, sk) in self.capacity})
            fail(
                422,
                "no_appointments",
                f"no site offers appointments for {skill!r}; skills with appointments: "
                + (", ".join(with_places) or "none"),
                "skill",
                valid=with_places,
            )
        if site is not None and site not in offering:
            fail(
                422,
                "no_appointments",
                f"site {site!r} has no appointment places for {skill!r};"
                f" sites that have: {', '.join(offering)}",
                "site",
                valid=offering,
            )
        sites = [site] if site is not None else offering
        candidates = []
        for s in sites:
            slot = self.slot_at(s, skill, start)
            if slot is not None:
                left = self.remaining(s, skill, slot, now) - pending.get((s, skill, start), 0)
                candidates.append((left, s))
        if not candidates:
            hours = self.hours[sites[0]]
            if any(self.hours[s].is_open(start) for s in sites):
                day = hours.local_date(start)
                fail(
                    422,
                    "not_a_slot",
                    f"the start is not the start of a slot: slots last {self.length / 60:g} minutes"
                    f" from the opening; GET /v1/appointments/slots?skill={skill}&date={day} lists them",
                    "start",
                )
            fail(
                422,
                "outside_hours",
                f"the start falls when the line is closed: {hours.closed_reason(start)}",
                "start",
            )
        left, best = max(candidates, key=lambda c: c[0])
        if left <= 0 and not full_ok:
            fail(409, "slot_full", "no place left in that slot", "start")
        return best

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
