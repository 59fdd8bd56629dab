"""The platform's configuration: sites, skills, routing and the agent roster, read from `config/`.

Every file in the config directory is a YAML mapping whose single top-level key names the section
it holds (`sites:` in sites.yaml, `routing:` in routing.yaml, ...); `FILES` below is the table of
files and sections. Required files must exist; a missing optional file leaves its section at the
model's defaults. Files not in the table (scenarios, ...) are ignored here.

Validation is strict (`extra="forbid"`: a misspelt key is an error) and every error names the file,
the line and the reason: `config/agents.yaml:17: agents[16].skills.lsf: Input should be less than or
equal to 5`. To get there the YAML is composed into nodes, the Python data is built from them while
the start line of every node is recorded under its path, and pydantic's error locations (and the
cross-reference checks' paths) are mapped back to the deepest recorded path.

To add a section (calendar, services, ...): add a field to `Config` (with a default if the file is
optional) and a row to `FILES`.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
import zoneinfo
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from acd.calendar import DEPARTMENT_TIMEZONE, WEEKDAYS, CalendarConfig, OpeningHours

__all__ = [
    "FILES",
    "MAX_SKILLS",
    "AgentConfig",
    "Config",
    "ConfigError",
    "RoutingConfig",
    "Section",
    "Site",
    "Skill",
    "Widening",
    "WideningStep",
    "load_config",
]

#: The router keeps an agent's skills in a 64-bit mask.
MAX_SKILLS = 64

KeyPath = tuple[str | int, ...]


# --------------------------------------------------------------------------------------------------
# Errors


class ConfigError(Exception):
    """A configuration file is missing, unreadable, malformed or inconsistent.

    `file` is the file's path as given (under the config directory), `line` the 1-based line of the
    offending value (None when the whole file is at fault, e.g. missing), `reason` what is wrong,
    starting with the key's path (`agents[16].skills.lsf: ...`) when there is one. When validation
    found several problems, `issues` lists them all as (file, line, reason), the first being this one.
    """

    def __init__(
        self,
        file: str,
        line: int | None,
        reason: str,
        issues: Sequence[tuple[str, int | None, str]] = (),
    ) -> None:
        self.file = file
        self.line = line
        self.reason = reason
        self.issues: list[tuple[str, int | None, str]] = list(issues) or [(file, line, reason)]
        super().__init__(_format_issue(file, line, reason))

    def __str__(self) -> str:
        return _format_issue(self.file, self.line, self.reason)


def _format_issue(file: str, line: int | None, reason: str) -> str:
    return f"{file}:{line}: {reason}" if line is not None else f"{file}: {reason}"


class _Located(ValueError):
    """A validation failure that knows where it is: `issues` holds (path, message) pairs, paths
    relative to the validated object (absolute from `Config` for the cross checks)."""

    def __init__(self, issues: list[tuple[KeyPath, str]]) -> None:
        self.issues = issues
        super().__init__("; ".join(f"{_format_path(p) or '<root>'}: {m}" for p, m in issues))


def _format_path(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            out += " (key)"
        else:
            out += f".{part}" if out else str(part)
    return out


# --------------------------------------------------------------------------------------------------
# Models

Level = Annotated[int, Field(ge=1, le=5, strict=True)]
NonNegSeconds = Annotated[float, Field(ge=0, strict=True, allow_inf_nan=False)]
PosSeconds = Annotated[float, Field(gt=0, strict=True, allow_inf_nan=False)]

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

    strategy: Literal["longest_idle", "skill_level", "least_occupied"] = "longest_idle"
    wrap_up_s: NonNegSeconds = 30.0
    callback_offer_ewt_s: NonNegSeconds = 300.0
    preferred_agent_wait_s: NonNegSeconds = 60.0
    aht_smoothing: Annotated[float, Field(gt=0, le=1, strict=True)] = 0.05
    ewt_unstaffed_s: PosSeconds = 3600.0
    rona_pause: Annotated[bool, Field(strict=True)] = True
    #: With rona_pause, an agent is paused (reason no_answer) after this many calls in a row rang
    #: out on it; an answer, a pause or a logout resets the count.
    max_no_answer: Annotated[int, Field(ge=1, le=100, strict=True)] = 2
    #: An event's `ts` further than this from the service clock is refused (422); 0: no check.
    max_ts_skew_s: NonNegSeconds = 86400.0
    #: The watchdog runs this often (0: never) and flags a call answered for longer than
    #: max_answered_s and an agent busy with no call for longer than busy_without_call_s.
    watchdog_interval_s: NonNegSeconds = 60.0
    max_answered_s: PosSeconds = 7200.0
    busy_without_call_s: PosSeconds = 600.0
    #: ... and an agent rung (reserved for a call) for longer than this: a lost call.unanswered.
    max_ringing_s: PosSeconds = 300.0
    widening: Widening = Field(default_factory=Widening)
    idempotency_ttl_s: PosSeconds = 172800.0
    ended_call_retention: Annotated[int, Field(ge=0, strict=True)] = 200000


class AgentConfig(_Model):
    """An agent of the roster (state is not configuration: every agent starts logged out)."""

    id: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    site: str
    skills: dict[str, Level] = Field(min_length=1)
    #: The agent's SIP URI, rung to connect a call.
    target: str = Field(pattern=r"^sips?:\S+$")


DEFAULT_SERVICE_HOURS = OpeningHours(
    week={d: (["09:00-12:00", "13:30-16:30"] if d not in ("sat", "sun") else []) for d in WEEKDAYS}
)


class LocalService(_Model):
    """A department's local tax service, which takes overflow calls at peaks."""

    id: str = Field(pattern=r"^[a-z0-9-]+$", max_length=64)
    department: str = Field(pattern=r"^(0[1-9]|[1-8][0-9]|9[0-5]|2A|2B|97[1-6])$")
    name: str = Field(min_length=1)
    #: Where an overflowed call is sent.
    target: str = Field(pattern=r"^sips?:\S+$")
    #: Overflow calls it can hold at once.
    capacity: Annotated[int, Field(ge=0, strict=True)]
    #: Its own hours; default: `services.default_hours` in the department's time zone.
    hours: OpeningHours | None = None

    @field_validator("department", mode="before")
    @classmethod
    def _department_is_text(cls, v: Any) -> Any:
        return Site._department_is_text(v)

    def opening_hours(self, default: OpeningHours) -> OpeningHours:
        if self.hours is not None:
            return self.hours
        zone = DEPARTMENT_TIMEZONE.get(self.department, default.timezone)
        return default.model_copy(update={"timezone": zone})


