"""Skill-based routing: which agent takes a call, which call an agent takes.

Two routers with the same rules and the same interface (`Router`): `NumbaRouter` (numba kernels
over numpy arrays, the production one) and `ReferenceRouter` (plain Python, the yardstick).
Call `warm_up()` once at start so the first decision does not pay for compilation.
"""

from __future__ import annotations

from acd.model import Strategy
from acd.routing.base import Router, SkillStats, Widening
from acd.routing.entries import warm_up
from acd.routing.reference import ReferenceRouter
from acd.routing.router import NumbaRouter

ROUTERS: dict[str, type[Router]] = {"numba": NumbaRouter, "reference": ReferenceRouter}


def make_router(
    kind: str, n_skills: int, strategy: Strategy = Strategy.LONGEST_IDLE, widening: Widening | None = None
) -> Router:
    """A router of `kind` ("numba" or "reference")."""
    try:
        cls = ROUTERS[kind]
    except KeyError:
        raise ValueError(f"unknown router {kind!r}; expected one of {sorted(ROUTERS)}") from None
    return cls(n_skills, strategy, widening)


__all__ = ["ROUTERS", "NumbaRouter", "ReferenceRouter", "Router", "SkillStats", "make_router", "warm_up"]
