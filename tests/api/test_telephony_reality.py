"""Telephony reality through HTTP: late, repeated, contradictory and lost events never ring an agent
twice, never give a talking agent a second call, never leave an agent stuck (contract: "One command
per intent", "Calls own their agents", "Reconciliation: platform.sync")."""

from __future__ import annotations

from datetime import UTC, datetime

from acd.api.handlers import SERVICE
from tests.conftest import T0


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def connects(call: dict) -> list[dict]:
    return [h for h in call["history"] if h["action"] == "connect"]


async def metric(platform, name: str) -> float:
    status, text = await platform.get("/metrics")
    assert status == 200
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_available_during_a_call_changes_nothing(platform):
    await platform.agent("a1", "available")
    await platform.offer("c1")
    await platform.send("call.answered", call_id="c1", agent_id="a1")
    result = await platform.agent("a1", "available")  # the platform repeating itself
    assert result["status"] == "applied" and result["ignored"] == "restates_state"
    assert (await platform.offer("c2"))["action"] == "queue"  # no second call for a talking agent
    _, agent = await platform.get("/v1/agents/a1")
    assert agent["state"] == "busy" and agent["call_id"] == "c1"


async def test_a_batch_of_an_end_and_a_late_available_connects_each_call_once(platform):
    await platform.agent("a1", "available")
    await platform.offer("c1")  # a1 reserved for c1
    status, body = await platform.events(
        {"id": "x1", "type": "agent.state", "agent_id": "a1", "state": "available"},
        {"id": "x2", "type": "agent.state", "agent_id": "a1", "state": "available"},
    )
    assert status == 200
    assert [r["ignored"] for r in body["results"]] == ["restates_state"] * 2
    _, call = await platform.get("/v1/calls/c1")
    assert call["status"] == "connecting" and len(connects(call)) == 1


async def test_a_pause_during_a_call_takes_effect_when_it_ends(platform):
    await platform.agent("a1", "available")
    await platform.offer("c1")
    await platform.send("call.answered", call_id="c1", agent_id="a1")
    await platform.agent("a1", "paused", reason="lunch")
    _, agent = await platform.get("/v1/agents/a1")
    assert (agent["state"], agent["pending_state"], agent["pending_reason"]) == ("busy", "paused", "lunch")
    await platform.send("call.ended", call_id="c1", reason="completed")
    await platform.offer("c2")
    _, agent = await platform.get("/v1/agents/a1")
    assert (agent["state"], agent["reason"], agent["call_id"]) == ("paused", "lunch", None)
    assert agent["pending_state"] is None
    _, call = await platform.get("/v1/calls/c2")
    assert call["status"] == "queued"


async def test_contradictions_say_why_they_are_ignored_and_move_no_counter(platform):
    await platform.agent("a1", "available")
    await platform.offer("c1")
    await platform.send("call.answered", call_id="c1", agent_id="a1")
    await platform.send("call.ended", call_id="c1", reason="completed")
    assert (await platform.send("call.ended", call_id="c1", reason="completed"))["ignored"] == "call_ended"
    assert (await platform.send("call.answered", call_id="c1", agent_id="a5"))["ignored"] == "call_ended"
    assert (await platform.send("callback.accepted", call_id="c1"))["ignored"] == "call_ended"
    first = await platform.send("survey.result", call_id="c1", score=5)
    assert "ignored" not in first
    second = await platform.send("survey.result", call_id="c1", score=1)
    assert second["status"] == "applied" and second["ignored"] == "survey_exists"
    assert await metric(platform, "acd_survey_responses_total") == 1
    assert await metric(platform, 'acd_calls_ended_total{reason="completed"') == 1
    assert await metric(platform, 'acd_events_total{status="ignored"') == 4


async def test_an_event_id_reused_with_another_body_is_an_idempotency_conflict(platform):
    event = {
        "id": "same-id",
        "type": "call.offered",
        "call_id": "c1",
        "caller": "+33612345678",
        "skill": "paiement",
    }
    status, _ = await platform.events(event)
    assert status == 200
    status, body = await platform.events(event)
    assert status == 200 and body["results"][0]["status"] == "duplicate"
    status, body = await platform.events({**event, "call_id": "c2"})
    assert status == 409 and body["error"]["code"] == "idempotency_conflict"
    assert body["error"]["details"]["id"] == "same-id"
    status, body = await platform.events(  # a batch with one conflict: nothing applied
        {"id": "fresh", "type": "agent.state", "agent_id": "a2", "state": "available"},
        {**event, "skill": "lsf"},
    )
    assert status == 409
    _, agent = await platform.get("/v1/agents/a2")
    assert agent["state"] == "logged_out"


