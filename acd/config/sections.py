"""The sections of the configuration: one pydantic model per concept (sites, skills, routing,
agents, local services, overflow, callbacks, appointments, records). `Config` assembles them."""

from __future__ import annotations

import re
import zoneinfo
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from acd.calendar import DEPARTMENT_TIMEZONE, WEEKDAYS, OpeningHours
from acd.config.errors import _Located
from acd.events import SIP_URI_PATTERN

Level = Annotated[int, Field(ge=1, le=5, strict=True)]
NonNegSeconds = Annotated[float, Field(ge=0, strict=True, allow_inf_nan=False)]
PosSeconds = Annotated[float, Field(gt=0, strict=True, allow_inf_nan=False)]


def _time_written_bare(v: Any) -> Any:
    """YAML 1.1 reads a bare 13:00 as the number 780 (base 60): say so, rather than "Input should
    be a valid string" about what the file shows as a time."""
    if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 24 * 60:
        raise ValueError(
            f'a time of day is written in quotes: "{v // 60:02d}:{v % 60:02d}" (YAML reads '
            f"{v // 60}:{v % 60:02d} unquoted as the number {v})"
        )
    return v


#: A local time of day, "HH:MM".
TimeOfDay = Annotated[str, BeforeValidator(_time_written_bare), Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$"
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Site(_Model):
    """A contact centre."""

    id: str = Field(pattern=r"^[a-z0-9-]+$", max_length=64)
    name: str = Field(min_length=1)
    #: INSEE code of the site's department ("08", "2A", "971").
    department: str = Field(pattern=r"^(0[1-9]|[1-8][0-9]|9[0-5]|2A|2B|97[1-6])$")
    #: The domain of the site's SIP agents' URIs.
    sip_domain: str
    timezone: str = "Europe/Paris"

    @field_validator("department", mode="before")
    @classmethod
    def _department_is_text(cls, v: Any) -> Any:
        if isinstance(v, int) and not isinstance(v, bool):
            raise ValueError(f'department must be a quoted string (INSEE code), e.g. "{v:02d}", not {v}')
        return v

    @field_validator("sip_domain")
    @classmethod
    def _hostname(cls, v: str) -> str:
        if not _HOSTNAME.match(v.lower()):
            raise ValueError(f"not a valid domain name: {v!r}")
        return v.lower()

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, v: str) -> str:
        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as e:
            if zoneinfo.available_timezones():  # no tz database at all: nothing to check against
                raise ValueError(f"unknown time zone {v!r}") from e
        return v


class Skill(_Model):
    """A skill (a queue): calls ask for one, agents have some, at a level 1-5."""

    id: str = Field(pattern=r"^[a-z_][a-z0-9_]*$", max_length=64)
    name: str = Field(min_length=1)
    #: Average handle time (talk + wrap-up, seconds) assumed until real handle times are observed.
    default_aht_s: PosSeconds


class WideningStep(_Model):
    """From `after_s` seconds of waiting on, agents with level >= `min_level` may take the call."""

    after_s: NonNegSeconds
    min_level: Level


def _check_steps(steps: list[WideningStep]) -> list[WideningStep]:
    if not steps:
        raise _Located([((), "at least one step is needed, e.g. [{after_s: 0, min_level: 1}]")])
    if steps[0].after_s != 0:
        raise _Located([((0, "after_s"), f"the first step must have after_s: 0, not {steps[0].after_s:g}")])
    for i in range(1, len(steps)):
        prev, step = steps[i - 1], steps[i]
        if step.after_s <= prev.after_s:
            raise _Located(
                [
                    (
                        (i, "after_s"),
                        f"after_s must increase from step to step ({step.after_s:g} after {prev.after_s:g})",
                    )
                ]
            )
        if step.min_level > prev.min_level:
            raise _Located(
                [
                    (
                        (i, "min_level"),
                        f"widening only lowers min_level ({step.min_level} after {prev.min_level})",
                    )
                ]
            )
    return steps


Steps = list[WideningStep]


class Widening(_Model):
    """Timed widening of the agents eligible for a waiting call, by the level in the call's skill."""

    default: Steps = Field(default_factory=lambda: [WideningStep(after_s=0, min_level=1)])
    by_skill: dict[str, Steps] = Field(default_factory=dict)

    @field_validator("default")
    @classmethod
    def _default_steps(cls, v: list[WideningStep]) -> list[WideningStep]:
        return _check_steps(v)

    @field_validator("by_skill")
    @classmethod
    def _skill_steps(cls, v: dict[str, list[WideningStep]]) -> dict[str, list[WideningStep]]:
        for skill, steps in v.items():
            try:
                _check_steps(steps)
            except _Located as e:
                raise _Located([((skill, *p), m) for p, m in e.issues]) from None
        return v


