"""The outbox's lanes (audit outbox D7): which commands never wait behind which.

A command that puts a caller through, or concerns a caller on the line now, is **urgent**: `connect`,
`overflow`, `originate` (its agent is already reserved) and `offer_callback` (the caller is holding).
`remind` and `survey` are **deferred**: nobody waits on the line for them. The stores keep each lane
apart (`OutboxStore.due(now, limit, lane)`), so a connect is found however many older reminders are
due; within a lane, commands go oldest first, as they all did before lanes.

The dispatcher serves the urgent lane first, and lets the deferred lane hold at most `concurrency -
urgent_reserve` of its delivery slots (`Slots`): however many reminders are due and however slow the
platform is to acknowledge them, `urgent_reserve` slots (4 of 16 by default,
`ACD_COMMAND_URGENT_RESERVE`) stay free for a connect. The urgent lane may take every slot. The
cost: a backlog of reminders alone goes through at 12 at a time instead of 16.

A kind this release does not know (a newer release's, written beside it during a rolling upgrade)
is urgent. Filed as deferred, a command a caller waits for would wait behind reminders: the very
defect the lanes mend, and silently. Filed as urgent, a bulk command only shares the urgent lane
with connects, as every command shared the one lane before lanes: never worse than before.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEFERRED", "DEFERRED_COMMANDS", "LANES", "URGENT", "URGENT_RESERVE", "Slots", "lane_of"]

URGENT = "urgent"
DEFERRED = "deferred"
#: The lanes, in the order the dispatcher serves them.
LANES = (URGENT, DEFERRED)
#: The deferred commands; every other kind, known or not, is urgent.
DEFERRED_COMMANDS = frozenset({"remind", "survey"})
#: The delivery slots the deferred lane may never take, by default.
URGENT_RESERVE = 4


def lane_of(command: str) -> str:
    """The lane of a command of kind `command` (`Command.command`)."""
    return DEFERRED if command in DEFERRED_COMMANDS else URGENT


class Slots:
    """The delivery slots of one outbox: at most `concurrency` attempts in flight, of which at most
    `concurrency - urgent_reserve` deferred. `urgent_reserve` None: `URGENT_RESERVE`, or fewer if
    the slots are fewer (one is left to the deferred lane). `gauge`: a gauge labelled by lane
    (`acd_outbox_inflight`) kept at the attempts in flight of each lane."""

    def __init__(self, concurrency: int, urgent_reserve: int | None = None, gauge: Any = None) -> None:
        if urgent_reserve is None:
            urgent_reserve = min(URGENT_RESERVE, concurrency - 1)
        if not 0 <= urgent_reserve < concurrency:
            raise ValueError(
                f"urgent_reserve must be at least 0 and below concurrency ({concurrency}), "
                f"so the deferred lane keeps a slot: got {urgent_reserve}"
            )
        self.concurrency = concurrency
        self._caps = {URGENT: concurrency, DEFERRED: concurrency - urgent_reserve}
        self._lanes: dict[str, str] = {}  # each command in flight -> the lane it was taken from
        self._held: dict[str, int] = {}  # the attempts in flight of each lane
        # Each lane's child of the gauge, looked up once: `labels()` checks its values and takes
        # the metric's lock on every call, and a command's attempt moved the gauge twice.
        self._gauges = {lane: gauge.labels(lane) for lane in LANES} if gauge is not None else None
        self.clear()

    def room(self, lane: str) -> int:
        """How many more attempts of `lane` may start now."""
        return min(self.concurrency - len(self._lanes), self._caps[lane] - self._held[lane])

    def held(self, lane: str) -> int:
        """The attempts of `lane` in flight."""
        return self._held[lane]

    def open(self) -> list[str]:
        """The lanes with room for one more attempt."""
        return [lane for lane in LANES if self.room(lane) > 0]

    def take(self, command_id: str, lane: str) -> None:
        self._lanes[command_id] = lane
        self._count(lane, +1)

    def give_back(self, command_id: str) -> None:
        lane = self._lanes.pop(command_id, None)
        if lane is not None:
            self._count(lane, -1)

    def clear(self) -> None:
        self._lanes.clear()
        self._held = dict.fromkeys(LANES, 0)
        for lane in LANES:
            self._count(lane, 0)

    def _count(self, lane: str, change: int) -> None:
        self._held[lane] += change
        if self._gauges is not None:
            self._gauges[lane].set(self._held[lane])
