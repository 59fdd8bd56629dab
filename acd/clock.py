"""The service's clock. The engine never reads a clock: the service passes `Clock.now()` in.

`ACD_CLOCK_START` shifts the clock to a chosen instant that then runs on in real time, for tests and
demos of opening hours and appointments. Signature windows always use the wall clock (`wall()`).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


class Clock:
    def __init__(self, start: datetime | None = None) -> None:
        self._offset = 0.0 if start is None else start.timestamp() - time.time()

    def now(self) -> float:
        return time.time() + self._offset

    @staticmethod
    def wall() -> float:
        return time.time()


class ManualClock(Clock):
    """A clock moved by hand (tests)."""

    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def to_rfc3339(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")