class RoutingConfig(_Model):
    """How calls are routed and queued (config/routing.yaml)."""

    strategy: Literal["longest_idle", "skill_level", "least_occupied", "fewest_skills"] = "longest_idle"
    wrap_up_s: NonNegSeconds = 30.0
    callback_offer_ewt_s: NonNegSeconds = 300.0
    #: How long a call waits for its busy preferred agent while others are idle: an opt-in that
    #: holds callers back from idle agents (0: a preference chooses among the agents free now).
    preferred_agent_wait_s: NonNegSeconds = 0.0
    aht_smoothing: Annotated[float, Field(gt=0, le=1, strict=True)] = 0.05
    ewt_unstaffed_s: PosSeconds = 3600.0
    #: Priority aging: a waiting call's priority is worth this many seconds of waiting, so a call
    #: waiting longer than (p' - p) x this goes before a call of higher priority p' (as
    #: FreeSWITCH's time-based score): no low-priority call starves. None: strict priority, then
    #: arrival (the contract's default routing). At most a day (priority 9 is then worth nine days
    #: of waiting, strict priority in all but name): the router keeps the aged order in 64-bit
    #: milliseconds, which a larger value overflowed at the first call with a priority.
    priority_aging_s: Annotated[float, Field(gt=0, le=86400, allow_inf_nan=False)] | None = None
    rona_pause: Annotated[bool, Field(strict=True)] = True
    #: With rona_pause, an agent is paused (reason no_answer) after this many calls in a row rang
    #: out on it; an answer, a pause or a logout resets the count.
    max_no_answer: Annotated[int, Field(ge=1, le=100, strict=True)] = 2
    #: An event's `ts` further than this from the service clock is refused (422); 0: no check.
    max_ts_skew_s: NonNegSeconds = 86400.0
    #: ... and a `ts` more than this ahead of it (a platform clock gone wrong: an event cannot be
    #: seen after it is posted; taken, it would make the agent's rightly stamped reports stale
    #: until that time); 0: only max_ts_skew_s. The signatures' tolerance of clocks, by default.
    max_ts_ahead_s: NonNegSeconds = 300.0
    #: The watchdog runs this often (0: never; else at least 1 s: tinier, it re-arms at the instant
    #: it fires and the engine never gets past it) and flags a call answered for longer than
    #: max_answered_s and an agent busy with no call for longer than busy_without_call_s.
    watchdog_interval_s: NonNegSeconds = 60.0
    max_answered_s: PosSeconds = 7200.0
    busy_without_call_s: PosSeconds = 600.0
    #: ... and an agent rung (reserved for a call) for longer than this: a lost call.unanswered;
    #: a platform.sync reporting such an agent `available` takes that ring-out (acd/engine/sync.py).
    max_ringing_s: PosSeconds = 300.0
    #: ... and a call still in line this long after it joined it: a caller does not hold for
    #: hours; its hang-up was lost (flagged only: the platform may still hold it).
    max_waiting_s: PosSeconds = 3600.0
    widening: Widening = Field(default_factory=Widening)
    idempotency_ttl_s: PosSeconds = 172800.0
    ended_call_retention: Annotated[int, Field(ge=0, strict=True)] = 200000

    @field_validator("watchdog_interval_s")
    @classmethod
    def _watchdog_period(cls, v: float) -> float:
        if 0 < v < 1.0:
            raise ValueError("0 (off) or at least 1 s")
        return v


#: An agent's id: 1 to 64 letters, digits or . _ -, but not `.` nor `..`, the dot segments most
#: HTTP clients and proxies remove from a path (RFC 3986 5.2.4): `PUT /v1/agents/..` made an agent
#: nobody could address again. (No look-ahead: pydantic's regex engine has none.)
AGENT_ID_PATTERN = (
    r"^(?:[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}|\.[A-Za-z0-9_-][A-Za-z0-9._-]{0,62}|\.\.[A-Za-z0-9._-]{1,62})$"
)
AGENT_ID_RULE = "1 to 64 letters, digits or . _ -, and not . or .., which HTTP clients drop from a path"


class AgentConfig(_Model):
    """An agent of the roster (state is not configuration: every agent starts logged out)."""

    id: str = Field(pattern=AGENT_ID_PATTERN)
    site: str
    skills: dict[str, Level] = Field(min_length=1)
    #: The agent's SIP URI, rung to connect a call.
    target: str = Field(pattern=SIP_URI_PATTERN)


