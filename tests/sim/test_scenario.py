"""Scenario files: strict validation, errors that name the file, the line and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from acd.sim.events import TWINS
from acd.sim.scenario import ScenarioError, load_scenario

ROOT = Path(__file__).resolve().parents[2]
GOOD = """\
seed: 1
calls: 1000
hours: always
arrivals:
  - {skill: impot_revenu, rate_per_min: 48}
handle_time: {dist: exponential, mean_s: 60}
agents:
  - {count: 50, skills: {impot_revenu: 5}, site: lille}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return path


def _error(tmp_path: Path, text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load_scenario(_write(tmp_path, text))
    return info.value


def test_the_contract_example_loads(tmp_path: Path) -> None:
    scenario, config = load_scenario(_write(tmp_path, GOOD))
    assert scenario.calls == 1000 and scenario.hours == "always"
    assert scenario.arrivals[0].constant_rate() == pytest.approx(0.8)
    assert "impot_revenu" in config.skill_index


def test_a_misspelt_key_is_named_with_its_line_and_the_expected_keys(tmp_path: Path) -> None:
    err = _error(tmp_path, GOOD.replace("handle_time: {dist", "handle_tim: {dist"))
    text = str(err)
    assert "scenario.yaml:6:" in text and "unknown key 'handle_tim'" in text and "handle_time" in text


def test_an_unknown_skill_is_named_with_a_hint(tmp_path: Path) -> None:
    err = _error(tmp_path, GOOD.replace("skill: impot_revenu", "skill: impot_revenue"))
    assert err.line == 5
    assert "arrivals[0].skill: unknown skill 'impot_revenue' (did you mean 'impot_revenu'?)" in str(err)


def test_an_unknown_site_is_an_error(tmp_path: Path) -> None:
    err = _error(tmp_path, GOOD.replace("site: lille", "site: lile"))
    assert err.line == 8 and "unknown site 'lile'" in str(err)


def test_calls_or_duration_is_required_but_not_both(tmp_path: Path) -> None:
    assert "exactly one of calls" in str(_error(tmp_path, GOOD.replace("calls: 1000\n", "")))
    assert "exactly one of calls" in str(
        _error(tmp_path, GOOD.replace("calls: 1000", "calls: 10\nduration_s: 60"))
    )


def test_a_rate_or_a_profile_is_required_but_not_both(tmp_path: Path) -> None:
    text = GOOD.replace("rate_per_min: 48}", "rate_per_min: 48, per_hour: {9: 100}}")
    assert "exactly one of rate_per_min or per_hour" in str(_error(tmp_path, text))
    bad_hour = GOOD.replace("rate_per_min: 48}", "per_hour: {25: 100}}")
    assert "hour 25" in str(_error(tmp_path, bad_hour))


def test_lognormal_needs_its_standard_deviation(tmp_path: Path) -> None:
    err = _error(tmp_path, GOOD.replace("{dist: exponential, mean_s: 60}", "{dist: lognormal, mean_s: 60}"))
    assert err.line == 6 and "lognormal needs sd_s" in str(err)


def test_routing_overrides_are_checked_by_the_configuration_model(tmp_path: Path) -> None:
    err = _error(tmp_path, GOOD + "policies: {routing: {strategy: fastest}}\n")
    assert ":9: policies.routing" in str(err) and "strategy" in str(err)


@pytest.mark.parametrize("key", ["routing", "callbacks", "overflow", "appointments"])
def test_keys_of_earlier_scenarios_say_where_they_moved(tmp_path: Path, key: str) -> None:
    err = _error(tmp_path, GOOD + f"{key}: {{}}\n")
    assert err.line == 9 and f"{key}: this key moved: use policies" in str(err)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("policies: everything\n", "policies: expected `config`, or a mapping"),
        ("callers: {accept_callback: 1.5}\n", "callers.accept_callback"),
        ("callers: {redial: {share: 0.5}}\n", "callers.redial.delay: missing key"),
        ("callers: {smile: 1}\n", "unknown key 'smile'"),
        ("staffing: {per_hour: {25: 0.5}}\n", "hour 25 is not a local hour"),
        ("staffing: {per_hour: {12: 2}}\n", "staffing.per_hour[12]"),
        ("policies: {overflow: {mode: sometimes}}\n", "policies.overflow"),
        ("policies: {services: {capacity: -1}}\n", "policies.services.capacity"),
    ],
)
def test_new_keys_are_validated_with_their_line(tmp_path: Path, text: str, fragment: str) -> None:
    err = _error(tmp_path, GOOD + text)
    assert err.line == 9 and fragment in str(err), str(err)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (
            "policies: {appointments: {capacity: [{site: lile, skill: impot_revenu, morning: 1}]}}\n",
            "policies.appointments.capacity[0].site: unknown site 'lile' (did you mean 'lille'?)",
        ),
        (
            "policies: {routing: {widening: {default: [{after_s: 0, min_level: 1}], "
            "by_skill: {impot_revenus: [{after_s: 0, min_level: 3}]}}}}\n",
            "policies.routing.widening.by_skill.impot_revenus: unknown skill 'impot_revenus'",
        ),
        # config/overflow.yaml's activate_ewt_s is 60
        ("policies: {overflow: {deactivate_ewt_s: 100}}\n", "policies.overflow: deactivate_ewt_s must not"),
    ],
)
def test_an_override_the_configuration_refuses_is_a_bad_scenario_not_a_traceback(
    tmp_path: Path, text: str, fragment: str
) -> None:
    """Each passed the scenario's checks and died in a pydantic traceback as the run built its
    configuration: the overrides were checked alone, not on the configuration they override."""
    err = _error(tmp_path, GOOD + text)
    assert err.line == 9 and fragment in str(err), str(err)


