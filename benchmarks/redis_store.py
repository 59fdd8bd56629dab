"""Redis store benchmark: what durability costs, and how fast a restart recovers.

    python -m benchmarks.redis_store [--quick] [--json] [--redis redis://127.0.0.1:6379/10]
    python -m benchmarks.redis_store --recovery-only    # part 2 alone, written to results/quick/

Redis: by default a redis-server of the benchmark's own, with the settings docs/redis.md requires
for the durability promise (`appendonly yes`, `appendfsync always`); `--redis URL` measures an
existing server instead (its persistence settings are recorded with the result).

1. Throughput and latency, in memory vs with Redis, in one run, on the service's write path
   (`Service.apply_events`, exactly what `POST /v1/events` calls after parsing; the event bodies
   are parsed here too), with the traffic of `benchmarks/http.py` (the shipped roster logs in,
   calls are offered, answered, ended, agents go available again; about `--waiting` calls wait):
   - a closed loop of `--concurrency` writers, one event per write: events/s, p50/p99;
   - the same with `--batch` events per write (a platform batching its webhooks);
   - an open loop at `--rate` events/s, one event per write: p50/p99/max from the scheduled time.
   The load generator runs in the same process (its cost is the same for both stores). Redis runs
   beside it, as it would on a deployment's host. The cyclic collector runs as under `acd serve`
   (acd/gcpolicy.py), and each phase's service is collected, untimed, before the next starts: a
   full collection of the last one's state stalled the next for 2.4 s, past the lease's renewal.
2. Recovery: a leader writes a snapshot, then `--events` events (one per write, as the platform
   sends them) and their timer ticks are logged after it; the process "dies" (no final snapshot);
   a fresh service starts: the time from `start()` to a loaded, serving state (snapshot loaded and
   every entry after it replayed) is the recovery time. The lease of the dead leader is cleared
   first so that the figure is the recovery alone (a takeover adds at most the lease's TTL). The
   crashed state is kept aside (`COPY`, Redis 6.2 or later) and restored before each of
   `--recovery-runs` restarts: the figure is their median (a shared machine's noise).
   Then the same from a large snapshot: the whole state above snapshotted, a tenth as many events
   after it (with the default ACD_REDIS_SNAPSHOT_EVERY=10000, what a restart replays at most).

Bars (reported, never asserted): >= 2,000 events/s with Redis; recovery of 100,000 events after the
last snapshot < 2 s. Results go to benchmarks/results/redis_store.json.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import time
from typing import Any

import redis
from prometheus_client import CollectorRegistry

from acd.store.redis_log import LogEntry
from benchmarks._common import (
    CLOCK_START,
    durable_redis,
    latency_summary,
    load_roster,
    log,
    run_metadata,
    write_results,
)

EVENTS_PER_S_BAR = 2000.0
RECOVERY_BAR_S = 2.0
perf = time.perf_counter


def _service(redis_url: str | None, **settings: Any) -> Any:
    from acd.config import load_config
    from acd.service import Service
    from acd.settings import Settings
    from benchmarks._common import CONFIG_DIR

    options: dict[str, Any] = {"clock_start": CLOCK_START, "log_level": "WARNING", **settings}
    if redis_url:
        options["redis_url"] = redis_url
    return Service(Settings(**options), load_config(CONFIG_DIR), registry=CollectorRegistry())


class Driver:
    """Feeds the http benchmark's traffic to a service's write path, measuring each write."""

    def __init__(self, service: Any, waiting: int, seed: int) -> None:
        from acd.events import event_adapter
        from benchmarks.http import Traffic

        roster, departments = load_roster()
        self.service = service
        self.traffic = Traffic(roster, departments, waiting=waiting, seed=seed)
        self.parse = event_adapter.validate_json
        self.failures = 0
        submit = service.outbox.submit

        async def submit_and_tell(commands: Any) -> None:  # the platform learns of `connect`s
            for command in commands:
                self.traffic.on_command(command.to_wire())
            await submit(commands)

        service.outbox.submit = submit_and_tell

    async def write(self, n: int, idle_ok: bool = True) -> int:
        """One write of up to `n` events; returns how many it carried."""
        requests = []
        for _ in range(n):
            req = self.traffic.next_request(perf(), idle_ok=idle_ok)
            if req is None:
                break
            requests.append(req)
        if not requests:
            await asyncio.sleep(0.001)
            return 0
        try:
            results = await self.service.apply_events([self.parse(r.body) for r in requests])
        except Exception as exc:  # a 4xx/5xx for the HTTP client
            self.failures += 1
            if self.failures <= 3:
                log(f"    write failed: {type(exc).__name__}: {exc}")
            for req in requests:
                self.traffic.on_response(req, False, None, perf())
            return len(requests)
        now = perf()
        for req, result in zip(requests, results, strict=True):
            self.traffic.on_response(req, True, {"results": [result.to_wire()]}, now)
        return len(requests)

    async def login(self) -> None:
        while self.traffic.to_login:
            await self.write(50)

    async def closed(
        self, concurrency: int, batch: int, warmup_s: float, duration_s: float
    ) -> dict[str, Any]:
        latencies: list[float] = []
        events = 0
        t_measure = perf() + warmup_s
        t_end = t_measure + duration_s

        async def worker() -> None:
            nonlocal events
            while (start := perf()) < t_end:
                n = await self.write(batch)
                done = perf()
                if n and start >= t_measure and done <= t_end:
                    latencies.append(done - start)
                    events += n

        cpu0 = time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return {
            "loop": "closed",
            "concurrency": concurrency,
            "events_per_write": batch,
            "duration_s": duration_s,
            "events": events,
            "events_per_s": round(events / duration_s, 1),
            "write_latency": latency_summary(latencies),
            "process_cpu_pct": round(100 * (time.process_time() - cpu0) / (warmup_s + duration_s), 1),
        }

    async def open(self, rate: float, warmup_s: float, duration_s: float) -> dict[str, Any]:
        latencies: list[float] = []
        interval = 1.0 / rate
        t0 = perf() + 0.01
        t_measure = t0 + warmup_s
        total = round((warmup_s + duration_s) * rate)
        tasks: set[asyncio.Task[None]] = set()

        async def one(scheduled: float) -> None:
            await self.write(1, idle_ok=False)
            if scheduled >= t_measure:
                latencies.append(perf() - scheduled)

        i = 0
        while i < total:
            now = perf()
            while i < total and t0 + i * interval <= now:
                task = asyncio.create_task(one(t0 + i * interval))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                i += 1
            await asyncio.sleep(max(0.0, t0 + i * interval - perf()))
        if tasks:
            await asyncio.wait(set(tasks), timeout=60)
        return {
            "loop": "open",
            "offered_rate_per_s": rate,
            "duration_s": duration_s,
            "latency": latency_summary(latencies),
        }


async def _measure_store(name: str, redis_url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    warmup = 1.0 if args.quick else 2.0
    duration = args.duration or (3.0 if args.quick else 10.0)
    service = _service(redis_url, redis_snapshot_fork=True)
    await service.start()
    driver = Driver(service, args.waiting, args.seed)
    try:
        await driver.login()
        out: dict[str, Any] = {"store": name}
        log(f"  {name}: closed loop, {args.concurrency} writers, 1 event per write")
        out["single"] = await driver.closed(args.concurrency, 1, warmup, duration)
        log(f"    {_line(out['single'])}")
        log(f"  {name}: closed loop, {args.concurrency} writers, {args.batch} events per write")
        out["batched"] = await driver.closed(args.concurrency, args.batch, warmup, duration)
        log(f"    {_line(out['batched'])}")
        log(f"  {name}: open loop at {args.rate:g} events/s")
        out["latency"] = await driver.open(args.rate, warmup, duration)
        lat = out["latency"]["latency"]
        log(f"    p50 {lat['p50_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms, max {lat['max_ms']:.2f} ms")
        out["failed_writes"] = driver.failures
        out["sent"] = dict(driver.traffic.sent)
        if redis_url:
            store = service.store
            out["log_entries"] = store.position.seq
            out["snapshots"] = int(service.registry.get_sample_value("acd_store_snapshots_total") or 0)
    finally:
        await service.stop()
    del service, driver
    gc.collect()  # untimed: a dropped service is in reference cycles (acd serve has one a process)
    return out


def _line(phase: dict[str, Any]) -> str:
    lat = phase["write_latency"]
    return (
        f"{phase['events_per_s']:,.0f} events/s, write p50 {lat['p50_ms']:.2f} ms, "
        f"p99 {lat['p99_ms']:.2f} ms, CPU {phase['process_cpu_pct']:.0f} %"
    )


NEVER = {"redis_snapshot_every": 10**9, "redis_snapshot_interval_s": 10**6}  # no snapshot but the final one
SAVED = "bench-saved:"  # where the crashed state is kept, to restore it before each restart


async def _log_events(driver: Driver, events: int) -> int:
    """`events` events through the driver's service (one per write, 32 writers)."""
    log(f"  logging {events:,} events after the snapshot (one per write, 32 writers)")
    written = 0
    started = perf()

    async def worker() -> None:
        nonlocal written
        while written < events:
            n = await driver.write(1)  # not `written += await ...`: that reads `written` before the await
            written += n

    await asyncio.gather(*(worker() for _ in range(32)))
    log(f"    done in {perf() - started:.1f} s")
    return written


