"""Domain vocabulary shared by the engine, the router, the API and the simulator.

Times are float seconds since the Unix epoch (UTC); the engine never reads a clock, callers pass
the time in. Identifiers are the platform's strings; the router works on integer rows.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any


class AgentState(IntEnum):
    """Agent states. The first five are the contract's; RESERVED is the ACD's own: the agent was
    chosen for a call (its phone rings) and takes nothing else until it answers or the call goes."""

    LOGGED_OUT = 0
    AVAILABLE = 1
    BUSY = 2
    WRAP_UP = 3
    PAUSED = 4
    RESERVED = 5

    @property
    def wire(self) -> str:
        """The contract's name for the state (a reserved agent is `busy` to the outside)."""
        return "busy" if self is AgentState.RESERVED else self.name.lower()

    @classmethod
    def from_wire(cls, name: str) -> AgentState:
        return cls[name.upper()]


#: States in which an agent counts as working for a skill (for EWT and queue figures).
STAFFED_STATES = (AgentState.AVAILABLE, AgentState.BUSY, AgentState.WRAP_UP, AgentState.RESERVED)
#: States counted as occupied time (occupancy = occupied / (occupied + available)).
OCCUPIED_STATES = (AgentState.BUSY, AgentState.WRAP_UP, AgentState.RESERVED)


#: What the watchdog flags: calls answered too long (call ids), agents busy with no call (agent
#: ids), agents rung too long (call ids).
WATCHDOG_KINDS = ("answered_too_long", "busy_without_call", "ringing_too_long", "waiting_too_long")


class Strategy(IntEnum):
    """How the router chooses among the eligible available agents for a call."""

    LONGEST_IDLE = 0  # the agent idle the longest (earliest idle_since)
    SKILL_LEVEL = 1  # highest level in the call's skill, then longest idle
    LEAST_OCCUPIED = 2  # lowest occupancy, then longest idle
    #: the agent holding the fewest skills, then the highest level in the call's skill, then the
    #: longest idle: the versatile agents kept free for the calls only they can take
    FEWEST_SKILLS = 3

    @classmethod
    def from_name(cls, name: str) -> Strategy:
        return cls[name.upper()]


class CallStatus(StrEnum):
    QUEUED = "queued"  # waiting on the national line
    CONNECTING = "connecting"  # an agent was chosen and is ringing
    ANSWERED = "answered"  # talking to an agent
    CALLBACK = "callback"  # the caller accepted a callback and left the line, keeping its place
    OVERFLOWED = "overflowed"  # sent to a local service
    CLOSED = "closed"  # refused: outside opening hours
    ENDED = "ended"


class CallKind(StrEnum):
    """What a contact the engine routes is: a caller's call, or an outbound dial for a callback or
    an appointment (which borrows the call machinery: line, reservation, answer, end)."""

    INBOUND = "inbound"
    CALLBACK = "callback"
    APPOINTMENT = "appointment"


class CallbackStatus(StrEnum):
    SCHEDULED = "scheduled"  # waiting for its due time, or in line for an agent
    DIALING = "dialing"  # an agent was reserved and the number is being dialled
    DONE = "done"  # answered: the agent talks to the caller
    FAILED = "failed"  # no answer after the last attempt
    CANCELLED = "cancelled"


class AppointmentStatus(StrEnum):
    BOOKED = "booked"  # waiting for its slot, or in line for an agent, or between two dials
    DIALING = "dialing"
    DONE = "done"
    NO_SHOW = "no_show"  # no answer within the slot
    CANCELLED = "cancelled"


class OverflowSwitch(StrEnum):
    """The supervisor's overflow switch (`PUT /v1/overflow`)."""

    AUTO = "auto"
    ON = "on"
    OFF = "off"


class EndReason(StrEnum):
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    FAILED = "failed"
    TRANSFERRED = "transferred"
    #: acd's own: a platform.sync no longer lists a call acd held (never accepted in call.ended).
    LOST = "lost"


@dataclass(slots=True)
class Command:
    """An instruction for the telephony platform, delivered by the outbox (idempotent by `id`)."""

    id: str
    command: str
    fields: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0

    def to_wire(self) -> dict[str, Any]:
        return {"id": self.id, "command": self.command, **self.fields}


# ---------------------------------------------------------------------------- decisions
#
# What an event's result says (`"decision"` in the contract's answer to `POST /v1/events`): typed
# inside, rendered to the contract's JSON only at the edge (`to_wire`). A call's history keeps the
# same wire form, with acd's own entries (`requeue`, `answered`, `ended`, ...) beside them.


class Decision:
    """The result of one applied event, for its sender. `to_wire()` is the contract's JSON."""

    __slots__ = ()
    action: str = ""

    def to_wire(self) -> dict[str, Any]:  # pragma: no cover - every decision defines it
        raise NotImplementedError


@dataclass(slots=True)
class ConnectDecision(Decision):
    """Ring this agent now."""

    call_id: str
    agent_id: str
    site: str
    target: str
    action = "connect"

    def to_wire(self) -> dict[str, Any]:
        return {
            "action": "connect",
            "call_id": self.call_id,
            "agent_id": self.agent_id,
            "site": self.site,
            "target": self.target,
        }


