"""`acd simulate` and `acd staff` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from acd.cli import main

SCENARIO = """\
name: cli
seed: 1
calls: 600
hours: always
warmup_calls: 50
arrivals:
  - {skill: impot_revenu, rate_per_min: 8}
handle_time: {dist: exponential, mean_s: 60}
patience: {dist: exponential, mean_s: 120}
agents:
  - {count: 10, skills: {impot_revenu: 5}, site: lille}
"""


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "cli.yaml"
    path.write_text(SCENARIO)
    return path


def test_simulate_json_prints_one_object_with_the_contract_report(scenario_file: Path, capsys) -> None:
    main(["simulate", str(scenario_file), "--json"])
    out = capsys.readouterr().out
    rep = json.loads(out)  # one object, nothing else on stdout
    assert rep["offered"] == 550 and rep["by_skill"]["impot_revenu"]["offered"] == 550
    assert rep["wall_s"] > 0


def test_simulate_prints_a_readable_table(scenario_file: Path, capsys) -> None:
    main(["simulate", str(scenario_file), "--seed", "3"])
    out = capsys.readouterr().out
    assert "seed 3" in out and "impot_revenu" in out and "offered" in out


def test_simulate_compare_shows_baseline_and_acd_side_by_side(scenario_file: Path, capsys) -> None:
    main(["simulate", str(scenario_file), "--compare"])
    out = capsys.readouterr().out
    assert "FIFO: all" in out and "acd: all" in out


def test_a_bad_scenario_exits_with_the_file_and_line(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SCENARIO.replace("rate_per_min: 8", "rate_per_minute: 8"))
    with pytest.raises(SystemExit) as info:
        main(["simulate", str(path)])
    assert f"{path}:7: arrivals[0].rate_per_minute: unknown key 'rate_per_minute'" in str(info.value)
    assert "did you mean 'rate_per_min'?" in str(info.value)


@pytest.mark.parametrize("start", ["9999-12-31T08:30:00+01:00", "1970-01-05T08:30:00+01:00"])
def test_a_start_outside_the_calendar_s_years_is_a_bad_scenario(tmp_path: Path, start: str) -> None:
    """Year 9999 ran into an OverflowError traceback at the first call (the day's figures past
    the last date); 1970 ran a day the calendar cannot reason about (closed, no next opening)."""
    path = tmp_path / "far.yaml"
    path.write_text(SCENARIO.replace("hours: always\n", f'start: "{start}"\n'))
    with pytest.raises(SystemExit) as info:
        main(["simulate", str(path)])
    assert f"{path}:4: start:" in str(info.value) and "2000 to 2099" in str(info.value)


def test_arrivals_so_rare_that_the_clock_runs_past_the_calendar_stop_with_a_clear_message(
    tmp_path: Path,
) -> None:
    """Five calls at 1e-10 a minute are centuries apart: the run reached year 10772 and died in
    a ValueError traceback. It stops with what went wrong and what to change."""
    path = tmp_path / "rare.yaml"
    path.write_text(
        SCENARIO.replace("calls: 600", "calls: 5")
        .replace("warmup_calls: 50", "warmup_calls: 0")
        .replace("rate_per_min: 8", "rate_per_min: 0.0000000001")
    )
    with pytest.raises(SystemExit) as info:
        main(["simulate", str(path), "--json"])
    message = str(info.value)
    assert "2200-01-01" in message and "rate" in message


def test_staff_gives_erlang_c_erlang_a_and_the_simulators_answer(capsys) -> None:
    main(
        [
            "staff",
            "--rate-per-min",
            "8",
            "--aht-s",
            "60",
            "--patience-s",
            "120",
            "--service-level",
            "0.8",
            "--calls",
            "2000",
            "--json",
        ]
    )
    res = json.loads(capsys.readouterr().out)
    assert res["erlang_c"]["n"] >= res["erlang_a"]["n"] >= 9
    assert res["erlang_c"]["service_level"] >= 0.8 and res["erlang_a"]["service_level"] >= 0.8
    assert abs(res["simulator"]["n"] - res["erlang_a"]["n"]) <= 2


def test_staff_for_an_answer_rate_target_prints_a_table(capsys) -> None:
    main(
        [
            "staff",
            "--rate-per-min",
            "20",
            "--aht-s",
            "60",
            "--patience-s",
            "60",
            "--answer-rate",
            "0.85",
            "--calls",
            "0",
        ]
    )
    out = capsys.readouterr().out
    assert "Erlang C" in out and "Erlang A" in out and "answer rate 85%" in out


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ("seed: 1", "seed: -1", ":2: seed: Input should be greater than or equal to 0"),
        (
            "handle_time: {dist: exponential, mean_s: 60}",
            "handle_time: {dist: lognormal, mean_s: 1.0e-300, sd_s: 1.0e+300}",
            ":8: handle_time.sd_s: Input should be less than or equal to 1000000000",
        ),
        (
            "handle_time: {dist: exponential, mean_s: 60}",
            "handle_time: {dist: exponential, mean_s: 1.0e+308}",
            ":8: handle_time.mean_s: Input should be less than or equal to 1000000000",
        ),
        (
            "patience: {dist: exponential, mean_s: 120}",
            "patience: {dist: lognormal, mean_s: 1.0e-300, sd_s: 1.0e+9}",
            ":9: patience: sd_s (1e+09) is more than 1000 times mean_s (1e-300)",
        ),
        ("rate_per_min: 8", "rate_per_min: 0", ":6: arrivals: every stream has a rate of 0"),
        ("rate_per_min: 8", "per_hour: {9: 100}, scale: 0", ":6: arrivals: every stream has a rate of 0"),
    ],
)
def test_an_absurd_scenario_is_a_bad_scenario_not_a_traceback(
    tmp_path: Path, old: str, new: str, fragment: str
) -> None:
    """Before: a negative seed died in numpy's SeedSequence (ValueError traceback), a lognormal
    with an absurd spread in an OverflowError traceback, a mean of 1e308 s overflowed numpy's draws
    (a RuntimeWarning, then a message blaming the rates), and arrivals that are all at a rate of 0
    ran no call at all and printed an empty report with exit status 0."""
    path = tmp_path / "absurd.yaml"
    assert old in SCENARIO
    path.write_text(SCENARIO.replace(old, new))
    with pytest.raises(SystemExit) as info:
        main(["simulate", str(path), "--json"])
    message = str(info.value)
    assert "bad scenario" in message and f"{path}{fragment}" in message, message


def test_a_negative_seed_on_the_command_line_is_refused_with_a_message(scenario_file: Path) -> None:
    """Before: `--seed -1` died in numpy's SeedSequence, a ValueError traceback."""
    with pytest.raises(SystemExit) as info:
        main(["simulate", str(scenario_file), "--seed", "-1"])
    assert "--seed" in str(info.value) and "0 or more" in str(info.value)


