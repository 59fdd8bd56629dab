"""The simulator against the closed forms, within statistical tolerance.

Each model runs `SEEDS` long simulations through the engine (numba router); their figures are
pooled (the mean over the runs) and compared with the closed forms of acd/sim/erlang.py. The
tolerance is `Z` standard errors of the pooled figure plus `BIAS` for what is left of the initial
transient. A run's standard error comes from batch means (20 batches of consecutive calls after a
warm-up, which absorb the autocorrelation of waits); occupancy's from the busy time being a sum of
about N handle times over a Poisson count of arrivals: relative variance (1 + cv²) / N, cv the
coefficient of variation of the handle time (1 for the exponential). With fixed seeds every test
is deterministic.

How tight: `test_the_check_fails_when_a_rate_is_off_by_2_percent` runs the same check against
references computed with the arrival or the service rate 2 % off, and expects each to fail; with
the true rates it passes. (At 30,000 calls and one seed, as before, rates from 0.97x to 1.06x of
the truth passed.)

Reference values (computed in acd/sim/erlang.py, cross-checked in test_erlang.py):
- M/M/10, a = 8 Erlangs (rho 0.8), AHT 60 s: Erlang C 0.4092, mean wait 12.28 s, SL(20 s) 0.7899;
  tables: e.g. Gross et al., *Fundamentals of Queueing Theory*, 4th ed., table of M/M/c, or any
  Erlang C calculator.
- M/M/20+M, a = 20 (rho 1), AHT 60 s, patience 60 s: P(wait) 0.5297, P(abandon) 0.0888, mean wait
  5.33 s, SL(20 s) 0.8531 (Garnett, Mandelbaum & Reiman 2002, eqs. 3.2-3.5; the 4CallCenters tool
  of Technion's Service Engineering course computes the same).
- Pooling: two skills of a = 4 each: dedicated M/M/6 twice (Erlang C 0.2848) against one pooled
  M/M/12 (Erlang C 0.1778), the classic economies of scale (Whitt, "Partitioning customers into
  service groups", Management Science 45(11), 1999).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from acd.sim.erlang import erlang_a, erlang_c
from acd.sim.stats import t975
from tests.sim.conftest import run, scenario

pytestmark = pytest.mark.slow  # about a minute in all: deselect with -m "not slow"

Z = 3.5  # standard errors of the pooled figure
BIAS = 0.003  # absolute allowance for shares (waits: relative, 1 %)
CALLS, WARMUP = 60000, 2000
POOLING_CALLS = 30000  # the pooling test compares two designs, far apart
SEEDS = (11, 21, 31, 41)
METRICS_C = ("p_wait", "mean_wait_s", "asa_s", "service_level", "occupancy")
METRICS_A = ("p_wait", "p_abandon", "mean_wait_s", "asa_s", "service_level", "answer_rate", "occupancy")


def pooled(reports: list[dict]) -> dict[str, tuple[float, float]]:
    """Per metric, the mean over the runs and its standard error."""
    out: dict[str, tuple[float, float]] = {}
    k = len(reports)
    for metric in (*METRICS_A, "asa_s"):
        values = [r[metric] for r in reports]
        if metric == "occupancy":
            ses = [r[metric] * math.sqrt(2.0 / r["answered"]) for r in reports]  # exponential: cv 1
        else:
            ses = [r["ci95"][metric] / t975(19) for r in reports]
        out[metric] = (sum(values) / k, math.sqrt(sum(se * se for se in ses)) / k)
    return out


def mismatches(
    figures: dict[str, tuple[float, float]], theory: object, metrics: tuple[str, ...]
) -> list[str]:
    """The metrics whose pooled figure lies outside the tolerance around the theory's value."""
    out = []
    for metric in metrics:
        got, se = figures[metric]
        expected = getattr(theory, metric)
        allowance = 0.01 * expected if metric in ("mean_wait_s", "asa_s") else BIAS
        if abs(got - expected) > Z * se + allowance:
            out.append(
                f"{metric}: simulated {got:.4f}, theory {expected:.4f}, tolerance {Z * se + allowance:.4f}"
            )
    return out


