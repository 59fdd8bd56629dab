"""The README's table of measured figures, written from the recorded benchmark results.

    python -m tools.figures            # print the table
    python -m tools.figures --write    # put it in README.md between the figures markers

Every figure in the table comes from a file in benchmarks/results/ (a full run; CI's quick runs
write to benchmarks/results/quick/ and never reach it), and each row names that file, the
revision it measured (with `+` when the tree had uncommitted changes), when it ran and the
machine's load then. tests/test_figures.py checks that README.md holds exactly this table, so a
figure in the README cannot drift from its result; re-run the benchmark, then `--write`, when the
code it measures changes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.answer_rate import least_margin, worst_skill

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
BEGIN = "<!-- figures:begin (written by python -m tools.figures --write; do not edit by hand) -->"
END = "<!-- figures:end -->"


def _ms(x: float) -> str:
    return f"{x:.2f} ms"


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def _n(x: float) -> str:
    return f"{x:,.0f}"


def _met(ok: bool | None) -> str:
    return "" if ok is None else (" (met)" if ok else " (**not met**)")


Row = tuple[str, str, str]  # figure, value, bar


def router_rows(r: dict[str, Any]) -> list[Row]:
    bars = r["bars"]
    return [
        (
            "numba router, worst median per decision (800 agents x 32 skills, 200 waiting)",
            f"{bars['worst_numba_median_us']:.2f} µs",
            f"≤ {bars['median_us']:g} µs{_met(bars['median_met'])}",
        ),
        (
            "numba router against the plain-Python reference, worst ratio of medians",
            f"{bars['worst_speedup']:.0f}x",
            f"≥ {bars['speedup']:g}x{_met(bars['speedup_met'])}",
        ),
    ]


def http_rows(r: dict[str, Any]) -> list[Row]:
    s = r["summary"]
    rate = r["service"]["phases"]["latency"]["offered_rate_per_s"]
    rows = [
        ("HTTP, bare aiohttp handler, 32 in flight", f"{_n(s['bare_rps'])} req/s", "the peer"),
        (
            "HTTP, acd in memory, 32 in flight",
            f"{_n(s['service_rps'])} req/s = {_pct(s['throughput_ratio'])} of bare",
            f"≥ 50 %{_met(s['throughput_bar_met'])}",
        ),
        (
            f"HTTP, acd in memory, p99 at {rate:g} events/s"
            + (f", {_n(s['latency_waiting'])} calls waiting" if "latency_waiting" in s else "")
            + f" (bare: {_ms(r['bare']['phases']['latency']['latency']['p99_ms'])})",
            _ms(s["latency_p99_ms"]),
            f"< 10 ms{_met(s['p99_bar_met'])}",
        ),
    ]
    if "p99_over_bare" in s:
        rows.append(
            (
                "HTTP, acd in memory, p99 against the bare handler's in the same run",
                f"{s['p99_over_bare']:g}x",
                f"≤ 2x{_met(s['p99_over_bare_bar_met'])}",
            )
        )
    if "first_request_max_ms" in s:
        rows.append(
            (
                "HTTP, ready means warm: slowest first request after /readyz turns 200 "
                f"(the same again: {_ms(s['first_request_warm_max_ms'])})",
                _ms(s["first_request_max_ms"]),
                f"< 10 ms{_met(s['ready_means_warm_met'])}",
            )
        )
    if "redis_rps" in s:
        rows += [
            (
                "HTTP, acd on Redis (appendonly yes, appendfsync always), 32 in flight",
                f"{_n(s['redis_rps'])} req/s = {_pct(s['redis_throughput_ratio'])} of bare",
                f"≥ 2,000 req/s{_met(s['redis_rps'] >= 2000)}",
            ),
            (
                f"HTTP, acd on Redis (appendfsync always), p99 at {rate:g} events/s",
                _ms(s["redis_latency_p99_ms"]),
                f"< 10 ms{_met(s['redis_latency_p99_ms'] < 10)}",
            ),
        ]
    failed = s["failed_service"] + s.get("failed_redis", 0)
    rows.append(("HTTP, non-2xx answers in the whole run", str(failed), "0"))
    return rows


def memory_rows(r: dict[str, Any]) -> list[Row]:
    steps = r["steps"]
    return [
        ("memory, RSS at ready (797-agent roster)", f"{steps['ready']['rss_mib']:.1f} MiB", ""),
        (
            f"memory, per waiting call ({_n(r['calls_waiting'])} waiting: "
            f"{steps['calls_waiting']['rss_mib']:.1f} MiB)",
            f"{r['bytes_per_waiting_call'] / 1000:.2f} KB",
            "",
        ),
        *(
            [
                (
                    f"memory, per call kept after its end, its events' ids remembered "
                    f"({_n(r['calls_kept'])} kept: {steps['calls_kept']['rss_mib']:.1f} MiB)",
                    f"{r['bytes_per_kept_call'] / 1000:.2f} KB",
                    "",
                )
            ]
            if "bytes_per_kept_call" in r
            else []
        ),
    ]


def redis_store_rows(r: dict[str, Any]) -> list[Row]:
    s = r["summary"]
    p = r["meta"].get("redis_persistence") or {}
    setting = f"appendonly {p.get('appendonly', '?')}, appendfsync {p.get('appendfsync', '?')}"
    return [
        (
            f"store alone (no HTTP), Redis ({setting}), one event per write, 32 writers",
            f"{_n(s['redis_events_per_s'])} events/s (memory: {_n(s['memory_events_per_s'])})",
            f"≥ 2,000{_met(s['throughput_bar_met'])}",
        ),
        (
            f"recovery of {_n(r['recovery']['log_entries_after_snapshot'])} log entries after a snapshot",
            f"{s['recovery_s']:.2f} s",
            f"< {s.get('recovery_bar_s', 5):g} s{_met(s['recovery_bar_met'])}",
        ),
    ]


def sim_rows(r: dict[str, Any]) -> list[Row]:
    runs, ratios = r["runs"], r["ratios"]
    # acd on its compiled hot modules (acd/compiled.py) when `acd compile` could build them
    how = "compiled" if r.get("compiled") else "on its source"
    rows = [
        (
            f"simulator, {_n(r['calls'])} calls of M/M/50+M, whole process, median of {r['repeat']}",
            f"acd ({how}) {runs['acd']['process_wall_s']:.2f} s",
            "",
        )
    ]
    if runs.get("acd_source") and r.get("compiled"):
        rows.append(
            (
                "simulator, the same, acd on its source (ACD_COMPILED=0)",
                f"{runs['acd_source']['process_wall_s']:.2f} s = "
                f"{ratios['acd_source_over_acd']:.2f}x the compiled run",
                "",
            )
        )
    if runs.get("ciw"):
        rows.append(("simulator, Ciw on the same model", f"{runs['ciw']['process_wall_s']:.2f} s", ""))
        ok = ratios["ciw_over_acd"] >= 3
        rows.append(
            ("simulator, acd against Ciw", f"{ratios['ciw_over_acd']:.2f}x as fast", f"≥ 3x{_met(ok)}")
        )
    if runs.get("simpy"):
        rows.append(("simulator, SimPy on the same model", f"{runs['simpy']['process_wall_s']:.2f} s", ""))
        ok = ratios["simpy_over_acd"] >= 1
        rows.append(
            ("simulator, acd against SimPy", f"{ratios['simpy_over_acd']:.2f}x as fast", f"≥ 1x{_met(ok)}")
        )
    peak = r.get("campaign_peak_day")
    if peak:
        rows.append(
            (
                f"simulator, campaign-peak day ({_n(peak['offered'])} calls, {peak['agents']} agents), "
                f"whole process, acd {how}",
                f"{peak['process_wall_s']:.1f} s",
                f"< 5 s{_met(peak['process_wall_s'] < 5)}",
            )
        )
    source = r.get("campaign_peak_day_source")
    if source and r.get("compiled"):
        rows.append(
            ("simulator, campaign-peak day, acd on its source", f"{source['process_wall_s']:.1f} s", "")
        )
    return rows


def answer_rate_rows(r: dict[str, Any]) -> list[Row]:
    rows = []
    bars = r["bars"]
    for day, d in r["days"].items():
        fifo, acd = d["fifo"], d["acd"]
        peak = day == "campaign-peak-day"
        rows.append(
            (
                f"answer rate, {day} (simulated, seed {d['seed']}): FIFO -> acd (policies: config)",
                f"{100 * fifo['answer_rate']:.1f} % -> {100 * acd['answer_rate']:.1f} %",
                "≥ FIFO" + _met(acd["answer_rate"] >= fifo["answer_rate"]),
            )
        )
        rows.append(
            (
                f"contact rate, {day}: FIFO -> acd",
                f"{100 * fifo['contact_rate']:.1f} % -> {100 * acd['contact_rate']:.1f} %",
                (
                    "≥ 85 % and FIFO + 3 points"
                    + _met(bars["peak_contact_at_least_85"] and bars["peak_contact_3_points_above_fifo"])
                )
                if peak
                else "",
            )
        )
        rows.append(
            (
                f"service level, {day}: FIFO -> acd",
                f"{100 * fifo['service_level']:.1f} % -> {100 * acd['service_level']:.1f} %",
                ("≥ FIFO" + _met(bars["peak_service_level_not_below_fifo"])) if peak else "",
            )
        )
        if "by_skill" in fifo:  # results from before the per-skill figures have none
            skill, gap = worst_skill(fifo, acd)
            rows.append(
                (
                    f"answer rate, {day}, the skill acd lifts least ({skill}): FIFO -> acd",
                    f"{100 * fifo['by_skill'][skill]['answer_rate']:.1f} % -> "
                    f"{100 * acd['by_skill'][skill]['answer_rate']:.1f} %",
                    "≥ FIFO" + _met(gap >= 0),
                )
            )
            if "answered" in fifo["by_skill"][skill]:  # counts: results from 18th session on
                skill, before, after = least_margin(fifo, acd)
                rows.append(
                    (
                        f"callers answered by the national line, {day}: the skill with the least "
                        f"margin ({skill}), FIFO -> acd",
                        f"{before:,} -> {after:,}",
                        "≥ FIFO" + _met(after >= before),
                    )
                )
        if "mean_hold_s" in fifo:  # results from the 19th session on
            held = (fifo["mean_hold_s"], acd["mean_hold_s"], fifo["asa_direct_s"], acd["asa_direct_s"])
            rows.append(
                (
                    f"time callers held the line, {day}: mean over all calls FIFO -> acd (answered "
                    "on the line: mean wait)",
                    "{:.0f} s -> {:.0f} s ({:.0f} s -> {:.0f} s)".format(*held),
                    "≤ FIFO" + _met(held[1] <= held[0]),
                )
            )
        rows.append(
            (
                f"expected wait told vs waited, {day}: mean absolute error FIFO / acd",
                f"{fifo['ewt_mae_s']:.1f} s / {acd['ewt_mae_s']:.1f} s",
                "",
            )
        )
    return rows


def records_rows(r: dict[str, Any]) -> list[Row]:
    n = r["settings"]["records"]
    rows = [
        (
            "call records: the sink's hooks, per call (engine side, no database)",
            f"{r['engine']['sink_hooks_us_per_call']:.2f} µs",
            "",
        )
    ]
    for db in ("sqlite", "postgresql"):
        d = r[db]
        q = d["queries"]
        rows += [
            (f"call records, {db}: writer (upserts)", f"{_n(d['write_records_per_s'])} records/s", ""),
            (
                f"call records, {db}: indicators over {_n(n)} records, by day (a month) / by site (a year)",
                f"{q['by_day_one_month']['seconds']:.2f} s / {q['by_site_one_year']['seconds']:.2f} s",
                "",
            ),
        ]
    return rows


SOURCES: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "answer_rate": answer_rate_rows,
    "router": router_rows,
    "http": http_rows,
    "redis_store": redis_store_rows,
    "memory": memory_rows,
    "sim": sim_rows,
    "records": records_rows,
}


def provenance(name: str, result: dict[str, Any]) -> str:
    meta = result.get("meta") or {}
    revision = meta.get("git_revision") or "?"
    if meta.get("git_dirty"):
        revision += "+"
    load = (meta.get("load_at_start") or {}).get("loadavg")
    load_text = f", load {load[0]:.1f}" if load else ", load not recorded"
    return f"`{name}.json` @ {revision}, {str(meta.get('date', '?'))[:16].replace('T', ' ')}{load_text}"


def render(results: Path = RESULTS) -> str:
    lines = [
        BEGIN,
        "| figure | measured | bar | result (revision, date UTC, 1-min load at start) |",
        "| --- | --- | --- | --- |",
    ]
    commands = []
    for name, rows_of in SOURCES.items():
        path = results / f"{name}.json"
        if not path.is_file():
            lines.append(f"| {name} | not measured | | `{name}.json` missing |")
            continue
        result = json.loads(path.read_text())
        if result.get("error"):
            failed = f"the run failed: {result['error'][:80]}"
            lines.append(f"| {name} | {failed} | | {provenance(name, result)} |")
            continue
        where = provenance(name, result)
        lines += [f"| {figure} | {value} | {bar} | {where} |" for figure, value, bar in rows_of(result)]
        commands.append(f"`{(result.get('meta') or {}).get('command', '?')}`")
    lines += ["", "Commands: " + ", ".join(commands) + ".", END]
    return "\n".join(lines)


def readme_block(text: str) -> str | None:
    if BEGIN not in text or END not in text:
        return None
    return text[text.index(BEGIN) : text.index(END) + len(END)]


def main(argv: list[str]) -> int:
    table = render()
    if argv == ["--write"]:
        text = README.read_text()
        block = readme_block(text)
        if block is None:
            print(f"README.md has no {BEGIN!r} ... {END!r} markers", file=sys.stderr)
            return 1
        README.write_text(text.replace(block, table))
        return 0
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