async def _crash(service: Any, client: redis.Redis) -> dict[str, Any]:
    """The crash: nothing more is written, no final snapshot; the lease, forgotten, is dropped by
    hand (so that the figure is the recovery alone). The state Redis holds is kept aside.

    First the service settles: leading, nothing being written, its engine matching the log (on a
    loaded machine the lease can lapse under the load and the store reload meanwhile)."""
    store = service.store
    async with asyncio.timeout(120):
        while not (store.leading and not store.replica.dirty and await store.ready()):
            await asyncio.sleep(0.05)
        await store.writer.drain(10.0)
    await service.crash()
    await service.records.stop()
    client.delete("acd:lease")
    for key in client.scan_iter(f"{SAVED}*"):
        client.delete(key)
    for key in client.scan_iter("acd:*"):
        client.copy(key, SAVED.encode() + key)
    return {
        "calls": len(service.engine.calls),
        "waiting": len(service.engine.waiting_calls()),
        "seq": service.store.position.seq,
    }


async def _restarts(redis_url: str, client: redis.Redis, state: dict[str, Any], runs: int) -> list[float]:
    """Start a fresh service on the crashed state `runs` times (the state restored before each):
    the time from `start()` to a loaded, serving state, each time."""
    samples = []
    for _ in range(runs):
        for key in client.scan_iter("acd:*"):
            client.delete(key)
        for key in client.scan_iter(f"{SAVED}*"):
            client.copy(key, key[len(SAVED) :])
        service = _service(redis_url, **NEVER)
        t0 = perf()
        await service.start()
        samples.append(round(perf() - t0, 3))
        assert service.store.position.seq == state["seq"], (service.store.position, state)
        assert len(service.engine.calls) == state["calls"]
        await service.crash()  # no final snapshot: the next restart finds the same state
        await service.records.stop()
        client.delete("acd:lease")
    return samples


