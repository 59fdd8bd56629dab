"""The closed forms themselves: against a brute-force birth-death chain, their limits, and
published values."""

from __future__ import annotations

import math

import pytest

from acd.sim.erlang import agents_for, erlang_a, erlang_a_function, erlang_b, erlang_c, erlang_c_probability


def _birth_death(n: int, lam: float, mu: float, theta: float, states: int = 4000) -> list[float]:
    p = [1.0]
    for k in range(1, states):
        p.append(p[-1] * lam / (min(k, n) * mu + max(0, k - n) * theta))
    total = sum(p)
    return [x / total for x in p]


def test_erlang_b_matches_published_table_values() -> None:
    # Erlang B tables (e.g. ITU-T E.501 annex; any teletraffic table): B(10, 5) = 0.01838,
    # B(20, 15) = 0.04559, B(1, 1) = 0.5
    assert erlang_b(10, 5.0) == pytest.approx(0.018385, abs=1e-6)
    assert erlang_b(20, 15.0) == pytest.approx(0.045593, abs=1e-6)
    assert erlang_b(1, 1.0) == 0.5


def test_erlang_c_matches_published_value_and_birth_death_chain() -> None:
    # Erlang C(10 agents, 8 Erlangs) = 0.4092 (standard Erlang C tables)
    assert erlang_c_probability(10, 8.0) == pytest.approx(0.40918, abs=1e-4)
    p = _birth_death(10, 8 / 60, 1 / 60, 0.0)
    assert erlang_c_probability(10, 8.0) == pytest.approx(sum(p[10:]), rel=1e-9)


def test_erlang_c_is_saturated_when_load_reaches_the_agents() -> None:
    fig = erlang_c(10, 10 / 60, 1 / 60, 20)
    assert fig.p_wait == 1.0 and math.isinf(fig.mean_wait_s)


@pytest.mark.parametrize(("n", "lam", "theta"), [(20, 20 / 60, 1 / 60), (50, 0.8, 1 / 120), (5, 0.2, 1 / 30)])
def test_erlang_a_matches_the_birth_death_chain(n: int, lam: float, theta: float) -> None:
    mu = 1 / 60
    p = _birth_death(n, lam, mu, theta)
    p_wait = sum(p[n:])
    # an arrival finding j in line abandons with probability (j+1) theta / (n mu + (j+1) theta)
    p_abandon = sum(p[n + j] * (j + 1) * theta / (n * mu + (j + 1) * theta) for j in range(len(p) - n))
    fig = erlang_a(n, lam, mu, theta, 20)
    assert fig.p_wait == pytest.approx(p_wait, rel=1e-9)
    assert fig.p_abandon == pytest.approx(p_abandon, rel=1e-9)
    # mean queue length by Little: E[Q] = lam E[W]
    queue = sum(p[n + j] * j for j in range(len(p) - n))
    assert fig.mean_wait_s == pytest.approx(queue / lam, rel=1e-9)


def test_erlang_a_function_closed_form_equals_its_series() -> None:
    for x, y in [(100.0, 96.0), (20.0, 20.0), (3.5, 12.0)]:
        series, term, j = 1.0, 1.0, 0
        while True:
            j += 1
            term *= y / (x + j)
            series += term
            if j > y and term < 1e-18 * series:
                break
        assert erlang_a_function(x, y) == pytest.approx(series, rel=1e-10)


def test_erlang_a_tends_to_erlang_c_as_patience_grows() -> None:
    c = erlang_c(50, 0.8, 1 / 60, 20)
    a = erlang_a(50, 0.8, 1 / 60, 1e-8, 20)
    for metric in ("p_wait", "mean_wait_s", "asa_s", "service_level"):
        assert getattr(a, metric) == pytest.approx(getattr(c, metric), rel=1e-3)


def test_erlang_a_service_level_bounds() -> None:
    fig0 = erlang_a(20, 20 / 60, 1 / 60, 1 / 60, 0.0)
    assert fig0.service_level == pytest.approx(1 - fig0.p_wait, abs=1e-12)
    fig_inf = erlang_a(20, 20 / 60, 1 / 60, 1 / 60, 1e6)
    assert fig_inf.service_level == pytest.approx(fig_inf.answer_rate, abs=1e-9)


def test_staffing_is_the_fewest_agents_meeting_the_target() -> None:
    lam, mu, theta = 0.8, 1 / 60, 1 / 120
    for model in ("erlang_c", "erlang_a"):
        fig = agents_for(lam, mu, theta, model=model, service_level=0.8, threshold_s=20)
        assert fig is not None and fig.service_level >= 0.8
        fewer = (
            erlang_c(fig.n - 1, lam, mu, 20)
            if model == "erlang_c"
            else erlang_a(fig.n - 1, lam, mu, theta, 20)
        )
        assert fewer.service_level < 0.8
    fig = agents_for(lam, mu, theta, model="erlang_a", answer_rate=0.85)
    assert fig is not None and fig.answer_rate >= 0.85 > erlang_a(fig.n - 1, lam, mu, theta, 20).answer_rate
    # with impatient callers fewer agents reach the same service level than Erlang C says
    c = agents_for(lam, mu, theta, model="erlang_c", service_level=0.8)
    a = agents_for(lam, mu, theta, model="erlang_a", service_level=0.8)
    assert a is not None and c is not None and a.n < c.n
