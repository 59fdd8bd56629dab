"""The report of a run: the contract's JSON object, and the same as a readable table."""

from __future__ import annotations

import math
from typing import Any

from acd.sim.loop import Outcome
from acd.sim.stats import batch_intervals, figures

#: The contract's fields, in the order the table shows them.
CONTRACT_FIELDS = (
    "offered",
    "answered",
    "abandoned",
    "p_wait",
    "p_abandon",
    "mean_wait_s",
    "asa_s",
    "service_level",
    "occupancy",
)


def _clean(x: Any) -> Any:
    if isinstance(x, float):
        return None if math.isnan(x) else round(x, 6)
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    return x


def report(outcome: Outcome) -> dict[str, Any]:
    """One JSON-ready object: the contract's figures overall and `by_skill`, and the run's extras."""
    stats = outcome.stats
    sc = outcome.scenario
    overall: dict[str, Any] = {**figures(stats.totals()), "occupancy": outcome.occupancy.get("", math.nan)}
    by_skill = {}
    for i, skill in enumerate(stats.skills):
        row = stats.rows[i]
        if row[0] == 0 and skill not in outcome.occupancy:
            continue
        by_skill[skill] = {**figures(row), "occupancy": outcome.occupancy.get(skill, math.nan)}
    out: dict[str, Any] = {
        "scenario": sc.name,
        "seed": sc.seed,
        "policies": _policies(outcome),
        "router": outcome.router,
        **overall,
        "by_skill": by_skill,
        # batch means assume a stationary run: none for hourly profiles or a calendar
        "ci95": {k: v["ci95"] for k, v in batch_intervals(stats.batch_rows).items()}
        if _stationary(sc)
        else {},
        "callbacks": {
            "offered": outcome.callbacks_offered,
            "accepted": stats.callbacks["scheduled"],
            "dialled": stats.callbacks["dialing"],
            "answered": stats.callbacks["done"],
            "retried": stats.callbacks["retry"],
            "failed": stats.callbacks["failed"],
        },
        "appointments": {
            "booked": outcome.appointments_booked,
            "refused": outcome.appointments_refused,
            "done": stats.appointments["done"],
            "no_show": stats.appointments["no_show"],
        },
        "unknown_actions": dict(outcome.actions),
        "other_commands": dict(outcome.commands),
        "unresolved": outcome.unresolved,
        "unresolved_by": dict(stats.unresolved_by),
        "warmup_calls": sc.warmup_calls,
        "service_level_s": sc.service_level_s,
        "arrivals": outcome.arrivals,
        "unique_callers": outcome.unique_callers,
        # the expected wait told to queued callers against the wait that followed (answered ones)
        "ewt_accuracy": outcome.ewt,
        "redials": outcome.redials,
        "engine_events": outcome.events,
        "sim_s": outcome.sim_s,
        "wall_s": outcome.wall_s,
    }
    return _clean(out)


def _policies(outcome: Outcome) -> str:
    if outcome.baseline:
        return "baseline (FIFO single queue)"
    policies = outcome.scenario.policies
    if policies is None:
        return "default routing"
    return "config" if policies == "config" else "config with overrides"


def _stationary(sc: Any) -> bool:
    return sc.hours == "always" and all(a.per_hour is None for a in sc.arrivals)


def _fmt(key: str, v: Any) -> str:
    if v is None:
        return "-"
    if key in ("p_wait", "p_abandon", "service_level", "occupancy", "answer_rate", "contact_rate"):
        return f"{100 * v:.1f}%"
    if key.endswith("_s"):
        return f"{v:.1f}"
    return str(v)


#: what an unresolved call was still waiting for, in the text report
WAITING_FOR = {
    "line": "waiting on the line",
    "callback": "waiting for their callback, a window or a next dial after the end",
    "appointment": "with an appointment still to come",
}

TABLE_COLUMNS = (
    ("offered", "offered"),
    ("answered", "answered"),
    ("abandoned", "abandoned"),
    ("overflowed", "overflow"),
    ("answer_rate", "answer"),
    ("contact_rate", "contact"),
    ("p_wait", "waited"),
    ("p_abandon", "abandon"),
    ("mean_wait_s", "wait s"),
    ("mean_hold_s", "hold s"),
    ("asa_s", "ASA s"),
    ("service_level", "SL"),
    ("occupancy", "occup."),
)


