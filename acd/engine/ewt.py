"""Expected wait time (EWT): what a queued caller is told, and what callback offers, overflow and
the announcement hang on.

Method. A caller at position k (1 = next) for a skill with n agents staffed (logged in, not
paused, holding its skill and its needs) moves up one place each time a caller ahead leaves the
line: an agent frees itself (rate n / AHT, AHT the skill's average handle time, talk plus
wrap-up) and takes the head of the line, or one of the callers ahead hangs up (rate i * theta with
i callers ahead, theta the skill's abandonment rate). Its expected wait is then

    E[W_k] = sum over i = 0 .. k-1 of 1 / (n / AHT + i * theta)
           = (psi(a + k) - psi(a)) / theta,   a = n / (AHT * theta),

psi the digamma function (`digamma_step` takes the difference term by term, so that it keeps
its digits when theta is tiny, as a long run of waits without a hang-up makes it): the
queue-length estimator with abandonment of Ibrahim & Whitt ("Real-time delay estimation in
overloaded multiserver queues with abandonments", Management Science 55(10), 2009), exact for
the M/M/n+M queue with exponential patience. With theta = 0 it is k * AHT / n, the estimate
that ignores abandonment ahead in line and overstates the wait of a long line, the more so the
longer the line.

AHT starts at the skill's `default_aht_s` and follows observed handle times as an exponentially
weighted moving average (weight `aht_smoothing`). theta is estimated the way the maximum-likelihood
estimate of an exponential patience is: abandonments over the time callers spent waiting
(answered or not), each kept as a moving sum with the same weight, so it follows the day; until
enough waiting has been seen it is 0. With no agent staffed the estimate is `ewt_unstaffed_s`.
"""

from __future__ import annotations

import math
from typing import Any


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


class AbandonmentTracker:
    """Per skill, the abandonment rate theta (per second of waiting): moving sums of the callers
    who hung up and of the seconds callers waited, each waited interval counted once when the wait
    ends (answered, hung up, or moved elsewhere)."""

    #: Waits seen before theta is trusted (before: 0, no abandonment assumed).
    MIN_WAITS = 20

    def __init__(self, skills: list[str], smoothing: float) -> None:
        self._alpha = smoothing
        self._abandons = dict.fromkeys(skills, 0.0)
        self._waited = dict.fromkeys(skills, 0.0)
        self._seen = dict.fromkeys(skills, 0)

    def observe(self, skill: str, waited_s: float, abandoned: bool) -> None:
        """A wait ended: `waited_s` in line, then the caller hung up (`abandoned`) or not."""
        if waited_s < 0 or skill not in self._waited:
            return
        keep = 1.0 - self._alpha
        self._seen[skill] += 1
        self._abandons[skill] = keep * self._abandons[skill] + (1.0 if abandoned else 0.0)
        self._waited[skill] = keep * self._waited[skill] + waited_s

    def __getitem__(self, skill: str) -> float:
        waited = self._waited[skill]
        if self._seen[skill] < self.MIN_WAITS or waited <= 0.0:
            return 0.0
        return self._abandons[skill] / waited

    def as_dict(self) -> dict[str, list[float]]:
        return {s: [self._abandons[s], self._waited[s], self._seen[s]] for s in self._waited}

    def load(self, values: dict[str, list[float]]) -> None:
        for skill, (abandons, waited, seen) in values.items():
            if skill in self._waited:
                self._abandons[skill], self._waited[skill] = float(abandons), float(waited)
                self._seen[skill] = int(seen)


def _series(x: float) -> float:
    """The asymptotic series of psi(x) - ln x + 1 / (2x), without its sign: x >= 10."""
    inv2 = 1.0 / (x * x)
    return inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (1 / 240 - inv2 / 132))))


def digamma_step(a: float, k: int) -> float:
    """psi(a + k) - psi(a) for a > 0 and an integer k >= 0, which is the sum of 1 / (a + j) over
    j < k: its first terms while a < 10, then the asymptotic series of both ends, taken apart term
    by term (the logarithms' difference as log1p(k / a)). Taking psi(a + k) - psi(a) whole loses
    every digit when a is large: a + k and a are then the same number in floating point."""
    total = 0.0
    while k > 0 and a < 10.0:
        total += 1.0 / a
        a += 1.0
        k -= 1
    if k <= 0:
        return total
    b = a + k
    return total + math.log1p(k / a) + 0.5 * k / (a * b) - (_series(b) - _series(a))


