"""Shared fixtures: a small, readable configuration for rule tests, and event builders."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from acd.config import Config, load_config
from acd.engine import Engine
from acd.events import any_event_adapter

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC).timestamp()  # a Monday morning


def small_config(**routing: Any) -> Config:
    """Two sites, three skills, five agents; routing overridable per test."""
    base_routing = {
        "strategy": "longest_idle",
        "wrap_up_s": 30,
        "callback_offer_ewt_s": 300,
        "preferred_agent_wait_s": 60,
        "aht_smoothing": 0.1,
        "ewt_unstaffed_s": 3600,
        "rona_pause": True,
        "widening": {"default": [{"after_s": 0, "min_level": 1}], "by_skill": {}},
        "idempotency_ttl_s": 86400,
        "ended_call_retention": 1000,
    }
    base_routing.update(routing)
    return Config.model_validate(
        {
            "sites": [
                {"id": "lille", "name": "Lille", "department": "59", "sip_domain": "lille.sip.acd.example"},
                {"id": "pau", "name": "Pau", "department": "64", "sip_domain": "pau.sip.acd.example"},
            ],
            "skills": [
                {"id": "impot_revenu", "name": "Impôt sur le revenu", "default_aht_s": 300},
                {"id": "paiement", "name": "Paiement", "default_aht_s": 240},
                {"id": "lsf", "name": "Langue des signes", "default_aht_s": 600},
            ],
            "routing": base_routing,
            "agents": [
                {
                    "id": "a1",
                    "site": "lille",
                    "skills": {"impot_revenu": 5},
                    "target": "sip:a1@lille.sip.acd.example",
                },
                {
                    "id": "a2",
                    "site": "lille",
                    "skills": {"impot_revenu": 2, "paiement": 4},
                    "target": "sip:a2@lille.sip.acd.example",
                },
                {
                    "id": "a3",
                    "site": "pau",
                    "skills": {"paiement": 3},
                    "target": "sip:a3@pau.sip.acd.example",
                },
                {
                    "id": "a4",
                    "site": "pau",
                    "skills": {"impot_revenu": 3, "lsf": 4},
                    "target": "sip:a4@pau.sip.acd.example",
                },
                {
                    "id": "a5",
                    "site": "pau",
                    "skills": {"impot_revenu": 1},
                    "target": "sip:a5@pau.sip.acd.example",
                },
            ],
        }
    )


@pytest.fixture(scope="session")
def shipped_config() -> Config:
    return load_config(ROOT / "config")


_ids = itertools.count(1)


def ev(type_: str, at: float | None = None, **fields: Any) -> Any:
    """Build a validated event (a fresh id unless one is given)."""
    body = {"id": fields.pop("id", f"e{next(_ids)}"), "type": type_, **fields}
    if at is not None:
        body["ts"] = datetime.fromtimestamp(at, UTC).isoformat()
    return any_event_adapter.validate_python(body)


class Driver:
    """Drives an engine the way the service does, one event at a time, collecting commands."""

    def __init__(self, engine: Engine, now: float = T0) -> None:
        self.engine = engine
        self.now = now
        self.commands: list[Any] = []

    def send(self, type_: str, **fields: Any) -> Any:
        results, commands = self.engine.apply([ev(type_, **fields)], self.now)
        self.commands += commands
        decision = results[0].decision
        return None if decision is None else decision.to_wire()  # the contract's form

    def offer(
        self, call_id: str, skill: str = "impot_revenu", caller: str = "+33612345678", **fields: Any
    ) -> Any:
        return self.send("call.offered", call_id=call_id, caller=caller, skill=skill, **fields)

    def agent(self, agent_id: str, state: str, **fields: Any) -> Any:
        return self.send("agent.state", agent_id=agent_id, state=state, **fields)

    def advance(self, seconds: float) -> list[Any]:
        """Move time on, firing every timer due on the way, in order."""
        end = self.now + seconds
        fired: list[Any] = []
        while (at := self.engine.next_wakeup()) is not None and at <= end:
            self.now = max(self.now, at)
            fired += self.engine.tick(self.now)
        self.now = end
        self.commands += fired
        return fired


@pytest.fixture(params=["numba", "reference"])
def router_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_driver(router_kind: str):
    def make(**routing: Any) -> Driver:
        return Driver(Engine(small_config(**routing), router=router_kind))

    return make


@pytest.fixture(autouse=True)
def _records_in_tmp(tmp_path_factory, monkeypatch):
    """Every service a test starts keeps its SQLite records in a temporary directory, never ./data."""
    monkeypatch.setenv("ACD_DATA_DIR", str(tmp_path_factory.mktemp("records")))
