"""`acd staff`: agents needed for one skill, by Erlang C, by Erlang A, and by the simulator.

The closed forms are in acd/sim/erlang.py. The simulator's answer runs the engine on a one-skill
scenario (the same arrival rate, handle time and patience) for a few staffing levels around
Erlang A's answer and keeps the fewest agents whose simulated figure meets the target.
"""

from __future__ import annotations

import math
from typing import Any

from acd.config import Config
from acd.sim.erlang import agents_for, erlang_a, erlang_c
from acd.sim.loop import simulate
from acd.sim.report import report
from acd.sim.scenario import scenario_from_dict


def one_skill_scenario(
    config: Config,
    skill: str,
    n: int,
    rate_per_min: float,
    handle: dict[str, Any],
    patience_s: float | None,
    threshold_s: float,
    calls: int,
    seed: int,
) -> Any:
    site = config.sites[0].id
    data: dict[str, Any] = {
        "name": f"staff {skill} x{n}",
        "seed": seed,
        "calls": calls,
        "warmup_calls": calls // 10,
        "hours": "always",
        "service_level_s": threshold_s,
        "arrivals": [{"skill": skill, "rate_per_min": rate_per_min}],
        "handle_time": handle,
        "agents": [{"count": n, "skills": {skill: 5}, "site": site}],
    }
    if patience_s is not None:
        data["patience"] = {"dist": "exponential", "mean_s": patience_s}
    return scenario_from_dict(data)


def staff(
    config: Config,
    *,
    skill: str,
    rate_per_min: float,
    aht_s: float,
    patience_s: float | None,
    service_level: float | None = None,
    threshold_s: float = 20.0,
    answer_rate: float | None = None,
    handle: dict[str, Any] | None = None,
    simulate_calls: int = 20000,
    seed: int = 1,
    router: str = "numba",
) -> dict[str, Any]:
    lam, mu = rate_per_min / 60.0, 1.0 / aht_s
    theta = 1.0 / patience_s if patience_s else 0.0
    target = {"service_level": service_level, "threshold_s": threshold_s, "answer_rate": answer_rate}
    out: dict[str, Any] = {
        "skill": skill,
        "rate_per_min": rate_per_min,
        "aht_s": aht_s,
        "patience_s": patience_s,
        "offered_load_erlangs": lam / mu,
        "target": {k: v for k, v in target.items() if v is not None},
    }
    kwargs = {"service_level": service_level, "threshold_s": threshold_s, "answer_rate": answer_rate}
    c = agents_for(lam, mu, theta, model="erlang_c", **kwargs)
    a = agents_for(lam, mu, theta, model="erlang_a", **kwargs) if theta > 0 else c
    out["erlang_c"] = c.as_dict() if c else None
    out["erlang_a"] = a.as_dict() if a else None
    if simulate_calls <= 0 or a is None:
        return out
    handle = handle or {"dist": "exponential", "mean_s": aht_s}

    def met(rep: dict[str, Any]) -> bool:
        if service_level is not None:
            return rep["service_level"] >= service_level
        return rep["answer_rate"] >= answer_rate  # type: ignore[operator]

    runs: dict[int, dict[str, Any]] = {}

    def run(n: int) -> dict[str, Any]:
        if n not in runs:
            sc = one_skill_scenario(
                config, skill, n, rate_per_min, handle, patience_s, threshold_s, simulate_calls, seed
            )
            runs[n] = report(simulate(sc, config, router=router))
        return runs[n]

    n = a.n
    if met(run(n)):
        while n > 1 and met(run(n - 1)):
            n -= 1
    else:
        while not met(run(n)):
            n += 1
            if n > 4 * a.n + 10:
                break
    rep = run(n)
    out["simulator"] = {
        "n": n,
        **{
            k: rep[k]
            for k in (
                "p_wait",
                "p_abandon",
                "mean_wait_s",
                "asa_s",
                "service_level",
                "answer_rate",
                "occupancy",
            )
        },
        "ci95": rep["ci95"],
        "calls": simulate_calls,
        "runs": sorted(runs),
    }
    out["closed_forms_at_simulator_n"] = {
        "erlang_c": erlang_c(n, lam, mu, threshold_s).as_dict(),
        "erlang_a": erlang_a(n, lam, mu, theta, threshold_s).as_dict() if theta > 0 else None,
    }
    return out


def staff_text(res: dict[str, Any]) -> str:
    target = res["target"]
    goal = (
        f"service level {100 * target['service_level']:.0f}% within {target['threshold_s']:g} s"
        if "service_level" in target
        else f"answer rate {100 * target['answer_rate']:.0f}%"
    )
    patience = f"{res['patience_s']:g} s" if res["patience_s"] else "none (nobody abandons)"
    lines = [
        f"{res['skill']}: {res['rate_per_min']:g} calls/min, handle {res['aht_s']:g} s, patience {patience}",
        f"offered load {res['offered_load_erlangs']:.1f} Erlangs; target: {goal}",
        "",
        f"{'model':<12} {'agents':>6} {'SL':>7} {'answer':>7} {'abandon':>8} {'ASA s':>7} {'occup.':>7}",
    ]

    def row(name: str, fig: dict[str, Any] | None) -> str:
        if fig is None:
            return f"{name:<12} {'-':>6}"
        pct = lambda x: "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"  # noqa: E731
        return (
            f"{name:<12} {fig['n']:>6} {pct(fig['service_level']):>7} {pct(fig['answer_rate']):>7} "
            f"{pct(fig['p_abandon']):>8} {fig['asa_s']:>7.1f} {pct(fig['occupancy']):>7}"
        )

    lines.append(row("Erlang C", res["erlang_c"]))
    if res["patience_s"]:
        lines.append(row("Erlang A", res["erlang_a"]))
    if "simulator" in res:
        lines.append(row("simulator", res["simulator"]))
        sim = res["simulator"]
        lines.append(f"\nsimulator: {sim['calls']} calls per run, staffing levels tried: {sim['runs']}")
    return "\n".join(lines)
