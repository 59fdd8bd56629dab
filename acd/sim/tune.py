"""`acd tune SCENARIO [SCENARIO ...]`: search acd's policy settings for the most callers reaching an
agent, under a service-level floor, across several days at once.

What is searched (`SPACE`): the callback offer threshold, the overflow threshold and its live
activation (deactivation at half of it: hysteresis), the appointment offer threshold and the
routing strategy. Every candidate runs every scenario on the same seeds (common random numbers:
the same callers, patience and handle times for every candidate, so that differences between
candidates are not sampling noise), with the scenario's `policies` (default `config`) and the
candidate's settings on top.

The objective is the mean `contact_rate` (answered by an agent of the national line or of a local
service) over the scenarios and seeds. A candidate is feasible when, on every scenario, its mean
service level is at least the floor: by default the FIFO baseline's on the same callers (a policy
that answers more callers by making each wait longer is not what the helpline wants), or
`--min-service-level`.

The search is coordinate descent: from the configuration's own settings, each setting in turn
takes the value that improves the objective most among its candidates, the others held; passes
repeat until one changes nothing (or `--passes`). It is not exhaustive, but each step is a
comparison on common random numbers, and the result is printed with 95 % confidence intervals over
the seeds (Student's t) and the lines to paste into `config/`.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from acd.config import Config
from acd.sim.loop import simulate
from acd.sim.report import report
from acd.sim.scenario_model import Policies, Scenario
from acd.sim.stats import t975

#: (section, key) -> the values tried. `None` for an appointment threshold: never offered.
SPACE: dict[tuple[str, str], list[Any]] = {
    ("routing", "callback_offer_ewt_s"): [15.0, 30.0, 60.0, 120.0, 300.0],
    ("overflow", "threshold_s"): [0.0, 15.0, 30.0, 60.0, 120.0, 300.0],
    ("overflow", "activate_ewt_s"): [30.0, 60.0, 120.0, 300.0, 600.0],
    ("appointments", "offer_above_ewt_s"): [30.0, 60.0, 120.0, 300.0, None],
    ("routing", "strategy"): ["longest_idle", "skill_level", "least_occupied", "fewest_skills"],
}
FILES = {"routing": "routing.yaml", "overflow": "overflow.yaml", "appointments": "appointments.yaml"}

Settings = dict[tuple[str, str], Any]


@dataclass
class Figures:
    """One candidate on one scenario: the figures of each seed."""

    contact: list[float] = field(default_factory=list)
    answer: list[float] = field(default_factory=list)
    service_level: list[float] = field(default_factory=list)

    def add(self, rep: dict[str, Any]) -> None:
        self.contact.append(rep["contact_rate"])
        self.answer.append(rep["answer_rate"])
        self.service_level.append(rep["service_level"])


def interval(values: list[float]) -> tuple[float, float]:
    """The mean and the half-width of its 95 % confidence interval (0 with one value)."""
    mean = statistics.fmean(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, t975(len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))


def current_settings(config: Config) -> Settings:
    out: Settings = {}
    for section, key in SPACE:
        out[(section, key)] = getattr(getattr(config, section), key)
    return out


def policies_for(scenario: Scenario, settings: Settings) -> Policies:
    """The scenario's own overrides with the candidate's on top."""
    base = scenario.policy_overrides()
    sections: dict[str, dict[str, Any]] = {
        "routing": dict(base.routing),
        "overflow": dict(base.overflow),
        "appointments": dict(base.appointments),
    }
    for (section, key), value in settings.items():
        sections[section][key] = value
    if ("overflow", "activate_ewt_s") in settings:
        sections["overflow"]["deactivate_ewt_s"] = settings[("overflow", "activate_ewt_s")] / 2
    return Policies(**sections, callbacks=dict(base.callbacks), services=base.services)


class Tuner:
    def __init__(
        self,
        scenarios: list[tuple[str, Scenario, Config]],
        *,
        seeds: list[int],
        min_service_level: float | None = None,
        space: dict[tuple[str, str], list[Any]] | None = None,
        progress: Callable[[float], None] | None = None,
        max_runs: int | None = None,
    ) -> None:
        self.scenarios = scenarios
        self.seeds = seeds
        self.space = space or SPACE
        self.progress = progress
        self.max_runs = max_runs
        self.runs = 0
        self._cache: dict[tuple, list[Figures]] = {}
        self._planned = 1
        self.floors = [min_service_level] * len(scenarios)
        self.baseline: list[Figures] = []
        self.min_service_level = min_service_level

    # -- runs

    def _run(self, scenario: Scenario, config: Config, seed: int, *, baseline: bool = False) -> dict:
        self.runs += 1
        rep = report(simulate(scenario, config, baseline=baseline, seed=seed))
        if self.progress is not None:
            self.progress(min(1.0, self.runs / self._planned))
        return rep

    def evaluate(self, settings: Settings) -> list[Figures]:
        key = tuple(sorted(settings.items(), key=lambda kv: kv[0]))
        if key not in self._cache:
            out = []
            for _, scenario, config in self.scenarios:
                figures = Figures()
                sc = scenario.model_copy(update={"policies": policies_for(scenario, settings)})
                for seed in self.seeds:
                    figures.add(self._run(sc, config, seed))
                out.append(figures)
            self._cache[key] = out
        return self._cache[key]

    def objective(self, figures: list[Figures]) -> float:
        return statistics.fmean(x for f in figures for x in f.contact)

    def feasible(self, figures: list[Figures]) -> bool:
        return all(
            statistics.fmean(f.service_level) >= floor - 1e-12
            for f, floor in zip(figures, self.floors, strict=True)
        )

    def _budget_left(self) -> bool:
        per_candidate = len(self.scenarios) * len(self.seeds)
        return self.max_runs is None or self.runs + per_candidate <= self.max_runs

    # -- the search

    def tune(self, start: Settings, passes: int = 2) -> dict[str, Any]:
        per_candidate = len(self.scenarios) * len(self.seeds)
        candidates = sum(len(v) for v in self.space.values())
        self._planned = per_candidate * (1 + candidates * passes)
        if self.min_service_level is None:
            self._planned += per_candidate
            for i, (_, scenario, config) in enumerate(self.scenarios):
                figures = Figures()
                for seed in self.seeds:
                    figures.add(self._run(scenario.with_policies(), config, seed, baseline=True))
                self.baseline.append(figures)
                self.floors[i] = statistics.fmean(figures.service_level)
        best = dict(start)
        best_figures = self.evaluate(best)
        start_figures = best_figures
        for _ in range(passes):
            changed = False
            for name, values in self.space.items():
                for value in values:
                    if value == best.get(name) or not self._budget_left():
                        continue
                    trial = {**best, name: value}
                    figures = self.evaluate(trial)
                    better = self.objective(figures) > self.objective(best_figures) + 1e-12
                    if self.feasible(figures) and (better or not self.feasible(best_figures)):
                        best, best_figures, changed = trial, figures, True
            if not changed:
                break
        if self.progress is not None:
            self.progress(1.0)
        return {
            "best": best,
            "best_figures": best_figures,
            "start": start,
            "start_figures": start_figures,
            "feasible": self.feasible(best_figures),
            "runs": self.runs,
        }


def _value(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def config_lines(best: Settings, start: Settings) -> str:
    """The YAML to paste into config/, for the settings that changed (all of them when none did)."""
    changed = {k: v for k, v in best.items() if start.get(k) != v} or best
    lines = []
    for section, file in FILES.items():
        keys = [(k, v) for (s, k), v in changed.items() if s == section]
        if ("overflow", "activate_ewt_s") in changed and section == "overflow":
            keys.append(("deactivate_ewt_s", changed[("overflow", "activate_ewt_s")] / 2))
        if keys:
            lines.append(f"# config/{file}")
            lines.append(f"{section}:")
            lines += [f"  {k}: {_value(v)}" for k, v in keys]
    return "\n".join(lines)


def result_json(tuner: Tuner, result: dict[str, Any]) -> dict[str, Any]:
    def figures(f: Figures) -> dict[str, Any]:
        out = {}
        for name, values in (
            ("contact_rate", f.contact),
            ("answer_rate", f.answer),
            ("service_level", f.service_level),
        ):
            mean, half = interval(values)
            out[name] = {"mean": round(mean, 5), "ci95": round(half, 5)}
        return out

    rows = []
    for i, (name, _, _) in enumerate(tuner.scenarios):
        row = {
            "scenario": name,
            "best": figures(result["best_figures"][i]),
            "config": figures(result["start_figures"][i]),
            "service_level_floor": round(tuner.floors[i], 5) if tuner.floors[i] is not None else None,
        }
        if tuner.baseline:
            row["fifo"] = figures(tuner.baseline[i])
        # paired over the seeds (the same callers): what the best settings gain over config/'s
        best_f, start_f = result["best_figures"][i], result["start_figures"][i]
        mean, half = interval([b - c for b, c in zip(best_f.contact, start_f.contact, strict=True)])
        row["contact_gain_over_config"] = {"mean": round(mean, 5), "ci95": round(half, 5)}
        rows.append(row)
    return {
        "best": {f"{s}.{k}": v for (s, k), v in result["best"].items()},
        "config": {f"{s}.{k}": v for (s, k), v in result["start"].items()},
        "feasible": result["feasible"],
        "seeds": tuner.seeds,
        "runs": result["runs"],
        "scenarios": rows,
        "config_lines": config_lines(result["best"], result["start"]),
    }


def result_text(out: dict[str, Any]) -> str:
    def cell(fig: dict[str, Any], key: str) -> str:
        return f"{100 * fig[key]['mean']:.1f} ±{100 * fig[key]['ci95']:.1f}"

    lines = [
        f"acd tune: {out['runs']} runs, seeds {out['seeds']} (common random numbers)",
        "",
        f"{'scenario':<28}{'policies':<10}{'contact %':>14}{'answer %':>14}{'service level %':>18}",
    ]
    for row in out["scenarios"]:
        for label in ("fifo", "config", "best"):
            if label in row:
                f = row[label]
                lines.append(
                    f"{row['scenario'][:27]:<28}{label:<10}{cell(f, 'contact_rate'):>14}"
                    f"{cell(f, 'answer_rate'):>14}{cell(f, 'service_level'):>18}"
                )
        gain = row["contact_gain_over_config"]
        lines.append(
            f"{'':<28}best - config, paired: contact {100 * gain['mean']:+.1f} "
            f"±{100 * gain['ci95']:.1f} points"
        )
        if row["service_level_floor"] is not None:
            lines.append(f"{'':<28}service-level floor {100 * row['service_level_floor']:.1f} %")
    lines += [
        "",
        "best settings" + ("" if out["feasible"] else " (NONE meets the service-level floor)") + ":",
    ]
    lines += [f"  {k}: {_value(v)}" for k, v in out["best"].items()]
    lines += ["", "to paste into config/ (what changed):", out["config_lines"]]
    return "\n".join(lines)