def test_an_override_is_checked_on_the_configuration_s_values_not_the_code_s_defaults(tmp_path: Path) -> None:
    """activate_ewt_s 45 is valid over config/overflow.yaml (deactivate_ewt_s 30), and was refused
    against the code's default deactivate_ewt_s (240)."""
    from acd.sim.build import build_config

    scenario, config = load_scenario(_write(tmp_path, GOOD + "policies: {overflow: {activate_ewt_s: 45}}\n"))
    assert config.overflow.deactivate_ewt_s == 30
    assert build_config(scenario, config).overflow.activate_ewt_s == 45


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("count: 50", "count: yes", "agents[0].count"),
        ("calls: 1000", "calls: true", "calls"),
        ("rate_per_min: 48", "rate_per_min: on", "arrivals[0].rate_per_min"),
        ("seed: 1", "seed: no", "seed"),
    ],
)
def test_a_yes_or_no_where_a_number_goes_is_a_bad_scenario(
    tmp_path: Path, old: str, new: str, where: str
) -> None:
    """YAML reads yes, no, on, off, true and false as booleans, and pydantic took them as 1 and 0:
    `count: yes` ran one agent, `rate_per_min: on` one call a minute, silently."""
    err = _error(tmp_path, GOOD.replace(old, new))
    assert f"{where}: " in str(err) and "not true or false" in str(err), str(err)


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("rate_per_min: 48", "rate_per_min: .nan", "arrivals[0].rate_per_min"),
        ("rate_per_min: 48", "rate_per_min: .NaN", "arrivals[0].rate_per_min"),
    ],
)
def test_a_nan_where_a_number_goes_is_said_to_be_nan(tmp_path: Path, old: str, new: str, where: str) -> None:
    """YAML reads `.nan` as a float, which pydantic compared with the bounds first: "Input should
    be greater than or equal to 0", for a value that is not below zero (audit sim)."""
    err = _error(tmp_path, GOOD.replace(old, new))
    assert f"{where}: " in str(err) and "not NaN" in str(err), str(err)


