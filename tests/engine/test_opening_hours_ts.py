"""Open or closed is decided at the call's offer as the platform dated it (its `ts`, the call's
`offered_at`), not at its arrival: a call the platform saw at 18:59:58 and posted at 19:00:01 was
offered while the line was open, and a call seen at 08:29:58 and posted at 08:30:01 was not. The
decision, the call's record (`closed` is dated at `offered_at`) and the day's figures then agree.
A `ts` is taken within `routing.max_ts_skew_s` behind and `routing.max_ts_ahead_s` ahead of acd's
clock (further is refused); an undated offer is dated by its arrival."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from acd.engine import Engine
from tests.conftest import Driver, small_config

PARIS = ZoneInfo("Europe/Paris")


def local(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS).timestamp()


def driver(router_kind: str, at: str) -> Driver:
    return Driver(Engine(small_config(), router=router_kind), now=local(at))


def test_a_call_seen_before_the_closing_and_posted_after_it_is_not_closed(router_kind):
    d = driver(router_kind, "2026-03-02T18:59:00")  # a Monday
    d.agent("a1", "available")
    d.now = local("2026-03-02T19:00:01")
    decision = d.offer("c1", at=local("2026-03-02T18:59:58"))
    assert decision["action"] == "connect" and decision["agent_id"] == "a1", decision
    call = d.engine.calls["c1"]
    assert call.status == "connecting" and call.offered_at == local("2026-03-02T18:59:58")
    _, counts = d.engine.queries.today(d.now)
    assert counts["offered"] == {"impot_revenu": 1} and not counts["closed"]


def test_a_call_seen_before_the_closing_waits_like_any_other_when_nobody_is_free(router_kind):
    d = driver(router_kind, "2026-03-02T19:00:01")
    decision = d.offer("c1", at=local("2026-03-02T18:59:58"))
    assert decision["action"] == "queue" and decision["position"] == 1, decision


def test_a_call_seen_after_the_closing_is_closed_even_when_posted_before_it(router_kind):
    """A platform clock a little ahead (within routing.max_ts_ahead_s): the call is dated by the
    platform, after the closing."""
    d = driver(router_kind, "2026-03-02T18:59:59")
    d.agent("a1", "available")
    decision = d.offer("c1", at=local("2026-03-02T19:00:01"))
    assert decision["action"] == "closed" and decision["reopens_at"] == "2026-03-03T08:30:00+01:00"
    assert d.engine.agents["a1"].call_id is None


def test_a_call_seen_before_the_opening_and_posted_after_it_is_closed(router_kind):
    d = driver(router_kind, "2026-03-02T08:30:01")
    d.agent("a1", "available")
    decision = d.offer("c1", at=local("2026-03-02T08:29:58"))
    assert decision["action"] == "closed", decision
    assert decision["reopens_at"] == "2026-03-02T08:30:00+01:00"  # as the line stood then
    assert d.engine.agents["a1"].call_id is None
    _, counts = d.engine.queries.today(d.now)
    assert counts["closed"] == {"impot_revenu": 1} and not counts["offered"]


def test_an_undated_call_is_dated_by_its_arrival(router_kind):
    d = driver(router_kind, "2026-03-02T19:00:01")
    assert d.offer("c1")["action"] == "closed"
    d = driver(router_kind, "2026-03-02T18:59:59")
    assert d.offer("c1")["action"] == "queue"
