"""What a run measures beyond the engine's statistics (acd/sim/stats.py): the accuracy of the
expected wait told to callers, and the agents' occupancy over the measured window."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

#: Loads (calls waiting per agent staffed for the skill, when a caller is queued) by which the
#: accuracy of the expected wait is reported: (label, upper bound).
EWT_LOAD_BUCKETS = (("< 0.05", 0.05), ("0.05-0.2", 0.2), ("0.2-0.5", 0.5), (">= 0.5", math.inf))

# ------------------------------------------------------------------ expected wait


def load_bucket(engine: Any, skill: str) -> int:
    """The load a caller meets, as calls waiting per agent staffed for the skill."""
    i = engine.skill_index[skill]
    staffed = engine.staffed_by_skill[i]
    ratio = engine.waiting_by_skill[i] / staffed if staffed else math.inf
    for b, (_, upper) in enumerate(EWT_LOAD_BUCKETS):
        if ratio < upper:
            return b
    return len(EWT_LOAD_BUCKETS) - 1


def ewt_accuracy(ewt_errors: list[list[float]]) -> dict[str, Any]:
    """The EWT told to queued callers (measured calls) against the wait that followed, for
    those an agent answered (the wait of a caller who hung up is not known: left out).
    `ewt_errors[bucket]`: EWT told less the wait, by load bucket."""

    def summary(errors: list[float]) -> dict[str, Any]:
        n = len(errors)
        if not n:
            return {"n": 0, "mae_s": None, "bias_s": None}
        return {"n": n, "mae_s": sum(abs(e) for e in errors) / n, "bias_s": sum(errors) / n}

    every = [e for bucket in ewt_errors for e in bucket]
    return {
        **summary(every),
        "by_load": [
            {"waiting_per_agent": label, **summary(errors)}
            for (label, _), errors in zip(EWT_LOAD_BUCKETS, ewt_errors, strict=True)
        ],
    }


# ------------------------------------------------------------------ occupancy


def occupied(engine: Any, now: float) -> dict[str, tuple[float, float]]:
    """(occupied, available) agent-seconds so far, per agent id."""
    return engine.queries.occupancy_seconds(now)


def occupancy(
    engine: Any, start: dict[str, tuple[float, float]] | None, end: dict[str, tuple[float, float]] | None
) -> dict[str, float]:
    """Occupancy between the snapshots `start` and `end` (of `occupied`), overall ("") and per
    skill (agents holding it): occupied time over the time agents were occupied or available
    (logged out and paused time counts for neither)."""
    start, end = start or {}, end or {}
    busy: dict[str, float] = Counter()
    staffed: dict[str, float] = Counter()
    for agent in engine.agents.values():
        occ0, idle0 = start.get(agent.id, (0.0, 0.0))
        occ1, idle1 = end.get(agent.id, (0.0, 0.0))
        for key in ("", *agent.skills):
            busy[key] += occ1 - occ0
            staffed[key] += (occ1 - occ0) + (idle1 - idle0)
    return {k: (busy[k] / staffed[k] if staffed[k] > 0 else math.nan) for k in staffed}
