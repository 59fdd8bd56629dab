"""Request and response bodies of the HTTP API. They validate requests, render resources and make
`/openapi.json`, so the document and the service cannot disagree."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from acd.events import E164, SIP_URI_PATTERN, Department, Ident, Instant, SkillId

Level = Annotated[int, Field(ge=1, le=5, strict=True)]


_YYYY_MM_DD = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def calendar_date(raw: str | None) -> date:
    """A query's date, YYYY-MM-DD and nothing else (`date.fromisoformat` also reads an ISO week
    date, `2026-W10-1`); ValueError otherwise."""
    if raw is None or not _YYYY_MM_DD.fullmatch(raw):
        raise ValueError(f"not YYYY-MM-DD: {raw!r}")
    return date.fromisoformat(raw)


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class AgentUpsert(BaseModel):
    """Roster entry for `PUT /v1/agents/{agent_id}`."""

    model_config = ConfigDict(extra="forbid")

    site: Annotated[str, Field(min_length=1, max_length=64)]
    skills: Annotated[dict[Annotated[str, Field(min_length=1, max_length=64)], Level], Field(min_length=1)]
    target: Annotated[str, Field(pattern=SIP_URI_PATTERN, max_length=256, description="The agent's SIP URI")]


class AgentView(BaseModel):
    agent_id: str
    site: str
    skills: dict[str, int]
    target: str
    state: Literal["logged_out", "available", "busy", "wrap_up", "paused"]
    reason: str | None = None
    reserved: bool = Field(False, description="Chosen for a call that is ringing")
    call_id: str | None = None
    idle_since: datetime | None = Field(None, description="When it last became available (while available)")
    state_since: datetime | None = None
    occupancy: float = Field(description="Share of logged-in working time spent on calls and wrap-up")
    calls_handled: int = 0
    pending_state: Literal["logged_out", "paused"] | None = Field(
        None, description="What the agent asked for during its call, applied when the call ends"
    )
    pending_reason: str | None = None


class AgentList(BaseModel):
    agents: list[AgentView]


class QueueView(BaseModel):
    skill: str
    waiting: int
    oldest_wait_s: float
    ewt_s: float = Field(description="Expected wait for a new call of priority 0")
    agents_available: int = Field(
        description="Agents holding the skill who are available (each skill they hold)"
    )
    agents_busy: int = Field(
        description="Agents holding the skill who are occupied: on a call, rung for one, or in wrap-up"
    )
    agents_staffed: int = Field(
        description="agents_available + agents_busy (paused and logged-out agents: neither)"
    )
    aht_s: float = Field(description="Average handle time used for the estimate")


class QueueList(BaseModel):
    queues: list[QueueView]


class DecisionView(BaseModel):
    model_config = ConfigDict(extra="allow")

    action: str


class HistoryEntry(BaseModel):
    model_config = ConfigDict(extra="allow")

    at: datetime
    action: str


class CallView(BaseModel):
    call_id: str
    caller: str
    skill: str
    needs: list[str]
    priority: int
    department: str | None
    language: str
    preferred_agent_id: str | None
    status: Literal["queued", "connecting", "answered", "callback", "overflowed", "closed", "ended"]
    agent_id: str | None
    offered_at: datetime
    connected_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None
    wait_s: float = Field(
        description="The caller's wait so far, or until answered, ended, sent to a local service, "
        "a callback accepted, or refused in closed hours (0): the call record's wait_s"
    )
    position: int | None = Field(None, description="Place in line while waiting")
    callback_id: str | None
    survey_score: int | None
    history: list[HistoryEntry]


class CallbackRequest(BaseModel):
    """`POST /v1/callbacks`: ring this number back."""

    model_config = ConfigDict(extra="forbid")

    number: E164
    skill: SkillId
    department: Department | None = None
    not_before: Instant | None = Field(None, description="Not before this instant (RFC 3339)")


class CallbackView(BaseModel):
    callback_id: str
    status: Literal["scheduled", "dialing", "done", "failed", "cancelled"]
    due_at: datetime
    number: str
    skill: str
    call_id: str | None = Field(description="The call that accepted it (virtual hold), or its own id")
    department: str | None
    agent_id: str | None
    attempts: int
    created_at: datetime
    first_dial_at: datetime | None
    history: list[dict[str, Any]]


class AppointmentRequest(BaseModel):
    """`POST /v1/appointments`: book the slot starting at `start`."""

    model_config = ConfigDict(extra="forbid")

    number: E164
    skill: SkillId
    start: Instant
    department: Department | None = None
    site: Ident | None = Field(
        None, description="Book at this site (default: the site with most places left)"
    )


class SlotsCaller(BaseModel):
    """`GET /v1/appointments/slots`' optional caller, read as the booking reads it: with it, the
    slots outside the caller's own hours have no place left."""

    model_config = ConfigDict(extra="forbid")

    department: Department | None = None
    number: E164 | None = None


