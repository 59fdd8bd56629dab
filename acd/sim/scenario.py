"""The scenario file of `acd simulate`: read, validated strictly, errors with file and line.

The scenario itself (its keys, their defaults and checks) is the model in acd/sim/scenario_model.py,
re-exported here. Everything the scenario does not name comes from the configuration directory
(`config/` by default). See docs/simulator.md for every key.

Validation is `extra="forbid"` everywhere (a misspelt key is an error that names the expected
keys), and every error reads `scenario.yaml:12: arrivals[0].rate_per_min: ...`: the YAML is composed
with the line of every node kept, as `acd/config/loader.py` does for the configuration.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from acd.config import Config, ConfigError, load_config
from acd.config.errors import _Located, format_path
from acd.config.loader import ComposedYaml
from acd.sim.scenario_model import (
    AgentGroup,
    Arrival,
    Callers,
    Distribution,
    KeyPath,
    Policies,
    Redial,
    Scenario,
    Staffing,
)

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
    "check_scenario",
    "load_scenario",
    "resolve_config_dir",
    "scenario_from_dict",
]

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
    if not issues:
        issues += _unservable(scenario, config)
    return issues


def _unservable(scenario: Scenario, config: Config) -> list[tuple[KeyPath, str]]:
    """Callers no agent of the scenario could ever answer (a skill, or a need, nobody holds; a
    staffing that puts nobody on duty): a run would report 0 % for them, a planning figure that
    looks plausible and says nothing. Refused, saying which."""
    groups = (
        [set(g.skills) for g in scenario.agents]
        if isinstance(scenario.agents, list)
        else [set(a.skills) for a in config.agents]
    )
    issues: list[tuple[KeyPath, str]] = []
    for i, a in enumerate(scenario.arrivals):
        wanted = {a.skill, *a.needs}
        if not any(wanted <= held for held in groups):
            what = a.skill if not a.needs else f"{a.skill} with {', '.join(a.needs)}"
            never = f"no agent of the scenario holds {what}: its callers could never be answered"
            issues.append((("arrivals", i), never))
    staffing = scenario.staffing
    if staffing is not None and all(staffing.share(h) == 0 for h in range(24)):
        issues.append((("staffing", "per_hour"), "puts no agent on duty in any hour"))
    return issues


#: The configuration's sections a scenario's `policies` override.
POLICY_SECTIONS = ("routing", "callbacks", "overflow", "appointments", "services")


def _check_policies(scenario: Scenario, config: Config) -> list[tuple[KeyPath, str]]:
    """The configuration the run will build: the scenario's overrides on the configuration's
    values, checked whole (the sites and skills they name, what holds between keys), so that an
    override the configuration refuses is a bad scenario, not a traceback when the run starts."""
    if not isinstance(scenario.policies, Policies):
        return []
    from acd.sim.build import build_config

    try:
        build_config(scenario, config)
    except ValidationError as e:
        issues: list[tuple[KeyPath, str]] = []
        for err in e.errors():
            located = (err.get("ctx") or {}).get("error")
            if isinstance(located, _Located):  # a cross check: it names what it found
                found = located.issues
            else:  # between the keys of a section: some of them may be the configuration's
                msg = err["msg"].removeprefix("Value error, ")
                found = [(tuple(err["loc"]), f"{msg} (the configuration's values with the overrides)")]
            for path, msg in found:
                if path and path[0] in POLICY_SECTIONS:
                    issues.append((("policies", *path), msg))
                else:
                    issues.append((("policies",), f"{format_path(path)}: {msg}" if path else msg))
        return issues
    return []


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
    except UnicodeDecodeError as e:  # as config/'s files (acd/config/loader.py)
        raise ScenarioError(file, None, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
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
    issues = _check_against_config(scenario, config) or _check_policies(scenario, config)
    if issues:
        located = [(file, _locate(doc, p), f"{format_path(p)}: {m}") for p, m in issues]
        raise ScenarioError(*located[0], issues=located)
