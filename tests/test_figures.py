"""The README's figures are the recorded results: tools/figures.py writes the table from
benchmarks/results/*.json, and these tests fail when README.md says anything else."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tools import figures

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_table_is_what_the_recorded_results_say() -> None:
    block = figures.readme_block((ROOT / "README.md").read_text())
    assert block is not None, "README.md lost its figures markers"
    assert block == figures.render(), "README.md's figures are stale: run python -m tools.figures --write"


def test_a_changed_result_changes_the_table(tmp_path: Path) -> None:
    """The check above can fail: a result that moves makes a table that is not the README's."""
    results = tmp_path / "results"
    shutil.copytree(figures.RESULTS, results)
    http = json.loads((results / "http.json").read_text())
    http["summary"]["latency_p99_ms"] += 1.0
    (results / "http.json").write_text(json.dumps(http))
    assert figures.render(results) != figures.readme_block((ROOT / "README.md").read_text())


def test_each_row_names_its_result_file_and_revision() -> None:
    rows = [line for line in figures.render().splitlines() if line.startswith("| ") and "---" not in line]
    for row in rows[1:]:
        assert ".json` @ " in row or "missing" in row, row


def test_quick_runs_never_write_over_a_recorded_result() -> None:
    from benchmarks._common import RESULTS_DIR, results_path

    assert results_path("http", quick=False) == RESULTS_DIR / "http.json"
    assert results_path("http", quick=True).parent == RESULTS_DIR / "quick"


def test_a_skill_acd_answers_less_than_fifo_is_shown_not_met(tmp_path: Path) -> None:
    """The per-skill row can fail: sign-language callers sent to offices without an interpreter
    (the shipped services before they left out `lsf`) answered below FIFO."""
    results = tmp_path / "results"
    shutil.copytree(figures.RESULTS, results)
    rates = json.loads((results / "answer_rate.json").read_text())
    peak = rates["days"]["campaign-peak-day"]
    peak["fifo"]["by_skill"]["lsf"]["answer_rate"] = 0.734
    peak["acd"]["by_skill"]["lsf"]["answer_rate"] = 0.569
    (results / "answer_rate.json").write_text(json.dumps(rates))
    [row] = [r for r in figures.render(results).splitlines() if "campaign-peak-day, the skill" in r]
    assert "(lsf)" in row and "73.4 % -> 56.9 %" in row and "**not met**" in row


def test_a_skill_whose_callers_acd_answers_fewer_than_fifo_is_shown_not_met(tmp_path: Path) -> None:
    """The count row can fail: at overflow.threshold_s 30 the national line answered fewer
    paiement callers than FIFO (11,347 against 11,740) while its rate was above FIFO's."""
    results = tmp_path / "results"
    shutil.copytree(figures.RESULTS, results)
    rates = json.loads((results / "answer_rate.json").read_text())
    peak = rates["days"]["campaign-peak-day"]
    peak["fifo"]["by_skill"]["paiement"]["answered"] = 11740
    peak["acd"]["by_skill"]["paiement"]["answered"] = 11347
    (results / "answer_rate.json").write_text(json.dumps(rates))
    [row] = [r for r in figures.render(results).splitlines() if "campaign-peak-day: the skill" in r]
    assert "(paiement)" in row and "11,740 -> 11,347" in row and "**not met**" in row


def test_callers_holding_the_line_longer_than_under_fifo_is_shown_not_met(tmp_path: Path) -> None:
    """The hold row can fail: a policy that makes callers hold longer than FIFO does (here the
    peak day's figures swapped) is shown not met."""
    results = tmp_path / "results"
    shutil.copytree(figures.RESULTS, results)
    rates = json.loads((results / "answer_rate.json").read_text())
    peak = rates["days"]["campaign-peak-day"]
    peak["fifo"]["mean_hold_s"], peak["acd"]["mean_hold_s"] = 22.0, 61.0
    (results / "answer_rate.json").write_text(json.dumps(rates))
    [row] = [r for r in figures.render(results).splitlines() if "held the line, campaign-peak-day" in r]
    assert "22 s -> 61 s" in row and "**not met**" in row
