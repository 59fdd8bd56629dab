"""The scenario file of `acd simulate`: what to simulate, validated strictly, errors with file and line.

A scenario names the traffic (Poisson arrivals per skill, at a rate or by an hourly profile), the
handle and patience times, the agents, the hours and the policies (routing, callbacks, overflow,
appointments). Everything else comes from the configuration directory (`config/` by default):
sites, skills, the calendar, the local services; the scenario may override their routing and
policy settings. See docs/simulator.md for every key.

Validation is `extra="forbid"` everywhere (a misspelt key is an error that names the expected
keys), and every error reads `scenario.yaml:12: arrivals[0].rate_per_min: ...`: the YAML is composed
with the line of every node kept, as `acd/config/loader.py` does for the configuration.
"""

from __future__ import annotations

import difflib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from acd.config import (
    AppointmentsConfig,
    CallbacksConfig,
    Config,
    ConfigError,
    OverflowConfig,
    RoutingConfig,
    load_config,
)
from acd.config.errors import format_path
from acd.config.loader import ComposedYaml

__all__ = [
    "AgentGroup",
    "Arrival",
    "Callers",
    "Distribution",
    "Policies",
    "Redial",
    "Scenario",
    "ScenarioError",
    "Staffing",
    "load_scenario",
    "scenario_from_dict",
]

KeyPath = tuple[str | int, ...]
PosFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Share = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Level = Annotated[int, Field(ge=1, le=5, strict=True)]

#: A Tuesday of an ordinary week (no holiday, no campaign): the default first instant simulated.
DEFAULT_START = "2026-03-03T08:30:00+01:00"
#: The repository's shipped configuration, used when neither the scenario nor ACD_CONFIG_DIR names one.
SHIPPED_CONFIG = Path(__file__).resolve().parent.parent.parent / "config"


class ScenarioError(Exception):
    """A scenario file is missing, malformed or inconsistent. `issues`: (file, line, reason)."""

    def __init__(self, file: str, line: int | None, reason: str, issues: list | None = None) -> None:
        self.file, self.line, self.reason = file, line, reason
        self.issues: list[tuple[str, int | None, str]] = issues or [(file, line, reason)]
        super().__init__(self.__str__())

    def __str__(self) -> str:
        return "\n".join(f"{f}:{ln}: {r}" if ln is not None else f"{f}: {r}" for f, ln, r in self.issues)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Distribution(_Model):
    """A duration's distribution: `exponential` and `constant` take `mean_s`; `lognormal` takes
    `mean_s` and `sd_s` (the mean and standard deviation of the duration itself, not of its log)."""

    dist: Literal["exponential", "lognormal", "constant"]
    mean_s: PosFloat
    sd_s: PosFloat | None = None

    @model_validator(mode="after")
    def _sd(self) -> Distribution:
        if self.dist == "lognormal" and self.sd_s is None:
            raise ValueError("lognormal needs sd_s (the standard deviation in seconds)")
        if self.dist != "lognormal" and self.sd_s is not None:
            raise ValueError(f"sd_s applies to lognormal only, not to {self.dist}")
        return self

    @property
    def cv2(self) -> float:
        """Squared coefficient of variation."""
        if self.dist == "exponential":
            return 1.0
        if self.dist == "constant":
            return 0.0
        return (self.sd_s or 0.0) ** 2 / self.mean_s**2


