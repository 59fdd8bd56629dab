"""Fixtures of the fault-injection tests: the Redis store's (a real Redis, a command sink, `acd
serve` processes), and the seeds to run (`ACD_FAULT_SEEDS=7,8` replays chosen ones)."""

from __future__ import annotations

import os

from tests.api.conftest import clock, make_platform  # noqa: F401  (fixtures)
from tests.store.conftest import redis_url, serve, sink  # noqa: F401  (fixtures)


def seeds(default: tuple[int, ...]) -> list[int]:
    chosen = os.environ.get("ACD_FAULT_SEEDS")
    return [int(s) for s in chosen.split(",")] if chosen else list(default)
