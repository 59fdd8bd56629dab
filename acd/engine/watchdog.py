"""The watchdog: flags what no event and no sync corrected (a call answered longer than the
maximum, an agent busy with no call, an agent rung too long: a lost `call.unanswered`, or a dial's
lost result; a call in line for hours: a lost hang-up). It only flags (the observer: metrics,
log, alert); it never changes a call or an agent: the platform's next `platform.sync` may (a lost
ring-out, a dial it no longer holds, a call it no longer holds: acd/engine/sync.py), a dial's
result does, a call's end does.
"""

from __future__ import annotations

from acd.engine.line import BUSY, RESERVED, Line
from acd.model import WATCHDOG_KINDS


def arm(line: Line, now: float) -> None:
    line._watchdog_at = now + line._watchdog_s
    line.timers.set(line._watchdog_at, "watchdog", "", 0)


def check(line: Line, now: float) -> None:
    """Flag what no event and no sync corrected: a call answered longer than the maximum, an
    agent busy with no call for longer than allowed, an agent rung for longer than allowed (a
    lost call.unanswered), a call in line for longer than allowed (a lost hang-up). It only
    flags (metrics, log, alert)."""
    long_calls, idle_busy, ringing = [], [], []
    for agent in line.agents.values():
        state = line.router.agent_state(agent.row)
        if state == RESERVED:
            if now - agent.state_changed_at > line._max_ringing_s:
                ringing.append(agent.call_id or "")
            continue
        if state != BUSY:
            continue
        if agent.call_id is None:
            if now - agent.state_changed_at > line._busy_without_call_s:
                idle_busy.append(agent.id)
            continue
        call = line.calls.get(agent.call_id)
        if (
            call is not None
            and call.answered_at is not None
            and now - call.answered_at > line._max_answered_s
        ):
            long_calls.append(call.id)
    waiting = [c.id for c in line._call_by_row.values() if now - c.enqueued_at > line._max_waiting_s]
    for kind, found in zip(WATCHDOG_KINDS, (long_calls, idle_busy, ringing, waiting), strict=True):
        new = set(found) - set(line.flagged[kind])
        for key in sorted(new):
            line.observer.watchdog(kind, key, now)
        line.flagged[kind] = found