class Arrival(_Model):
    """A Poisson stream of calls for a skill: at `rate_per_min`, or by `per_hour` (calls in each
    local hour of the day, `{8: 1200, 9: 2400, ...}`, hours left out have none), times `scale`."""

    skill: str
    rate_per_min: NonNegFloat | None = None
    per_hour: dict[int, NonNegFloat] | None = None
    scale: NonNegFloat = 1.0
    #: Extra skills the calls need (e.g. [lsf]).
    needs: list[str] = Field(default_factory=list)
    priority: Annotated[int, Field(ge=0, le=9)] = 0
    #: Overrides of the scenario's handle_time and patience for this stream.
    handle_time: Distribution | None = None
    patience: Distribution | None = None

    @field_validator("per_hour")
    @classmethod
    def _hours(cls, v: dict[int, float] | None) -> dict[int, float] | None:
        if v is not None:
            for hour in v:
                if not 0 <= hour <= 23:
                    raise ValueError(f"hour {hour} is not a local hour of the day (0-23)")
            if not any(x > 0 for x in v.values()):
                raise ValueError("the profile has no call in any hour")
        return v

    @model_validator(mode="after")
    def _one_rate(self) -> Arrival:
        if (self.rate_per_min is None) == (self.per_hour is None):
            raise ValueError("give exactly one of rate_per_min or per_hour")
        return self

    def hourly_rates(self) -> list[float] | None:
        """Calls per second for each local hour 0-23 (None: a constant rate)."""
        if self.per_hour is None:
            return None
        return [self.per_hour.get(h, 0.0) * self.scale / 3600.0 for h in range(24)]

    def constant_rate(self) -> float:
        """Calls per second of a constant-rate stream."""
        return (self.rate_per_min or 0.0) * self.scale / 60.0


class AgentGroup(_Model):
    """`count` agents at `site` with `skills` ({skill: level 1-5})."""

    count: Annotated[int, Field(ge=1, le=100000)]
    skills: dict[str, Level] = Field(min_length=1)
    site: str


class ServicesOverride(_Model):
    capacity: Annotated[int, Field(ge=0)] | None = None
    hours: Literal["always"] | None = None


class Policies(_Model):
    """acd's policies as overrides of the configuration's sections (`policies: {routing: ...}`):
    each mapping is validated by the configuration's own model, over the configuration's values.
    `services` is the simulator's: `capacity` replaces every local service's capacity, `hours:
    always` keeps the local services open whenever the line is."""

    routing: dict[str, Any] = Field(default_factory=dict)
    callbacks: dict[str, Any] = Field(default_factory=dict)
    overflow: dict[str, Any] = Field(default_factory=dict)
    appointments: dict[str, Any] = Field(default_factory=dict)
    services: ServicesOverride | None = None

    @field_validator("routing")
    @classmethod
    def _routing(cls, v: dict[str, Any]) -> dict[str, Any]:
        RoutingConfig.model_validate(v)
        return v

    @field_validator("callbacks")
    @classmethod
    def _callbacks(cls, v: dict[str, Any]) -> dict[str, Any]:
        CallbacksConfig.model_validate(v)
        return v

    @field_validator("overflow")
    @classmethod
    def _overflow(cls, v: dict[str, Any]) -> dict[str, Any]:
        OverflowConfig.model_validate(v)
        return v

    @field_validator("appointments")
    @classmethod
    def _appointments(cls, v: dict[str, Any]) -> dict[str, Any]:
        AppointmentsConfig.model_validate(v)
        return v


class Redial(_Model):
    """`share` of the callers who hang up unanswered call again, after a delay drawn from `delay`."""

    share: Share
    delay: Distribution


class Callers(_Model):
    """How callers behave (not acd's policy). Defaults: nobody accepts a callback, 85 % answer a
    callback or appointment dial, nobody books an appointment, no department known, no redial."""

    accept_callback: Share = 0.0
    #: Of the callers who accept a callback, the share who take the first callback window the
    #: decision lists (a callback later in the day or the next morning) rather than virtual hold.
    take_window: Share = 0.0
    answer_callback: Share = 0.85
    book_appointment: Share = 0.0
    department_share: Share = 0.0
    redial: Redial | None = None