def test_a_yes_for_a_share_is_a_bad_scenario(tmp_path: Path) -> None:
    err = _error(tmp_path, GOOD + "callers: {accept_callback: yes}\n")
    assert err.line == 9 and "callers.accept_callback: " in str(err) and "not true or false" in str(err)


def test_warmup_must_leave_calls_to_measure(tmp_path: Path) -> None:
    assert "warmup_calls" in str(_error(tmp_path, GOOD + "warmup_calls: 1000\n"))


def test_yaml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    err = _error(tmp_path, GOOD + "agents: [\n")
    assert "YAML syntax error" in str(err) and err.line is not None


def test_every_shipped_scenario_is_valid() -> None:
    files = sorted((ROOT / "config" / "scenarios").glob("*.yaml"))
    assert len(files) >= 2
    for path in files:
        scenario, _ = load_scenario(path)
        assert scenario.name


def test_the_light_events_carry_the_fields_of_the_engine_models() -> None:
    import acd.events as models

    for name, twin in TWINS.items():
        model = getattr(models, name)
        assert set(twin.__slots__) | {"type"} == set(model.model_fields), name
        assert twin.type == model.model_fields["type"].annotation.__args__[0]


def test_agents_must_be_groups_or_the_roster(tmp_path: Path) -> None:
    err = _error(
        tmp_path,
        GOOD.replace("agents:\n  - {count: 50, skills: {impot_revenu: 5}, site: lille}", "agents: rooster"),
    )
    assert str(err).endswith("agents: expected a list of groups {count, skills, site}, or `roster`")
    err = _error(tmp_path, GOOD.replace("count: 50", "count: 0"))
    assert len(err.issues) == 1 and "agents[0].count" in str(err)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (("skills: {impot_revenu: 5}", "skills: {paiement: 5}"), "no agent of the scenario holds impot"),
        (("rate_per_min: 48}", "rate_per_min: 48, needs: [lsf]}"), "holds impot_revenu with lsf"),
        (("agents:", "staffing: {per_hour: {" + ", ".join(f"{h}: 0" for h in range(24)) + "}}\nagents:"),
         "puts no agent on duty in any hour"),
    ],
)  # fmt: skip
def test_callers_no_agent_could_ever_answer_are_a_bad_scenario(tmp_path: Path, change, said) -> None:
    """Before, the run went on and reported 0 % for them, silently: a roster's typo read as a
    planning figure (/work/notes/audit-sim.md, D3)."""
    err = _error(tmp_path, GOOD.replace(*change))
    assert said in str(err)


def test_a_scenario_that_is_not_utf8_or_expands_without_end_is_refused_in_a_sentence(tmp_path: Path) -> None:
    """Before: a UnicodeDecodeError traceback; and nine lines of aliases of aliases filled the
    memory (/work/notes/audit-sim.md, D4, D5)."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes(GOOD.replace("seed: 1", "name: d\xe9claration").encode("latin-1"))
    with pytest.raises(ScenarioError, match="not UTF-8 text"):
        load_scenario(path)
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for name, prev in zip("bcdefghi", "abcdefgh", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    with pytest.raises(ScenarioError, match="expands to more than"):
        load_scenario(_write(tmp_path, "\n".join(lines) + "\n"))


@pytest.mark.parametrize("start", ["1700000000", "1.7e9"])
def test_a_start_given_as_a_number_is_a_bad_scenario(tmp_path: Path, start: str) -> None:
    """`start` is an RFC 3339 instant with its offset, as every instant the API takes: a number was
    read as Unix seconds, a scenario that did not say what it meant (audit sim F10)."""
    err = _error(tmp_path, GOOD + f"start: {start}\n")
    assert "start" in str(err) and "RFC 3339" in str(err)


def test_a_start_given_as_an_instant_loads(tmp_path: Path) -> None:
    scenario, _ = load_scenario(_write(tmp_path, GOOD + "start: 2026-03-03T09:00:00+01:00\n"))
    assert scenario.start.isoformat() == "2026-03-03T09:00:00+01:00"