DEFAULT_SERVICE_HOURS = OpeningHours(
    week={d: (["09:00-12:00", "13:30-16:30"] if d not in ("sat", "sun") else []) for d in WEEKDAYS}
)


class LocalService(_Model):
    """A department's local tax service, which takes overflow calls at peaks."""

    id: str = Field(pattern=r"^[a-z0-9-]+$", max_length=64)
    department: str = Field(pattern=r"^(0[1-9]|[1-8][0-9]|9[0-5]|2A|2B|97[1-6])$")
    name: str = Field(min_length=1)
    #: Where an overflowed call is sent.
    target: str = Field(pattern=SIP_URI_PATTERN)
    #: Overflow calls it can hold at once.
    capacity: Annotated[int, Field(ge=0, strict=True)]
    #: Its own hours; default: `services.default_hours` in the department's time zone.
    hours: OpeningHours | None = None
    #: The skills whose calls it takes; default: `services.default_skills`.
    skills: list[str] | None = None

    @field_validator("department", mode="before")
    @classmethod
    def _department_is_text(cls, v: Any) -> Any:
        return Site._department_is_text(v)

    def skills_taken(self, default: list[str] | None) -> frozenset[str] | None:
        """The skills whose calls it takes (None: every skill)."""
        skills = self.skills if self.skills is not None else default
        return frozenset(skills) if skills is not None else None

    def opening_hours(self, default: OpeningHours) -> OpeningHours:
        if self.hours is not None:
            return self.hours
        zone = DEPARTMENT_TIMEZONE.get(self.department, default.timezone)
        return default.model_copy(update={"timezone": zone})


class ServicesConfig(_Model):
    """The local services (config/services.yaml)."""

    default_hours: OpeningHours = DEFAULT_SERVICE_HOURS
    #: The skills whose calls a service without its own `skills` takes; absent: every skill.
    #: A local tax office has no sign-language interpreter, so the shipped file leaves out `lsf`.
    default_skills: list[str] | None = None
    local: list[LocalService] = Field(default_factory=list)


class OverflowConfig(_Model):
    """Peak overflow to local services (config/overflow.yaml)."""

    #: The supervisor's switch at start: auto (campaigns and live thresholds decide), on, off.
    mode: Literal["auto", "on", "off"] = "auto"
    #: While overflow is active (auto), a call no agent can take now whose EWT exceeds this goes
    #: to its department's local service.
    threshold_s: NonNegSeconds = 300.0
    #: Auto: overflow activates for a skill when its live EWT reaches this...
    activate_ewt_s: NonNegSeconds = 600.0
    #: ...and deactivates when it falls below this (hysteresis, so it does not flap).
    deactivate_ewt_s: NonNegSeconds = 240.0
    #: Auto: overflow is active all through the calendar's campaigns.
    during_campaigns: Annotated[bool, Field(strict=True)] = True
    #: Never stranded: a call waiting this long is moved to its local service if it can take it,
    #: otherwise offered a callback.
    max_wait_s: PosSeconds = 1200.0
    #: Auto, opt-in (0: the contract's threshold alone): a caller is sent only when the line would
    #: lose it, its expected wait over this many times its callers' mean patience (1 / theta)...
    patience_share: Annotated[float, Field(ge=0, strict=True, allow_inf_nan=False)] = 0.0
    #: ...or the line held callers this long and those ahead give up this often while it waits.
    saturated_s: NonNegSeconds = 600.0
    saturated_hang_ups: Annotated[float, Field(ge=0, strict=True, allow_inf_nan=False)] = 3.0

    @field_validator("mode", mode="before")
    @classmethod
    def _yaml_switch(cls, v: Any) -> Any:
        """`mode: on` / `mode: off` as written in YAML: YAML 1.1 reads them as booleans."""
        return {True: "on", False: "off"}.get(v, v) if isinstance(v, bool) else v

    @model_validator(mode="after")
    def _hysteresis(self) -> OverflowConfig:
        if self.deactivate_ewt_s > self.activate_ewt_s:
            raise ValueError("deactivate_ewt_s must not be above activate_ewt_s")
        return self


class CallbackWindow(_Model):
    """A daily window of the national line's local time in which callbacks booked for it are
    dialled, and how many it takes (the room the forecast leaves in those hours)."""

    start: TimeOfDay
    end: TimeOfDay
    capacity: Annotated[int, Field(ge=1, strict=True)]

    @model_validator(mode="after")
    def _order(self) -> CallbackWindow:
        if self.end <= self.start:
            raise ValueError(f"a window ends after it starts ({self.start}-{self.end})")
        return self


