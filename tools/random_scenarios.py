"""Random scenarios played with `acd simulate --compare`: does acd's configuration ever make fewer
callers reach an agent, or the national line answer fewer itself, than a plain FIFO queue?

    python -m tools.random_scenarios 0 80                      # seeds 0-79, `config/` as shipped
    python -m tools.random_scenarios 100 160 --overflow '{"patience_share": 1.5}'

Each seed draws a small scenario (one to five skills, 5 to 40 agents with random skill sets and
levels, a load from 0.7 to 2 times the agents, handle times of 2, 5 or 10 minutes, patience of
1, 3 or 10 minutes, one to four hours, the calendar or always open, callers who take callbacks,
book appointments, redial, with none, half or all of their departments known, lunch-time
staffing sometimes) and plays it through `--compare` (acd runs `config/`, with `--overflow`'s
keys over `config/overflow.yaml` when given). It prints, per seed, FIFO's and acd's answer rates
and acd's contact rate, then how many scenarios answered fewer callers than FIFO on the national
line (by more than 0.2 point), how many reached fewer callers in all (acd's contact rate below
FIFO's answer rate: the outcome this project serves), and which. One seed is one run: a
scenario of a hundred calls moves by a few points from one seed to the next; play a scenario
found below again with other seeds (`seed:` in the file printed with `--keep DIR`) before
calling it a defect. Two runs at a time; a seed takes about a second.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

SKILLS = ["impot_revenu", "prelevement_source", "paiement", "espace_particulier", "lsf"]
SITES = ["lille", "lens", "pau", "brest", "lyon"]
REDIAL = {"share": 0.5, "delay": {"dist": "exponential", "mean_s": 600}}


def scenario(seed: int) -> dict[str, Any]:
    """The scenario of one seed (the draws of docs/simulator.md, "Overflow and the callers'
    patience": keep their order, or the seeds quoted there name other scenarios)."""
    r = random.Random(seed)
    n_skills = r.choice([1, 2, 3, 5])
    skills = r.sample(SKILLS, n_skills)
    agents = r.choice([5, 10, 20, 40])
    aht = r.choice([120, 300, 600])
    load = r.choice([0.7, 0.9, 1.0, 1.2, 1.5, 2.0])
    per_min = load * agents / (aht / 60)
    weights = [r.random() + 0.1 for _ in skills]
    total = sum(weights)
    shares = zip(skills, weights, strict=True)
    arrivals = [{"skill": s, "rate_per_min": round(per_min * w / total, 3)} for s, w in shares]
    groups: list[dict[str, Any]] = []
    left = agents
    while left > 0:
        count = min(left, r.randint(1, max(1, agents // 2)))
        left -= count
        held = r.sample(skills, r.randint(1, n_skills))
        groups.append({"count": count, "skills": {s: r.randint(1, 5) for s in held}, "site": r.choice(SITES)})
    covered = {s for g in groups for s in g["skills"]}
    for s in skills:
        if s not in covered:
            groups[0]["skills"][s] = 3
    sc: dict[str, Any] = {
        "seed": seed,
        "duration_s": r.choice([3600, 7200, 4 * 3600]),
        "hours": r.choice(["always", None]),
        "start": "2026-11-17T09:00:00+01:00",
        "service_level_s": 20,
        "arrivals": arrivals,
        "handle_time": {"dist": r.choice(["exponential", "lognormal"]), "mean_s": aht},
        "patience": {"dist": "exponential", "mean_s": r.choice([60, 180, 600])},
        "agents": groups,
        "policies": r.choice(["config", "config", None]),
        "callers": {
            "accept_callback": r.choice([0, 0.3, 0.8]),
            "answer_callback": r.choice([0.5, 0.85, 1.0]),
            "book_appointment": r.choice([0, 0.1, 0.5]),
            "department_share": r.choice([0, 0.5, 1.0]),
            **({"redial": REDIAL} if r.random() < 0.4 else {}),
        },
    }
    if sc["handle_time"]["dist"] == "lognormal":
        sc["handle_time"]["sd_s"] = aht * 0.8
    if sc["hours"] is None:
        del sc["hours"]
    if sc["policies"] is None:
        del sc["policies"]  # --compare then runs config/ too
    if r.random() < 0.3:
        sc["staffing"] = {"per_hour": {9: 0.6, 10: 1.0, 12: 0.5}}
    return sc


def play(sc: dict[str, Any], overflow: dict[str, Any] | None, folder: Path) -> dict[str, Any]:
    if overflow:
        policies = sc.get("policies")
        sc = {**sc, "policies": {**(policies if isinstance(policies, dict) else {}), "overflow": overflow}}
    path = folder / f"s{sc['seed']}.yaml"
    path.write_text(yaml.safe_dump(sc))
    done = subprocess.run(
        [sys.executable, "-m", "acd.cli", "simulate", str(path), "--compare", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"seed {sc['seed']}: acd simulate failed: {done.stderr.strip()[-400:]}")
    result = json.loads(done.stdout)
    return {"seed": sc["seed"], "fifo": result["baseline"], "acd": result["acd"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("first", type=int)
    parser.add_argument("end", type=int, help="the seed after the last")
    parser.add_argument("--overflow", type=json.loads, default=None, help="overflow keys over config/, JSON")
    parser.add_argument("--keep", type=Path, default=None, help="write the scenarios there")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        scenarios = [scenario(seed) for seed in range(args.first, args.end)]
        with ThreadPoolExecutor(2) as pool:
            runs = list(pool.map(lambda sc: play(sc, args.overflow, folder), scenarios))
    below, reached_fewer = [], []
    for run in runs:
        fifo, acd, contact = (
            run["fifo"]["answer_rate"],
            run["acd"]["answer_rate"],
            run["acd"]["contact_rate"],
        )
        flag, fewer_reached = acd < fifo - 0.002, contact < fifo - 0.002
        below += [(run["seed"], round(acd - fifo, 3))] if flag else []
        reached_fewer += [(run["seed"], round(contact - fifo, 3))] if fewer_reached else []
        print(
            f"seed {run['seed']:4d}: answer rate FIFO {fifo:.3f} acd {acd:.3f}, "
            f"contact {contact:.3f}, overflowed {run['acd']['overflowed']}"
            + ("  <- fewer than FIFO" if flag else "")
            + ("  <- fewer reach an agent" if fewer_reached else "")
        )
    n = len(runs)
    gain = sum(r["acd"]["answer_rate"] - r["fifo"]["answer_rate"] for r in runs) / n
    contact = sum(r["acd"]["contact_rate"] - r["fifo"]["answer_rate"] for r in runs) / n
    print(
        f"{n} scenarios: {len(below)} answered fewer callers than FIFO on the national line "
        f"{below}; {len(reached_fewer)} reached fewer callers in all (contact rate) {reached_fewer}; "
        f"mean answer rate {gain:+.4f}, contact {contact:+.4f} against FIFO; "
        f"{sum(r['acd']['overflowed'] for r in runs)} calls overflowed"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
