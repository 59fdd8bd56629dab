"""The engine's records of calls and agents (the router keeps their numeric twins in arrays)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from acd.model import AppointmentStatus, CallbackStatus, CallKind, CallStatus

#: A line of a record's history: the engine time and what happened (a decision, a status).
Entry = tuple[float, dict[str, Any]]


@dataclass(eq=False)
class Agent:
    id: str
    site: str
    skills: dict[str, int]
    target: str
    row: int  # the router's row for this agent
    reason: str | None = None  # why paused / logged out
    call_id: str | None = None  # the call it is reserved for or talking on
    state_changed_at: float = 0.0
    wrap_token: int = 0  # invalidates a pending automatic end of wrap-up
    calls_handled: int = 0


@dataclass(eq=False)
class Call:
    """A contact to route: an inbound call, or an outbound dial for a callback or an appointment
    (which then borrows the call machinery: line, reservation, answer, end, wrap-up)."""

    id: str
    caller: str
    skill: str
    priority: int
    offered_at: float
    seq: int
    department: str | None = None
    language: str = "fr"
    needs: tuple[str, ...] = ()
    preferred_agent_id: str | None = None
    kind: CallKind = CallKind.INBOUND
    status: CallStatus = CallStatus.QUEUED
    row: int = -1  # the router's waiting-call row while queued
    enqueued_at: float = 0.0  # engine time it joined the line (widening and preference run from it)
    agent_id: str | None = None
    connected_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    end_reason: str | None = None
    survey_score: int | None = None
    callback_id: str | None = None
    callback_at: float | None = None  # when its caller accepted a callback (the event's ts)
    service_id: str | None = None  # the local service it overflowed to
    stranded: bool = False  # the max-wait rule has acted on it
    timer_token: int = 0  # invalidates a pending widening / preference timer
    unanswered: int = 0  # times an agent let it ring out
    history: list[Entry] = field(default_factory=list)

    @property
    def waiting(self) -> bool:
        return self.row >= 0


@dataclass(eq=False)
class Callback:
    """A caller to ring back. Virtual hold (`call_id` is the caller's call, which kept its place)
    or requested through the API (`call_id` is the callback's own id)."""

    id: str
    number: str
    skill: str
    status: CallbackStatus
    created_at: float
    due_at: float
    call_id: str
    department: str | None = None
    agent_id: str | None = None
    attempts: int = 0
    requested: bool = False  # through POST /v1/callbacks (counts against the fair share)
    token: int = 0  # invalidates a pending due timer
    first_dial_at: float | None = None
    history: list[Entry] = field(default_factory=list)


@dataclass(eq=False)
class Appointment:
    id: str
    number: str
    skill: str
    site: str
    start: float
    end: float
    status: AppointmentStatus
    created_at: float
    department: str | None = None
    agent_id: str | None = None
    attempts: int = 0
    token: int = 0  # invalidates pending start / reminder / retry timers
    reminded: bool = False
    history: list[Entry] = field(default_factory=list)