# The two models: the scenario's rates and the closed form computed from rates (lam, mu) per second.
MODELS: dict[str, tuple[dict, Callable[[float, float], object], tuple[str, ...]]] = {
    "erlang_c": (
        {},  # the conftest scenario: M/M/10, 8 calls a minute, AHT 60 s
        lambda lam, mu: erlang_c(10, lam, mu, 20),
        METRICS_C,
    ),
    "erlang_a": (
        {
            "arrivals": [{"skill": "impot_revenu", "rate_per_min": 20}],
            "patience": {"dist": "exponential", "mean_s": 60},
            "agents": [{"count": 20, "skills": {"impot_revenu": 5}, "site": "lille"}],
        },
        lambda lam, mu: erlang_a(20, lam, mu, 1 / 60, 20),
        METRICS_A,
    ),
}
RATES = {"erlang_c": (8 / 60, 1 / 60), "erlang_a": (20 / 60, 1 / 60)}


@pytest.fixture(scope="module")
def runs(config) -> dict[str, list[dict]]:
    """Each model's runs, one per seed, shared by the tests of this module."""
    return {
        name: [run(config, scenario(calls=CALLS, warmup_calls=WARMUP, seed=seed, **keys)) for seed in SEEDS]
        for name, (keys, _, _) in MODELS.items()
    }


def test_mmn_matches_erlang_c_for_wait_probability_mean_wait_and_service_level(runs) -> None:
    _, theory, metrics = MODELS["erlang_c"]
    assert mismatches(pooled(runs["erlang_c"]), theory(*RATES["erlang_c"]), metrics) == []
    for rep in runs["erlang_c"]:
        assert rep["p_abandon"] == 0 and rep["answered"] == rep["offered"]


def test_mmn_with_impatience_matches_erlang_a_including_abandonment(runs) -> None:
    _, theory, metrics = MODELS["erlang_a"]
    assert mismatches(pooled(runs["erlang_a"]), theory(*RATES["erlang_a"]), metrics) == []
    for rep in runs["erlang_a"]:
        assert rep["answered"] + rep["abandoned"] == rep["offered"]


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("rate", ["arrival", "service"])
@pytest.mark.parametrize("factor", [0.98, 1.02])
def test_the_check_fails_when_a_rate_is_off_by_2_percent(runs, model: str, rate: str, factor: float) -> None:
    _, theory, metrics = MODELS[model]
    lam, mu = RATES[model]
    wrong = theory(lam * factor, mu) if rate == "arrival" else theory(lam, mu * factor)
    assert mismatches(pooled(runs[model]), wrong, metrics), (
        f"{model}: the check passes against a reference with the {rate} rate x{factor}"
    )


def test_pooling_two_skills_in_one_group_matches_erlang_c_and_beats_dedicated_groups(config) -> None:
    arrivals = [
        {"skill": "impot_revenu", "rate_per_min": 4},
        {"skill": "paiement", "rate_per_min": 4},
    ]
    dedicated = run(
        config,
        scenario(
            calls=POOLING_CALLS,
            warmup_calls=WARMUP,
            seed=13,
            arrivals=arrivals,
            agents=[
                {"count": 6, "skills": {"impot_revenu": 5}, "site": "lille"},
                {"count": 6, "skills": {"paiement": 5}, "site": "pau"},
            ],
        ),
    )
    together = run(
        config,
        scenario(
            calls=POOLING_CALLS,
            warmup_calls=WARMUP,
            seed=13,
            arrivals=arrivals,
            agents=[{"count": 12, "skills": {"impot_revenu": 5, "paiement": 5}, "site": "lille"}],
        ),
    )
    one_group = erlang_c(12, 8 / 60, 1 / 60, 20)
    each_group = erlang_c(6, 4 / 60, 1 / 60, 20)
    metrics = ("p_wait", "mean_wait_s", "service_level")
    assert mismatches(pooled([together]), one_group, metrics) == []
    assert mismatches(pooled([dedicated]), each_group, metrics) == []
    # per skill, the dedicated groups are each an M/M/6
    for skill in ("impot_revenu", "paiement"):
        assert dedicated["by_skill"][skill]["p_wait"] == pytest.approx(each_group.p_wait, abs=0.06)
    # and pooling wins, by far more than the noise
    gap = dedicated["mean_wait_s"] - together["mean_wait_s"]
    assert gap > Z * (dedicated["ci95"]["mean_wait_s"] + together["ci95"]["mean_wait_s"]) / t975(19)
    assert together["service_level"] > dedicated["service_level"]
