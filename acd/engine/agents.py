"""The agent's state machine, written down as one table: (situation, event) -> (state, effects).

A situation is the agent's state and whether a call owns it (`on_call`: reserved for a call by a
`connect`, or talking on it). Calls own their agents: while one does, only the call's own events
(`answer`, `ring_out`, `release`, `call_end`) end the assignment; a platform's `agent.state` never
does. During an assignment `available` and `busy` restate what acd knows, `wrap_up` contradicts
the call (only the call's end starts wrap-up), and `paused` / `logged_out` are the agent's own
requests: kept (`defer`) and applied when the call ends, instead of the return to available.

Events:

- the platform's `agent.state`: `logged_out`, `available`, `busy`, `wrap_up`, `paused`;
- acd's own: `reserve` (a `connect`), `answer` (the call was answered by this agent), `ring_out`
  (`call.unanswered`), `release` (the reserved call went elsewhere: hung up while ringing,
  answered by another agent, lost), `call_end` (the answered call ended or was lost),
  `wrap_timer` (the end of wrap-up).

A target state may be symbolic, resolved by the engine with what only it knows:

- `AFTER_CALL`: the agent's pending request if any, else wrap-up (or available with no wrap-up);
- `AFTER_RELEASE`: the pending request if any, else available;
- `AFTER_RING_OUT`: the pending request if any, else paused (`no_answer`) once the agent let
  `max_no_answer` calls in a row ring out, else available.

Effects, applied by the engine in this order: `detach` (the call no longer owns the agent),
`attach` (it now does), `defer` (keep the paused/logged_out request for the call's end),
`keep_presence` (an agent away, paused or logged out, who picks up a call: its state and reason
kept as its request for the call's end, as if asked during the call),
`cancel_pending` (an `available` during the call withdraws an earlier request), `reset_streak`
(an answer resets the ring-out count), `count_ring_out`, `arm_wrap` (wrap-up ends by a timer),
`offer_work` (an agent who became available takes the best waiting call).

`ignored` names why an event changed nothing; it is answered to the platform (`"ignored"` beside
`"status": "applied"`). Staleness (an `agent.state` older than what acd knows) is checked before
the table; see `is_stale`. Going paused or logged out, by any path, also resets the ring-out count.

The table is total: every (situation, event) pair is in `TABLE`, or in `UNREACHABLE` with the
reason the engine never asks it (such events are turned away before the table, with an
`ignored` of their own: `not_ringing_this_agent`, `agent_on_another_call`, ...).
"""

from __future__ import annotations

from typing import NamedTuple

from acd.model import AgentState

LOGGED_OUT, AVAILABLE, BUSY, WRAP_UP, PAUSED, RESERVED = (
    AgentState.LOGGED_OUT,
    AgentState.AVAILABLE,
    AgentState.BUSY,
    AgentState.WRAP_UP,
    AgentState.PAUSED,
    AgentState.RESERVED,
)

AFTER_CALL = "after_call"
AFTER_RELEASE = "after_release"
AFTER_RING_OUT = "after_ring_out"
SAME = "same"

#: The platform's agent states (the events of `agent.state`).
PLATFORM_EVENTS = ("logged_out", "available", "busy", "wrap_up", "paused")
#: acd's own events on an agent.
ENGINE_EVENTS = ("reserve", "answer", "ring_out", "release", "call_end", "wrap_timer")

Situation = tuple[AgentState, bool]  # (state, on_call)

#: Every situation an agent can be in. A call owns a reserved agent; a busy agent may hold a call
#: (talking) or not (the platform said so: a personal call, or news acd missed; the watchdog flags
#: it and the next platform.sync corrects it).
SITUATIONS: tuple[Situation, ...] = (
    (LOGGED_OUT, False),
    (AVAILABLE, False),
    (BUSY, False),
    (WRAP_UP, False),
    (PAUSED, False),
    (RESERVED, True),
    (BUSY, True),
)


class Ignored(str):
    """What an event handler returns for an event that changes nothing: the reason, answered to
    the platform as `"ignored"` beside `"status": "applied"`. Such an event moves no counter."""

    __slots__ = ()


class Transition(NamedTuple):
    state: AgentState | str  # a state, SAME, or a symbolic target resolved by the engine
    effects: tuple[str, ...] = ()
    ignored: str | None = None


def _ignore(reason: str) -> Transition:
    return Transition(SAME, (), reason)