class Staffing(_Model):
    """The share of the agents on duty in each local hour (`{12: 0.6, 13: 0.6}`: lunch); hours
    left out are fully staffed. An agent going off duty finishes its call first."""

    per_hour: dict[int, Share] = Field(min_length=1)

    @field_validator("per_hour")
    @classmethod
    def _hours(cls, v: dict[int, float]) -> dict[int, float]:
        for hour in v:
            if not 0 <= hour <= 23:
                raise ValueError(f"hour {hour} is not a local hour of the day (0-23)")
        return v

    def share(self, hour: int) -> float:
        return self.per_hour.get(hour, 1.0)


#: Keys of earlier scenario files, and where their meaning lives now.
MOVED_KEYS = {
    "routing": "policies: {routing: ...} (acd's policies: without `policies` a scenario runs the "
    "default routing and nothing else)",
    "callbacks": "policies: {callbacks: ...} for acd's settings (the offer threshold is "
    "policies.routing.callback_offer_ewt_s), callers.accept_callback and callers.answer_callback "
    "for the callers",
    "overflow": "policies: {overflow: ...} for acd's settings, policies.services for capacities and "
    "hours, callers.department_share for the callers",
    "appointments": "policies: {appointments: {offer_above_ewt_s: ...}} for acd's offer, "
    "callers.book_appointment and callers.answer_callback for the callers",
}


class Scenario(_Model):
    name: str | None = None
    description: str | None = None
    seed: int = 1
    calls: Annotated[int, Field(ge=1)] | None = None
    duration_s: PosFloat | None = None
    #: The first simulated instant (RFC 3339 with offset).
    start: AwareDatetime = Field(default_factory=lambda: datetime.fromisoformat(DEFAULT_START))
    #: `always`: the calendar never closes. Omitted: the calendar of the configuration applies.
    hours: Literal["always"] | None = None
    warmup_calls: Annotated[int, Field(ge=0)] = 0
    service_level_s: NonNegFloat = 20.0
    arrivals: list[Arrival] = Field(min_length=1)
    handle_time: Distribution
    #: Omitted: nobody abandons.
    patience: Distribution | None = None
    #: Groups of agents, or `roster`: the configuration's roster (config/agents.yaml).
    agents: list[AgentGroup] | Literal["roster"] = Field(min_length=1)
    #: With `agents: roster`: the share of each site's roster on duty (the first agents of each site).
    staffed_share: Annotated[float, Field(gt=0, le=1)] = 1.0
    #: Ring time before an agent answers (0: at once).
    ring_s: NonNegFloat = 0.0
    #: acd's policies: absent, the default routing and nothing else; `config`, the configuration's
    #: (routing, callbacks, overflow, appointments, local services) as `acd serve` runs it; a
    #: mapping, the configuration with these overrides.
    policies: Literal["config"] | Policies | None = None
    callers: Callers = Field(default_factory=Callers)
    staffing: Staffing | None = None
    #: The configuration directory (relative to the scenario file); default ACD_CONFIG_DIR or config/.
    config: str | None = None
    #: Batches for the confidence intervals (batch means over the measured calls).
    batches: Annotated[int, Field(ge=2, le=1000)] = 20
    #: After the last arrival, stop anyway this long after (calls still in line are `unresolved`).
    drain_s: PosFloat = 86400.0

    @model_validator(mode="after")
    def _stop_rule(self) -> Scenario:
        if (self.calls is None) == (self.duration_s is None):
            raise ValueError(
                "give exactly one of calls (a number of calls) or duration_s (simulated seconds)"
            )
        if self.staffed_share != 1.0 and self.agents != "roster":
            raise ValueError("staffed_share applies to `agents: roster` only")
        if self.calls is not None and self.warmup_calls >= self.calls:
            raise ValueError(f"warmup_calls ({self.warmup_calls}) must be below calls ({self.calls})")
        return self

    @property
    def policies_on(self) -> bool:
        """Whether acd's policies run (anything beyond the default routing)."""
        return self.policies is not None

    def with_policies(self) -> Scenario:
        """The scenario with acd's policies: its own, or the configuration's when it names none
        (what `--compare` and `acd tune` run as acd)."""
        return self if self.policies is not None else self.model_copy(update={"policies": "config"})

    def policy_overrides(self) -> Policies:
        return self.policies if isinstance(self.policies, Policies) else Policies()

    @property
    def start_ts(self) -> float:
        return self.start.timestamp()

    def skills_used(self) -> list[tuple[KeyPath, str]]:
        """(path, skill) of every skill the scenario names, for the cross check."""
        out: list[tuple[KeyPath, str]] = []
        for i, a in enumerate(self.arrivals):
            out.append((("arrivals", i, "skill"), a.skill))
            out += [(("arrivals", i, "needs", j), n) for j, n in enumerate(a.needs)]
        if isinstance(self.agents, list):
            for i, g in enumerate(self.agents):
                out += [(("agents", i, "skills", s), s) for s in g.skills]
        return out

    def expected_rate(self) -> float:
        """Mean arrival rate (calls per second) over a day, for progress and batches."""
        total = 0.0
        for a in self.arrivals:
            hourly = a.hourly_rates()
            total += a.constant_rate() if hourly is None else sum(hourly) / 24.0
        return total