def expected_wait(position: int, aht_s: float, staffed: int, unstaffed_s: float, theta: float = 0.0) -> float:
    """E[W] of the caller at `position` (see the module's docstring)."""
    if staffed <= 0:
        return unstaffed_s
    return expected_wait_at_rate(position, staffed / aht_s, theta)


class ServiceRateTracker:
    """Per skill, the rate at which agents take calls from the head of the skill's line, as it
    happened while the line was not empty: the last `window` entries into service over the
    seconds the line held callers in between (time with an empty line says nothing of how fast
    agents free themselves for it: calls then go to agents at once, never through the line). It
    knows what the staffed count cannot: agents who hold several skills and serve other lines
    too, agents at lunch, priorities. None until `MIN_ENTRIES` entries were seen within
    `MAX_AGE_S` of such time (the line is new, or was empty): the staffed estimate applies then."""

    MIN_ENTRIES = 10
    MAX_AGE_S = 900.0

    def __init__(self, skills: list[str], window: int = 50) -> None:
        from collections import deque

        self._entries: dict[str, deque[float]] = {s: deque(maxlen=window) for s in skills}
        self._busy = dict.fromkeys(skills, 0.0)  # seconds the line held callers, up to `_since`
        self._since: dict[str, float | None] = dict.fromkeys(skills)  # non-empty since (None: empty)

    def line_busy(self, skill: str, busy: bool, now: float) -> None:
        """The skill's line became non-empty (`busy`) or empty at `now`."""
        since = self._since.get(skill)
        if busy and since is None and skill in self._since:
            self._since[skill] = now
        elif not busy and since is not None:
            self._busy[skill] += max(0.0, now - since)
            self._since[skill] = None

    def busy_since(self, skill: str) -> float | None:
        """Since when the skill's line has held callers without a break (None: empty now)."""
        return self._since.get(skill)

    def _busy_at(self, skill: str, now: float) -> float:
        since = self._since[skill]
        return self._busy[skill] + (max(0.0, now - since) if since is not None else 0.0)

    def entered_service(self, skill: str, now: float) -> None:
        """A call that waited in the skill's line was given to an agent at `now`."""
        entries = self._entries.get(skill)
        if entries is not None:
            entries.append(self._busy_at(skill, now))

    def rate(self, skill: str, now: float) -> float | None:
        """Calls per second taken from the line lately while it held callers, or None."""
        entries = self._entries[skill]
        since = self._since[skill]  # _busy_at, inline: asked for every expected wait
        busy = self._busy[skill] + (max(0.0, now - since) if since is not None else 0.0)
        while entries and busy - entries[0] > self.MAX_AGE_S:
            entries.popleft()
        if len(entries) < self.MIN_ENTRIES:
            return None
        span = busy - entries[0]  # up to now: a line whose agents stopped taking calls slows down
        return len(entries) / span if span > 0 else None

    def as_dict(self) -> dict[str, Any]:
        return {s: [list(e), self._busy[s], self._since[s]] for s, e in self._entries.items()}

    def load(self, values: dict[str, Any]) -> None:
        for skill, (entries, busy, since) in values.items():
            if skill in self._entries:
                self._entries[skill].clear()
                self._entries[skill].extend(float(t) for t in entries)
                self._busy[skill] = float(busy)
                self._since[skill] = None if since is None else float(since)


def expected_wait_at_rate(position: int, rate: float, theta: float = 0.0) -> float:
    """E[W] of the caller at `position` when the line's head is served at `rate` calls a second
    and the callers ahead hang up at `theta` each: sum over i < k of 1 / (rate + i * theta)."""
    if theta <= 0.0 or position <= 1:
        return position / rate if theta <= 0.0 else 1.0 / rate
    if theta * position < 1e-16 * rate:  # hang-ups ahead change no digit (and rate / theta may overflow)
        return position / rate
    return digamma_step(rate / theta, position) / theta


def wait_at_rate_reaches(position: int, rate: float, theta: float, cut: float) -> bool:
    """`expected_wait_at_rate(position, rate, theta) >= cut`, settled by the sum's bounds when
    they can, k / (rate + (k - 1) theta) <= E[W] <= k / rate (each of its k terms lies between its
    last and its first), with a margin far above the sum's rounding; by the sum otherwise."""
    if theta > 0.0 and position > 1:
        if position < cut * rate * (1.0 - 1e-7):
            return False
        if position > cut * (rate + (position - 1) * theta) * (1.0 + 1e-7):
            return True
    return expected_wait_at_rate(position, rate, theta) >= cut
