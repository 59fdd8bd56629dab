"""The scenario's model: what to simulate, as validated data (read from a file by acd/sim/scenario.py).

A scenario names the traffic (Poisson arrivals per skill, at a rate or by an hourly profile), the
handle and patience times, the agents, the hours, the callers' behaviour, the staffing by hour and
acd's policies (routing, callbacks, overflow, appointments). Everything else comes from the
configuration directory: sites, skills, the calendar, the local services; the scenario may override
their routing and policy settings. See docs/simulator.md for every key.

Validation is `extra="forbid"` everywhere: a misspelt key is an error (acd/sim/scenario.py names
the expected keys and the file's line).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from acd.calendar import T_MAX
from acd.config import AppointmentsConfig, CallbacksConfig, OverflowConfig, RoutingConfig
from acd.events import FIRST_YEAR, LAST_YEAR

__all__ = [
    "AgentGroup",
    "Arrival",
    "Callers",
    "Distribution",
    "KeyPath",
    "Policies",
    "Redial",
    "Scenario",
    "ServicesOverride",
    "Staffing",
]

KeyPath = tuple[str | int, ...]


def _not_a_bool(v: Any) -> Any:
    """YAML reads yes, no, on, off, true and false as booleans, which pydantic takes as 1 and 0
    where a number goes (`count: yes`: one agent): refused. YAML's `.nan` too, said as what it is
    (pydantic compares the bounds first: NaN was "should be greater than or equal to 0")."""
    if isinstance(v, bool):
        raise ValueError("a number, not true or false (YAML reads yes, no, on and off as true or false)")
    if isinstance(v, float) and v != v:
        raise ValueError("a number, not NaN (.nan)")
    return v


#: A number, not a boolean (every number of a scenario is one).
Number = BeforeValidator(_not_a_bool)
PosFloat = Annotated[float, Number, Field(gt=0, allow_inf_nan=False)]
NonNegFloat = Annotated[float, Number, Field(ge=0, allow_inf_nan=False)]
Share = Annotated[float, Number, Field(ge=0, le=1, allow_inf_nan=False)]
Level = Annotated[int, Field(ge=1, le=5, strict=True)]
#: The longest duration a scenario may name (about 31 years): past it the draws overflow.
MAX_DURATION_S = 1e9
Duration = Annotated[float, Number, Field(gt=0, le=MAX_DURATION_S, allow_inf_nan=False)]
#: The largest coefficient of variation of a lognormal (sd_s / mean_s).
MAX_CV = 1000.0

#: A Tuesday of an ordinary week (no holiday, no campaign): the default first instant simulated.
DEFAULT_START = "2026-03-03T08:30:00+01:00"
#: The end of the instants the calendar reasons about (acd/calendar.py's T_MAX, 2200-01-01 UTC):
#: a run whose next event falls after it stops with a SimulationError saying TOO_LATE.
CLOCK_LIMIT = T_MAX
TOO_LATE = (
    "the simulated clock would pass 2200-01-01, where the calendar ends: the scenario's rates are "
    "too low, or its durations too long, for its calls or duration_s"
)


class SimulationError(Exception):
    """A scenario that cannot be run to its end (its message says why and what to change)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Distribution(_Model):
    """A duration's distribution: `exponential` and `constant` take `mean_s`; `lognormal` takes
    `mean_s` and `sd_s` (the mean and standard deviation of the duration itself, not of its log)."""

    dist: Literal["exponential", "lognormal", "constant"]
    mean_s: Duration
    sd_s: Duration | None = None

    @model_validator(mode="after")
    def _sd(self) -> Distribution:
        if self.dist == "lognormal" and self.sd_s is None:
            raise ValueError("lognormal needs sd_s (the standard deviation in seconds)")
        if self.dist != "lognormal" and self.sd_s is not None:
            raise ValueError(f"sd_s applies to lognormal only, not to {self.dist}")
        if self.sd_s is not None and self.sd_s > MAX_CV * self.mean_s:
            raise ValueError(
                f"sd_s ({self.sd_s:g}) is more than {MAX_CV:g} times mean_s ({self.mean_s:g}): "
                "not a distribution of durations the simulator can draw"
            )
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
    priority: Annotated[int, Number, Field(ge=0, le=9)] = 0
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

    count: Annotated[int, Number, Field(ge=1, le=100000)]
    skills: dict[str, Level] = Field(min_length=1)
    site: str