async def test_a_ts_further_than_the_allowed_skew_from_the_service_clock_is_refused(platform):
    # 1970 is refused at the edge already (dates from outside fall in 2000-2099), naming the field
    status, body = await platform.events(
        {
            "id": "ts-1970",
            "type": "agent.state",
            "agent_id": "a1",
            "state": "available",
            "ts": "1970-01-01T00:00:00+00:00",
        }
    )
    assert status == 422 and "ts" in str(body["error"]), body
    for ts in (iso(T0 - 2 * 86400), iso(T0 + 2 * 86400)):
        status, body = await platform.events(
            {"id": f"ts-{ts}", "type": "agent.state", "agent_id": "a1", "state": "available", "ts": ts}
        )
        assert status == 422, body
        assert body["error"]["code"] == "ts_out_of_range"
        assert "service clock" in body["error"]["message"]
    result = await platform.send("agent.state", agent_id="a1", state="available", ts=iso(T0 - 3600))
    assert result["status"] == "applied"  # an hour late: a replay after an outage is fine


async def test_platform_sync_ends_lost_calls_and_gives_agents_the_platforms_state(platform, clock):
    await platform.agent("a1", "available")
    await platform.offer("c1")
    await platform.send("call.answered", call_id="c1", agent_id="a1")
    await platform.offer("c2")
    await platform.agent("a5", "busy")  # busy with no call
    clock.advance(10)
    result = await platform.send(
        "platform.sync", calls=["c2", "not-ours"], agents={"a5": "available", "nobody": "paused"}
    )
    # a5 becomes available and takes c2 at once (the platform will see it busy)
    assert result["decision"] == {
        "action": "sync",
        "ended": ["c1"],
        "agents": {"a5": "busy", "a1": "wrap_up"},
    }
    _, call = await platform.get("/v1/calls/c1")
    assert (call["status"], call["end_reason"]) == ("ended", "lost")
    _, agent = await platform.get("/v1/agents/a5")
    assert agent["call_id"] == "c2"


async def test_the_watchdog_flags_an_agent_busy_with_no_call_in_the_metrics(platform, clock):
    service = platform.client.app[SERVICE]
    await platform.agent("a5", "busy")
    await platform.agent("a1", "available")
    await platform.offer("c1")
    await platform.send("call.answered", call_id="c1", agent_id="a1")
    clock.advance(3 * 3600)
    await service.store.tick(clock.now())
    assert await metric(platform, 'acd_watchdog_flagged{kind="busy_without_call"}') == 1
    assert await metric(platform, 'acd_watchdog_flagged{kind="answered_too_long"}') == 1
    assert await metric(platform, 'acd_watchdog_raised_total{kind="busy_without_call"}') == 1


async def test_lost_is_acds_own_end_reason_never_accepted_from_the_platform(platform):
    await platform.offer("c1")
    status, body = await platform.events(
        {"id": "l1", "type": "call.ended", "call_id": "c1", "reason": "lost"}
    )
    assert status == 422, body


async def test_a_busy_stamped_at_pick_up_and_delivered_after_the_end_is_stale(platform, clock):
    await platform.agent("a1", "available")
    await platform.offer("c1")
    picked_up = clock.now()
    await platform.send("call.answered", call_id="c1", agent_id="a1", ts=iso(picked_up))
    clock.advance(60)
    await platform.send("call.ended", call_id="c1", reason="completed")
    result = await platform.agent("a1", "busy", ts=iso(picked_up))
    assert result["ignored"] == "stale"
    _, agent = await platform.get("/v1/agents/a1")
    assert agent["state"] == "wrap_up"  # and its wrap-up ends on time
    clock.advance(31)
    await platform.client.app[SERVICE].store.tick(clock.now())
    _, agent = await platform.get("/v1/agents/a1")
    assert agent["state"] == "available"