class ServicesConfig(_Model):
    """The local services (config/services.yaml)."""

    default_hours: OpeningHours = DEFAULT_SERVICE_HOURS
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

    @model_validator(mode="after")
    def _hysteresis(self) -> OverflowConfig:
        if self.deactivate_ewt_s > self.activate_ewt_s:
            raise ValueError("deactivate_ewt_s must not be above activate_ewt_s")
        return self


class CallbacksConfig(_Model):
    """Automatic callbacks (config/callbacks.yaml)."""

    #: Wait before attempt n+1 after attempt n failed (no answer, busy, failed).
    retry_delays_s: list[PosSeconds] = Field(default_factory=lambda: [600.0, 1800.0])
    #: Attempts in all before a callback is `failed`.
    max_attempts: Annotated[int, Field(ge=1, le=10, strict=True)] = 3
    #: Priority of a requested callback in the line (live calls have 0-9).
    priority: Annotated[int, Field(ge=0, le=9, strict=True)] = 0
    #: Fairness: at most this share of the agents staffed for a skill on requested callbacks at
    #: once (at least one), so live calls keep their agents; callbacks join the line in order of
    #: due time, so they are not starved either.
    max_share: Annotated[float, Field(gt=0, le=1, strict=True)] = 0.3


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
    afternoon_from: str = Field("13:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    #: The reminder (a `remind` command) goes out this long before the slot.
    reminder_lead_s: NonNegSeconds = 86400.0
    #: Waits before dialling again within the slot after no answer, busy or failure.
    retry_delays_s: list[PosSeconds] = Field(default_factory=lambda: [300.0, 300.0])
    #: Priority of an appointment in the line when its time comes (above live calls by default).
    priority: Annotated[int, Field(ge=0, le=9, strict=True)] = 9
    capacity: list[AppointmentCapacity] = Field(default_factory=list)


class Config(_Model):
    sites: list[Site]
    skills: list[Skill]
    routing: RoutingConfig = Field(default_factory=RoutingConfig)
    agents: list[AgentConfig]
    calendar: CalendarConfig = Field(default_factory=CalendarConfig)
    services: ServicesConfig = Field(default_factory=ServicesConfig)
    overflow: OverflowConfig = Field(default_factory=OverflowConfig)
    callbacks: CallbacksConfig = Field(default_factory=CallbacksConfig)
    appointments: AppointmentsConfig = Field(default_factory=AppointmentsConfig)

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        issues: list[tuple[KeyPath, str]] = []

        def unique(section: str, items: Sequence[Site | Skill | AgentConfig]) -> set[str]:
            seen: dict[str, int] = {}
            for i, item in enumerate(items):
                if item.id in seen:
                    issues.append(
                        (
                            (section, i, "id"),
                            f"duplicate id {item.id!r} (first at {section}[{seen[item.id]}])",
                        )
                    )
                else:
                    seen[item.id] = i
            return set(seen)

        site_ids = unique("sites", self.sites)
        skill_ids = unique("skills", self.skills)
        if len(self.skills) > MAX_SKILLS:
            issues.append((("skills",), f"at most {MAX_SKILLS} skills, not {len(self.skills)}"))
        if not self.skills:
            issues.append((("skills",), "at least one skill is needed"))
        unique("agents", self.agents)
        for i, cap in enumerate(self.appointments.capacity):
            if cap.site not in site_ids:
                issues.append(
                    (
                        ("appointments", "capacity", i, "site"),
                        f"unknown site {cap.site!r}{_hint(cap.site, site_ids)}",
                    )
                )
            if cap.skill not in skill_ids:
                issues.append(
                    (
                        ("appointments", "capacity", i, "skill"),
                        f"unknown skill {cap.skill!r}{_hint(cap.skill, skill_ids)}",
                    )
                )
        departments: dict[str, int] = {}
        service_ids: dict[str, int] = {}
        for i, service in enumerate(self.services.local):
            if service.id in service_ids:
                issues.append((("services", "local", i, "id"), f"duplicate id {service.id!r}"))
            service_ids.setdefault(service.id, i)
            if service.department in departments:
                issues.append(
                    (
                        ("services", "local", i, "department"),
                        f"department {service.department} already has a service (services.local"
                        f"[{departments[service.department]}])",
                    )
                )
            departments.setdefault(service.department, i)
        for skill in self.routing.widening.by_skill:
            if skill not in skill_ids:
                issues.append(
                    (
                        ("routing", "widening", "by_skill", skill),
                        f"unknown skill {skill!r}{_hint(skill, skill_ids)}",
                    )
                )
        for i, agent in enumerate(self.agents):
            if agent.site not in site_ids:
                issues.append(
                    (("agents", i, "site"), f"unknown site {agent.site!r}{_hint(agent.site, site_ids)}")
                )
            for skill in agent.skills:
                if skill not in skill_ids:
                    issues.append(
                        (("agents", i, "skills", skill), f"unknown skill {skill!r}{_hint(skill, skill_ids)}")
                    )
        if issues:
            raise _Located(issues)
        return self

    # -- helpers

    @cached_property
    def site_by_id(self) -> dict[str, Site]:
        """Sites by id."""
        return {s.id: s for s in self.sites}

    @cached_property
    def skill_by_id(self) -> dict[str, Skill]:
        """Skills by id."""
        return {s.id: s for s in self.skills}

    @cached_property
    def skill_index(self) -> dict[str, int]:
        """Skill id -> row (0..63), in file order."""
        return {s.id: i for i, s in enumerate(self.skills)}

    def widening_for(self, skill_id: str) -> list[tuple[float, int]]:
        """The widening steps for calls of `skill_id` as (after_s, min_level), by increasing after_s."""
        widening = self.routing.widening
        steps = widening.by_skill.get(skill_id, widening.default)
        return [(float(s.after_s), int(s.min_level)) for s in steps]


def _hint(name: str, known: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


# --------------------------------------------------------------------------------------------------
# Files


@dataclass(frozen=True, slots=True)
class Section:
    """A file of the config directory and the `Config` section it holds under the same key."""

    file: str
    key: str
    required: bool


#: The files of the config directory, in loading order. Add a row (and a `Config` field) per section.
FILES: tuple[Section, ...] = (
    Section("sites.yaml", "sites", required=True),
    Section("skills.yaml", "skills", required=True),
    Section("calendar.yaml", "calendar", required=False),
    Section("services.yaml", "services", required=False),
    Section("overflow.yaml", "overflow", required=False),
    Section("callbacks.yaml", "callbacks", required=False),
    Section("appointments.yaml", "appointments", required=False),
    Section("routing.yaml", "routing", required=False),
    Section("agents.yaml", "agents", required=True),
)

_STR_TAG = "tag:yaml.org,2002:str"
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # type: ignore[assignment]


class _Composed:
    """The Python data of one YAML document and the 1-based start line of each node by path."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.lines: dict[KeyPath, int] = {}
        loader = _Loader(text)
        try:
            try:
                node = loader.get_single_node()
            except yaml.MarkedYAMLError as e:
                mark = e.problem_mark or e.context_mark
                what = " ".join(x for x in (e.context, e.problem) if x) or "invalid YAML"
                raise ConfigError(
                    file, mark.line + 1 if mark else None, f"YAML syntax error: {what}"
                ) from None
            except yaml.YAMLError as e:
                raise ConfigError(file, None, f"YAML error: {e}") from None
            self._loader = loader
            self.data = None if node is None else self._build(node, ())
        finally:
            loader.dispose()

    def _build(self, node: yaml.Node, path: KeyPath) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            try:
                self._loader.flatten_mapping(node)  # merge keys (<<: *anchor)
            except yaml.MarkedYAMLError as e:
                raise ConfigError(
                    self.file, node.start_mark.line + 1, f"{_format_path(path)}: {e.problem}"
                ) from None
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self._scalar(key_node, path)
                line = key_node.start_mark.line + 1
                if key in out:
                    where = _format_path((*path, key))
                    raise ConfigError(self.file, line, f"{where}: duplicate key {key!r}")
                self.lines[(*path, key)] = line
                out[key] = self._build(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self._build(item, (*path, i)) for i, item in enumerate(node.value)]
        return self._scalar(node, path)

    def _scalar(self, node: yaml.Node, path: KeyPath) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise ConfigError(
                self.file,
                node.start_mark.line + 1,
                f"{_format_path(path) or '<root>'}: complex keys are not supported",
            )
        if node.tag == _STR_TAG:  # the common case, without the constructor's bookkeeping
            return node.value
        try:
            return self._loader.construct_object(node, deep=True)
        except yaml.YAMLError as e:
            raise ConfigError(self.file, node.start_mark.line + 1, f"{_format_path(path)}: {e}") from None


def _read(path: Path, file: str) -> _Composed:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(file, None, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise ConfigError(file, None, f"cannot read: {e.strerror or e}") from None
    return _Composed(file, text)


def load_config(config_dir: str | Path) -> Config:
    """Read and validate the configuration in `config_dir`; raise `ConfigError` on any problem."""
    config_dir = Path(config_dir)
    if not config_dir.is_dir():
        raise ConfigError(str(config_dir), None, "config directory not found")
    data: dict[str, Any] = {}
    files: dict[str, _Composed] = {}
    for section in FILES:
        path = config_dir / section.file
        file = str(path)
        if not path.exists():
            if section.required:
                raise ConfigError(
                    file, None, f"required file is missing (it holds the {section.key!r} section)"
                )
            continue
        doc = _read(path, file)
        files[section.key] = doc
        if doc.data is None:  # empty, or only comments
            if section.required:
                raise ConfigError(
                    file, 1, f"the file is empty: it must hold a mapping with the key '{section.key}:'"
                )
            continue
        if not isinstance(doc.data, dict):
            raise ConfigError(file, doc.lines.get((), 1), f"expected a mapping with the key '{section.key}:'")
        for key in doc.data:
            if key != section.key:
                raise ConfigError(
                    file,
                    doc.lines.get((key,)),
                    f"unknown top-level key {key!r}: this file holds only '{section.key}:'",
                )
        if section.key not in doc.data:
            raise ConfigError(file, 1, f"missing the top-level key '{section.key}:'")
        value = doc.data[section.key]
        if value is None and not section.required:  # `routing:` with every key commented out
            continue
        data[section.key] = value
    try:
        return Config.model_validate(data)
    except ValidationError as e:
        raise _to_config_error(e, files, config_dir) from None


def _to_config_error(exc: ValidationError, files: Mapping[str, _Composed], config_dir: Path) -> ConfigError:
    issues: list[tuple[str, int | None, str]] = []
    # an unknown key first: a misspelt key also makes the right one "missing", and the typo is the news
    for err in sorted(exc.errors(), key=lambda err: err["type"] == "missing"):
        loc: KeyPath = tuple(err["loc"])
        located = (err.get("ctx") or {}).get("error")
        if isinstance(located, _Located):
            pairs = [((*loc, *p), m) for p, m in located.issues]
        elif err["type"] == "extra_forbidden":
            pairs = [(loc, f"unknown key {loc[-1]!r}{_key_hint(loc)}")]
        else:
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                msg = f"missing key {loc[-1]!r}" if loc else msg
            pairs = [(loc, msg)]
        for path, msg in pairs:
            section = str(path[0]) if path else ""
            doc = files.get(section)
            if doc is None:  # should not happen: every section comes from a file
                file = str(config_dir / next((s.file for s in FILES if s.key == section), "?"))
                issues.append((file, None, f"{_format_path(path)}: {msg}"))
                continue
            line = None
            for n in range(len(path), -1, -1):
                line = doc.lines.get(path[:n])
                if line is not None:
                    break
            issues.append((doc.file, line, f"{_format_path(path)}: {msg}" if path else msg))
    first = issues[0]
    return ConfigError(*first, issues=issues)


def _key_hint(loc: KeyPath) -> str:
    """' (expected one of: ...; did you mean ...?)' for an unknown key at `loc`, when the model is found."""
    fields = _fields_at(Config, loc[:-1])
    if not fields:
        return ""
    close = difflib.get_close_matches(str(loc[-1]), fields, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f" (expected one of: {', '.join(fields)}{hint})"


def _fields_at(tp: Any, path: KeyPath) -> list[str]:
    for part in path:
        tp = _unwrap(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            if field is None:
                return []
            tp = field.annotation
        elif typing.get_origin(tp) in (list, tuple) and isinstance(part, int):
            tp = typing.get_args(tp)[0]
        elif typing.get_origin(tp) is dict:
            tp = typing.get_args(tp)[1]
        else:
            return []
    tp = _unwrap(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return list(tp.model_fields)
    return []


def _unwrap(tp: Any) -> Any:
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp
