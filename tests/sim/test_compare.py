"""`--compare` plays the same callers twice: each caller arrives at the same instant, with the same
handle time and the same patience, in the baseline and in acd's run (common random numbers), even
when the two runs differ in who hangs up and calls again."""

from __future__ import annotations

import heapq
import types
from typing import Any

from acd.sim import loop
from acd.sim.compare import compare
from acd.sim.platform import ABANDON, Platform
from tests.sim.conftest import scenario


class _Recorder:
    """Records, per call id, when it was offered, when it would abandon and when its talk ends."""

    def __init__(self) -> None:
        self.runs: list[dict[str, dict[str, float]]] = []

    def platform(self, *args: Any, **kwargs: Any) -> Platform:
        seen: dict[str, dict[str, float]] = {}
        self.runs.append(seen)

        class Recording(Platform):
            def apply(self, events: list[Any], now: float) -> Any:
                for e in events:
                    if type(e).__name__ == "CallOffered":
                        seen.setdefault(e.call_id, {})["offered"] = now
                return super().apply(events, now)

            def connected(self, call: Any, agent_id: str, now: float, ring: float) -> None:
                seen.setdefault(call.id, {})["talk"] = call.handle_s
                super().connected(call, agent_id, now, ring)

        return Recording(*args, **kwargs)

    def heappush(self, heap: list, item: tuple) -> None:
        t, _, kind, payload = item
        if kind == ABANDON:
            row = self.runs[-1].setdefault(payload.id, {})
            row["patience"] = t - row["offered"]
        heapq.heappush(heap, item)


def test_compare_gives_each_caller_the_same_arrival_handle_time_and_patience_in_both_runs(
    config, monkeypatch
) -> None:
    """Before: the patience was drawn from one stream in the order calls were offered, redials
    included; the baseline and acd's run, whose callers hang up (and call again) at different
    times, interleaved their redials differently, so from the first redial on the callers of the
    two runs had each other's patience: not the same callers."""
    rec = _Recorder()
    monkeypatch.setattr(loop, "Platform", rec.platform)
    monkeypatch.setattr(loop, "heapq", types.SimpleNamespace(heappush=rec.heappush, heappop=heapq.heappop))
    sc = scenario(
        calls=1500,
        arrivals=[
            {"skill": "impot_revenu", "rate_per_min": 6, "priority": 5},
            {"skill": "impot_revenu", "rate_per_min": 6},
        ],
        agents=[{"count": 8, "skills": {"impot_revenu": 5}, "site": "lille"}],
        patience={"dist": "exponential", "mean_s": 120},
        callers={"redial": {"share": 0.5, "delay": {"dist": "exponential", "mean_s": 300}}},
    )
    result = compare(sc, config)
    assert result["baseline"]["redials"] > 100 and result["acd"]["redials"] > 100
    assert result["baseline"]["abandoned"] != result["acd"]["abandoned"]  # the runs differ
    base, acd = rec.runs
    first = [c for c in base if "r" not in c[1:]]  # first attempts: c<k>
    assert len(first) == 1500 and sorted(first) == sorted(c for c in acd if "r" not in c[1:])
    for key in ("offered", "patience", "talk"):
        both = [c for c in first if key in base[c] and key in acd[c]]
        assert len(both) > 300, key
        differ = [c for c in both if abs(base[c][key] - acd[c][key]) > 1e-9]
        assert differ == [], f"{key}: {len(differ)} of {len(both)} callers differ, e.g. {differ[:3]}"


def test_the_draws_by_caller_follow_their_distribution() -> None:
    """A caller's redial delay and patience (`keyed`, `quantile`) have the scenario's mean and
    spread: 20,000 draws, within 4 standard errors (sd / sqrt(n))."""
    from acd.sim.scenario import Distribution
    from acd.sim.streams import keyed, quantile

    n = 20000
    for dist, sd in (
        (Distribution(dist="exponential", mean_s=300), 300.0),
        (Distribution(dist="lognormal", mean_s=70, sd_s=90), 90.0),
        (Distribution(dist="constant", mean_s=45), 0.0),
    ):
        xs = [quantile(dist, keyed(7, "test", k, 0)) for k in range(n)]
        mean = sum(xs) / n
        assert abs(mean - dist.mean_s) <= 4 * sd / n**0.5 + 1e-9, (dist, mean)
        var = sum((x - mean) ** 2 for x in xs) / (n - 1)
        assert abs(var**0.5 - sd) <= 0.1 * sd + 1e-9, (dist, var**0.5)
    assert keyed(7, "test", 1, 0) == keyed(7, "test", 1, 0) != keyed(7, "test", 1, 1)
