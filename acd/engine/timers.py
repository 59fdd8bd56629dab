"""The engine's timers: "the next instant I want to be woken", as a heap with lazy cancellation.

Each entry carries a token; the owner bumps its token to cancel, and a popped entry whose token no
longer matches is dropped. The service sleeps until `next_live_at()`; the simulator jumps there.
"""

from __future__ import annotations

import heapq

#: What a timer can be for (Engine.tick fires each kind).
KINDS = frozenset(
    (
        "wrap_up", "watchdog", "call", "callback", "appointment", "remind", "service_open", "slot_end",
        "callback_stop",
    )
)  # fmt: skip

#: (at, seq, kind, key, token): `seq` makes ties fire in the order they were set (deterministic).
#: A plain tuple: the engine sets one or two per call, and a NamedTuple costs ten times more to make.
Timer = tuple[float, int, str, str, int]


class Timers:
    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._seq = 0

    def set(self, at: float, kind: str, key: str, token: int) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, kind, key, token))

    def pop_due(self, now: float) -> Timer | None:
        if self._heap and self._heap[0][0] <= now:
            return heapq.heappop(self._heap)
        return None

    def next_live_at(self, is_live) -> float | None:
        """The instant of the first timer that still stands: cancelled ones are dropped from the
        top first, so the answer is never an instant nobody needs (asked after every batch)."""
        heap = self._heap
        while heap and not is_live(heap[0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def __len__(self) -> int:
        return len(self._heap)
