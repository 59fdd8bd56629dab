"""The expected wait: the queue-length estimator with abandonment, against its sum, its limit
without abandonment, and the M/M/n+M queue."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from acd.engine.ewt import AbandonmentTracker, digamma_step, expected_wait


def test_the_digamma_step_matches_known_values() -> None:
    """psi(a + k) - psi(a): a harmonic number from a = 1, 2 x (1 + 1/3 + ... + 1/19) from 0.5,
    and a step taken wholly within the asymptotic series (a >= 10) against its sum."""
    assert digamma_step(1.0, 0) == 0.0
    assert digamma_step(1.0, 4) == pytest.approx(1 + 1 / 2 + 1 / 3 + 1 / 4, rel=1e-14)
    odd = 2 * math.fsum(1 / (2 * j + 1) for j in range(10))
    assert digamma_step(0.5, 10) == pytest.approx(odd, rel=1e-14)
    tail = math.fsum(1 / (12.5 + j) for j in range(1000))
    assert digamma_step(12.5, 1000) == pytest.approx(tail, rel=1e-13)


@given(
    position=st.integers(1, 400),
    staffed=st.integers(1, 800),
    aht=st.floats(30, 1200),
    theta=st.floats(1e-4, 0.1),
)
@settings(max_examples=200, deadline=None)
def test_the_closed_form_is_the_sum_over_the_callers_ahead(position, staffed, aht, theta) -> None:
    rate = staffed / aht
    direct = sum(1.0 / (rate + i * theta) for i in range(position))
    assert expected_wait(position, aht, staffed, 3600.0, theta) == pytest.approx(direct, rel=1e-9)


def test_without_abandonment_it_is_position_times_aht_over_agents() -> None:
    assert expected_wait(10, 300.0, 50, 3600.0) == pytest.approx(60.0)
    assert expected_wait(10, 300.0, 50, 3600.0, theta=0.0) == pytest.approx(60.0)


def test_abandonment_ahead_shortens_a_long_line_the_most() -> None:
    theta = 1 / 300  # patience of 5 minutes on average
    short = expected_wait(2, 300.0, 50, 3600.0, theta) / expected_wait(2, 300.0, 50, 3600.0)
    long = expected_wait(500, 300.0, 50, 3600.0, theta) / expected_wait(500, 300.0, 50, 3600.0)
    assert 0.99 < short < 1.0 and long < 0.5


def test_nobody_staffed_gives_the_configured_estimate() -> None:
    assert expected_wait(3, 300.0, 0, 3600.0, 0.01) == 3600.0


def test_the_abandonment_rate_is_abandons_over_the_time_waited() -> None:
    tracker = AbandonmentTracker(["a"], smoothing=1e-9)  # (almost) no forgetting: the plain MLE
    assert tracker["a"] == 0.0
    for _ in range(300):
        tracker.observe("a", 10.0, abandoned=False)
    for _ in range(30):
        tracker.observe("a", 20.0, abandoned=True)
    assert tracker["a"] == pytest.approx(30 / (3000 + 600), rel=1e-6)


def test_the_abandonment_rate_waits_for_enough_waiting_seen() -> None:
    tracker = AbandonmentTracker(["a"], smoothing=0.05)
    for _ in range(AbandonmentTracker.MIN_WAITS - 1):
        tracker.observe("a", 5.0, abandoned=True)
    assert tracker["a"] == 0.0
    tracker.observe("a", 5.0, abandoned=True)
    assert math.isfinite(tracker["a"]) and tracker["a"] > 0


def test_the_service_rate_counts_only_the_time_the_line_held_callers() -> None:
    from acd.engine.ewt import ServiceRateTracker

    tracker = ServiceRateTracker(["a"], window=10)
    assert tracker.rate("a", 0.0) is None
    tracker.line_busy("a", True, 100.0)
    for i in range(10):
        tracker.entered_service("a", 100.0 + 6.0 * i)  # one call every 6 s while callers wait
    tracker.line_busy("a", False, 160.0)
    assert tracker.rate("a", 160.0) == pytest.approx(10 / 60)
    assert tracker.rate("a", 1000.0) == pytest.approx(10 / 60)  # an empty line says nothing new
    tracker.line_busy("a", True, 1000.0)
    assert tracker.rate("a", 1000.0 + ServiceRateTracker.MAX_AGE_S + 60) is None  # nobody served


@given(
    position=st.integers(1, 400),
    staffed=st.integers(1, 800),
    aht=st.floats(30, 1200),
    theta=st.one_of(st.floats(5e-324, 1e-300), st.floats(1e-300, 1e-4), st.floats(1e-4, 1.0)),
)
@settings(max_examples=300, deadline=None)
def test_a_tiny_abandonment_rate_gives_the_wait_without_abandonment(position, staffed, aht, theta) -> None:
    """Many waits in a row without a hang-up make theta tiny (its moving sum of abandons decays by
    `aht_smoothing` at each one), never zero: the estimate must then tend to k x AHT / n. The two
    digammas of a + k and a (a = rate / theta, huge) are then equal in floating point, and their
    difference made the wait 0 s."""
    rate = staffed / aht
    direct = math.fsum(1.0 / (rate + i * theta) for i in range(position))
    assert expected_wait(position, aht, staffed, 3600.0, theta) == pytest.approx(direct, rel=1e-9)


def test_a_quiet_line_keeps_its_expected_wait() -> None:
    """The moving sum of abandons after one hang-up and then 1,000 answered waits (a quiet
    afternoon): theta about 5e-23. A line forming then still waits about k x AHT / n."""
    tracker = AbandonmentTracker(["a"], smoothing=0.05)
    tracker.observe("a", 30.0, abandoned=True)
    for _ in range(1000):
        tracker.observe("a", 10.0, abandoned=False)
    theta = tracker["a"]
    assert 0.0 < theta < 1e-20
    assert expected_wait(20, 300.0, 10, 3600.0, theta) == pytest.approx(20 * 300.0 / 10, rel=1e-9)


@given(
    position=st.integers(1, 5000),
    rate=st.floats(1e-4, 10.0),
    theta=st.one_of(st.just(0.0), st.floats(5e-324, 1e-3), st.floats(1e-3, 1.0)),
    cut=st.one_of(st.just(0.0), st.floats(0.0, 5000.0)),
    near=st.sampled_from([None, 1.0, 1.0 + 1e-6, 1.0 - 1e-6]),
)
@settings(max_examples=500, deadline=None)
def test_the_threshold_test_of_the_wait_says_what_the_wait_says(position, rate, theta, cut, near) -> None:
    """The overflow watch asks only which side of its threshold a wait lies on, mostly settled by
    the sum's bounds: always the side the sum itself gives, a cut at the wait itself included."""
    from acd.engine.ewt import expected_wait_at_rate, wait_at_rate_reaches

    wait = expected_wait_at_rate(position, rate, theta)
    if near is not None:  # at the wait, or just above or below it
        cut = wait * near
    assert wait_at_rate_reaches(position, rate, theta, cut) is (wait >= cut)