def test_calls_on_the_command_line_keep_the_scenario_s_warm_up(scenario_file: Path, capsys) -> None:
    """`--calls` overrides `calls`, and nothing else. Before: it also cut `warmup_calls` to a tenth
    of the calls (here 50 to 40), silently measuring calls the scenario excludes as warm-up."""
    main(["simulate", str(scenario_file), "--json", "--calls", "400"])
    rep = json.loads(capsys.readouterr().out)
    assert rep["warmup_calls"] == 50 and rep["arrivals"] == 400 and rep["offered"] == 350


def test_calls_on_the_command_line_below_the_warm_up_cut_it_and_say_so(scenario_file: Path, capsys) -> None:
    main(["simulate", str(scenario_file), "--json", "--calls", "50"])
    captured = capsys.readouterr()
    rep = json.loads(captured.out)
    assert rep["warmup_calls"] == 5 and rep["offered"] == 45
    assert "warmup_calls (50): warm-up cut to 5 calls" in captured.err


def test_staff_with_a_handle_time_past_the_scenarios_bound_is_refused_with_a_message() -> None:
    """Durations are bounded in scenarios (1e9 s): `acd staff --aht-s 2e9` built a scenario past
    the bound and died in a ScenarioError traceback."""
    with pytest.raises(SystemExit) as info:
        main(["staff", "--rate-per-min", "1", "--aht-s", "2e9", "--service-level", "0.8", "--calls", "0"])
    assert "--aht-s" in str(info.value) and "at most 1e+09 seconds" in str(info.value)


STAFF = ["staff", "--rate-per-min", "48", "--aht-s", "60", "--calls", "0"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--rate-per-min", "nan", "--answer-rate", "0.85"], "--rate-per-min"),
        (["--rate-per-min", "inf", "--answer-rate", "0.85"], "--rate-per-min"),
        (["--aht-s", "nan", "--answer-rate", "0.85"], "--aht-s"),
        (["--patience-s", "nan", "--answer-rate", "0.85"], "--patience-s"),
        (["--service-level", "0.8", "--threshold-s", "-5"], "--threshold-s"),
        (["--service-level", "0.8", "--threshold-s", "nan"], "--threshold-s"),
        (["--answer-rate", "0.85", "--handle-dist", "lognormal", "--handle-sd-s", "0"], "--handle-sd-s"),
        (["--answer-rate", "0.85", "--handle-dist", "lognormal", "--handle-sd-s", "-1"], "--handle-sd-s"),
        (["--answer-rate", "0.85", "--handle-sd-s", "5"], "--handle-sd-s"),
        (["--answer-rate", "0.85", "--calls", "100", "--seed", "-1"], "--seed"),
        (["--answer-rate", "0.85", "--calls", "-5"], "--calls"),
        (["--answer-rate", "0.85", "--calls", "1000000000000"], "cannot be simulated"),
        (["--rate-per-min", "1e300", "--answer-rate", "0.85"], "Erlangs"),
    ],
)
def test_staff_refuses_bad_numbers_with_a_message_not_a_traceback_or_a_hang(
    args: list[str], fragment: str
) -> None:
    """Before: NaN and infinite rates died in a ValueError or OverflowError traceback in
    acd/sim/erlang.py; a NaN handle time, a lognormal spread of 0 or below and a negative seed in
    a ScenarioError traceback; more calls than the calendar holds in a SimulationError traceback;
    a NaN patience, a negative or NaN threshold, a spread without lognormal and negative calls
    were taken and printed figures for them; a rate of 1e300 a minute searched for ever."""
    with pytest.raises(SystemExit) as info:
        main([*STAFF, *args])
    message = info.value.code
    assert isinstance(message, str) and message.startswith("acd: ") and fragment in message, message
