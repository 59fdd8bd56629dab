"""Without `policies`, a one-skill scenario is exactly a first-come first-served G/G/n+G queue:
replayed call by call from the simulator's own random streams (the same seeds and names) by the
Kiefer-Wolfowitz recursion (a call waits until the earliest of the n agents is free, or abandons if
that wait exceeds its patience), every figure of the report matches to rounding. No statistics: a
call routed out of order, a handle time or patience drawn from the wrong distribution, a warm-up,
threshold or stop rule misapplied shows as a mismatch.

What this adds to test_theory.py (Erlang C and A, exponential times, the default threshold, calls):
constant and lognormal handle times, constant patience, `warmup_calls`, `service_level_s` other
than 20 (and 0), `duration_s` instead of `calls`, and the exact counts rather than a tolerance."""

from __future__ import annotations

import heapq
import math
from typing import Any

import pytest

from acd.sim.scenario import Scenario
from acd.sim.streams import durations, unit_exponential
from tests.sim.conftest import run, scenario


def fcfs(sc: Scenario) -> dict[str, float]:
    """The report's figures of `sc` (one stream, default routing), by the recursion."""
    (a,) = sc.arrivals
    tag = f"0/{a.skill}"
    rate = a.constant_rate()
    gaps = unit_exponential(sc.seed, f"arrivals/{tag}")
    handle = durations(sc.seed, f"handle/{tag}", a.handle_time or sc.handle_time)
    pdist = a.patience or sc.patience
    patience = durations(sc.seed, f"patience/{tag}", pdist) if pdist is not None else None
    free = [0.0] * sum(g.count for g in sc.agents)  # when each agent is next free (a heap)
    end = sc.start_ts + sc.duration_s if sc.duration_s is not None else math.inf
    t = sc.start_ts + gaps.next() / rate
    calls: list[tuple[bool, float]] = []  # (answered, wait)
    while (sc.calls is None or len(calls) < sc.calls) and t < end:
        h = handle.next()
        p = patience.next() if patience is not None else math.inf
        nxt = t + gaps.next() / rate
        wait = max(0.0, free[0] - t)
        if wait > p:
            calls.append((False, p))
        else:
            heapq.heapreplace(free, t + wait + h)
            calls.append((True, wait))
        t = nxt
    measured = calls[sc.warmup_calls :]
    n = len(measured)
    answered = [w for ok, w in measured if ok]
    return {
        "offered": n,
        "answered": len(answered),
        "abandoned": n - len(answered),
        "p_wait": sum(1 for _, w in measured if w > 0) / n,
        "p_abandon": (n - len(answered)) / n,
        "mean_wait_s": sum(w for _, w in measured) / n,
        "asa_s": sum(answered) / len(answered),
        # nobody is offered a callback: every caller held the line for all of its wait
        "mean_hold_s": sum(w for _, w in measured) / n,
        "asa_direct_s": sum(answered) / len(answered),
        "service_level": sum(1 for w in answered if w <= sc.service_level_s) / n,
        "answer_rate": len(answered) / n,
        "contact_rate": len(answered) / n,
    }


CASES: dict[str, dict[str, Any]] = {
    "M/M/10": {},
    "warm-up": {"warmup_calls": 700},
    "threshold 5 s": {"service_level_s": 5},
    "threshold 0 s": {"service_level_s": 0},
    "M/D/10": {"handle_time": {"dist": "constant", "mean_s": 70}},
    "M/LN/10": {"handle_time": {"dist": "lognormal", "mean_s": 70, "sd_s": 90}},
    "M/M/10+M": {
        "patience": {"dist": "exponential", "mean_s": 60},
        "arrivals": [{"skill": "impot_revenu", "rate_per_min": 11}],
    },
    "M/M/10+D": {
        "patience": {"dist": "constant", "mean_s": 30},
        "arrivals": [{"skill": "impot_revenu", "rate_per_min": 11}],
    },
    "duration_s": {"calls": None, "duration_s": 20000, "warmup_calls": 300},
    "per-stream handle time": {
        "arrivals": [
            {"skill": "impot_revenu", "rate_per_min": 9, "handle_time": {"dist": "constant", "mean_s": 50}}
        ]
    },
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_scenario_without_policies_is_exactly_a_fcfs_queue(config, case: str) -> None:
    keys = {"seed": 3, "calls": 5000, **CASES[case]}
    sc = scenario(**keys)
    rep = run(config, sc)
    expected = fcfs(sc)
    assert {k: rep[k] for k in expected} == pytest.approx(expected, rel=1e-5, abs=1e-5)
    assert rep["by_skill"]["impot_revenu"]["offered"] == rep["offered"]
