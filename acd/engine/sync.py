"""Reconciliation with the platform (`platform.sync`, the contract's "Reconciliation"): calls
the platform no longer holds end as `lost`, agents take the platform's states, as of the sync's
`ts`: what acd learnt after that instant is never undone. The sync applies whole: nobody is
offered work until it is done.

A sync reports what the platform held when it was posted. One stamped ahead of acd's clock (a
platform clock running fast, within `routing.max_ts_ahead_s`) is taken as of its arrival: it
cannot speak for the instants still to come, so the events stamped after its arrival (an agent's
pause during the next call) are news it never knew, and the ends it dates (a lost call's, the
agent's change with it) are never dated in the future, where they would make the agent's next
reports look stale. Dated syncs are still ordered among themselves by their own `ts` (an older
one delivered after a newer one is stale); an undated one is dated by its arrival and is news.

A sync also finds a lost ring-out, which kept an agent reserved for good (the watchdog's
`ringing` flag): an inbound call rung longer than `routing.max_ringing_s` on an agent the sync
reports `available` (`_rung_out`). A callback's or an appointment's dial (its call id named by
`originate`) is a call acd holds as connecting: one the sync no longer lists, longer than
`routing.max_ringing_s` after it began (before, the platform may not hold it yet: its
`originate` in flight), is over and its result lost (`_held_calls`): the agent is free and the
contact's rules dial again (`Outbound.lost`). Without it the agent stayed reserved for good.
"""

from __future__ import annotations

import math
from typing import Any

from acd.engine import calls
from acd.engine.agents import Ignored
from acd.engine.line import ANSWERED, AVAILABLE, CONNECTING, INBOUND, OVERFLOWED, QUEUED, Line
from acd.engine.records import Agent, Call
from acd.events import CallUnanswered, PlatformSync
from acd.model import Command, SyncDecision


def on_sync(line: Line, e: PlatformSync, t: float, now: float, commands: list[Command]) -> Any:
    """Reconcile with what the platform holds as of the sync's `ts` (see the contract's
    "Reconciliation"): what acd learnt after that instant is never undone."""
    if e.ts is not None and t < line._last_sync_at:
        return Ignored("stale")  # a newer sync said more: nothing of this one is news
    # Undated, it is dated by its arrival: news, never stale (as an undated agent.state), even
    # after a sync stamped ahead, whose stamp still orders the dated ones that follow.
    line._last_sync_at = max(line._last_sync_at, t)
    t = min(t, now)  # as of when it was posted at the latest (see the module)
    line._held = set()  # agents freed while reconciling are offered work only at the end
    before = {
        a: (line.agents[a].state_changed_at, line.agent_state(line.agents[a]))
        for a in e.agents
        if a in line.agents and not line.gone(a)
    }
    lost = _Lost()
    try:
        ended = _reconcile(line, e, t, now, commands, before, lost)
    finally:
        held, line._held = line._held, None
    for agent_id in sorted(held, key=lambda a: (line.agents[a].state_changed_at, a)):  # longest idle first
        agent = line.agents[agent_id]
        if agent.call_id is None and line.router.agent_state(agent.row) == AVAILABLE:
            line._offer_work(agent, now, commands)
    line.overflow_rules.fill_services(now, commands)  # what agents did not take, switch on
    changed = {
        a: line.agent_state(line.agents[a]).wire
        for a, (_, state) in before.items()
        if line.agent_state(line.agents[a]) != state
    }
    for agent_id in lost.agents:  # agents moved by the end of their lost call or ring
        if agent_id not in changed:
            changed[agent_id] = line.agent_state(line.agents[agent_id]).wire
    return SyncDecision(ended, changed, lost.rang_out, lost.dials)


class _Lost:
    """What a sync found lost besides calls: ring-outs, and the agents moved by these and by lost calls."""

    __slots__ = ("agents", "dials", "rang_out")

    def __init__(self) -> None:
        self.rang_out: list[str] = []
        self.dials: list[str] = []  # contacts whose dial was over, its result lost
        self.agents: list[str] = []