def _free_agent_table() -> dict[tuple[Situation, str], Transition]:
    """A free agent (no call) takes the platform's word, except for what it already is."""
    table: dict[tuple[Situation, str], Transition] = {}
    for state, on_call in SITUATIONS:
        if on_call:
            continue
        here = (state, False)
        for event in PLATFORM_EVENTS:
            target = AgentState.from_wire(event)
            if target == state:
                # Repeated: nothing moves (an available agent keeps its place in line). A paused or
                # logged-out agent's new reason is still taken (the engine checks the reason).
                table[here, event] = _ignore("restates_state")
            elif target is AVAILABLE:
                table[here, event] = Transition(AVAILABLE, ("offer_work",))
            elif target is WRAP_UP:
                table[here, event] = Transition(WRAP_UP, ("arm_wrap",))  # ends like acd's own
            else:
                table[here, event] = Transition(target)
        # A call answered by an agent acd had not chosen (picked up elsewhere): the call owns it now.
        # An agent away (paused, logged out) is away again when the call ends (`keep_presence`).
        away = state in (PAUSED, LOGGED_OUT)
        table[here, "answer"] = Transition(
            BUSY, ("attach", "reset_streak", *(("keep_presence",) if away else ()))
        )
    table[(AVAILABLE, False), "reserve"] = Transition(RESERVED, ("attach",))
    table[(WRAP_UP, False), "wrap_timer"] = Transition(AVAILABLE, ("offer_work",))
    return table


def _on_call_table() -> dict[tuple[Situation, str], Transition]:
    table: dict[tuple[Situation, str], Transition] = {}
    for here in ((RESERVED, True), (BUSY, True)):
        table[here, "available"] = Transition(SAME, ("cancel_pending",), "restates_state")
        table[here, "busy"] = _ignore("restates_state")
        table[here, "wrap_up"] = _ignore("call_owns_agent")
        table[here, "paused"] = Transition(SAME, ("defer",))
        table[here, "logged_out"] = Transition(SAME, ("defer",))
    table[(RESERVED, True), "answer"] = Transition(BUSY, ("reset_streak",))
    table[(RESERVED, True), "ring_out"] = Transition(
        AFTER_RING_OUT, ("detach", "count_ring_out", "offer_work")
    )
    table[(RESERVED, True), "release"] = Transition(AFTER_RELEASE, ("detach", "offer_work"))
    table[(RESERVED, True), "call_end"] = Transition(AFTER_RELEASE, ("detach", "offer_work"))
    table[(BUSY, True), "answer"] = _ignore("restates_state")
    table[(BUSY, True), "call_end"] = Transition(AFTER_CALL, ("detach", "arm_wrap", "offer_work"))
    # An answered call that moves to another agent would leave this one talking on nothing: the
    # engine never releases a talking agent (a call.answered naming someone else is ignored).
    return table


#: The whole table. A pair not in it cannot happen (the engine never asks it, see UNREACHABLE):
#: `transition` raises, so a bug shows at once rather than as an agent with two calls.
TABLE: dict[tuple[Situation, str], Transition] = {**_free_agent_table(), **_on_call_table()}


def _unreachable() -> dict[tuple[Situation, str], str]:
    why = {
        "reserve": "the router reserves only an available agent",
        "ring_out": "a call.unanswered not naming the agent its ringing call owns is ignored first",
        "release": "only the agent a ringing call owns is released",
        "call_end": "only the agent a call owns is freed by its end",
        "wrap_timer": "the timer is dropped once the agent left wrap-up (its token moved on)",
    }
    out = {}
    for situation in SITUATIONS:
        for event in ENGINE_EVENTS:
            if (situation, event) not in TABLE:
                out[situation, event] = why[event]
    return out


#: The pairs of acd's own events that cannot happen, and why: with TABLE, every pair of the
#: (situation x event) product is accounted for.
UNREACHABLE: dict[tuple[Situation, str], str] = _unreachable()


def transition(state: AgentState, on_call: bool, event: str) -> Transition:
    try:
        return TABLE[(state, on_call), event]
    except KeyError:
        raise ValueError(f"no transition for event {event!r} in situation {state.name}/{on_call}") from None


def is_stale(event: str, t: float, changed_at: float, reported_at: float) -> bool:
    """Whether a platform's `agent.state` is older than what acd knows, so it is ignored.

    `available`, `busy` and `wrap_up` describe what the agent is doing: older (by `ts`) than the
    agent's last change, acd's own included (a connect, a call's end, the end of wrap-up), they are
    stale (a `busy` stamped at pick-up and delivered after the call's end). `paused` and
    `logged_out` are the agent's own requests: they win over acd's changes and yield only to a
    later report of the agent's own (`reported_at`: the `ts` of the last one applied)."""
    if event in ("paused", "logged_out"):
        return t < reported_at
    return t < changed_at or t < reported_at