def _check_against_config(scenario: Scenario, config: Config) -> list[tuple[KeyPath, str]]:
    issues: list[tuple[KeyPath, str]] = []
    skills = set(config.skill_index)
    sites = set(config.site_by_id)
    for path, skill in scenario.skills_used():
        if skill not in skills:
            issues.append(
                (path, f"unknown skill {skill!r}{_hint(skill, skills)} (skills: {', '.join(sorted(skills))})")
            )
    if isinstance(scenario.agents, list):
        for i, g in enumerate(scenario.agents):
            if g.site not in sites:
                issues.append((("agents", i, "site"), f"unknown site {g.site!r}{_hint(g.site, sites)}"))
    elif not config.agents:
        issues.append((("agents",), "agents: roster, but the configuration's roster is empty"))
    return issues


def _hint(name: str, known: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _locate(doc: ComposedYaml | None, path: KeyPath) -> int | None:
    if doc is None:
        return None
    for n in range(len(path), -1, -1):
        line = doc.lines.get(path[:n])
        if line is not None:
            return line
    return None


def _fields_hint(loc: KeyPath) -> str:
    tp: Any = Scenario
    for part in loc[:-1]:
        fields = getattr(tp, "model_fields", None)
        if fields is None or isinstance(part, int):
            if isinstance(part, int):
                continue
            return ""
        field = fields.get(str(part))
        if field is None:
            return ""
        tp = _model_in(field.annotation)
        if tp is None:
            return ""
    names = list(getattr(tp, "model_fields", {}))
    if not names:
        return ""
    close = difflib.get_close_matches(str(loc[-1]), names, n=1)
    return f" (expected one of: {', '.join(names)}" + (f"; did you mean {close[0]!r}?)" if close else ")")


def _model_in(tp: Any) -> Any:
    import typing

    stack = [tp]
    while stack:
        t = stack.pop()
        if isinstance(t, type) and issubclass(t, BaseModel):
            return t
        stack += list(typing.get_args(t))
    return None


def _validation_issues(
    exc: ValidationError, file: str, doc: ComposedYaml | None
) -> list[tuple[str, int | None, str]]:
    issues = []
    errors = exc.errors()
    # a key that takes one of two forms (a mapping or list, or a word): one clear message when
    # neither fits, and only the structured form's errors when that form was meant
    deep = {
        key: any(len(e["loc"]) > 2 for e in errors if tuple(e["loc"][:2]) == (key, structured))
        for key, (structured, _, _) in _UNIONS.items()
    }
    for err in sorted(errors, key=lambda e: e["type"] == "missing"):
        key = err["loc"][0] if err["loc"] else None
        tags = err["loc"][1:2]
        if key in _UNIONS and tags and tags[0] in _UNION_TAGS:
            structured, _, expected = _UNIONS[key]
            if tags[0] != structured:
                continue  # the word's branch: said once below, or the structure was meant
            if not deep[key]:
                err = {**err, "msg": expected}
        loc: KeyPath = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in _UNION_TAGS))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = f"unknown key {loc[-1]!r}{_fields_hint(loc)}"
        elif err["type"] == "missing":
            msg = f"missing key {loc[-1]!r}"
        where = format_path(loc)
        issues.append((file, _locate(doc, loc), f"{where}: {msg}" if where else msg))
    # one error per place: a union (agents: list | roster) reports each branch
    seen, out = set(), []
    for issue in issues:
        if issue not in seen:
            seen.add(issue)
            out.append(issue)
    return out


