"""The simulator against the closed forms, within statistical tolerance.

Each test runs one long simulation through the engine (numba router) and compares its figures
with the closed forms of acd/sim/erlang.py. The tolerance is `Z` standard errors, the standard
error from batch means (20 batches of consecutive calls after a warm-up, which absorb the
autocorrelation of waits), plus `BIAS` for what is left of the initial transient: with a fixed seed
the test is deterministic, and a wrong model (a rate off by a few percent) lands far outside.

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

import pytest

from acd.sim.erlang import erlang_a, erlang_c
from tests.sim.conftest import run, scenario

pytestmark = pytest.mark.slow  # about 40 s in all: deselect with -m "not slow"

Z = 4.0  # standard errors
BIAS = 0.005  # absolute allowance for shares (waits: relative, see _close)
CALLS, WARMUP = 30000, 2000


def _close(rep: dict, metric: str, expected: float) -> None:
    got = rep[metric]
    se_band = Z * rep["ci95"][metric] / 2.093  # ci95 is t(19) standard errors
    allowance = BIAS if metric not in ("mean_wait_s", "asa_s") else 0.02 * expected
    assert abs(got - expected) <= se_band + allowance, (
        f"{metric}: simulated {got:.4f}, theory {expected:.4f}, tolerance {se_band + allowance:.4f}"
    )


def test_mmn_matches_erlang_c_for_wait_probability_mean_wait_and_service_level(config) -> None:
    sc = scenario(calls=CALLS, warmup_calls=WARMUP, seed=11)
    rep = run(config, sc)
    theory = erlang_c(10, 8 / 60, 1 / 60, 20)
    for metric in ("p_wait", "mean_wait_s", "asa_s", "service_level"):
        _close(rep, metric, getattr(theory, metric))
    assert rep["p_abandon"] == 0 and rep["answered"] == rep["offered"]
    assert rep["occupancy"] == pytest.approx(theory.occupancy, abs=0.015)


def test_mmn_with_impatience_matches_erlang_a_including_abandonment(config) -> None:
    sc = scenario(
        calls=CALLS,
        warmup_calls=WARMUP,
        seed=12,
        arrivals=[{"skill": "impot_revenu", "rate_per_min": 20}],
        patience={"dist": "exponential", "mean_s": 60},
        agents=[{"count": 20, "skills": {"impot_revenu": 5}, "site": "lille"}],
    )
    rep = run(config, sc)
    theory = erlang_a(20, 20 / 60, 1 / 60, 1 / 60, 20)
    for metric in ("p_wait", "p_abandon", "mean_wait_s", "asa_s", "service_level", "answer_rate"):
        _close(rep, metric, getattr(theory, metric))
    assert rep["answered"] + rep["abandoned"] == rep["offered"]
    assert rep["occupancy"] == pytest.approx(theory.occupancy, abs=0.015)


def test_pooling_two_skills_in_one_group_matches_erlang_c_and_beats_dedicated_groups(config) -> None:
    arrivals = [
        {"skill": "impot_revenu", "rate_per_min": 4},
        {"skill": "paiement", "rate_per_min": 4},
    ]
    dedicated = run(
        config,
        scenario(
            calls=CALLS,
            warmup_calls=WARMUP,
            seed=13,
            arrivals=arrivals,
            agents=[
                {"count": 6, "skills": {"impot_revenu": 5}, "site": "lille"},
                {"count": 6, "skills": {"paiement": 5}, "site": "pau"},
            ],
        ),
    )
    pooled = run(
        config,
        scenario(
            calls=CALLS,
            warmup_calls=WARMUP,
            seed=13,
            arrivals=arrivals,
            agents=[{"count": 12, "skills": {"impot_revenu": 5, "paiement": 5}, "site": "lille"}],
        ),
    )
    one_group = erlang_c(12, 8 / 60, 1 / 60, 20)
    each_group = erlang_c(6, 4 / 60, 1 / 60, 20)
    for metric in ("p_wait", "mean_wait_s", "service_level"):
        _close(pooled, metric, getattr(one_group, metric))
        _close(dedicated, metric, getattr(each_group, metric))
    # per skill, the dedicated groups are each an M/M/6
    for skill in ("impot_revenu", "paiement"):
        assert dedicated["by_skill"][skill]["p_wait"] == pytest.approx(each_group.p_wait, abs=0.06)
    # and pooling wins, by far more than the noise
    gap = dedicated["mean_wait_s"] - pooled["mean_wait_s"]
    assert gap > Z * (dedicated["ci95"]["mean_wait_s"] + pooled["ci95"]["mean_wait_s"]) / 2.093
    assert pooled["service_level"] > dedicated["service_level"]
