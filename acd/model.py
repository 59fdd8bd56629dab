"""Domain vocabulary shared by the engine, the router, the API and the simulator.

Times are float seconds since the Unix epoch (UTC); the engine never reads a clock, callers pass
the time in. Identifiers are the platform's strings; the router works on integer rows.
"""

from __future__ import annotations

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


class Strategy(IntEnum):
    """How the router chooses among the eligible available agents for a call."""

    LONGEST_IDLE = 0  # the agent idle the longest (earliest idle_since)
    SKILL_LEVEL = 1  # highest level in the call's skill, then longest idle
    LEAST_OCCUPIED = 2  # lowest occupancy, then longest idle

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
