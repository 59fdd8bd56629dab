"""The outbox's lanes (audit outbox D7): which commands never wait behind which.

A command that puts a caller through, or concerns a caller on the line now, is **urgent**: `connect`,
`overflow`, `originate` (its agent is already reserved) and `offer_callback` (the caller is holding).
`remind` and `survey` are **deferred**: nobody waits on the line for them. The stores keep each lane
apart (`OutboxStore.due(now, limit, lane)`), so a connect is found however many older reminders are
due; within a lane, commands go oldest first, as they all did before lanes.

The dispatcher serves the urgent lane first, and lets the deferred lane hold at most `concurrency -
urgent_reserve` of its delivery slots: however many reminders are due and however slow the
platform is to acknowledge them, `urgent_reserve` slots (4 of 16 by default,
`ACD_COMMAND_URGENT_RESERVE`) stay free for a connect. The urgent lane may take every slot. The
cost: a backlog of reminders alone goes through at 12 at a time instead of 16.

A kind this release does not know (a newer release's, written beside it during a rolling upgrade)
is urgent. Filed as deferred, a command a caller waits for would wait behind reminders: the very
defect the lanes mend, and silently. Filed as urgent, a bulk command only shares the urgent lane
with connects, as every command shared the one lane before lanes: never worse than before.
"""

from __future__ import annotations

__all__ = ["DEFERRED", "DEFERRED_COMMANDS", "LANES", "URGENT", "URGENT_RESERVE", "lane_of"]

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
