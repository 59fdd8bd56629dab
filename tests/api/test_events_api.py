"""`POST /v1/events` and the resources, black-box through HTTP, as the contract states them."""

from __future__ import annotations

import json

from acd.api import wallboard
from acd.api.handlers import SERVICE
from acd.api.schemas import AgentView, CallView, EventsResponse, QueueList


async def test_offer_to_an_available_agent_returns_a_connect_decision(platform):
    await platform.agent("a1", "available")
    status, body = await platform.events(
        {
            "id": "e-1",
            "type": "call.offered",
            "call_id": "c1",
            "caller": "+33612345678",
            "skill": "impot_revenu",
        }
    )
    assert status == 200
    EventsResponse.model_validate(body)
    assert body["results"] == [
        {
            "id": "e-1",
            "status": "applied",
            "decision": {
                "action": "connect",
                "call_id": "c1",
                "agent_id": "a1",
                "site": "lille",
                "target": "sip:a1@lille.sip.acd.example",
            },
        }
    ]


async def test_offer_with_nobody_free_is_queued_with_position_and_ewt(platform):
    await platform.agent("a1", "available")
    await platform.offer("c1")
    decision = await platform.offer("c2")
    assert decision == {
        "action": "queue",
        "call_id": "c2",
        "position": 1,
        "ewt_s": 300.0,
        "callback_offer": False,
    }


async def test_a_batch_is_answered_in_order_one_result_per_event(platform):
    status, body = await platform.events(
        {"id": "b1", "type": "agent.state", "agent_id": "a1", "state": "available"},
        {
            "id": "b2",
            "type": "call.offered",
            "call_id": "c1",
            "caller": "+33612345678",
            "skill": "impot_revenu",
        },
        {"id": "b3", "type": "call.answered", "call_id": "c1", "agent_id": "a1"},
    )
    assert status == 200
    assert [r["id"] for r in body["results"]] == ["b1", "b2", "b3"]
    assert body["results"][1]["decision"]["action"] == "connect"
    assert "decision" not in body["results"][0]


async def test_a_repeated_event_id_is_a_duplicate_with_the_first_decision(platform):
    offer = {
        "id": "dup",
        "type": "call.offered",
        "call_id": "c1",
        "caller": "+33612345678",
        "skill": "paiement",
    }
    _, first = await platform.events(offer)
    await platform.agent("a3", "available")  # would connect c1 now
    status, again = await platform.events(offer)
    assert status == 200
    assert again["results"][0]["status"] == "duplicate"
    assert again["results"][0]["decision"] == first["results"][0]["decision"]


async def test_optional_ts_dates_what_the_event_records(platform):
    await platform.send(
        "call.offered", call_id="c1", caller="+33612345678", skill="paiement", ts="2026-03-02T09:59:00+01:00"
    )
    status, call = await platform.get("/v1/calls/c1")
    assert status == 200
    # in the national line's zone, as callbacks, appointments and records give theirs (was ...Z:
    # a supervisor read a call offered at 09:59 as 08:59 beside its record's 09:59+01:00)
    assert call["offered_at"] == "2026-03-02T09:59:00+01:00"
    assert call["history"][0]["at"].endswith("+01:00")


async def test_the_call_resource_shows_state_times_agent_and_history(platform, clock):
    await platform.offer("c1")
    clock.advance(20)
    await platform.agent("a1", "available")
    await platform.send("call.answered", call_id="c1", agent_id="a1")
    status, call = await platform.get("/v1/calls/c1")
    assert status == 200
    CallView.model_validate(call)
    assert call["status"] == "answered"
    assert call["agent_id"] == "a1"
    assert call["wait_s"] == 20
    assert [h["action"] for h in call["history"]] == ["queue", "connect", "answered"]


async def test_a_waiting_call_shows_its_position(platform):
    await platform.offer("c1", skill="lsf")
    await platform.offer("c2", skill="lsf")
    _, call = await platform.get("/v1/calls/c2")
    assert call["status"] == "queued"
    assert call["position"] == 2


async def test_agents_are_listed_with_state_site_skills_and_idle_since(platform, clock):
    await platform.agent("a2", "available")
    status, body = await platform.get("/v1/agents")
    assert status == 200
    agents = {a["agent_id"]: a for a in body["agents"]}
    assert set(agents) == {"a1", "a2", "a3", "a4", "a5"}
    for a in agents.values():
        AgentView.model_validate(a)
    assert agents["a2"]["state"] == "available"
    assert agents["a2"]["idle_since"] == "2026-03-02T10:00:00+01:00"  # the line's zone (was ...Z)
    assert agents["a2"]["skills"] == {"impot_revenu": 2, "paiement": 4}
    assert agents["a1"]["state"] == "logged_out"
    assert agents["a1"]["idle_since"] is None
    status, one = await platform.get("/v1/agents/a2")
    assert status == 200 and one == agents["a2"]


async def test_agents_can_be_filtered_by_site_and_state(platform):
    await platform.agent("a3", "available")
    _, body = await platform.get("/v1/agents?site=pau&state=available")
    assert [a["agent_id"] for a in body["agents"]] == ["a3"]


async def test_paused_agent_shows_its_reason(platform):
    await platform.agent("a1", "paused", reason="training")
    _, agent = await platform.get("/v1/agents/a1")
    assert (agent["state"], agent["reason"]) == ("paused", "training")


async def test_a_ringing_agent_is_busy_to_the_outside_and_marked_reserved(platform):
    await platform.agent("a1", "available")
    await platform.offer("c1")
    _, agent = await platform.get("/v1/agents/a1")
    assert (agent["state"], agent["reserved"], agent["call_id"]) == ("busy", True, "c1")