def _reconcile(
    line: Line,
    e: PlatformSync,
    t: float,
    now: float,
    commands: list[Command],
    before: dict[str, Any],
    lost: _Lost,
) -> list[str]:
    """End the calls the platform no longer holds, then give agents the platform's states;
    nobody is offered work meanwhile (the sync applies whole). The calls ended."""
    held = set(e.calls)
    ended: list[str] = []
    syncable, dials = _held_calls(line, held, t)  # both before anything changes
    for call in syncable:
        if call.id in held or _call_changed_at(call) > t:
            continue
        agent_id = call.agent_id
        line._end_call(call, "lost", t, now, commands)
        ended.append(call.id)
        if agent_id is not None:
            lost.agents.append(agent_id)
    for call in dials:
        agent_id = call.agent_id
        contact_id = line.outbound.lost(call, t, now, commands)
        if contact_id is not None:
            lost.dials.append(contact_id)
            if agent_id is not None:
                lost.agents.append(agent_id)
    # The agents it reports away or busy first: a call put back in line by a ring-out found lost
    # (below) goes at once to an agent free, and so never to one this very sync says is not.
    for agent_id, wire in sorted(e.agents.items(), key=lambda item: item[1] == "available"):
        if agent_id not in before:
            continue  # unknown to acd: ignored
        agent = line.agents[agent_id]
        changed_at, _ = before[agent_id]
        if e.ts is not None and (changed_at > t or line._reported_at.get(agent_id, -math.inf) > t):
            continue  # acd knows something newer (an undated sync is news: as of its arrival,
            # after anything acd applied, a report stamped ahead of acd's clock included)
        if wire == "available":
            rung = _rung_out(line, agent, t, e, now, commands)
            if rung is not None:
                lost.rang_out.append(rung)
                lost.agents.append(agent_id)
                continue
        if wire == line.agent_state(agent).wire and not (wire == "busy" and agent.call_id is None):
            if wire in ("available", "paused", "logged_out"):  # confirmed as of the sync's ts
                line._reported_at[agent_id] = max(line._reported_at.get(agent_id, -math.inf), t)
            continue
        if agent.call_id is not None and wire in ("available", "busy", "wrap_up"):
            continue  # its call (still held by the platform) owns it
        line._reported_at[agent_id] = t
        at = max(t, agent.state_changed_at)
        line._agent_event(agent, wire, at, now, commands, call=None, reason="sync")
    return ended


def _held_calls(line: Line, held: set[str], t: float) -> tuple[list[Call], list[Call]]:
    """One pass over the calls (an ended one is kept long after its end): the calls the platform
    holds a leg of, as acd sees it, and the dials in progress it no longer holds.

    The first: calls answered (a callback's or an appointment's conversation included), inbound
    calls queued or ringing an agent, and calls overflowed to a local service (the platform
    bridges them there and posts their end: one it no longer holds has ended, and its service's
    place is free again, or a lost `call.ended` would keep that place taken for good). The
    second: a callback's or an appointment's dial the sync does not list, begun longer than
    `routing.max_ringing_s` before its `ts` (`Outbound.lost`)."""
    syncable: list[Call] = []
    dials: list[Call] = []
    longest = line._max_ringing_s
    for c in line.calls.values():
        status = c.status
        if status is ANSWERED or status is OVERFLOWED:
            syncable.append(c)
        elif status is QUEUED or status is CONNECTING:
            if c.kind is INBOUND and c.callback_id is None:
                syncable.append(c)
            elif (
                status is CONNECTING
                and c.id not in held
                and c.connected_at is not None
                and t - c.connected_at > longest
            ):
                dials.append(c)
    return syncable, dials


def _rung_out(
    line: Line, agent: Agent, t: float, e: PlatformSync, now: float, commands: list[Command]
) -> str | None:
    """An agent acd has rung with an inbound call (still held by the platform) for longer than
    `routing.max_ringing_s` as of the sync's `t`, and whom the platform reports `available`: the
    agent let it ring out and the `call.unanswered` was lost (the watchdog's `ringing` flag,
    corrected). Applied as that ring-out, as of `t`: the call goes back to its place in line
    and the agent gets `ring_out` (toward `rona_pause`). The call's id, or None when it was not
    that. An answer that was lost needs nothing of the sync: the call's end frees its agent."""
    call = line.calls.get(agent.call_id) if agent.call_id is not None else None
    if (
        call is None
        or call.status is not CONNECTING
        or call.kind is not INBOUND
        or call.callback_id is not None
        or call.agent_id != agent.id
        or call.connected_at is None
        or t - call.connected_at <= line._max_ringing_s
    ):
        return None
    ring_out = CallUnanswered.model_construct(
        id=e.id, type="call.unanswered", call_id=call.id, agent_id=agent.id, ts=e.ts
    )
    return call.id if calls.on_unanswered(line, ring_out, t, now, commands) is None else None


def _call_changed_at(call: Call) -> float:
    changed = max(call.offered_at, call.connected_at or 0.0, call.answered_at or 0.0, call.enqueued_at)
    if call.status is OVERFLOWED:  # when it went to its local service
        # (a loop, not max([changed, *generator]): Cython compiles this module, acd/compiled.py)
        for at, entry in call.history:
            if entry.get("action") == "overflow" and at > changed:
                changed = at
    return changed
