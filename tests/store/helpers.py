"""Shared by the store tests: a configuration with every feature on, and the engine's whole state as
a comparable value."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from acd.config import Config
from acd.engine import Engine
from tests.conftest import small_config

_ids = itertools.count(1)


def store_config(**routing: Any) -> Config:
    """The small test configuration with callbacks and appointments (Lille and Pau, impot_revenu)."""
    base = small_config(wrap_up_s=30, **routing).model_dump()
    base["callbacks"] = {"retry_delays_s": [600, 1800], "max_attempts": 3, "priority": 0, "max_share": 1.0}
    base["appointments"] = {
        "slot_minutes": 30,
        "afternoon_from": "13:00",
        "reminder_lead_s": 86400,
        "retry_delays_s": [300, 300],
        "priority": 9,
        "capacity": [
            {"site": "lille", "skill": "impot_revenu", "morning": 2, "afternoon": 1},
            {"site": "pau", "skill": "impot_revenu", "morning": 1, "afternoon": 1},
        ],
    }
    base["overflow"] = {"mode": "off"}
    return Config.model_validate(base)


def config_without_a1_a3_and_paiement() -> Config:
    """The store's configuration with agents a1 and a3 and the skill paiement removed, and a
    wrap-up of 60 s: a restart under a changed config/."""
    data: dict[str, Any] = store_config().model_dump(mode="json")
    data["skills"] = [s for s in data["skills"] if s["id"] != "paiement"]
    data["agents"] = [a for a in data["agents"] if a["id"] not in ("a1", "a3")]
    for agent in data["agents"]:
        agent["skills"].pop("paiement", None)
    data["routing"]["wrap_up_s"] = 60
    return Config.model_validate(data)


def eid(prefix: str = "ev") -> str:
    return f"{prefix}-{next(_ids)}"


def offered(call_id: str, skill: str = "impot_revenu", **fields: Any) -> dict[str, Any]:
    return {
        "id": eid(),
        "type": "call.offered",
        "call_id": call_id,
        "caller": "+33612345678",
        "skill": skill,
        **fields,
    }


def agent_state(agent_id: str, state: str) -> dict[str, Any]:
    return {"id": eid(), "type": "agent.state", "agent_id": agent_id, "state": state}


def _record(record: Any) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


def engine_state(engine: Engine, now: float) -> dict[str, Any]:
    """Everything observable about an engine, to compare a recovered one with the original."""
    return {
        "calls": {k: _record(v) for k, v in engine.calls.items()},
        "agents": {k: (_record(v), engine.agent_state(v)) for k, v in engine.agents.items()},
        "callbacks": {k: _record(v) for k, v in engine.callbacks.items()},
        "appointments": {k: _record(v) for k, v in engine.appointments.items()},
        "queues": engine.queue_stats(now),
        "next_wakeup": engine.next_wakeup(),
        "seen": dict(engine._seen),
        "overflow": engine.overflow.status(now),
    }