class ServicesOverride(_Model):
    capacity: Annotated[int, Number, Field(ge=0)] | None = None
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
        return _keys_checked(RoutingConfig, v)

    @field_validator("callbacks")
    @classmethod
    def _callbacks(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _keys_checked(CallbacksConfig, v)

    @field_validator("overflow")
    @classmethod
    def _overflow(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _keys_checked(OverflowConfig, v)

    @field_validator("appointments")
    @classmethod
    def _appointments(cls, v: dict[str, Any]) -> dict[str, Any]:
        return _keys_checked(AppointmentsConfig, v)


def _keys_checked(model: type[BaseModel], overrides: dict[str, Any]) -> dict[str, Any]:
    """The overrides of a section, each key checked by the section's model (unknown keys, types,
    bounds). What holds only between keys (overflow's hysteresis, ...) or against the rest of the
    configuration (the sites and skills named) is checked on the configuration they override, with
    the configuration's own values (acd/sim/scenario.py's check_scenario): alone, an override
    would meet the code's defaults (activate_ewt_s 45 refused against a default deactivate_ewt_s
    of 240, where config/overflow.yaml's is 30)."""
    try:
        model.model_validate(overrides)
    except ValidationError as e:
        if any(err["loc"] for err in e.errors()):  # a key's own error (none: the whole section's)
            raise
    return overrides


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


class Scenario(_Model):
    name: str | None = None
    description: str | None = None
    seed: Annotated[int, Number, Field(ge=0)] = 1
    calls: Annotated[int, Number, Field(ge=1)] | None = None
    duration_s: PosFloat | None = None
    #: The first simulated instant (RFC 3339 with offset).
    start: AwareDatetime = Field(default_factory=lambda: datetime.fromisoformat(DEFAULT_START))
    #: `always`: the calendar never closes. Omitted: the calendar of the configuration applies.
    hours: Literal["always"] | None = None
    warmup_calls: Annotated[int, Number, Field(ge=0)] = 0
    service_level_s: NonNegFloat = 20.0
    arrivals: list[Arrival] = Field(min_length=1)
    handle_time: Distribution
    #: Omitted: nobody abandons.
    patience: Distribution | None = None
    #: Groups of agents, or `roster`: the configuration's roster (config/agents.yaml).
    agents: list[AgentGroup] | Literal["roster"] = Field(min_length=1)
    #: With `agents: roster`: the share of each site's roster on duty (the first agents of each site).
    staffed_share: Annotated[float, Number, Field(gt=0, le=1)] = 1.0
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
    batches: Annotated[int, Number, Field(ge=2, le=1000)] = 20
    #: After the last arrival, stop anyway this long after (calls still in line are `unresolved`).
    drain_s: PosFloat = 86400.0

    @field_validator("start", mode="before")
    @classmethod
    def _start_is_an_instant(cls, v: Any) -> Any:
        if isinstance(v, int | float) or (isinstance(v, str) and _a_number(v)):
            # read as Unix seconds (pydantic's way), the scenario would not say what it means
            raise ValueError(
                f"must be an RFC 3339 instant with its offset (2026-03-02T10:00:00+01:00), not {v!r}"
            )
        return v

    @field_validator("start")
    @classmethod
    def _start_in_the_calendar_s_years(cls, v: datetime) -> datetime:
        if not FIRST_YEAR <= v.year <= LAST_YEAR:  # the years the API takes an instant in
            raise ValueError(f"must fall in the years {FIRST_YEAR} to {LAST_YEAR} (got year {v.year})")
        return v

    @field_validator("arrivals")
    @classmethod
    def _some_calls(cls, v: list[Arrival]) -> list[Arrival]:
        if all(a.constant_rate() == 0 and not any(a.hourly_rates() or ()) for a in v):
            raise ValueError("every stream has a rate of 0: no call would ever arrive")
        return v

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


def _a_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
