"""Batches at their edges: the same event twice in one batch is applied once (the second is its
duplicate, with the first's decision); the same id with another body anywhere in the batch refuses
the whole batch; 1000 events are a batch, 1001 are not (an empty one: tests/api/test_bad_input.py)."""

from __future__ import annotations

from acd.api.handlers import SERVICE
from acd.engine.state import dump
from tests.api.test_bad_input import assert_error

OFFER = {"id": "o1", "type": "call.offered", "call_id": "c1", "caller": "+33612345678", "skill": "lsf"}


async def test_the_same_event_twice_in_a_batch_is_applied_once(platform):
    status, body = await platform.events(OFFER, OFFER)
    assert status == 200, body
    first, second = body["results"]
    assert (first["status"], second["status"]) == ("applied", "duplicate")
    assert second["decision"] == first["decision"]
    _, call = await platform.get("/v1/calls/c1")
    assert [h["action"] for h in call["history"]].count("queue") == 1


async def test_one_id_with_two_bodies_in_a_batch_refuses_the_whole_batch(platform):
    before = dump(platform.client.app[SERVICE].engine)
    available = {"id": "x1", "type": "agent.state", "agent_id": "a4", "state": "available"}
    status, err = await platform.events(available, OFFER, {**OFFER, "skill": "paiement"})
    assert_error(status, err, 409, "idempotency_conflict")
    assert err["error"]["details"]["index"] == 2
    assert dump(platform.client.app[SERVICE].engine) == before


async def test_a_batch_of_1000_is_taken_and_1001_is_not(platform):
    batch = [{"id": f"p{i}", "type": "agent.state", "agent_id": "a1", "state": "paused"} for i in range(1001)]
    status, err = await platform.events(*batch)
    assert_error(status, err, 413, "batch_too_large")
    status, body = await platform.events(*batch[:1000])
    assert status == 200 and len(body["results"]) == 1000
