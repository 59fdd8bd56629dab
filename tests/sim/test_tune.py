"""`acd tune`: the search keeps the service-level floor, never ends worse than the configuration it
starts from, and prints what to paste into config/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from acd.cli import main
from acd.sim.tune import SPACE, Tuner, config_lines, current_settings, policies_for
from tests.sim.conftest import scenario

OVERLOADED = {
    "calls": 800,
    "arrivals": [{"skill": "impot_revenu", "rate_per_min": 12}],
    "agents": [{"count": 10, "skills": {"impot_revenu": 5}, "site": "lille"}],
    "patience": {"dist": "exponential", "mean_s": 120},
    "service_level_s": 60,
    "policies": {"services": {"hours": "always"}},
    "callers": {"accept_callback": 0.5, "department_share": 0.6},
}
SMALL_SPACE = {
    ("routing", "callback_offer_ewt_s"): [30.0, 300.0],
    ("overflow", "threshold_s"): [0.0, 300.0],
}


def test_the_search_never_ends_below_where_it_starts_and_keeps_the_floor(config) -> None:
    # a start that keeps the floor (overflow by the threshold alone: with the shipped
    # patience_share fewer callers go to an office, and this line's service level falls under
    # FIFO's, so the search must first reach the floor, from below where it starts)
    policies = {**OVERLOADED["policies"], "overflow": {"patience_share": 0}}
    sc = scenario(**{**OVERLOADED, "policies": policies})
    tuner = Tuner([("overloaded", sc, config)], seeds=[1, 2], space=SMALL_SPACE)
    start = current_settings(config)
    result = tuner.tune(start, passes=1)
    assert result["feasible"]
    assert tuner.objective(result["best_figures"]) >= tuner.objective(result["start_figures"])
    floor = tuner.floors[0]
    assert floor is not None and sum(result["best_figures"][0].service_level) / 2 >= floor - 1e-12
    assert len(tuner.baseline) == 1  # the floor is the FIFO baseline's on the same seeds


def test_an_unreachable_floor_is_said_and_changes_nothing(config) -> None:
    tuner = Tuner(
        [("overloaded", scenario(**OVERLOADED), config)],
        seeds=[1],
        space=SMALL_SPACE,
        min_service_level=1.0,
    )
    start = current_settings(config)
    result = tuner.tune(start, passes=1)
    assert not result["feasible"] and result["best"] == start


def test_candidates_run_on_the_scenarios_own_overrides_and_the_setting_on_top(config) -> None:
    sc = scenario(**OVERLOADED)
    policies = policies_for(
        sc, {("overflow", "activate_ewt_s"): 120.0, ("routing", "strategy"): "skill_level"}
    )
    assert policies.services is not None and policies.services.hours == "always"
    assert policies.overflow == {"activate_ewt_s": 120.0, "deactivate_ewt_s": 60.0}
    assert policies.routing == {"strategy": "skill_level"}


def test_config_lines_say_what_changed_file_by_file(config) -> None:
    start = current_settings(config)
    best = {**start, ("overflow", "activate_ewt_s"): 300.0, ("appointments", "offer_above_ewt_s"): None}
    text = config_lines(best, start)
    assert "# config/overflow.yaml\noverflow:\n  activate_ewt_s: 300\n  deactivate_ewt_s: 150" in text
    assert "# config/appointments.yaml\nappointments:\n  offer_above_ewt_s: null" in text
    assert "routing" not in text
    assert set(start) == set(SPACE)


def test_acd_tune_prints_the_best_settings_as_json(tmp_path: Path, capsys) -> None:
    path = tmp_path / "day.yaml"
    path.write_text(
        "seed: 1\ncalls: 300\nhours: always\nservice_level_s: 60\n"
        "arrivals: [{skill: impot_revenu, rate_per_min: 12}]\n"
        "handle_time: {dist: exponential, mean_s: 60}\npatience: {dist: exponential, mean_s: 120}\n"
        "agents: [{count: 10, skills: {impot_revenu: 5}, site: lille}]\n"
        "callers: {accept_callback: 0.5}\n"
    )
    main(["tune", str(path), "--seeds", "1", "--passes", "1", "--max-runs", "6", "--json", "--no-progress"])
    out = json.loads(capsys.readouterr().out)
    assert out["runs"] <= 6 + 1  # the baseline's run, then candidates within the budget
    assert set(out["scenarios"][0]) >= {
        "best",
        "config",
        "fifo",
        "service_level_floor",
        "contact_gain_over_config",
    }
    assert "routing.callback_offer_ewt_s" in out["best"]


@pytest.mark.parametrize("args", [["--seeds", "0"], ["--min-service-level", "2"]])
def test_acd_tune_refuses_bad_options(tmp_path: Path, args: list[str]) -> None:
    path = tmp_path / "day.yaml"
    path.write_text("seed: 1\n")
    with pytest.raises(SystemExit) as info:
        main(["tune", str(path), *args])
    assert "acd:" in str(info.value)
