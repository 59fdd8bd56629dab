"""The log carries each batch's event digests (field `h`), and a replay remembers them as they
are instead of serialising and hashing each event again; an entry without them (written by an
earlier release) or with damaged ones replays as before, computing them. The digest is what
tells a retry (the same body: a duplicate) from an id reused for another event (409)."""

from __future__ import annotations

import json

from acd.clock import ManualClock
from acd.engine.core import DIGEST_SIZE, event_digest
from acd.events import any_event_adapter
from tests.conftest import T0
from tests.store.conftest import leader_of
from tests.store.helpers import agent_state, offered, store_config

DB = 6


def _rewrite_log(raw_redis, change) -> None:
    """Write the log again with each entry's fields through `change(fields) -> fields`, the
    stream ids kept (as a crash left it, nothing leads)."""
    rows = raw_redis.xrange("acd:log")
    raw_redis.delete("acd:log")
    for entry_id, fields in rows:
        raw_redis.xadd("acd:log", change(dict(fields)), id=entry_id)


async def _crashed_with(cluster, raw_redis, *events):
    clock = ManualClock(T0)
    [first] = await cluster(config=store_config(), clock=clock)
    for event in events:
        status, body = await first.events(event)
        assert status == 200, body
    await first.crash()
    return clock


async def test_a_batch_s_entry_carries_its_events_digests_in_order(cluster, raw_redis) -> None:
    events = [agent_state("a1", "available"), offered("c1"), offered("c2", priority=2)]
    clock = ManualClock(T0)
    [one] = await cluster(config=store_config(), clock=clock)
    status, _ = await one.events(*events)
    assert status == 200
    [(_, fields)] = raw_redis.xrange("acd:log")
    logged = [any_event_adapter.validate_python(e) for e in json.loads(fields[b"d"].split(b"\n", 1)[1])]
    assert fields[b"h"] == b"".join(event_digest(e) for e in logged)
    assert len(fields[b"h"]) == DIGEST_SIZE * 3


async def test_a_replay_remembers_the_digests_the_log_carries(cluster, raw_redis) -> None:
    """Shown by a carried digest that is not the event's: the recovered instance remembers it,
    so a retry of the very event is taken for another event under its id (a real log never
    carries such a digest; the point is that the replay did not compute it again)."""
    event = offered("c1")
    clock = await _crashed_with(cluster, raw_redis, event)
    _rewrite_log(raw_redis, lambda f: {**f, b"h": bytes(DIGEST_SIZE)})
    [second] = await cluster(config=store_config(), clock=clock)
    await leader_of([second])
    assert second.service.engine._seen_digest[event["id"]] == bytes(DIGEST_SIZE)
    status, body = await second.events(event)
    assert status == 409 and body["error"]["code"] == "idempotency_conflict", body


async def test_an_entry_without_digests_replays_and_computes_them(cluster, raw_redis) -> None:
    """As written by a release before the log carried them: retries are still told apart."""
    event = offered("c1")
    clock = await _crashed_with(cluster, raw_redis, agent_state("a1", "available"), event)
    _rewrite_log(raw_redis, lambda f: {b"d": f[b"d"]})
    assert all(b"h" not in fields for _, fields in raw_redis.xrange("acd:log"))
    [second] = await cluster(config=store_config(), clock=clock)
    await leader_of([second])
    assert second.service.engine.calls["c1"].agent_id == "a1"
    status, body = await second.events(event)
    assert status == 200 and body["results"][0]["status"] == "duplicate", body
    status, body = await second.events({**event, "caller": "+33611111111"})
    assert status == 409 and body["error"]["code"] == "idempotency_conflict", body


async def test_damaged_digests_are_not_used(cluster, raw_redis) -> None:
    """Digests that are not one per event (a damaged entry) are computed again."""
    event = offered("c1")
    clock = await _crashed_with(cluster, raw_redis, event)
    _rewrite_log(raw_redis, lambda f: {**f, b"h": f[b"h"][:-1]})
    [second] = await cluster(config=store_config(), clock=clock)
    await leader_of([second])
    status, body = await second.events(event)
    assert status == 200 and body["results"][0]["status"] == "duplicate", body