class AppointmentPatch(BaseModel):
    """`PATCH /v1/appointments/{id}`: reschedule."""

    model_config = ConfigDict(extra="forbid")

    start: Instant


class AppointmentView(BaseModel):
    appointment_id: str
    status: Literal["booked", "dialing", "done", "no_show", "cancelled"]
    start: datetime
    end: datetime
    number: str
    skill: str
    site: str
    department: str | None
    agent_id: str | None
    attempts: int
    created_at: datetime
    history: list[dict[str, Any]]


class SlotView(BaseModel):
    start: datetime
    end: datetime
    remaining: int
    capacity: int


class SlotList(RootModel[list[SlotView]]):
    """The contract's answer: a JSON array of slots."""


class EventResultView(BaseModel):
    id: str
    status: Literal["applied", "duplicate"]
    decision: DecisionView | None = None
    ignored: str | None = Field(
        None,
        description="Present when an applied event changed nothing (and on a duplicate of one: "
        "the first answer's reason), naming why: call_ended, stale, restates_state, "
        "call_owns_agent, answered_by_another_agent, agent_on_another_call, "
        "not_ringing_this_agent, survey_exists, not_answered, callback_exists, not_waiting, "
        "not_dialing, not_the_dialled_agent, callback_scheduled, not_a_caller, no_number",
    )


class EventsResponse(BaseModel):
    results: list[EventResultView]


class OverflowModeBody(BaseModel):
    """`PUT /v1/overflow`: the supervisor's switch."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["auto", "on", "off"]


class OverflowStatus(BaseModel):
    model_config = ConfigDict(extra="allow")

    mode: Literal["auto", "on", "off"]
    active: bool
    reason: str
    sends: str | None = Field(
        None,
        description="auto: which callers an active overflow sends to their local services (every "
        "caller over the threshold; with config/overflow.yaml patience_share, the ones the national "
        "line would lose)",
    )


class ServiceView(BaseModel):
    service: str
    department: str
    name: str
    target: str
    capacity: int
    active: bool = Field(description="Open now and below capacity: it can take an overflow call")
    open: bool
    load: int = Field(description="Overflow calls it holds now")
    taken: int = Field(description="Overflow calls it took since start")
    timezone: str
    skills: list[str] | None = Field(description="The skills whose calls it takes; null: every skill")


class ServiceList(BaseModel):
    services: list[ServiceView]


class Health(BaseModel):
    status: str


class Satisfaction(BaseModel):
    n: int
    mean: float | None
    satisfied_share: float | None = Field(description="Scores of 4 or 5 / n")


class IndicatorRow(BaseModel):
    """One row of the published indicators (docs/records.md gives the definitions)."""

    model_config = ConfigDict(extra="allow")

    day: str | None = None
    hour: int | None = None
    hour_start: str | None = Field(
        None,
        description="by=hour: the hour's first instant, RFC 3339 with its offset (the autumn night's "
        "two 02:xx hours have the same day and hour, not the same hour_start)",
    )
    skill: str | None = None
    site: str | None = None
    offered: int = Field(description="Calls offered while open, short abandons left out")
    answered: int = Field(description="Answered by an agent, directly or through the accepted callback")
    abandoned: int
    short_abandoned: int = Field(description="Hung up within 5 s of waiting")
    overflowed: int
    callbacks_answered: int
    answer_rate: float | None
    service_level: float | None
    asa_s: float | None
    satisfaction: Satisfaction


class IndicatorsView(BaseModel):
    rows: list[IndicatorRow]


AGENT_ID = Ident
