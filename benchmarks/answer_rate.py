"""The answer rate acd's shipped policies give against a plain FIFO queue, on the shipped days.

    python -m benchmarks.answer_rate [--quick]

Runs `acd simulate SCENARIO --compare` (the same callers twice: a FIFO single queue, and acd with
`policies: config`) on the campaign-peak day, a tax-notice day and an ordinary day of
config/scenarios/, and writes benchmarks/results/answer_rate.json: per day and policy the answer
rate, the contact rate (an agent of the national line or of a local service), the service level,
abandonment and the expected wait's error. These are simulated figures for the scenarios' seeds,
deterministic for a revision: not timings. The bars are issue 13's: on the peak day a contact rate
of at least 85 % and 3 points above FIFO with a service level not below FIFO's; on the other days
acd answering at least as many callers as FIFO; and on every day, every skill's answer rate at
least FIFO's and as many of its callers answered by the national line as under FIFO (a count: a
rate over offered calls hides fewer callers answered when FIFO's callers redial more). `--quick`
runs the peak day alone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from benchmarks._common import ROOT, log, run_metadata, write_results

DAYS = ("campaign-peak-day", "tax-notice-day", "ordinary-day")
FIELDS = (
    "offered",
    "answered",
    "answer_rate",
    "contact_rate",
    "service_level",
    "p_abandon",
    "mean_wait_s",
    "mean_hold_s",
    "asa_direct_s",
    "overflowed",
)


def _figures(rep: dict[str, Any]) -> dict[str, Any]:
    out = {k: rep[k] for k in FIELDS}
    out["callbacks_answered"] = rep["callbacks"]["answered"]
    out["ewt_mae_s"] = rep["ewt_accuracy"]["mae_s"]
    out["ewt_bias_s"] = rep["ewt_accuracy"]["bias_s"]
    out["by_skill"] = {
        skill: {k: s[k] for k in ("offered", "answered", "answer_rate", "contact_rate", "overflowed")}
        for skill, s in rep["by_skill"].items()
    }
    return out


def worst_skill(fifo: dict[str, Any], acd: dict[str, Any]) -> tuple[str, float]:
    """The skill whose answer rate acd moves least above FIFO's (or most below), and by how much."""
    gaps = {
        skill: acd["by_skill"][skill]["answer_rate"] - s["answer_rate"]
        for skill, s in fifo["by_skill"].items()
        if skill in acd["by_skill"]
    }
    skill = min(gaps, key=gaps.__getitem__)
    return skill, gaps[skill]


def least_margin(fifo: dict[str, Any], acd: dict[str, Any]) -> tuple[str, int, int]:
    """The skill whose callers the national line answers least more often under acd than under
    FIFO (or most less often), as counts: `answer_rate` divides by the calls offered, redials
    included, and FIFO's callers, answered less, call again more: a rate can be above FIFO's while
    fewer callers are answered. (skill, FIFO's answered, acd's answered)."""
    margins = {
        skill: (acd["by_skill"][skill]["answered"] - s["answered"]) / max(1, s["answered"])
        for skill, s in fifo["by_skill"].items()
        if skill in acd["by_skill"]
    }
    skill = min(margins, key=margins.__getitem__)
    return skill, fifo["by_skill"][skill]["answered"], acd["by_skill"][skill]["answered"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.answer_rate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="the campaign-peak day alone")
    args = parser.parse_args(argv)
    from acd.sim.compare import compare
    from acd.sim.scenario import load_scenario

    results: dict[str, Any] = {"meta": run_metadata(), "days": {}}
    for day in DAYS[:1] if args.quick else DAYS:
        scenario, config = load_scenario(ROOT / "config" / "scenarios" / f"{day}.yaml")
        log(f"{day}: FIFO and acd on the same callers")
        both = compare(scenario, config)
        fifo, acd = _figures(both["baseline"]), _figures(both["acd"])
        results["days"][day] = {"seed": scenario.seed, "fifo": fifo, "acd": acd}
        log(
            f"  answer {100 * fifo['answer_rate']:.1f} % -> {100 * acd['answer_rate']:.1f} %, contact "
            f"{100 * fifo['contact_rate']:.1f} % -> {100 * acd['contact_rate']:.1f} %, service level "
            f"{100 * fifo['service_level']:.1f} % -> {100 * acd['service_level']:.1f} %"
        )
    peak = results["days"]["campaign-peak-day"]
    results["bars"] = {
        "peak_contact_at_least_85": peak["acd"]["contact_rate"] >= 0.85,
        "peak_contact_3_points_above_fifo": peak["acd"]["contact_rate"]
        >= peak["fifo"]["contact_rate"] + 0.03,
        "peak_service_level_not_below_fifo": peak["acd"]["service_level"] >= peak["fifo"]["service_level"],
        "every_day_answers_at_least_fifo": all(
            d["acd"]["answer_rate"] >= d["fifo"]["answer_rate"] for d in results["days"].values()
        ),
        # a policy that answers one skill's callers less than FIFO does is a bug for those callers:
        # its rate, and its count of callers answered (a rate hides fewer callers answered when
        # FIFO's unanswered callers redial more)
        "every_skill_answers_at_least_fifo": all(
            worst_skill(d["fifo"], d["acd"])[1] >= 0
            and least_margin(d["fifo"], d["acd"])[2] >= least_margin(d["fifo"], d["acd"])[1]
            for d in results["days"].values()
        ),
        # the callers who hold the line wait no longer than under FIFO (a callback's delay is not
        # time on hold: mean_hold_s, acd/sim/stats.py)
        "every_day_holds_no_longer_than_fifo": all(
            d["acd"]["mean_hold_s"] <= d["fifo"]["mean_hold_s"] for d in results["days"].values()
        ),
    }
    path = write_results("answer_rate", results, quick=args.quick)
    print(json.dumps(results["bars"]))
    log(f"results written to {os.path.relpath(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
