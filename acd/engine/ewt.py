"""Expected wait time (EWT).

Method: a caller in position k for skill s waits about k * AHT(s) / n, where n is the number of
agents staffed for the call (logged in, not paused, holding its skill and its needs) and AHT(s) is
the average handle time (talk plus wrap-up) of the skill. The reasoning: each of the n staffed
agents frees itself once per AHT on average, so agents free up at a rate n / AHT and the k-th
release comes after k * AHT / n. AHT starts at the skill's configured `default_aht_s` and follows
observed handle times as an exponentially weighted moving average (weight `aht_smoothing`), so the
estimate tracks the day without jumping on one long call. With no agent staffed the estimate is
`ewt_unstaffed_s` (the line is effectively closed for that skill).
"""

from __future__ import annotations


class AhtTracker:
    def __init__(self, defaults: dict[str, float], smoothing: float) -> None:
        self._aht = dict(defaults)
        self._alpha = smoothing

    def observe(self, skill: str, seconds: float) -> None:
        if seconds < 0:
            return
        self._aht[skill] += self._alpha * (seconds - self._aht[skill])

    def __getitem__(self, skill: str) -> float:
        return self._aht[skill]

    def as_dict(self) -> dict[str, float]:
        return dict(self._aht)

    def load(self, values: dict[str, float]) -> None:
        self._aht.update({k: float(v) for k, v in values.items() if k in self._aht})


def expected_wait(position: int, aht_s: float, staffed: int, unstaffed_s: float) -> float:
    if staffed <= 0:
        return unstaffed_s
    return position * aht_s / staffed
