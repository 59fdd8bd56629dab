"""Memory benchmark: resident set size of the service holding 10,000 waiting calls, then 50,000
calls ended and kept.

    python -m benchmarks.memory [--quick] [--json] [--calls N] [--kept N]

Starts `python -m acd serve` in a subprocess (shipped config, in-memory state, signed requests) and
reads the RSS of the serving process (psutil) at each step:

1. `ready`: `/readyz` answers; the full roster (~800 agents) is loaded from config/, all logged out;
2. `agents_logged_in`: every agent logged in, as `paused` (so that nothing connects);
3. `agents_logged_out`: every agent logged out again: the baseline for the calls;
4. then `--calls` calls (10,000) are offered in signed batches of up to 1,000 events per POST; as no
   agent is logged in, every call waits. `GET /v1/queues` must count them all as waiting;
5. `calls_kept`: those callers hang up, then `--kept` more calls (40,000) are offered and hang up,
   each in one batch: every call ended is kept for `GET /v1/calls/{id}`
   (`routing.ended_call_retention`, 200,000) and its events' ids remembered for idempotency
   (`routing.idempotency_ttl_s`, two days): what a day's calls leave behind.

Reported: RSS in MiB at each step (and after every batch), and the increment per waiting call in
bytes ((RSS with the calls - RSS before them) / calls), and per call kept after its end (RSS
growth over the `--kept` calls / `--kept`). The calls carry no department, so that no
overflow rule can take them off the national line. Results also go to benchmarks/results/memory.json.
The exit status is non-zero when the service fails to start, a request fails or the calls do not
all wait. The whole run takes about twenty seconds; `--quick` (for CI) changes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any

import aiohttp

from benchmarks._common import (
    SECRET,
    EventFactory,
    ServerError,
    acd_service,
    dumps,
    free_port,
    load_roster,
    log,
    run_metadata,
    signed,
    write_results,
)

MIB = 2**20
BATCH = 1000


class RequestFailed(RuntimeError):
    pass


async def _post(
    session: aiohttp.ClientSession, url: str, events: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    body = dumps(events)
    async with session.post(url + "/v1/events", data=body, headers=signed(SECRET.encode(), body)) as response:
        text = await response.text()
        if response.status != 200:
            raise RequestFailed(f"POST /v1/events: {response.status} {text[:500]}")
        return json.loads(text)["results"]


async def _get(session: aiohttp.ClientSession, url: str, path: str) -> Any:
    async with session.get(url + path, headers=signed(SECRET.encode(), b"")) as response:
        text = await response.text()
        if response.status != 200:
            raise RequestFailed(f"GET {path}: {response.status} {text[:500]}")
        return json.loads(text)


def _rss(process: Any) -> dict[str, float]:
    time.sleep(0.3)  # let the last request's buffers go
    info = process.memory_full_info()
    return {"rss_mib": round(info.rss / MIB, 2), "uss_mib": round(getattr(info, "uss", 0) / MIB, 2)}


async def _measure(base_url: str, pid: int, calls: int, kept: int) -> dict[str, Any]:
    import psutil

    process = psutil.Process(pid)
    roster, departments = load_roster()
    events = EventFactory(departments, seed=1)
    steps: dict[str, dict[str, float]] = {"ready": _rss(process)}
    log(f"ready: {steps['ready']['rss_mib']:.1f} MiB")
    batches: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session:
        for state, step in (("paused", "agents_logged_in"), ("logged_out", "agents_logged_out")):
            for i in range(0, len(roster), BATCH):
                chunk = roster[i : i + BATCH]
                reason = "memory-benchmark" if state == "paused" else None
                await _post(session, base_url, [events.agent_state(a.id, state, reason) for a in chunk])
            steps[step] = _rss(process)
            log(f"{step} ({len(roster)} agents): {steps[step]['rss_mib']:.1f} MiB")

        actions: dict[str, int] = {}
        offered = 0
        waiting_ids: list[str] = []
        while offered < calls:
            size = min(BATCH, calls - offered)
            batch = []
            for _ in range(size):
                event = events.offered()
                event.pop("department", None)  # no overflow rule may take the call off the line
                batch.append(event)
                waiting_ids.append(event["call_id"])
            results = await _post(session, base_url, batch)
            for result in results:
                action = (result.get("decision") or {}).get("action", "none")
                actions[action] = actions.get(action, 0) + 1
            offered += size
            rss = _rss(process)
            batches.append({"calls": offered, **rss})
            log(f"{offered:,} calls offered: {rss['rss_mib']:.1f} MiB")
        steps["calls_waiting"] = batches[-1] if batches else steps["agents_logged_out"]
        queues = (await _get(session, base_url, "/v1/queues"))["queues"]

        # 5. what a day's calls leave behind: calls that ended, kept for GET /v1/calls/{id}
        # (`routing.ended_call_retention`), their events' ids remembered for idempotency
        # (`routing.idempotency_ttl_s`). The waiting calls hang up, then `kept` more are offered
        # and hang up in the same batch.
        for i in range(0, len(waiting_ids), BATCH):
            await _post(session, base_url, [events.ended(c, "abandoned") for c in waiting_ids[i : i + BATCH]])
        before_kept = _rss(process)
        ended = 0
        while ended < kept:
            size = min(BATCH // 2, kept - ended)
            batch = []
            for _ in range(size):
                event = events.offered()
                event.pop("department", None)
                batch += [event, events.ended(event["call_id"], "abandoned")]
            await _post(session, base_url, batch)
            ended += size
        steps["calls_kept"] = _rss(process)
        log(f"{len(waiting_ids) + kept:,} calls ended and kept: {steps['calls_kept']['rss_mib']:.1f} MiB")
    waiting = sum(q["waiting"] for q in queues)
    base = steps["agents_logged_out"]["rss_mib"]
    per_call = (steps["calls_waiting"]["rss_mib"] - base) * MIB / calls if calls else 0.0
    per_kept = (steps["calls_kept"]["rss_mib"] - before_kept["rss_mib"]) * MIB / kept if kept else 0.0
    return {
        "calls_kept": len(waiting_ids) + kept,
        "bytes_per_kept_call": round(per_kept),
        "agents": len(roster),
        "calls_offered": calls,
        "calls_waiting": waiting,
        "decisions": actions,
        "queues": {q["skill"]: q["waiting"] for q in queues},
        "steps": steps,
        "batches": batches,
        "bytes_per_waiting_call": round(per_call),
    }


def _report(results: dict[str, Any]) -> str:
    steps = results["steps"]
    rows = [
        ("ready (roster loaded, all logged out)", steps["ready"]),
        (f"{results['agents']} agents logged in (paused)", steps["agents_logged_in"]),
        ("all agents logged out again", steps["agents_logged_out"]),
        (f"{results['calls_waiting']:,} calls waiting", steps["calls_waiting"]),
    ]
    lines = [
        "",
        "Memory of the service (python -m acd serve, shipped config, in-memory state)",
        "",
        f"{'':42}{'RSS MiB':>10}",
    ]
    lines += [f"{label:42}{s['rss_mib']:>10.1f}" for label, s in rows]
    lines += [
        "",
        f"increment per waiting call: {results['bytes_per_waiting_call']:,} bytes "
        f"(RSS, {results['calls_offered']:,} calls over the logged-out baseline)",
        f"then all {results['calls_kept']:,} calls ended and kept (the waiting ones and "
        f"{results['settings']['kept']:,} more): {results['steps']['calls_kept']['rss_mib']:.1f} MiB, "
        f"{results['bytes_per_kept_call']:,} bytes per call kept (with its events' ids remembered)",
        f"GET /v1/queues: {results['calls_waiting']:,} waiting {json.dumps(results['queues'])}",
        f"decisions: {json.dumps(results['decisions'])}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--quick", action="store_true", help="accepted for CI; the run is short anyway")
    parser.add_argument("--calls", type=int, default=10_000, help="calls to offer (all wait)")
    parser.add_argument(
        "--kept", type=int, default=40_000, help="calls offered and ended after them (all kept)"
    )
    args = parser.parse_args(argv)

    results: dict[str, Any] = {
        "meta": run_metadata(),
        "settings": {"calls": args.calls, "kept": args.kept, "batch": BATCH},
    }
    port = free_port()
    with acd_service(port) as server:
        try:
            log(f"service: starting on port {port}")
            server.start()
            results.update(asyncio.run(_measure(server.base_url, server.pid, args.calls, args.kept)))
        except (ServerError, RequestFailed, aiohttp.ClientError) as exc:
            log(f"error: {exc}")
            if not isinstance(exc, ServerError):
                log(server.log_tail())
            results["error"] = str(exc)
            write_results("memory", results, quick=args.quick)
            return 2
    ok = results["calls_waiting"] == args.calls
    results["all_calls_waiting"] = ok
    path = write_results("memory", results, quick=args.quick)
    if args.json:
        print(json.dumps(results))
    else:
        print(_report(results))
    log(f"results written to {os.path.relpath(path)}")
    if not ok:
        log(f"error: {results['calls_waiting']} calls wait, {args.calls} expected")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
