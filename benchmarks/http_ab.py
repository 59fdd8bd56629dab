"""Server CPU per request of two trees of acd served at once: a paired A/B for a shared machine.

    python -m benchmarks.http_ab BEFORE_TREE AFTER_TREE [--pairs 4] [--duration 8] [--json]

Each tree is a checkout of acd (`git worktree add`, or `git archive REV | tar -x -C DIR`). In
each pair, both trees' services run at the same time, each loaded by its own generator:
`benchmarks/http.py`'s throughput phase alone (32 requests in flight, 200 calls waiting,
`--duration` seconds measured after 2 s of warm-up), and the server's CPU time per request is
read over the measured window, as `server_cpu_ms_per_request` is. Which tree is launched first
alternates from pair to pair. The report: both trees' figures, pair by pair, and the ratio
after/before of each pair with its median.

Why pairs: on a machine other sessions share, sequential runs of one tree spread by +-25 %
(docs/performance.md, "How to measure here"; the seventeenth round has the runs), as the others'
load comes and goes. Two services measured over the same seconds share whatever the machine is
doing, so their ratio moves far less (a tree paired with itself, the launch order alternating:
0.993-1.004). Run each side from its own tree: the child runs this file with that tree first on
`PYTHONPATH` and as its working directory, so the service, its configuration and the generator
are that tree's own (`benchmarks._common.acd_service` starts `python -m acd serve` there).
`ACD_COMPILED` is passed on as set (`ACD_COMPILED=0`: both on their source, as a tree without
its compiled twins runs).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

WARMUP_S = 2.0


def _one(duration_s: float) -> None:
    """Serve the tree this runs from and load it for one throughput phase; print its figures."""
    from benchmarks._common import SECRET, acd_service, free_port

    port, sink = free_port(), free_port()
    phase = {"name": "throughput", "loop": "closed", "concurrency": 32, "waiting": 200}
    spec = {
        "target": "service",
        "url": f"http://127.0.0.1:{port}",
        "secret": SECRET,
        "waiting": 200,
        "seed": 1,
        "client": "raw",
        "sink_port": sink,
        "phases": [{**phase, "warmup_s": WARMUP_S, "duration_s": duration_s}],
    }
    with acd_service(port, command_url=f"http://127.0.0.1:{sink}/commands") as server:
        server.start()
        spec["server_pid"] = server.pid
        argv = [sys.executable, "-m", "benchmarks.http", "--generator", json.dumps(spec)]
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    run = result["phases"]["throughput"]
    print(
        json.dumps(
            {
                "cpu_ms": run["server_cpu_ms_per_request"],
                "requests_per_s": run["requests_per_s"],
                "server_cpu_pct": run["server_cpu_pct"],
                "other_cpu_pct": run.get("other_cpu_pct"),
                "non_2xx": sum(n for k, n in result["status_total"].items() if k != "2xx"),
            }
        )
    )


def _start(tree: Path, duration_s: float) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    # -P: this file's folder is not put first on the path (its `http.py` would hide the stdlib's)
    argv = [sys.executable, "-P", str(Path(__file__).resolve()), "--one", str(duration_s)]
    return subprocess.Popen(argv, cwd=tree, env=env, stdout=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen[str], tree: Path) -> dict[str, Any]:
    out, _ = proc.communicate()
    if proc.returncode != 0 or not out.strip():
        raise SystemExit(f"the run of {tree} failed (exit {proc.returncode})")
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def pairs(before: Path, after: Path, count: int, duration_s: float) -> dict[str, Any]:
    rows = []
    for i in range(count):
        first, second = (before, after) if i % 2 == 0 else (after, before)
        procs = {first: _start(first, duration_s), second: _start(second, duration_s)}
        got = {tree: _finish(proc, tree) for tree, proc in procs.items()}
        rows.append({"before": got[before], "after": got[after]})
        ratio = got[after]["cpu_ms"] / got[before]["cpu_ms"]
        print(
            f"pair {i + 1}: before {got[before]['cpu_ms']:.3f} ms, after {got[after]['cpu_ms']:.3f} ms"
            f" a request (after/before {ratio:.3f}; others {got[before]['other_cpu_pct']} % CPU)",
            file=sys.stderr,
        )
    before_ms = [r["before"]["cpu_ms"] for r in rows]
    after_ms = [r["after"]["cpu_ms"] for r in rows]
    ratios = [a / b for a, b in zip(after_ms, before_ms, strict=True)]
    return {
        "before": str(before),
        "after": str(after),
        "pairs": rows,
        "before_median_ms": statistics.median(before_ms),
        "after_median_ms": statistics.median(after_ms),
        "ratios": [round(r, 3) for r in ratios],
        "ratio_median": round(statistics.median(ratios), 3),
        "non_2xx": sum(r[side]["non_2xx"] for r in rows for side in ("before", "after")),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.http_ab", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("before", type=Path, nargs="?", help="the tree before the change")
    parser.add_argument("after", type=Path, nargs="?", help="the tree after it")
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds measured per run")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--one", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one is not None:
        _one(args.one)
        return 0
    if args.before is None or args.after is None:
        parser.error("two trees are needed: BEFORE_TREE AFTER_TREE")
    result = pairs(args.before.resolve(), args.after.resolve(), args.pairs, args.duration)
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"server CPU a request, median of {args.pairs} pairs: before {result['before_median_ms']:.3f} ms,"
            f" after {result['after_median_ms']:.3f} ms; after/before per pair {result['ratios']},"
            f" median {result['ratio_median']}; non-2xx answers {result['non_2xx']}"
        )
    return 0 if result["non_2xx"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
