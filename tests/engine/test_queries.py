"""The read models (`engine.queries`): what every reader outside the engine sees, as plain data."""

from __future__ import annotations

import json

from acd.model import CallStatus


def test_a_waiting_call_shows_in_the_line_its_view_and_its_state(make_driver) -> None:
    d = make_driver()
    d.offer("q1")
    q = d.engine.queries
    assert q.line_load("impot_revenu") == (1, 0)
    [waiting] = q.waiting()
    assert (waiting.skill, waiting.kind, waiting.enqueued_at) == ("impot_revenu", "inbound", d.now)
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
