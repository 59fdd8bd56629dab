"""`acd simulate --compare`: the same scenario, the same callers (common random numbers), run
with a FIFO single-queue baseline and with acd's policies, side by side."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from acd.config import Config
from acd.sim.loop import simulate
from acd.sim.report import report
from acd.sim.scenario_model import Scenario


def compare(
    scenario: Scenario,
    config: Config,
    *,
    router: str = "numba",
    seed: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """{"baseline": report, "acd": report}. acd's run takes the scenario's `policies`, or the
    configuration's (`config`) when it names none; the baseline keeps that run's wrap-up."""
    scenario = scenario.with_policies()

    def half(offset: float) -> Callable[[float], None] | None:
        return (lambda f: progress(offset + f / 2)) if progress is not None else None

    base = simulate(scenario, config, router=router, baseline=True, seed=seed, progress=half(0.0))
    acd = simulate(scenario, config, router=router, baseline=False, seed=seed, progress=half(0.5))
    return {"baseline": report(base), "acd": report(acd)}