class CallbacksConfig(_Model):
    """Automatic callbacks (config/callbacks.yaml)."""

    #: Wait before attempt n+1 after attempt n failed (no answer, busy, failed).
    retry_delays_s: list[PosSeconds] = Field(default_factory=lambda: [600.0, 1800.0], min_length=1)
    #: Attempts in all before a callback is `failed`.
    max_attempts: Annotated[int, Field(ge=1, le=10, strict=True)] = 3
    #: Priority of a requested callback in the line (live calls have 0-9).
    priority: Annotated[int, Field(ge=0, le=9, strict=True)] = 0
    #: Fairness: at most this share of the agents staffed for a skill on requested callbacks at
    #: once (at least one), so live calls keep their agents; callbacks join the line in order of
    #: due time, so they are not starved either.
    max_share: Annotated[float, Field(gt=0, le=1, strict=True)] = 0.3
    #: Callback windows offered beside virtual hold (a callback later in the day or the next
    #: morning, when the line is quieter); none: virtual hold only.
    windows: list[CallbackWindow] = Field(default_factory=list)
    #: A window is offered only when it starts at least this long after the offer.
    window_lead_s: NonNegSeconds = 900.0
    #: The caller's local hours a callback may ring in (start, end), on top of the line's: an
    #: overseas caller is not rung in its night (acd/engine/caller_hours.py).
    caller_hours: tuple[TimeOfDay, TimeOfDay] = ("08:00", "20:00")
    #: The booking horizon: a requested callback's `not_before`, and the first instant it may be
    #: dialled after it, at most this many days after the request (else 422 `beyond_horizon`).
    max_days_ahead: Annotated[int, Field(ge=1, le=3650, strict=True)] = 90

    @model_validator(mode="after")
    def _caller_hours(self) -> CallbacksConfig:
        if self.caller_hours[1] <= self.caller_hours[0]:
            raise ValueError(f"caller_hours ends after it starts ({'-'.join(self.caller_hours)})")
        return self


class AppointmentCapacity(_Model):
    """Places per slot at a site for a skill: agents set aside for appointments per half-day."""

    site: str
    skill: str
    morning: Annotated[int, Field(ge=0, strict=True)] = 0
    afternoon: Annotated[int, Field(ge=0, strict=True)] = 0


class AppointmentsConfig(_Model):
    """Phone appointments (config/appointments.yaml)."""

    slot_minutes: Annotated[int, Field(ge=5, le=240, strict=True)] = 30
    #: Slots starting at or after this local time are the afternoon's.
    afternoon_from: TimeOfDay = "13:00"
    #: The reminder (a `remind` command) goes out this long before the slot.
    reminder_lead_s: NonNegSeconds = 86400.0
    #: Waits before dialling again within the slot after no answer, busy or failure.
    retry_delays_s: list[PosSeconds] = Field(default_factory=lambda: [300.0, 300.0])
    #: Priority of an appointment in the line when its time comes (above live calls by default).
    priority: Annotated[int, Field(ge=0, le=9, strict=True)] = 9
    capacity: list[AppointmentCapacity] = Field(default_factory=list)
    #: The booking horizon: an appointment starts at most this many days after it is booked or
    #: moved (else 422 `beyond_horizon`); slots past it are not listed.
    max_days_ahead: Annotated[int, Field(ge=1, le=3650, strict=True)] = 90
    #: A queued caller whose expected wait exceeds this is offered an appointment instead of the
    #: wait (by the platform's voice server); none: never offered.
    offer_above_ewt_s: NonNegSeconds | None = None


class SurveysConfig(_Model):
    """Post-call satisfaction surveys (config/records.yaml, `surveys:`)."""

    #: Share of answered calls (0-1) sent to the survey, for skills not listed in `by_skill`.
    share: Annotated[float, Field(ge=0, le=1)] = 0.0
    #: Share per skill; the choice is a hash of the call id, so a replay makes the same one.
    by_skill: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=dict)

    def share_for(self, skill: str) -> float:
        return self.by_skill.get(skill, self.share)


class RecordsConfig(_Model):
    """Call records and the indicators (config/records.yaml)."""

    #: The service level's threshold: answered within this many seconds of waiting.
    service_level_s: PosSeconds = 60.0
    #: Records older than this many days (local date of the offer) are purged.
    retention_days: Annotated[int, Field(ge=1, le=36500, strict=True)] = 400
    surveys: SurveysConfig = Field(default_factory=SurveysConfig)
