"""The simulator's speed: acd's engine against Ciw and SimPy on the same queue, whole processes.

    python -m benchmarks.sim [--quick] [--json] [--seed N] [--calls N] [--repeat N] [--no-peak]

The queue: M/M/50+M (48 calls/min, exponential handle time 60 s, exponential patience 120 s,
50 agents), `calls` callers (100,000; 10,000 with --quick), the first 5 % as warm-up. Each tool
runs it as a separate process, timed from spawn to exit (interpreter start-up, imports and, for
acd, loading the numba kernels from their on-disk cache are included; the cache is filled by an
untimed `warm_up()` first, as "cached JIT allowed" says, and acd's bytecode compiled, as the
peers' is by pip when it installs them). All three simulate the same number of
callers of the same model, so their estimates have the same statistical accuracy; each is shown
against the Erlang A closed form.

- acd: `python -m acd simulate config/scenarios/mm50m.yaml --json`: the service's engine and
  numba router, events in, decisions and commands out (benchmarks measure the real thing).
- Ciw: benchmarks/sim_ciw.py. SimPy: benchmarks/sim_simpy.py (process per caller).

Then the national campaign-peak day (config/scenarios/campaign-peak-day.yaml: 797 agents at the
20 sites, about 90,000 calls in the day, callbacks, overflow and appointments): its wall time and
answer rate. Figures are reported, not asserted: the reader judges (the bars are in the README).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._common import ROOT, log, run_metadata, write_results

LAM, MU, THETA, N, SL_S = 48 / 60, 1 / 60, 1 / 120, 50, 20.0
MM50M = ROOT / "config" / "scenarios" / "mm50m.yaml"
PEAK = ROOT / "config" / "scenarios" / "campaign-peak-day.yaml"
METRICS = ("p_wait", "p_abandon", "mean_wait_s", "service_level")


#: acd's runs: on the hot modules' compiled twins when `acd compile` could build them (as a
#: deployment that compiles runs), and on the source (ACD_COMPILED=0), as a fresh install runs.
ACD_RUNS = {"acd": {}, "acd_source": {"ACD_COMPILED": "0"}}


def _process(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, dict[str, Any]]:
    """Run a whole process; its wall time (spawn to exit) and the JSON object it printed."""
    started = time.perf_counter()
    done = subprocess.run(
        argv, cwd=ROOT, capture_output=True, text=True, check=False, env={**os.environ, **(env or {})}
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    return wall, json.loads(done.stdout)


def _compile(py: str) -> bool:
    """`acd compile` (untimed, as the numba cache is filled): whether acd's hot modules then run
    compiled (acd/compiled.py). Without Cython or a C compiler, acd runs on its source and the
    report says so."""
    log("compiling acd's hot modules with Cython (untimed)")
    done = subprocess.run([py, "-m", "acd", "compile"], cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:  # it checks that every hot module then imports its compiled twin
        log(f"acd compile failed, acd runs on its source: {done.stderr.strip()[-500:]}")
        return False
    return True


def _peak(py: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    wall, rep = _process([py, "-m", "acd", "simulate", str(PEAK), "--json", "--no-progress"], env)
    return {
        "process_wall_s": wall,
        "loop_wall_s": rep["wall_s"],
        "offered": rep["offered"],
        "answered": rep["answered"],
        "answer_rate": rep["answer_rate"],
        "service_level": rep["service_level"],
        "overflowed": rep["overflowed"],
        "callbacks": rep["callbacks"],
        "agents": 797,
        "engine_events": rep["engine_events"],
    }


def _theory() -> dict[str, float]:
    from acd.sim.erlang import erlang_a

    fig = erlang_a(N, LAM, MU, THETA, SL_S)
    return {m: getattr(fig, m) for m in METRICS}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sim", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10,000 calls (CI)")
    parser.add_argument("--calls", type=int, help="callers per run (default 100,000; 10,000 with --quick)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-peak", action="store_true", help="skip the campaign-peak day")
    parser.add_argument(
        "--repeat", type=int, help="rounds of the three tools, interleaved (default 3; 1 with --quick)"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    args = parser.parse_args(argv)
    calls = args.calls or (10_000 if args.quick else 100_000)
    warmup = calls // 20
    py = sys.executable

    log("filling the numba cache and compiling acd's bytecode (untimed)")
    subprocess.run([py, "-c", "from acd.routing import warm_up; warm_up()"], cwd=ROOT, check=True)
    # Ciw and SimPy run from bytecode pip compiled when it installed them; acd, installed in
    # place (`pip install -e .`), has none where PYTHONDONTWRITEBYTECODE is set (as on these
    # machines), and each run would compile its modules from source again (0.1 s). Compiled here
    # as any regular install (`pip install .`, the Docker image) has them; stale bytecode is never
    # used (Python checks it against the source).
    subprocess.run([py, "-m", "compileall", "-q", "acd", "benchmarks"], cwd=ROOT, check=True)
    compiled = _compile(py)

    theory = _theory()
    repeat = args.repeat or (1 if args.quick else 3)
    tools = [(name, None) for name in ACD_RUNS] + [
        (name, module)
        for name, module in (("ciw", "benchmarks.sim_ciw"), ("simpy", "benchmarks.sim_simpy"))
        if importlib.util.find_spec(name) is not None
    ]
    acd_argv = [py, "-m", "acd", "simulate", str(MM50M), "--json", "--no-progress", "--calls", str(calls)]
    acd_argv += ["--seed", str(args.seed)]
    walls: dict[str, list[float]] = {name: [] for name, _ in tools}
    reports: dict[str, dict[str, Any]] = {}
    # Rounds interleave the tools, so a slow spell of a shared machine falls on all of them.
    for round_ in range(repeat):
        for name, module in tools:
            log(f"{name}: {calls} calls of M/M/50+M (round {round_ + 1}/{repeat})")
            argv = acd_argv if module is None else [py, "-m", module, str(calls), str(warmup), str(args.seed)]
            wall, reports[name] = _process(argv, ACD_RUNS.get(name))
            walls[name].append(wall)
    log("acd: start-up alone (10 calls)")
    startup = [_process([*acd_argv[:-4], "--calls", "10"])[0] for _ in range(repeat)]

    runs: dict[str, Any] = {}
    for name, _ in tools:
        rep = reports[name]
        runs[name] = {
            "process_wall_s": statistics.median(walls[name]),
            "process_wall_s_runs": walls[name],
            **{m: rep[m] for m in METRICS},
            "offered": rep["offered"],
        }
        if name in ACD_RUNS:
            runs[name] |= {"loop_wall_s": rep["wall_s"], "engine_events": rep["engine_events"]}
            if name == "acd":
                runs[name] |= {"startup_s": statistics.median(startup), "compiled": compiled}
        else:
            runs[name]["tool"] = rep["tool"]
    for name in ("ciw", "simpy"):
        if name not in runs:
            log(f"{name}: not installed, skipped (pip install {name})")
            runs[name] = None
    for run in runs.values():
        if run is not None:
            run["error_vs_erlang_a"] = {m: run[m] - theory[m] for m in METRICS}
    # per round, then the median: the ratio of two processes run one after the other
    ratios = {
        f"{k}_over_acd": statistics.median(w / a for w, a in zip(walls[k], walls["acd"], strict=True))
        for k in walls
        if k != "acd"
    }

    peak = peak_source = None
    if not args.no_peak:
        log("acd: the campaign-peak day")
        peak = _peak(py)
        log("acd on its source: the campaign-peak day")
        peak_source = _peak(py, ACD_RUNS["acd_source"])

    result = {
        "benchmark": "sim",
        "mode": "quick" if args.quick else "full",
        "calls": calls,
        "warmup_calls": warmup,
        "model": "M/M/50+M, 48/min, AHT 60 s, patience 120 s, SL 20 s",
        "erlang_a": theory,
        "runs": runs,
        "ratios": ratios,
        "compiled": compiled,
        "campaign_peak_day": peak,
        "campaign_peak_day_source": peak_source,
        "meta": run_metadata(),
        "repeat": repeat,
    }
    path = write_results("sim", result, quick=args.quick)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"M/M/50+M, {calls} callers, whole processes (start-up included), median of {repeat} rounds:")
    print(f"{'tool':<10} {'wall s':>8} {'x acd':>6}   " + "  ".join(f"{m:>13}" for m in METRICS))
    print(f"{'theory':<10} {'':>8} {'':>6}   " + "  ".join(f"{theory[m]:>13.4f}" for m in METRICS))
    for name, run in runs.items():
        if run is None:
            print(f"{name:<10} {'skipped':>8}")
            continue
        ratio = ratios.get(f"{name}_over_acd", 1.0)
        print(
            f"{name:<10} {run['process_wall_s']:>8.2f} {ratio:>6.2f}   "
            + "  ".join(f"{run[m]:>13.4f}" for m in METRICS)
        )
    print(f"acd: {'on its compiled hot modules' if compiled else 'on its source (acd compile failed)'}")
    print(f"acd start-up alone (a 10-call run): {runs['acd']['startup_s']:.2f} s")
    for label, day in (("campaign-peak day", peak), ("campaign-peak day, acd on its source", peak_source)):
        if day is not None:
            print(
                f"{label}: {day['offered']} calls, {day['agents']} agents: "
                f"process {day['process_wall_s']:.1f} s "
                f"(simulation loop {day['loop_wall_s']:.1f} s), answer rate {100 * day['answer_rate']:.1f}%"
            )
    print(f"results: {Path(path).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
