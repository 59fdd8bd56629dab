"""The outbox's retry policy as pure functions: the cause a failed delivery attempt is counted under
(`failure_cause`), how long the next attempt waits (`backoff_delay`; the formula is in
`acd.outbox`'s docstring, "Backoff"), and how a failed attempt is logged (`log_failure`).
"""

from __future__ import annotations

import logging
import random

__all__ = ["backoff_delay", "failure_cause", "log_failure"]


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


def log_failure(
    log: logging.Logger, attempts: int, error: str, delay: float, cause: str, extra: dict[str, str]
) -> None:
    """Log the `attempts`-th failed attempt: a warning (an error for a refusal) at attempts 1, 2, 4,
    8, ..., debug between them, so a command failing for hours does not flood the log."""
    refused = cause == "refused"  # the platform's own word against the command: an error
    level = (
        (logging.ERROR if refused else logging.WARNING) if attempts & (attempts - 1) == 0 else logging.DEBUG
    )
    log.log(
        level,
        "command delivery failed (attempt %d): %s%s; next attempt in %.2fs",
        attempts,
        error,
        " (refused by the platform: retried until a 2xx all the same, as the contract says)"
        if refused
        else "",
        delay,
        extra={**extra, "attempts": attempts, "error": error, "cause": cause},
    )