#: Keys that take a structure or a word: pydantic's tags for both branches, and what to say when
#: neither fits.
_UNIONS = {
    "agents": (
        "list[AgentGroup]",
        "literal['roster']",
        "expected a list of groups {count, skills, site}, or `roster`",
    ),
    "policies": (
        "Policies",
        "literal['config']",
        "expected `config`, or a mapping of overrides {routing, callbacks, overflow, appointments, services}",
    ),
}
#: Tags pydantic puts in error locations for the branches of a union.
_UNION_TAGS = {tag for structured, word, _ in _UNIONS.values() for tag in (structured, word)}


def scenario_from_dict(data: Any, file: str = "<scenario>", doc: ComposedYaml | None = None) -> Scenario:
    """Validate scenario data (as read from YAML); raise ScenarioError naming `file` and lines."""
    if not isinstance(data, dict):
        raise ScenarioError(
            file, _locate(doc, ()), "a scenario is a mapping of keys (seed, calls, arrivals, ...)"
        )
    # `x-...` keys are free (YAML anchors to share a profile, notes): not the scenario's
    data = {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))}
    moved = [
        (file, _locate(doc, (k,)), f"{k}: this key moved: use {MOVED_KEYS[k]}")
        for k in data
        if k in MOVED_KEYS
    ]
    if moved:
        raise ScenarioError(*moved[0], issues=moved)
    try:
        return Scenario.model_validate(data)
    except ValidationError as e:
        issues = _validation_issues(e, file, doc)
        raise ScenarioError(*issues[0], issues=issues) from None


def resolve_config_dir(scenario: Scenario, scenario_file: Path | None) -> Path:
    import os

    if scenario.config is not None:
        base = scenario_file.parent if scenario_file is not None else Path.cwd()
        return (base / scenario.config).resolve()
    env = os.environ.get("ACD_CONFIG_DIR")
    if env:
        return Path(env)
    local = Path.cwd() / "config"
    return local if (local / "skills.yaml").exists() else SHIPPED_CONFIG


def load_scenario(path: str | Path, config: Config | None = None) -> tuple[Scenario, Config]:
    """Read, validate and cross-check a scenario file; return it with its configuration."""
    path = Path(path)
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ScenarioError(file, None, f"cannot read: {e.strerror or e}") from None
    try:
        doc = ComposedYaml(file, text)
    except ConfigError as e:
        raise ScenarioError(e.file, e.line, e.reason) from None
    scenario = scenario_from_dict(doc.data, file, doc)
    if config is None:
        config_dir = resolve_config_dir(scenario, path)
        try:
            config = load_config(config_dir)
        except ConfigError as e:
            raise ScenarioError(
                file, _locate(doc, ("config",)), f"the configuration is invalid: {e}"
            ) from None
    check_scenario(scenario, config, file, doc)
    return scenario, config


def check_scenario(
    scenario: Scenario, config: Config, file: str = "<scenario>", doc: ComposedYaml | None = None
) -> None:
    """The cross checks against the configuration (skills and sites exist)."""
    issues = _check_against_config(scenario, config)
    if issues:
        located = [(file, _locate(doc, p), f"{format_path(p)}: {m}") for p, m in issues]
        raise ScenarioError(*located[0], issues=located)
