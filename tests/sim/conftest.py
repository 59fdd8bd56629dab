"""Helpers for the simulator's tests: the shipped configuration and one-line scenarios."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from acd.config import Config, load_config
from acd.sim.loop import simulate
from acd.sim.report import report
from acd.sim.scenario import Scenario, scenario_from_dict

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def config() -> Config:
    return load_config(ROOT / "config")


def scenario(**keys: Any) -> Scenario:
    """An always-open scenario without policies (a textbook queue) with `keys` on top."""
    data: dict[str, Any] = {
        "seed": 1,
        "calls": 2000,
        "hours": "always",
        "service_level_s": 20,
        "handle_time": {"dist": "exponential", "mean_s": 60},
        "arrivals": [{"skill": "impot_revenu", "rate_per_min": 8}],
        "agents": [{"count": 10, "skills": {"impot_revenu": 5}, "site": "lille"}],
    }
    data.update(keys)
    return scenario_from_dict(data)


def run(config: Config, sc: Scenario, **kwargs: Any) -> dict[str, Any]:
    return report(simulate(sc, config, **kwargs))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: long statistical runs (deselect with -m 'not slow')")
