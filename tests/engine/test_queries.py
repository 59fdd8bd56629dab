"""The read models (`engine.queries`): what every reader outside the engine sees, as plain data."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from acd.engine import Engine
from acd.model import CallStatus
from tests.conftest import Driver, small_config


def test_a_waiting_call_shows_in_the_line_its_view_and_its_state(make_driver) -> None:
    d = make_driver()
    d.offer("q1")
    q = d.engine.queries
    assert q.line_load("impot_revenu") == (1, 0)
    assert q.on_hold() == {"impot_revenu": (1, d.now, 0)}  # a caller on hold, since now
    view = q.call("q1", d.now)
    assert view is not None and (view["status"], view["position"]) == ("queued", 1)
    assert [h["action"] for h in view["history"]] == ["queue"]
    assert q.call_state("q1") == (CallStatus.QUEUED, None, None)
    assert q.call("nope", d.now) is None and q.call_state("nope") is None
    json.dumps(view)  # plain data: renders as it is


def test_an_agent_connected_shows_as_reserved_then_busy(make_driver) -> None:
    d = make_driver()
    d.agent("a1", "available")
    assert d.engine.queries.line_load("impot_revenu") == (0, 1)
    d.offer("q2")
    q = d.engine.queries
    agent = q.agent("a1", d.now)
    assert agent is not None and (agent["state"], agent["reserved"], agent["call_id"]) == ("busy", True, "q2")
    assert q.call_state("q2") == (CallStatus.CONNECTING, "a1", None)
    d.send("call.answered", call_id="q2", agent_id="a1")
    assert q.agent("a1", d.now)["reserved"] is False
    everyone, by_skill = q.staffing()
    assert everyone["busy"] == 1 and by_skill["impot_revenu"]["busy"] == 1
    assert q.agents_by_site_state()[("lille", "busy")] + q.agents_by_site_state()[("pau", "busy")] == 1
    assert q.agent_site("a1") == next(r.site for r in q.roster() if r.agent_id == "a1")


def test_the_names_a_reader_checks_against(make_driver) -> None:
    q = make_driver().engine.queries
    assert q.has_skill("impot_revenu") and not q.has_skill("nope")
    assert q.skills == [*q.skill_names()]
    assert all(q.has_site(s) for s in q.sites) and not q.has_site("atlantis")
    assert str(q.zone) == "Europe/Paris"
    assert {r.agent_id for r in q.roster()} == {"a1", "a2", "a3", "a4", "a5"}


def test_a_new_caller_is_told_no_wait_while_an_agent_of_the_skill_is_idle(make_driver) -> None:
    """`GET /v1/queues`' `ewt_s` is the wait of a new caller (position `waiting + 1`): with
    nobody in line and an agent of the skill available, that caller is put through at once, so
    0 s. Before, the line's pace made it AHT / agents (150 s here) beside `agents_available` 1,
    on the wallboard and in `acd_queue_ewt_seconds` too (AUDIT-views.md, V2); the wait told to
    a caller who does queue is unchanged."""
    d = make_driver()
    d.agent("a1", "available")
    d.agent("a5", "available")
    d.offer("q1")  # to a1
    lines = {q["skill"]: q for q in d.engine.queries.queues(d.now)}
    line = lines["impot_revenu"]
    assert (line["waiting"], line["agents_available"], line["ewt_s"]) == (0, 1, 0.0), line
    assert d.offer("q2")["action"] == "connect"  # what the 0 s says: to a5 at once
    line = {q["skill"]: q for q in d.engine.queries.queues(d.now)}["impot_revenu"]
    assert (line["agents_available"], line["ewt_s"]) == (0, 150.0), line  # 2 staffed, AHT 300
    assert d.offer("q3")["ewt_s"] == 150.0
    assert lines["paiement"]["ewt_s"] == 3600.0  # nobody staffed: the configured estimate


def test_an_idle_agent_below_the_first_widening_level_does_not_make_the_wait_nothing(router_kind) -> None:
    """With timed widening (an opt-in: level 4 first), an available agent of level 1 does not
    take a new caller at once: the estimate stays the line's."""
    from acd.engine import Engine
    from tests.conftest import Driver, small_config

    widening = {"default": [{"after_s": 0, "min_level": 4}, {"after_s": 30, "min_level": 1}], "by_skill": {}}
    d = Driver(Engine(small_config(widening=widening), router=router_kind))
    d.agent("a5", "available")  # impot_revenu at level 1
    line = {q["skill"]: q for q in d.engine.queries.queues(d.now)}["impot_revenu"]
    assert line["agents_available"] == 1 and line["ewt_s"] == 300.0, line
    assert d.offer("w1")["action"] == "queue"


@pytest.mark.parametrize(
    "zone", ["Europe/Paris", "America/Guadeloupe", "America/Cayenne", "Indian/Reunion", "Pacific/Noumea"]
)
def test_the_views_render_times_as_the_calendar_does_on_dst_boundaries_and_overseas(zone) -> None:
    """Every time a view shows (a call's, an agent's, a history's, a callback's) is the calendar's
    RFC 3339 in the line's zone, whatever the zone, on both sides of Paris' clock changes; a time
    not yet set stays None."""
    config = small_config()
    hours = config.calendar.hours.model_copy(update={"timezone": zone})
    d = Driver(
        Engine(config.model_copy(update={"calendar": config.calendar.model_copy(update={"hours": hours})}))
    )
    q = d.engine.queries
    assert q.zone.key == zone
    for text in ("2026-03-29T00:59:59", "2026-03-29T01:00:00", "2026-10-25T00:59:59", "2026-10-25T01:00:00"):
        for t in (
            datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() + s for s in (0.0, 0.25, 3600.0)
        ):
            shown = datetime.fromtimestamp(t, ZoneInfo(zone)).isoformat()
            assert q.isoformat(t) == d.engine.calendar.hours.isoformat(t) == shown
            assert q._history([(t, {"action": "queue", "ts": t})]) == [
                {"at": shown, "action": "queue", "ts": shown}
            ]
            d.now = t
            d.offer(f"c{t}")
            view = q.call(f"c{t}", t)
            assert view is not None and (view["offered_at"], view["ended_at"]) == (shown, None)