@dataclass(slots=True)
class QueueDecision(Decision):
    """Hold the caller; offer a callback when `callback_offer` (with the windows that have room);
    offer an appointment when `appointment_offer` (None, left out of the wire form: no threshold
    in config/, `appointments.offer_above_ewt_s`)."""

    call_id: str
    position: int
    ewt_s: float
    callback_offer: bool
    callback_windows: list[dict[str, Any]] | None = None
    appointment_offer: bool | None = None
    action = "queue"

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "action": "queue",
            "call_id": self.call_id,
            "position": self.position,
            "ewt_s": self.ewt_s,
            "callback_offer": self.callback_offer,
        }
        if self.callback_windows is not None:
            out["callback_windows"] = self.callback_windows
        if self.appointment_offer is not None:
            out["appointment_offer"] = self.appointment_offer
        return out


@dataclass(slots=True)
class OverflowDecision(Decision):
    """Send the call to its department's local service."""

    call_id: str
    service: str
    target: str
    action = "overflow"

    def to_wire(self) -> dict[str, Any]:
        return {"action": "overflow", "call_id": self.call_id, "service": self.service, "target": self.target}


@dataclass(slots=True)
class ClosedDecision(Decision):
    """Outside opening hours or a public holiday: when the line reopens, and why it is closed."""

    call_id: str
    reopens_at: str | None
    reason: str
    action = "closed"

    def to_wire(self) -> dict[str, Any]:
        return {
            "action": "closed",
            "call_id": self.call_id,
            "reopens_at": self.reopens_at,
            "reason": self.reason,
        }


@dataclass(slots=True)
class CallbackDecision(Decision):
    """A callback accepted (virtual hold or a window), requested or cancelled: the fields each
    case has (the others are None and left out of the wire form)."""

    callback_id: str
    call_id: str | None = None
    status: str | None = None
    window: dict[str, str] | None = None
    due_at: float | str | None = None
    action = "callback"

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": "callback"}
        if self.call_id is not None:
            out["call_id"] = self.call_id
        out["callback_id"] = self.callback_id
        if self.status is not None:
            out["status"] = self.status
        if self.window is not None:
            out["window"] = self.window
        if self.due_at is not None:
            out["due_at"] = self.due_at
        return out


@dataclass(slots=True)
class AppointmentDecision(Decision):
    """An appointment booked, cancelled or rescheduled: its status after the event."""

    appointment_id: str
    status: str
    action = "appointment"

    def to_wire(self) -> dict[str, Any]:
        return {"action": "appointment", "appointment_id": self.appointment_id, "status": str(self.status)}


@dataclass(slots=True)
class RosterDecision(Decision):
    agent_id: str
    created: bool
    action = "roster"

    def to_wire(self) -> dict[str, Any]:
        return {"action": "roster", "agent_id": self.agent_id, "created": self.created}


@dataclass(slots=True)
class SyncDecision(Decision):
    """What a platform.sync changed: the calls it ended, the agents whose state moved; and, named
    only when there are some (added to the contract's two), the calls rung longer than
    `routing.max_ringing_s` whose ring-out it found lost (`rang_out`: back in their place in
    line), and the callbacks and appointments whose dial it found over (`dials_lost`)."""

    ended: list[str]
    agents: dict[str, str]
    rang_out: list[str] = field(default_factory=list)
    #: the callbacks' and appointments' dials it found over, their results lost (by contact id)
    dials_lost: list[str] = field(default_factory=list)
    action = "sync"

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"action": "sync", "ended": list(self.ended), "agents": dict(self.agents)}
        if self.rang_out:
            wire["rang_out"] = list(self.rang_out)
        if self.dials_lost:
            wire["dials_lost"] = list(self.dials_lost)
        return wire


@dataclass(slots=True)
class OverflowStatus(Decision):
    """The overflow switch and whether overflow is active, and why (`GET`/`PUT /v1/overflow`;
    the answer to `overflow.mode`). Its wire form has no `action` (as the contract has it)."""

    mode: str
    active: bool
    reason: str
    campaign: str | None = None
    skills: list[str] | None = None
    sends: str | None = None  # auto: which callers an active overflow sends (acd/engine/overflow.py)
    action = "overflow_mode"

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mode": self.mode, "active": self.active, "reason": self.reason}
        if self.campaign is not None:
            out["campaign"] = self.campaign
        if self.skills is not None:
            out["skills"] = list(self.skills)
        if self.sends is not None:
            out["sends"] = self.sends
        return out


_DECISIONS: dict[str, type[Decision]] = {
    d.action: d
    for d in (
        ConnectDecision,
        QueueDecision,
        OverflowDecision,
        ClosedDecision,
        CallbackDecision,
        AppointmentDecision,
        RosterDecision,
        SyncDecision,
    )
}


#: Each decision's fields, by class (what a wire form may set).
_FIELDS: dict[type[Decision], frozenset[str]] = {
    cls: frozenset(f.name for f in dataclasses.fields(cls)) for cls in (*_DECISIONS.values(), OverflowStatus)
}


def decision_from_wire(wire: dict[str, Any] | None) -> Decision | None:
    """The typed decision of a wire form (`to_wire`'s inverse), for state read back from JSON.
    A key this release does not know (a later release's addition, its state read back after a
    rollback) is left out, never a crash: the decision answers a duplicate without it."""
    if wire is None:
        return None
    cls = _DECISIONS[wire["action"]] if "action" in wire else OverflowStatus
    known = _FIELDS[cls]
    return cls(**{k: v for k, v in wire.items() if k in known})
