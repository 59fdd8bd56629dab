"""The outbox's retry policy as pure functions: the cause a failed delivery attempt is counted under
(`failure_cause`), and how long the next attempt waits (`backoff_delay`; the formula is in
`acd.outbox`'s docstring, "Backoff").
"""

from __future__ import annotations

import random

__all__ = ["backoff_delay", "failure_cause"]


def backoff_delay(
    failures: int, base_delay_s: float, max_delay_s: float, jitter: float, rng: random.Random
) -> float:
    """Seconds to wait after the `failures`-th failed attempt (1, 2, ...): see `acd.outbox`, "Backoff"."""
    cap = min(max_delay_s, base_delay_s * 2.0 ** min(max(failures - 1, 0), 62))
    return cap * (1.0 - jitter * rng.random())


def failure_cause(status: int | None) -> str:
    """The cause a failed attempt is counted under (`acd_command_failures_total`); `None`: no answer."""
    if status is None:
        return "network"
    if status == 429:
        return "throttled"
    if 400 <= status < 500 and status != 408:
        return "refused"
    if 300 <= status < 400:
        return "redirect"
    return "server"