def test_a_team_logging_in_together_is_not_a_fast_line(router_kind, shipped_config) -> None:
    """Twelve agents who log in (or come back from a pause) together each take a waiting call at
    once: twelve entries into service within a second are a step in the line's capacity, not a
    rate of 12 calls a second. The wait told to the next callers stays about position x AHT /
    agents; before, it was 0.1 s (no callback or appointment offer, no overflow) until the line
    had been served for about one AHT (seen from outside: /work/notes/audit-api.md, D1)."""
    from acd.engine import Engine
    from tests.conftest import Driver

    d = Driver(Engine(shipped_config, router=router_kind))
    d.now = datetime(2026, 11, 17, 9, 0, tzinfo=ZoneInfo("Europe/Paris")).timestamp()
    team = [a.id for a in shipped_config.agents if set(a.skills) == {"paiement"}][:12]
    assert len(team) == 12
    for k in range(40):
        assert d.offer(f"c{k}", skill="paiement")["action"] == "queue"
        d.advance(1)
    d.advance(60)
    for agent_id in team:
        assert d.agent(agent_id, "available") is None
        d.advance(0.004)
    decision = d.offer("late", skill="paiement")
    assert decision["action"] == "queue" and decision["position"] == 29
    aht = next(s.default_aht_s for s in shipped_config.skills if s.id == "paiement")
    assert decision["ewt_s"] >= 0.5 * 29 * aht / 12, decision


def test_a_line_whose_agents_all_left_is_told_the_unstaffed_wait(make_driver) -> None:
    """A line served lately (its pace known) whose last agent logs out: nobody is staffed, so
    the wait told is `ewt_unstaffed_s` (ewt.py, `Line._line_rate`), not the pace of the agents
    who left. Before, the next caller was told 18 s for a line nobody served (no callback
    offered below `callback_offer_ewt_s`, no overflow in auto below its threshold), and
    `GET /v1/queues` said the same with `agents_staffed` 0 beside it (AUDIT-views.md, V1)."""
    d = make_driver(wrap_up_s=0)
    d.agent("a1", "available")
    d.offer("w0")
    for k in range(12):  # one agent serves the line: each caller waits behind the one talking
        d.offer(f"w{k + 1}")
        d.send("call.answered", call_id=f"w{k}", agent_id="a1")
        d.advance(10)
        d.send("call.ended", call_id=f"w{k}", reason="completed")  # a1 takes the next at once
        d.advance(1)
    assert d.engine.queries.agent("a1", d.now)["call_id"] == "w12"
    d.send("call.answered", call_id="w12", agent_id="a1")
    d.offer("w13")  # waits while a1 talks
    d.agent("a1", "logged_out")  # kept for the call's end
    d.send("call.ended", call_id="w12", reason="completed")
    assert d.engine.queries.agent("a1", d.now)["state"] == "logged_out"
    [line] = [q for q in d.engine.queries.queues(d.now) if q["skill"] == "impot_revenu"]
    assert (line["waiting"], line["agents_staffed"]) == (1, 0)
    assert line["ewt_s"] == 3600.0, line
    decision = d.offer("late")
    assert decision["action"] == "queue" and decision["ewt_s"] == 3600.0, decision
    assert decision["callback_offer"] is True