async def test_an_agent_is_paused_after_max_no_answer_ring_outs_in_a_row(platform):
    await platform.agent("a1", "available")
    await platform.offer("c1")
    await platform.send("call.unanswered", call_id="c1", agent_id="a1")  # 1: rung again
    _, agent = await platform.get("/v1/agents/a1")
    assert (agent["state"], agent["call_id"]) == ("busy", "c1")
    await platform.send("call.unanswered", call_id="c1", agent_id="a1")  # 2 in a row: paused
    _, agent = await platform.get("/v1/agents/a1")
    assert (agent["state"], agent["reason"], agent["call_id"]) == ("paused", "no_answer", None)
    _, call = await platform.get("/v1/calls/c1")
    assert call["status"] == "queued"


async def test_a_callback_s_dial_answered_then_said_unanswered_is_a_200_and_the_agent_keeps_talking(platform):
    """The platform said the callback's call was answered (call.answered), then posted a
    contradicting callback.result: that was a 500 (an exception in the agent machine)."""
    await platform.offer("c1")
    await platform.send("callback.accepted", call_id="c1")
    await platform.send("call.ended", call_id="c1", reason="completed")  # the caller hangs up
    await platform.agent("a1", "available")  # a1 is reserved, the number dialled
    await platform.send("call.answered", call_id="c1", agent_id="a1")
    status, body = await platform.events(
        {"id": "r1", "type": "callback.result", "callback_id": "cb-c1", "outcome": "no_answer"}
    )
    assert status == 200 and body["results"][0]["ignored"] == "not_dialing"
    _, agent = await platform.get("/v1/agents/a1")
    assert agent["state"] == "busy" and agent["call_id"] == "c1"
    _, callback = await platform.get("/v1/callbacks/cb-c1")
    assert callback["status"] == "done"


async def test_a_ts_ahead_of_the_service_clock_is_refused_and_cannot_freeze_an_agent(platform):
    """An event cannot have been seen after it was posted: a ts more than routing.max_ts_ahead_s
    (300 s) ahead of the service clock is a platform clock gone wrong, refused (422
    ts_out_of_range) and nothing changes. Taken, one such report (20 h ahead, within the day's
    skew allowed for late events) made the agent's later, rightly stamped logout and pause stale
    for 20 h: acd kept routing calls to an agent who had gone."""
    ahead = iso(T0 + 20 * 3600)
    status, body = await platform.events(
        {"id": "ahead-1", "type": "agent.state", "agent_id": "a1", "state": "available", "ts": ahead}
    )
    assert status == 422 and body["error"]["code"] == "ts_out_of_range", body
    assert "ahead" in body["error"]["message"]
    _, agent = await platform.get("/v1/agents/a1")
    assert agent["state"] == "logged_out"
    # a few minutes ahead (a clock a little fast) is still taken, and a later logout applies
    result = await platform.send("agent.state", agent_id="a1", state="available", ts=iso(T0 + 240))
    assert "ignored" not in result
    result = await platform.send("agent.state", agent_id="a1", state="logged_out", ts=iso(T0 + 250))
    assert "ignored" not in result
    _, agent = await platform.get("/v1/agents/a1")
    assert agent["state"] == "logged_out"


async def test_a_sync_frees_an_agent_the_watchdog_flags_as_rung_too_long(platform, clock):
    """A `call.unanswered` lost while the platform still holds the caller: the watchdog flags the
    agent (`ringing_too_long`); the platform's next sync, reporting her available, takes the
    ring-out: the call is back in line, she is free, the flag clears at the next round."""
    service = platform.client.app[SERVICE]
    await platform.agent("a1", "available")
    await platform.offer("c1")
    clock.advance(400)  # routing.max_ringing_s: 300
    await service.store.tick(clock.now())
    assert await metric(platform, 'acd_watchdog_flagged{kind="ringing_too_long"}') == 1
    result = await platform.send("platform.sync", calls=["c1"], agents={"a1": "available"})
    decision = result["decision"]
    assert (decision["ended"], decision["rang_out"]) == ([], ["c1"])
    assert decision["agents"]["a1"] in ("available", "busy")  # free, or rung again with c1
    _, call = await platform.get("/v1/calls/c1")
    assert [h.get("why") for h in call["history"] if h["action"] == "requeue"] == ["no_answer"]
    clock.advance(120)
    await service.store.tick(clock.now())
    assert await metric(platform, 'acd_watchdog_flagged{kind="ringing_too_long"}') == 0