async def _recovery(redis_url: str, args: argparse.Namespace) -> dict[str, Any]:
    """A snapshot, then `args.events` events after it; a crash; fresh starts (the median of
    `args.recovery_runs`). Then the same with a large snapshot: the state recovered is
    snapshotted by a clean stop, `args.events // 10` events follow, a crash, fresh starts."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    first = _service(redis_url, **NEVER)
    await first.start()
    driver = Driver(first, args.waiting, args.seed + 1)
    await driver.login()
    await first.stop()  # a clean stop: the snapshot the recovery starts from
    snapshot_seq = int(client.hget("acd:snapshot", "seq"))

    second = _service(redis_url, **NEVER)
    await second.start()
    driver = Driver(second, args.waiting, args.seed + 2)
    driver.traffic.to_login.clear()  # logged in already (the snapshot has them)
    written = await _log_events(driver, args.events)
    entries = second.store.position.seq - snapshot_seq
    ticks = sum(1 for i, f in client.xrange("acd:log") if LogEntry.from_stream(i, f).kind == "t")
    state = await _crash(second, client)
    snapshot_bytes = len(client.hget("acd:snapshot", "data"))
    samples = await _restarts(redis_url, client, state, args.recovery_runs)
    log(f"    recovered in {statistics.median(samples):.2f} s (median of {samples})")

    # A large snapshot: the whole state above, then a tenth as many events after it.
    third = _service(redis_url, **NEVER)
    await third.start()
    await third.stop()  # the final snapshot holds the whole state
    large_seq = int(client.hget("acd:snapshot", "seq"))
    large_bytes = len(client.hget("acd:snapshot", "data"))
    fourth = _service(redis_url, **NEVER)
    await fourth.start()
    traffic = driver.traffic  # the platform's view goes on: the same calls and agents
    driver = Driver(fourth, args.waiting, args.seed + 3)
    driver.traffic = traffic
    large_written = await _log_events(driver, args.events // 10)
    large_state = await _crash(fourth, client)
    large_samples = await _restarts(redis_url, client, large_state, args.recovery_runs)
    log(f"    recovered in {statistics.median(large_samples):.2f} s (median of {large_samples})")
    for key in client.scan_iter(f"{SAVED}*"):
        client.delete(key)
    client.close()
    recovery_s = statistics.median(samples)
    return {
        "events_after_snapshot": written,
        "log_entries_after_snapshot": entries,
        "of_which_timer_ticks": ticks,
        "snapshot_seq": snapshot_seq,
        "snapshot_bytes": snapshot_bytes,
        "state": state,
        "recovery_s": recovery_s,
        "recovery_runs_s": samples,
        "replay_us_per_entry": round(1e6 * recovery_s / max(1, entries), 1),
        "large_snapshot": {
            "snapshot_bytes": large_bytes,
            "events_after_snapshot": large_written,
            "log_entries_after_snapshot": large_state["seq"] - large_seq,
            "state": large_state,
            "recovery_s": statistics.median(large_samples),
            "recovery_runs_s": large_samples,
        },
    }


async def _main(args: argparse.Namespace) -> dict[str, Any]:
    from acd.gcpolicy import serve_policy
    from acd.routing import warm_up

    warm_up()
    serve_policy()  # the cyclic collector as `acd serve` runs it
    client = redis.Redis.from_url(args.redis)
    client.ping()
    info = client.info("server")
    persistence = (
        client.config_get("appendonly") | client.config_get("appendfsync") | client.config_get("save")
    )
    results: dict[str, Any] = {
        "meta": {
            **run_metadata(),
            "redis_version": info.get("redis_version"),
            "redis_persistence": persistence,
        },
        "settings": vars(args),
    }
    client.flushdb()
    if args.recovery_only:
        log("recovery")
        results["recovery"] = await _recovery(args.redis, args)
        client.flushdb()
        client.close()
        return results
    log("throughput and latency")
    results["memory"] = await _measure_store("memory", None, args)
    client.flushdb()
    results["redis"] = await _measure_store("redis", args.redis, args)
    client.flushdb()
    if args.events:
        log("recovery")
        results["recovery"] = await _recovery(args.redis, args)
        client.flushdb()
    client.close()
    mem, red = results["memory"], results["redis"]
    results["summary"] = {
        "memory_events_per_s": mem["single"]["events_per_s"],
        "redis_events_per_s": red["single"]["events_per_s"],
        "redis_batched_events_per_s": red["batched"]["events_per_s"],
        "memory_batched_events_per_s": mem["batched"]["events_per_s"],
        "redis_p99_ms_at_rate": red["latency"]["latency"]["p99_ms"],
        "memory_p99_ms_at_rate": mem["latency"]["latency"]["p99_ms"],
        "throughput_bar_met": red["single"]["events_per_s"] >= EVENTS_PER_S_BAR,
        "recovery_s": results.get("recovery", {}).get("recovery_s"),
        "recovery_bar_s": RECOVERY_BAR_S,
        "recovery_bar_met": (results.get("recovery", {}).get("recovery_s") or 1e9) < RECOVERY_BAR_S,
        "failed_writes": mem["failed_writes"] + red["failed_writes"],
    }
    return results


def _recovery_report(rec: dict[str, Any]) -> list[str]:
    large = rec["large_snapshot"]
    return [
        f"recovery: {rec['events_after_snapshot']:,} events after the last snapshot "
        f"({rec['log_entries_after_snapshot']:,} log entries, "
        f"{rec['of_which_timer_ticks']:,} of them timer ticks; "
        f"snapshot {rec['snapshot_bytes'] / 2**20:.1f} MiB): loaded and replayed in "
        f"{rec['recovery_s']:.2f} s ({rec['replay_us_per_entry']:.0f} us per entry; "
        f"median of {rec['recovery_runs_s']})",
        f"recovery from a large snapshot ({large['snapshot_bytes'] / 2**20:.1f} MiB, "
        f"{large['state']['calls']:,} calls) and {large['log_entries_after_snapshot']:,} log entries "
        f"after it: {large['recovery_s']:.2f} s (median of {large['recovery_runs_s']})",
        "",
    ]


def _report(results: dict[str, Any]) -> str:
    mem, red, s = results["memory"], results["redis"], results["summary"]
    rows = [
        "",
        f"Redis store benchmark ({results['meta']['cpu_count']} CPUs, Python {results['meta']['python']}, "
        f"Redis {results['meta']['redis_version']}, {json.dumps(results['meta']['redis_persistence'])})",
        "",
        f"{'':46}{'memory':>16}{'redis':>16}",
    ]

    def row(label: str, a: str, b: str) -> None:
        rows.append(f"{label:46}{a:>16}{b:>16}")

    for key, label in (
        ("single", "1 event per write"),
        ("batched", f"{mem['batched']['events_per_write']} events per write"),
    ):
        m, r = mem[key], red[key]
        row(
            f"{label}, {m['concurrency']} writers (events/s)",
            f"{m['events_per_s']:,.0f}",
            f"{r['events_per_s']:,.0f}",
        )
        row(
            "  write latency p50 / p99 (ms)",
            f"{m['write_latency']['p50_ms']:.2f} / {m['write_latency']['p99_ms']:.2f}",
            f"{r['write_latency']['p50_ms']:.2f} / {r['write_latency']['p99_ms']:.2f}",
        )
    ml, rl = mem["latency"]["latency"], red["latency"]["latency"]
    row(f"open loop at {mem['latency']['offered_rate_per_s']:g} events/s", "", "")
    for key in ("p50_ms", "p99_ms", "max_ms"):
        row(f"  latency {key[:-3]} (ms)", f"{ml[key]:.2f}", f"{rl[key]:.2f}")
    row("failed writes", str(mem["failed_writes"]), str(red["failed_writes"]))
    rows.append("")
    if "recovery" in results:
        rows += _recovery_report(results["recovery"])
    rows += [
        "bars:",
        f"  >= {EVENTS_PER_S_BAR:,.0f} events/s with Redis (1 event per write): "
        f"{'met' if s['throughput_bar_met'] else 'NOT met'} ({s['redis_events_per_s']:,.0f})",
    ]
    if s["recovery_s"] is not None:
        rows.append(
            f"  recovery < {RECOVERY_BAR_S:g} s: {'met' if s['recovery_bar_met'] else 'NOT met'} "
            f"({s['recovery_s']:.2f} s)"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.redis_store", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--quick", action="store_true", help="a few seconds per phase, 10,000 events to recover"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument(
        "--redis",
        default=os.environ.get("ACD_BENCH_REDIS_URL"),
        help="an existing Redis (default: a redis-server of its own, appendonly yes, appendfsync always)",
    )
    parser.add_argument("--concurrency", type=int, default=32, help="writers in flight, closed loops")
    parser.add_argument("--batch", type=int, default=10, help="events per write, batched closed loop")
    parser.add_argument("--rate", type=float, default=1000.0, help="offered events/s, open loop")
    parser.add_argument("--duration", type=float, default=None, help="seconds measured per phase")
    parser.add_argument("--waiting", type=int, default=200, help="calls kept waiting (target)")
    parser.add_argument("--events", type=int, default=None, help="events after the snapshot (recovery)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--recovery-only",
        action="store_true",
        help="the recovery part alone (written to benchmarks/results/quick/redis_store_recovery.json)",
    )
    parser.add_argument("--recovery-runs", type=int, default=3, help="restarts measured (median)")
    args = parser.parse_args(argv)
    if args.events is None:
        args.events = 10_000 if args.quick else 100_000
    if args.redis:
        results = asyncio.run(_main(args))
    else:
        with durable_redis() as url:
            args.redis = url
            results = asyncio.run(_main(args))
    if args.recovery_only:  # never over the recorded result: quick/ is not committed
        path = write_results("redis_store_recovery", results, quick=True)
        print(json.dumps(results) if args.json else "\n".join(["", *_recovery_report(results["recovery"])]))
        log(f"results written to {os.path.relpath(path)}")
        return 0
    path = write_results("redis_store", results, quick=args.quick)
    if args.json:
        print(json.dumps(results))
    else:
        print(_report(results))
    log(f"results written to {os.path.relpath(path)}")
    return 0 if results["summary"]["failed_writes"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