def table(reports: list[tuple[str, dict[str, Any]]]) -> str:
    """Rows: overall and per skill, for each report (several side by side for --compare)."""
    head = ["", *(label for _, label in TABLE_COLUMNS)]
    rows: list[list[str]] = []
    for title, rep in reports:
        prefix = f"{title}: " if title else ""
        rows.append([f"{prefix}all", *(_fmt(k, rep.get(k)) for k, _ in TABLE_COLUMNS)])
        for skill, fig in rep["by_skill"].items():
            if fig.get("offered"):
                rows.append([f"{prefix}{skill}", *(_fmt(k, fig.get(k)) for k, _ in TABLE_COLUMNS)])
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [head, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def text(rep: dict[str, Any], title: str = "") -> str:
    sc = rep.get("scenario") or "scenario"
    lines = [
        f"{sc} (seed {rep['seed']}, {rep['policies']}): {rep['arrivals']} calls, "
        f"{rep['warmup_calls']} of warm-up, service level within {rep['service_level_s']:g} s",
        "",
        table([(title, rep)]),
        "",
    ]
    ci = rep.get("ci95") or {}
    if ci:
        parts = [f"{k} ±{_fmt(k, v)}" for k, v in ci.items()]
        lines.append("95% half-widths (batch means): " + ", ".join(parts))
    lines += _extras(rep)
    lines.append(
        f"simulated {rep['sim_s'] / 3600:.2f} h, {rep['engine_events']} engine events, "
        f"wall {rep['wall_s']:.2f} s"
    )
    return "\n".join(lines)


def _extras(rep: dict[str, Any]) -> list[str]:
    out = []
    cb = rep["callbacks"]
    if cb["offered"] or cb["accepted"]:
        out.append(
            f"callbacks: {cb['offered']} offered, {cb['accepted']} accepted, {cb['answered']} answered, "
            f"{cb['retried']} retried, {cb['failed']} failed"
        )
    ap = rep["appointments"]
    if ap["booked"] or ap["refused"]:
        out.append(
            f"appointments: {ap['booked']} booked ({ap['refused']} found no slot), {ap['done']} held, "
            f"{ap['no_show']} no-show"
        )
    ewt = rep.get("ewt_accuracy") or {}
    if ewt.get("n"):
        loads = ", ".join(
            f"{b['waiting_per_agent']}: {b['mae_s']:.0f}/{b['bias_s']:+.0f} s (n {b['n']})"
            for b in ewt["by_load"]
            if b["n"]
        )
        out.append(
            f"expected wait told vs waited (answered callers): mean absolute error {ewt['mae_s']:.1f} s, "
            f"bias {ewt['bias_s']:+.1f} s, n {ewt['n']}; by calls waiting per agent: {loads}"
        )
    if rep.get("redials"):
        out.append(f"callers: {rep['unique_callers']} (measured), {rep['redials']} redials after hanging up")
    if rep.get("closed"):
        out.append(f"closed (outside hours): {rep['closed']}")
    if rep.get("unknown_actions"):
        out.append(f"decisions the simulator does not play (not answered): {rep['unknown_actions']}")
    if rep.get("unresolved"):
        by = rep.get("unresolved_by") or {}
        parts = ", ".join(f"{n} {WAITING_FOR[k]}" for k, n in by.items() if n and k in WAITING_FOR)
        more = f" ({parts})" if parts else ""
        out.append(f"calls still unresolved at the end: {rep['unresolved']}{more}")
    return out


def compare_text(base: dict[str, Any], acd: dict[str, Any]) -> str:
    lines = [
        f"{acd.get('scenario') or 'scenario'} (seed {acd['seed']}): the same callers, twice",
        "",
        table([("FIFO", base), ("acd", acd)]),
        "",
    ]
    for title, rep in (("FIFO", base), ("acd", acd)):
        extras = _extras(rep)
        if extras:
            lines.append(f"{title}: " + "; ".join(extras))
    lines.append(f"wall: FIFO {base['wall_s']:.2f} s, acd {acd['wall_s']:.2f} s")
    return "\n".join(lines)
