"""A call answered, then ended by a restart's fit to a changed config/ (its skill removed), leaves a
record whose `site` is the site of the agent who took it, as any answered call's record: not the
site config/ gives that agent now (moved to another site), nor none (an agent of `PUT /v1/agents`,
unknown to config/). With Redis, the log replayed or a snapshot loaded."""

from __future__ import annotations

import json
from typing import Any

import pytest

from acd.clock import ManualClock
from acd.config import Config
from tests.conftest import T0
from tests.store.conftest import cluster, leader_of, raw_redis, redis_url  # noqa: F401  (fixtures)
from tests.store.helpers import offered, store_config

DB = 4  # this module's Redis database


def _paiement_gone_and_a2_at_pau() -> Config:
    data: dict[str, Any] = store_config().model_dump(mode="json")
    data["skills"] = [s for s in data["skills"] if s["id"] != "paiement"]
    for agent in data["agents"]:
        agent["skills"].pop("paiement", None)
        if agent["id"] == "a2":
            agent["site"] = "pau"
    data["agents"] = [a for a in data["agents"] if a["skills"]]
    return Config.model_validate(data)


@pytest.mark.parametrize("written", ["log", "snapshot"])
async def test_a_call_answered_then_ended_by_the_fit_keeps_its_agent_s_site(
    cluster,  # noqa: F811
    raw_redis,  # noqa: F811
    written,
) -> None:
    clock = ManualClock(T0)
    [first] = await cluster(config=store_config(), clock=clock)
    status, body = await first.request(
        "PUT", "/v1/agents/x9", {"site": "pau", "skills": {"paiement": 3}, "target": "sip:x9@pau.example"}
    )
    assert status in (200, 201), body
    for agent_id, call_id in (("a2", "p1"), ("x9", "p2")):  # a2 of Lille (config/), x9 of Pau (PUT)
        status, body = await first.events(
            {"id": f"on-{agent_id}", "type": "agent.state", "agent_id": agent_id, "state": "available"}
        )
        assert status == 200, body
        status, body = await first.events(offered(call_id, skill="paiement"))
        assert body["results"][0]["decision"]["agent_id"] == agent_id
        clock.advance(5)
        status, body = await first.events(
            {"id": f"ans-{call_id}", "type": "call.answered", "call_id": call_id, "agent_id": agent_id}
        )
        assert status == 200, body
    if written == "snapshot":
        first.service.store.writer.maybe_snapshot(force=True)  # type: ignore[attr-defined]
        await first.service.store.snapshots.settle()  # type: ignore[attr-defined]
    await first.crash()
    if written == "snapshot":
        raw_redis.delete("acd:config:log")  # a snapshot of unknown configuration: fitted as loaded

    [second] = await cluster(config=_paiement_gone_and_a2_at_pau(), clock=clock)
    await leader_of([second])
    await second.service.records.flush(30)
    status, text = await second.request("GET", "/v1/records?from=2026-03-01&to=2026-03-31")
    assert status == 200, text
    records = {r["call_id"]: r for r in map(json.loads, text.splitlines())}
    assert {c: (r["outcome"], r["end_reason"], r["agent_id"], r["site"]) for c, r in records.items()} == {
        "p1": ("answered", "lost", "a2", "lille"),  # taken at Lille; config/ has a2 at Pau now
        "p2": ("answered", "lost", "x9", "pau"),
    }


def _a2_at_pau() -> Config:
    data: dict[str, Any] = store_config().model_dump(mode="json")
    for agent in data["agents"]:
        if agent["id"] == "a2":
            agent["site"] = "pau"
    return Config.model_validate(data)


async def test_a_callback_answered_before_a_restart_keeps_its_agent_s_site_when_it_ends_after(
    cluster,  # noqa: F811
) -> None:
    """The dial's agent's site is the one it had when acd dialled (the `originate` in the call's
    history), not the one config/ gives it after the restart."""
    clock = ManualClock(T0)
    [first] = await cluster(config=store_config(), clock=clock)
    status, body = await first.request(
        "POST", "/v1/callbacks", {"number": "+33611111111", "skill": "paiement"}
    )
    assert status == 201, body
    callback_id = body["callback_id"]
    status, body = await first.events(
        {"id": "on-a2", "type": "agent.state", "agent_id": "a2", "state": "available"}
    )
    assert status == 200, body
    status, body = await first.request("GET", f"/v1/callbacks/{callback_id}")
    assert body["status"] == "dialing" and body["agent_id"] == "a2", body
    clock.advance(5)
    result = {"id": "r1", "type": "callback.result", "callback_id": callback_id, "outcome": "answered"}
    assert (await first.events(result))[0] == 200
    await first.crash()

    [second] = await cluster(config=_a2_at_pau(), clock=clock)
    await leader_of([second])
    clock.advance(120)
    ended = {"id": "end1", "type": "call.ended", "call_id": callback_id, "reason": "completed"}
    assert (await second.events(ended))[0] == 200
    await second.service.records.flush(30)
    status, text = await second.request("GET", "/v1/records?from=2026-03-01&to=2026-03-31")
    assert status == 200, text
    lines = [text] if isinstance(text, dict) else list(map(json.loads, text.splitlines()))  # one: parsed
    records = {r["call_id"]: r for r in lines}
    assert (
        records[callback_id]["outcome"],
        records[callback_id]["agent_id"],
        records[callback_id]["site"],
    ) == (
        "answered",
        "a2",
        "lille",
    )
