"""Routing decision cost: the numba router against the plain-Python reference.

    python -m benchmarks.router [--quick] [--json] [--seed N]

The floor: 800 agents x 32 skills, 200 calls waiting. A stress mix, on purpose on the heavy side
for the kernels (every AVAILABLE agent holding the call's skills is a candidate to compare):
half the floor AVAILABLE, 28 % BUSY, 8 % WRAP_UP, 2 % RESERVED, 7 % PAUSED, 5 % LOGGED_OUT. Each
agent holds 3-8 skills (popular skills more often) at levels 1-5 and has a 4-hour history of
random states, so occupancies differ. Calls: skills by popularity, 30 % with one extra need,
priorities mostly 0, waiting up to 10 minutes, 5 % with a preferred agent still reserved; half
the skills widen (level >= 3, >= 2 after 30 s, any after 90 s).

pick_agent is timed for each strategy over every waiting call in turn, pick_call over every
AVAILABLE agent in turn. Decisions do not change the router, so every repetition sees the same
floor. Each decision is timed alone with perf_counter_ns (the timer's own cost, reported, is
included); decisions per second come from a separate untimed loop.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from acd.model import AgentState, Strategy
from acd.routing import NumbaRouter, ReferenceRouter, Router, warm_up
from benchmarks._common import log, run_metadata, write_results

N_AGENTS, N_SKILLS, N_CALLS = 800, 32, 200
NOW = 1_772_442_000.0  # a Monday morning, 2026 (realistic epoch magnitudes for the float rules)
STATE_MIX = {
    AgentState.AVAILABLE: 0.50,
    AgentState.BUSY: 0.28,
    AgentState.WRAP_UP: 0.08,
    AgentState.RESERVED: 0.02,
    AgentState.PAUSED: 0.07,
    AgentState.LOGGED_OUT: 0.05,
}
MEDIAN_BAR_US = 5.0
SPEEDUP_BAR = 50.0


def build_floor(routers: list[Router], seed: int) -> tuple[list[int], list[int]]:
    """Fill every router with the same floor; returns the waiting call rows and available agents."""
    rng = random.Random(seed)
    popularity = [1.0 / (1 + s) ** 0.8 for s in range(N_SKILLS)]
    states, weights = list(STATE_MIX), list(STATE_MIX.values())
    history_states = [AgentState.AVAILABLE, AgentState.BUSY, AgentState.WRAP_UP, AgentState.PAUSED]
    for _ in range(N_AGENTS):
        skills: set[int] = set()
        target = rng.randint(3, 8)
        while len(skills) < target:
            skills.add(rng.choices(range(N_SKILLS), popularity)[0])
        levels = {s: rng.choices([1, 2, 3, 4, 5], [1, 3, 4, 2, 1])[0] for s in skills}
        t = NOW - 4 * 3600.0
        rows = [r.add_agent(levels, rng.randrange(12), AgentState.AVAILABLE, t) for r in routers]
        final = rng.choices(states, weights)[0]
        while True:
            t += rng.expovariate(1 / 240.0)
            if t >= NOW - 5.0:
                break
            state = rng.choice(history_states)
            for r, row in zip(routers, rows, strict=True):
                r.set_agent_state(row, state, t)
        t = NOW - rng.uniform(0.0, 5.0)
        for r, row in zip(routers, rows, strict=True):
            r.set_agent_state(row, final, t)
    call_rows = []
    for seq in range(N_CALLS):
        skill = rng.choices(range(N_SKILLS), popularity)[0]
        needs = [rng.choices(range(N_SKILLS), popularity)[0]] if rng.random() < 0.3 else []
        priority = 0 if rng.random() < 0.8 else rng.randint(1, 9)
        enqueued_at = NOW - rng.uniform(0.0, 600.0)
        pref, until = -1, 0.0
        if rng.random() < 0.05:
            pref, until = rng.randrange(N_AGENTS), NOW + rng.uniform(1.0, 60.0)
        rows = {r.add_call(skill, needs, priority, seq, enqueued_at, pref, until) for r in routers}
        assert len(rows) == 1
        call_rows.append(rows.pop())
    available = [a for a in range(N_AGENTS) if routers[0].agent_state(a) is AgentState.AVAILABLE]
    return call_rows, available


def widening(seed: int) -> list[list[tuple[float, int]]]:
    return [[(0.0, 3), (30.0, 2), (90.0, 1)] if s % 2 == 0 else [(0.0, 1)] for s in range(N_SKILLS)]


def timer_overhead_ns(n: int = 100_000) -> float:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(n):
        t0 = clock()
        samples.append(clock() - t0)
    return statistics.median(samples)


def measure(decide: Callable[[int, float], int], args: list[int], reps: int) -> dict[str, float]:
    clock = time.perf_counter_ns
    n_args = len(args)
    for i in range(min(reps, 2 * n_args)):  # warm caches, branch predictors
        decide(args[i % n_args], NOW)
    samples = []
    for i in range(reps):
        arg = args[i % n_args]
        t0 = clock()
        decide(arg, NOW)
        samples.append(clock() - t0)
    t0 = clock()
    for i in range(reps):
        decide(args[i % n_args], NOW)
    elapsed = clock() - t0
    samples.sort()
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "decisions": reps,
        "per_second": round(reps / (elapsed / 1e9)),
        "median_us": round(statistics.median(samples) / 1e3, 3),
        "p90_us": round(q[89] / 1e3, 3),
        "p99_us": round(q[98] / 1e3, 3),
    }


def run(quick: bool, seed: int) -> dict[str, Any]:
    first = warm_up()  # in a fresh process: compilation, or loading the on-disk cache
    again = warm_up()
    routers: dict[str, Router] = {
        "numba": NumbaRouter(N_SKILLS, Strategy.LONGEST_IDLE, widening(seed)),
        "reference": ReferenceRouter(N_SKILLS, Strategy.LONGEST_IDLE, widening(seed)),
    }
    build_start = time.perf_counter()
    call_rows, available = build_floor(list(routers.values()), seed)
    build_s = time.perf_counter() - build_start
    reps = {"numba": 20_000 if quick else 200_000, "reference": 400 if quick else 4_000}
    results: dict[str, Any] = {}
    for name, router in routers.items():
        for strategy in Strategy:
            router.strategy = strategy
            key = f"pick_agent/{strategy.name.lower()}"
            results.setdefault(key, {})[name] = measure(router.pick_agent, call_rows, reps[name])
        router.strategy = Strategy.LONGEST_IDLE
        results.setdefault("pick_call", {})[name] = measure(router.pick_call, available, reps[name])
    for figures in results.values():
        figures["speedup"] = round(figures["reference"]["median_us"] / figures["numba"]["median_us"], 1)
    worst_median = max(f["numba"]["median_us"] for f in results.values())
    worst_speedup = min(f["speedup"] for f in results.values())
    agreement = check_agreement(routers, call_rows, available)
    return {
        "floor": {
            "agents": N_AGENTS,
            "skills": N_SKILLS,
            "calls_waiting": N_CALLS,
            "agents_available": len(available),
            "build_s": round(build_s, 3),
        },
        "warm_up": {
            "first_s": round(first["seconds"], 4),
            "cache_used": first["cache_hits"] > 0 and first["cache_misses"] == 0,
            "cache_hits": first["cache_hits"],
            "compilations": first["cache_misses"],
            "second_s": round(again["seconds"], 6),
        },
        "timer_overhead_us": round(timer_overhead_ns() / 1e3, 3),
        "decisions": results,
        "agreement": agreement,
        "bars": {
            "median_us": MEDIAN_BAR_US,
            "speedup": SPEEDUP_BAR,
            "worst_numba_median_us": worst_median,
            "worst_speedup": worst_speedup,
            "median_met": worst_median <= MEDIAN_BAR_US,
            "speedup_met": worst_speedup >= SPEEDUP_BAR,
        },
        "quick": quick,
        "seed": seed,
    }


def check_agreement(routers: dict[str, Router], call_rows: list[int], available: list[int]) -> bool:
    """Both routers take the same decisions on the benchmark floor (a sanity check, not a test)."""
    numba, reference = routers["numba"], routers["reference"]
    for strategy in Strategy:
        numba.strategy = reference.strategy = strategy
        if any(numba.pick_agent(c, NOW) != reference.pick_agent(c, NOW) for c in call_rows):
            return False
    return all(numba.pick_call(a, NOW) == reference.pick_call(a, NOW) for a in available)


def render(report: dict[str, Any]) -> str:
    floor, warm, bars = report["floor"], report["warm_up"], report["bars"]
    lines = [
        f"router benchmark: {floor['agents']} agents x {floor['skills']} skills, "
        f"{floor['calls_waiting']} calls waiting, {floor['agents_available']} agents available"
        + (" (quick)" if report["quick"] else ""),
        f"JIT warm-up: {warm['first_s']:.3f} s "
        + (
            "(loaded from the on-disk cache)"
            if warm["cache_used"]
            else f"({warm['compilations']} kernels compiled, cache now written)"
        )
        + f"; warm again: {warm['second_s'] * 1e6:.0f} us",
        f"timer overhead per sample: {report['timer_overhead_us'] * 1e3:.0f} ns (included below)",
        "",
        f"{'decision':<28}{'router':<11}{'decisions/s':>13}{'median us':>11}{'p90 us':>10}"
        f"{'p99 us':>10}{'speed-up':>10}",
    ]
    for decision, figures in report["decisions"].items():
        for name in ("numba", "reference"):
            f = figures[name]
            speedup = f"{figures['speedup']:.0f}x" if name == "numba" else ""
            lines.append(
                f"{decision:<28}{name:<11}{f['per_second']:>13,.0f}{f['median_us']:>11.2f}"
                f"{f['p90_us']:>10.2f}{f['p99_us']:>10.2f}{speedup:>10}"
            )
    lines += [
        "",
        f"both routers decide alike on this floor: {'yes' if report['agreement'] else 'NO'}",
        f"bar: numba median <= {bars['median_us']:.0f} us: "
        f"{'met' if bars['median_met'] else 'NOT met'} (worst {bars['worst_numba_median_us']:.2f} us)",
        f"bar: >= {bars['speedup']:.0f}x the reference (medians): "
        f"{'met' if bars['speedup_met'] else 'NOT met'} (worst {bars['worst_speedup']:.0f}x)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.router", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short run for CI (well under 30 s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    meta = run_metadata()
    report = {"meta": meta, **run(args.quick, args.seed)}
    path = write_results("router", report, quick=args.quick)
    print(json.dumps(report, indent=2) if args.json else render(report))
    log(f"results written to {os.path.relpath(path)}")
    return 0 if report["agreement"] else 1


if __name__ == "__main__":
    sys.exit(main())
