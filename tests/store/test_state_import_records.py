"""`acd state import` under a changed config/ (a real Redis, in-process instances): the contacts
the fit to the current config/ ends leave their records, carried by the snapshot the import
writes and written by the service once it starts (docs/state.md, "Commands")."""

from __future__ import annotations

import json
from typing import Any

from acd.clock import ManualClock
from acd.config import Config
from acd.engine import Engine
from acd.engine import state as engine_state
from acd.settings import Settings
from acd.store.state_cli import import_state
from tests.conftest import Driver
from tests.store.conftest import leader_of
from tests.store.helpers import store_config

DB = 2


def _with_paiement_slots() -> Config:
    data: dict[str, Any] = store_config().model_dump(mode="json")
    data["appointments"]["capacity"].append(
        {"site": "lille", "skill": "paiement", "morning": 2, "afternoon": 2}
    )
    return Config.model_validate(data)


def _without_paiement() -> Config:
    data: dict[str, Any] = store_config().model_dump(mode="json")
    data["skills"] = [s for s in data["skills"] if s["id"] != "paiement"]
    for agent in data["agents"]:
        agent["skills"].pop("paiement", None)
    data["agents"] = [a for a in data["agents"] if a["skills"]]
    return Config.model_validate(data)


async def test_the_contacts_an_import_under_a_changed_config_ends_leave_their_records(
    cluster, redis_url, raw_redis
) -> None:
    """Every call, callback and appointment leaves a record when it ends (CONTRACT.md), those the
    import's fit ends too: a document with a call talking and one waiting on skill paiement, a
    callback and an appointment for it, imported under a config/ without paiement. Before, the fit
    ended them (the calls `lost`, the callback failed, the appointment cancelled) with no
    observer, and the snapshot written carried no records: none was ever written."""
    d = Driver(Engine(_with_paiement_slots(), router="reference"))
    d.agent("a2", "available")
    d.offer("p1", skill="paiement")
    assert d.engine.calls["p1"].agent_id == "a2"
    d.send("call.answered", call_id="p1", agent_id="a2")
    d.offer("p2", skill="paiement")  # waits: a3, who holds paiement too, is not there
    d.send("callback.requested", callback_id="rq1", number="+33611111111", skill="paiement")
    d.send(
        "appointment.booked",
        appointment_id="ap1",
        number="+33622222222",
        skill="paiement",
        start="2026-03-03T10:00:00+01:00",
    )
    document = json.loads(json.dumps(engine_state.dump(d.engine)))

    changed = _without_paiement()
    imported = await import_state(Settings(redis_url=redis_url), changed, document)
    assert {c["id"]: c["status"] for c in imported["calls"]} == dict.fromkeys(("p1", "p2", "rq1"), "ended")
    assert raw_redis.hget("acd:snapshot", "records")  # the fit's records, carried

    [one] = await cluster(config=changed, clock=ManualClock(d.now))
    await leader_of([one])
    await one.service.records.flush(30)
    status, text = await one.request("GET", "/v1/records?from=2026-03-01&to=2026-03-31")
    assert status == 200, text
    records = {
        (r["call_id"], r["kind"]): (r["outcome"], r["end_reason"], r["site"])
        for r in map(json.loads, text.splitlines())
    }
    assert records == {
        ("p1", "call"): ("answered", "lost", "lille"),  # answered by a2, of Lille
        ("p2", "call"): ("lost", "lost", None),
        ("rq1", "callback"): ("failed", "failed", None),
        ("ap1", "appointment"): ("cancelled", "cancelled", "lille"),
    }
