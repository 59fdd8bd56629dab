"""Opening hours, French public holidays and campaigns.

Hours are local wall-clock intervals per weekday in a time zone (Europe/Paris for the national line,
the department's own zone for an overseas local service), with exceptional days. Public holidays
are the `holidays` library's (shipped as a table, acd/holidays_fr.py): the national ones for
everybody, plus the subdivision's own where a department has them (Alsace-Moselle's Good Friday
and 26 December for the Moselle, Bas-Rhin and Haut-Rhin; the overseas departments' days).
Instants are computed through `zoneinfo`, so the next opening is right across weekends, holidays
and the nights clocks change.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from functools import cache, cached_property
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from acd.holidays_fr import Holidays

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: Departments whose public holidays differ from the national ones, by the `holidays` subdivision.
HOLIDAY_SUBDIVISION = {
    "57": "57",  # Moselle
    "67": "6AE",  # Bas-Rhin (Alsace)
    "68": "6AE",  # Haut-Rhin (Alsace)
    "971": "971",
    "972": "972",
    "973": "973",
    "974": "974",
    "976": "976",
}

#: Time zones of the overseas departments (the rest of the departments are on Europe/Paris).
DEPARTMENT_TIMEZONE = {
    "971": "America/Guadeloupe",
    "972": "America/Martinique",
    "973": "America/Cayenne",
    "974": "Indian/Reunion",
    "975": "America/Miquelon",  # Saint-Pierre-et-Miquelon: a code the contract's departments take
    "976": "Indian/Mayotte",
}

_INTERVAL = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")

Interval = tuple[time, time]

#: Instants the calendar reasons about: 1999-12-30 to 2200-01-01 UTC. Outside, `is_open` says
#: closed and `next_opening`/`next_change` say never, rather than letting date arithmetic near
#: year 9999 raise OverflowError (the API refuses such dates first; this is the second guard).
#: It begins two days before 2000: an instant the API takes (the year 2000 in its own offset,
#: 2000-01-01T00:30:00+01:00 say) may be 1999 in UTC, and its `reopens_at` must still be said.
T_MIN, T_MAX = 946_512_000.0, 7_258_118_400.0
_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def in_range(t: float) -> bool:
    """Whether the calendar can reason about instant `t` (a finite time in its range)."""
    return T_MIN <= t < T_MAX  # False for NaN too


def _fmt(intervals: list[Interval]) -> str:
    return ", ".join(f"{a:%H:%M}-{'24:00' if b == time.max else format(b, '%H:%M')}" for a, b in intervals)


def _parse_intervals(value: Any) -> list[Interval]:
    if not isinstance(value, list):
        raise ValueError('a list of "HH:MM-HH:MM" intervals, [] for closed')
    out: list[Interval] = []
    for item in value:
        m = _INTERVAL.match(item) if isinstance(item, str) else None
        if m is None:
            raise ValueError(f'{item!r} is not an interval like "08:30-19:00"')
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        start = time(h1, m1)
        end = time.max if (h2, m2) == (24, 0) else time(h2 % 24, m2)
        if end <= start:
            raise ValueError(f"{item!r}: the end must come after the start")
        if out and start < out[-1][1]:
            raise ValueError(f"{item!r}: intervals must be in order and must not overlap")
        out.append((start, end))
    return out


class OpeningHours(BaseModel):
    """Weekly hours (`mon: ["08:30-19:00"]`, `sat: []`), exceptional days, holidays on or off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str = "Europe/Paris"
    week: dict[str, list[str]] = Field(
        default_factory=lambda: {d: (["08:30-19:00"] if d not in ("sat", "sun") else []) for d in WEEKDAYS}
    )
    #: Days that differ from the week: `"2026-12-24": ["08:30-16:00"]`, or `[]` to close.
    exceptions: dict[date, list[str]] = Field(default_factory=dict)
    #: Close on French public holidays (those of the department's subdivision included).
    public_holidays: bool = True

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except Exception:
            raise ValueError(f"unknown time zone {v!r}") from None
        return v

    @field_validator("week")
    @classmethod
    def _week(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, intervals in v.items():
            if day not in WEEKDAYS:
                raise ValueError(f"unknown weekday {day!r} (one of {', '.join(WEEKDAYS)})")
            _parse_intervals(intervals)
        return v

    @field_validator("exceptions")
    @classmethod
    def _exceptions(cls, v: dict[date, list[str]]) -> dict[date, list[str]]:
        for intervals in v.values():
            _parse_intervals(intervals)
        return v


class Campaign(BaseModel):
    """A dated period of high load (the spring income-tax return, the summer tax notices...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=r"^[a-z0-9_-]+$")]
    name: str
    start: date
    end: date  # inclusive
    #: Expected calls relative to an ordinary day (for planning and the simulator's profiles).
    load_factor: Annotated[float, Field(gt=0)] = 1.0

    @model_validator(mode="after")
    def _order(self) -> Campaign:
        if self.end < self.start:
            raise ValueError("a campaign must end on or after its start")
        return self


class CalendarConfig(BaseModel):
    """The national line's calendar (config/calendar.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Ignore opening hours and holidays altogether (simulations of "always open").
    always_open: bool = False
    hours: OpeningHours = Field(default_factory=OpeningHours)
    campaigns: list[Campaign] = Field(default_factory=list)


@cache
def french_holidays(subdiv: str | None) -> Holidays:
    """The public holidays of France or of one of its subdivisions (None: the national list).

    One shared table per subdivision (acd/holidays_fr.py: the `holidays` library's, shipped as
    data): the 102 local services use a handful of them."""
    return Holidays(subdiv)


class Hours:
    """Opening hours put to work: is it open at t, when does it next open or change."""

    HORIZON_DAYS = 400  # how far to look for an opening before saying "never"

    def __init__(
        self, spec: OpeningHours, department: str | None = None, *, always_open: bool = False
    ) -> None:
        self.always_open = always_open
        self.zone = ZoneInfo(spec.timezone)
        self._week = [_parse_intervals(spec.week.get(d, [])) for d in WEEKDAYS]
        self._exceptions = {d: _parse_intervals(v) for d, v in spec.exceptions.items()}
        self._public_holidays = spec.public_holidays
        self._subdiv = HOLIDAY_SUBDIVISION.get(department or "")
        self._cache: dict[date, list[tuple[float, float]]] = {}
        self._span = (0.0, 0.0, False)  # the last stretch of constant state found (is_open)

    def holiday(self, day: date) -> str | None:
        """The name of the public holiday on that day, if any."""
        return french_holidays(self._subdiv).get(day) if self._public_holidays else None

    def _local_holiday(self, day: date) -> bool:
        """A holiday of the department's own (Alsace-Moselle's Good Friday, an overseas day), which
        the national line's exceptions do not open."""
        return (
            self._public_holidays
            and self._subdiv is not None
            and day in french_holidays(self._subdiv)
            and day not in french_holidays(None)
        )

    def intervals(self, day: date) -> list[tuple[float, float]]:
        """The open intervals of a local day as instants (seconds since the epoch)."""
        cached = self._cache.get(day)
        if cached is not None:
            return cached
        if not 1 < day.year < 9999:  # a day whose neighbours do not exist: never open
            return []
        exception = self._exceptions.get(day)
        if exception is not None and not self._local_holiday(day):
            spans: list[Interval] = exception  # a dated exception opens even a national holiday
        elif self.holiday(day) is not None:
            spans = []
        else:
            spans = self._week[day.weekday()]
        out = []
        for start, end in spans:
            t0 = datetime.combine(day, start, self.zone).timestamp()
            t1 = (
                datetime.combine(day + timedelta(days=1), time(0), self.zone).timestamp()
                if end == time.max
                else datetime.combine(day, end, self.zone).timestamp()
            )
            out.append((t0, t1))
        if len(self._cache) > 4096:
            self._cache.clear()
        self._cache[day] = out
        return out

    def local_date(self, t: float) -> date:
        if not in_range(t):  # the nearest day in range (NaN: the first)
            t = T_MAX if t >= T_MAX else T_MIN
        return datetime.fromtimestamp(t, self.zone).date()

    def day_span(self, t: float) -> tuple[date, float, float]:
        """The local day of `t` and the instants it starts and ends (23 or 25 h on DST days)."""
        day = self.local_date(t)
        start = datetime.combine(day, time(0), self.zone).timestamp()
        return day, start, datetime.combine(day + timedelta(days=1), time(0), self.zone).timestamp()

    def days_after(self, t: float, days: int) -> float:
        """The instant `days` calendar days after `t` at the same wall-clock time in this zone (a
        day across a change of the clocks lasts 23 or 25 h; a time the change skips reads as the
        hour after it); outside the calendar's range, `days` x 86,400 s."""
        if not in_range(t):
            return t + days * 86400.0
        return (datetime.fromtimestamp(t, self.zone) + timedelta(days=days)).timestamp()

    def is_open(self, t: float) -> bool:
        if self.always_open:
            return True
        lo, hi, state = self._span
        if lo <= t < hi:  # asked on every call: most answers come from the stretch last found
            return state
        if not in_range(t):
            return False
        return self._locate(t)

    def _locate(self, t: float) -> bool:
        """Whether it is open at `t`, remembering the stretch of the local day around `t` where
        that holds (an open interval, or the gap between two)."""
        day, lo, hi = self.day_span(t)
        state = False
        for t0, t1 in self.intervals(day):  # in order, never overlapping (_parse_intervals)
            if t < t0:
                hi = min(hi, t0)
                break
            if t < t1:
                lo, hi, state = t0, t1, True
                break
            lo = max(lo, t1)
        self._span = (lo, hi, state)
        return state

    def next_opening(self, t: float) -> float | None:
        """`t` itself when open, else the next instant it opens (None: not within the horizon)."""
        if self.always_open:
            return t
        if not in_range(t):
            return None
        day = self.local_date(t)
        for i in range(self.HORIZON_DAYS):
            for t0, t1 in self.intervals(day + timedelta(days=i)):
                if t < t1:
                    return max(t, t0)
        return None

    def next_change(self, t: float) -> float | None:
        """The next instant after `t` at which it opens or closes."""
        if self.always_open or not in_range(t):
            return None
        day = self.local_date(t)
        for i in range(self.HORIZON_DAYS):
            for t0, t1 in self.intervals(day + timedelta(days=i)):
                if t < t0:
                    return t0
                if t < t1:
                    return t1
        return None

    def isoformat(self, t: float) -> str:
        """An instant as RFC 3339 in this calendar's zone (`2026-03-02T08:30:00+01:00`); one the
        zone cannot show (past year 9999 there) in UTC, clamped to the years datetime holds."""
        try:
            return datetime.fromtimestamp(t, self.zone).isoformat()
        except (OverflowError, OSError, ValueError):
            bound = datetime.max if t > 0 else datetime.min
            try:
                return datetime.fromtimestamp(t, UTC).isoformat()
            except (OverflowError, OSError, ValueError):
                return bound.replace(microsecond=0, tzinfo=UTC).isoformat()

    def describe(self) -> str:
        """The weekly hours in words: `Monday to Friday 08:30-19:00 (Europe/Paris)`."""
        groups: list[tuple[int, int, list[Interval]]] = []  # runs of days with the same hours
        for i, spans in enumerate(self._week):
            if groups and groups[-1][2] == spans and groups[-1][1] == i - 1:
                groups[-1] = (groups[-1][0], i, spans)
            else:
                groups.append((i, i, spans))
        parts = [
            (_DAY_NAMES[a] if a == b else f"{_DAY_NAMES[a]} to {_DAY_NAMES[b]}") + f" {_fmt(spans)}"
            for a, b, spans in groups
            if spans
        ]
        return f"{'; '.join(parts) or 'never open'} ({self.zone.key})"

    def closed_reason(self, t: float) -> str | None:
        """Why it is closed at `t` (None when open): a public holiday by name, a day of
        exceptional hours, or outside the weekly hours."""
        if self.is_open(t):
            return None
        if not in_range(t):
            return "outside the calendar's range of dates"
        day = self.local_date(t)
        name = self.holiday(day)
        if name is not None and (not self._exceptions.get(day) or self._local_holiday(day)):
            return f"public holiday: {name}"
        if day in self._exceptions:
            spans = self._exceptions[day]
            return (
                f"exceptional hours on {day.isoformat()}: {_fmt(spans)} ({self.zone.key})"
                if spans
                else f"closed on {day.isoformat()} (exceptional closure)"
            )
        return f"outside opening hours: {self.describe()}"


class Calendar:
    """The national line's hours and the campaigns."""

    def __init__(self, config: CalendarConfig) -> None:
        self.config = config
        self.hours = Hours(config.hours, always_open=config.always_open)
        self._campaign_day: tuple[float, float, Campaign | None] = (0.0, 0.0, None)

    def is_open(self, t: float) -> bool:
        return self.hours.is_open(t)

    def next_opening(self, t: float) -> float | None:
        return self.hours.next_opening(t)

    def closed_reason(self, t: float) -> str | None:
        return self.hours.closed_reason(t)

    def campaign(self, t: float) -> Campaign | None:
        lo, hi, found = self._campaign_day
        if lo <= t < hi:  # asked for every call that waits: answered once per local day
            return found
        day, lo, hi = self.hours.day_span(t)
        found = next((c for c in self.config.campaigns if c.start <= day <= c.end), None)
        self._campaign_day = (lo, hi, found)
        return found

    @cached_property
    def zone(self) -> ZoneInfo:
        return self.hours.zone