async def test_queues_show_waiting_oldest_wait_ewt_and_agents_per_skill(platform, clock):
    await platform.agent("a1", "available")
    await platform.agent("a4", "available")
    await platform.offer("c0")  # a1 takes it
    await platform.agent("a4", "paused")
    await platform.offer("c1")
    clock.advance(42)
    await platform.offer("c2")
    status, body = await platform.get("/v1/queues")
    assert status == 200
    QueueList.model_validate(body)
    q = {x["skill"]: x for x in body["queues"]}
    assert set(q) == {"impot_revenu", "paiement", "lsf"}
    assert q["impot_revenu"]["waiting"] == 2
    assert q["impot_revenu"]["oldest_wait_s"] == 42
    assert q["impot_revenu"]["agents_available"] == 0
    assert q["impot_revenu"]["agents_busy"] == 1
    assert q["impot_revenu"]["ewt_s"] == 900.0  # 3rd in line x 300 s / 1 staffed agent
    assert q["paiement"]["waiting"] == 0


async def test_put_agent_creates_then_updates_a_roster_entry(platform):
    body = {"site": "pau", "skills": {"lsf": 5, "impot_revenu": 2}, "target": "sip:new@pau.sip.acd.example"}
    status, agent = await platform.request("PUT", "/v1/agents/new-1", body)
    assert status == 201
    assert (agent["agent_id"], agent["state"], agent["skills"]) == ("new-1", "logged_out", body["skills"])
    status, agent = await platform.request("PUT", "/v1/agents/new-1", {**body, "site": "lille"})
    assert status == 200
    assert agent["site"] == "lille"


async def test_roster_update_lets_an_available_agent_take_a_waiting_call(platform):
    await platform.agent("a3", "available")
    await platform.offer("c1")
    body = {
        "site": "pau",
        "skills": {"paiement": 3, "impot_revenu": 1},
        "target": "sip:a3@pau.sip.acd.example",
    }
    status, _ = await platform.request("PUT", "/v1/agents/a3", body)
    assert status == 200
    _, call = await platform.get("/v1/calls/c1")
    assert (call["status"], call["agent_id"]) == ("connecting", "a3")


async def test_health_and_readiness(platform):
    assert await platform.request("GET", "/healthz", sign=False) == (200, {"status": "ok"})
    assert await platform.request("GET", "/readyz", sign=False) == (200, {"status": "ready"})


async def test_metrics_count_calls_by_skill_and_show_queue_gauges(platform):
    await platform.agent("a1", "available")
    await platform.offer("c1")
    await platform.offer("c2")
    await platform.send("call.answered", call_id="c1", agent_id="a1")
    await platform.send("call.ended", call_id="c2", reason="abandoned")
    await platform.send("survey.result", call_id="c1", score=5)
    status, text = await platform.request("GET", "/metrics", sign=False)
    assert status == 200
    assert 'acd_calls_offered_total{skill="impot_revenu"} 2.0' in text
    assert 'acd_calls_answered_total{site="lille",skill="impot_revenu"} 1.0' in text
    assert 'acd_calls_abandoned_total{skill="impot_revenu"} 1.0' in text
    assert 'acd_survey_responses_total{score="5",skill="impot_revenu"} 1.0' in text
    assert 'acd_queue_waiting_calls{skill="impot_revenu"} 0.0' in text
    assert 'acd_agents{site="lille",state="busy"} 1.0' in text
    assert "acd_routing_decision_seconds_count" in text
    assert "acd_queue_wait_seconds_bucket" in text
    assert "c1" not in text  # never a call id as a label


async def test_short_abandons_are_counted_apart_at_the_records_bound(platform, clock):
    """A caller who hung up within 5 s of waiting (the records' bound, included, to the
    millisecond) is a short abandon: counted in acd_calls_short_abandoned_total too, which the
    Prometheus rules take off offered and abandoned (deploy/prometheus/rules/acd.rules.yml)."""
    for call_id in ("quick", "bound", "after", "long"):
        await platform.offer(call_id)
    clock.advance(1)
    await platform.send("call.ended", call_id="quick", reason="abandoned")  # 1 s
    clock.advance(4.0004)
    await platform.send("call.ended", call_id="bound", reason="abandoned")  # 5.000 s, rounded
    clock.advance(0.0016)
    await platform.send("call.ended", call_id="after", reason="abandoned")  # 5.002 s
    clock.advance(30)
    await platform.send("call.ended", call_id="long", reason="abandoned")
    _, text = await platform.request("GET", "/metrics", sign=False)
    assert 'acd_calls_abandoned_total{skill="impot_revenu"} 4.0' in text
    assert 'acd_calls_short_abandoned_total{skill="impot_revenu"} 2.0' in text
    board = wallboard.snapshot(platform.client.app[SERVICE])  # the wallboard's day: the same bound
    (today,) = (s["today"] for s in board["skills"] if s["skill"] == "impot_revenu")
    assert (today["short_abandoned"], today["abandoned"], today["offered"]) == (2, 2, 2)


async def test_openapi_document_names_every_route_and_event_type(platform):
    status, doc = await platform.request("GET", "/openapi.json", sign=False)
    assert status == 200
    assert doc["openapi"].startswith("3.")
    for path in (
        "/v1/events",
        "/v1/agents",
        "/v1/agents/{agent_id}",
        "/v1/queues",
        "/v1/calls/{call_id}",
        "/metrics",
        "/healthz",
        "/readyz",
    ):
        assert path in doc["paths"], path
    schemas = json.dumps(doc["components"]["schemas"])
    for event_type in (
        "call.offered",
        "call.answered",
        "call.ended",
        "agent.state",
        "callback.accepted",
        "callback.result",
        "appointment.result",
        "survey.result",
    ):
        assert event_type in schemas, event_type
