"""Inbound events from the telephony platform: a discriminated union on `type`.

The same models validate `POST /v1/events` and describe it in `/openapi.json`.
"""

from __future__ import annotations

import typing
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter

EventId = Annotated[str, Field(min_length=1, max_length=128, description="Unique id: the idempotency key")]
IDENT_PATTERN = r"^[A-Za-z0-9._:@+\-]{1,128}$"
Ident = Annotated[str, Field(min_length=1, max_length=128, pattern=IDENT_PATTERN)]
E164 = Annotated[str, Field(pattern=r"^\+[1-9][0-9]{1,14}$", description="E.164 number, e.g. +33142000000")]
Department = Annotated[
    str,
    Field(pattern=r"^(0[1-9]|[1-8][0-9]|9[0-5]|2A|2B|97[1-6])$", description="INSEE department code"),
]
SkillId = Annotated[str, Field(min_length=1, max_length=64)]
Outcome = Literal["answered", "no_answer", "busy", "failed"]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: EventId
    ts: AwareDatetime | None = Field(None, description="When the platform saw it (RFC 3339 with offset)")


class CallOffered(_Event):
    type: Literal["call.offered"]
    call_id: Ident
    caller: E164
    skill: SkillId
    priority: int = Field(0, ge=0, le=9, description="0-9, higher served first")
    department: Department | None = None
    language: Annotated[str, Field(min_length=2, max_length=8)] = "fr"
    needs: list[SkillId] = Field(default_factory=list, max_length=16, description="Extra skills required")
    preferred_agent_id: Ident | None = None


class CallAnswered(_Event):
    type: Literal["call.answered"]
    call_id: Ident
    agent_id: Ident


class CallEnded(_Event):
    type: Literal["call.ended"]
    call_id: Ident
    reason: Literal["completed", "abandoned", "failed", "transferred"]


class CallUnanswered(_Event):
    """The chosen agent let the call ring out (RONA): the call goes back to its place in line."""

    type: Literal["call.unanswered"]
    call_id: Ident
    agent_id: Ident


AgentWireState = Literal["logged_out", "available", "busy", "wrap_up", "paused"]


class AgentStateChanged(_Event):
    type: Literal["agent.state"]
    agent_id: Ident
    state: AgentWireState
    reason: Annotated[str, Field(max_length=64)] | None = None


class CallbackAccepted(_Event):
    type: Literal["callback.accepted"]
    call_id: Ident


class CallbackResult(_Event):
    type: Literal["callback.result"]
    callback_id: Ident
    outcome: Outcome


class AppointmentResult(_Event):
    type: Literal["appointment.result"]
    appointment_id: Ident
    outcome: Outcome


class SurveyResult(_Event):
    type: Literal["survey.result"]
    call_id: Ident
    score: int = Field(ge=1, le=5)


class PlatformSync(_Event):
    """Reconciliation: what the platform holds now. acd ends the calls it holds (queued,
    connecting, answered) that the platform no longer lists, with reason `lost`; agents take the
    state the platform reports (a call the platform still holds keeps its agent); unknown calls
    and agents are ignored; what acd learnt after `ts` is not undone."""

    type: Literal["platform.sync"]
    calls: list[Ident] = Field(max_length=100_000, description="The ids of every call the platform holds now")
    agents: dict[Ident, AgentWireState] = Field(
        default_factory=dict, max_length=100_000, description="Agents' states as the platform sees them"
    )


# -- Internal events: writes made through the API's resources rather than by the platform. They go
# through the same single write path (validate, log, apply) so a durable store only has to keep
# one ordered log of inputs. They are not accepted on POST /v1/events.


class _Internal(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: EventId
    ts: AwareDatetime | None = None


class RosterAgent(_Internal):
    type: Literal["roster.agent"] = "roster.agent"
    agent_id: Ident
    site: Annotated[str, Field(min_length=1, max_length=64)]
    skills: dict[SkillId, Annotated[int, Field(ge=1, le=5)]]
    target: str


class CallbackRequested(_Internal):
    type: Literal["callback.requested"] = "callback.requested"
    callback_id: Ident
    number: E164
    skill: SkillId
    department: Department | None = None
    not_before: AwareDatetime | None = None


class CallbackCancelled(_Internal):
    type: Literal["callback.cancelled"] = "callback.cancelled"
    callback_id: Ident


class AppointmentBooked(_Internal):
    type: Literal["appointment.booked"] = "appointment.booked"
    appointment_id: Ident
    number: E164
    skill: SkillId
    start: AwareDatetime
    department: Department | None = None
    site: Ident | None = None


class AppointmentCancelled(_Internal):
    type: Literal["appointment.cancelled"] = "appointment.cancelled"
    appointment_id: Ident


class AppointmentRescheduled(_Internal):
    type: Literal["appointment.rescheduled"] = "appointment.rescheduled"
    appointment_id: Ident
    start: AwareDatetime


class OverflowMode(_Internal):
    type: Literal["overflow.mode"] = "overflow.mode"
    mode: Literal["auto", "on", "off"]


#: The platform's events (POST /v1/events) and the internal ones, each union written once.
PlatformUnion = (
    CallOffered
    | CallAnswered
    | CallEnded
    | CallUnanswered
    | AgentStateChanged
    | CallbackAccepted
    | CallbackResult
    | AppointmentResult
    | SurveyResult
    | PlatformSync
)
InternalUnion = (
    RosterAgent
    | OverflowMode
    | CallbackRequested
    | CallbackCancelled
    | AppointmentBooked
    | AppointmentCancelled
    | AppointmentRescheduled
)

Event = Annotated[PlatformUnion, Field(discriminator="type")]
EVENT_TYPES: tuple[type[_Event], ...] = typing.get_args(PlatformUnion)

event_adapter: TypeAdapter[Event] = TypeAdapter(Event)
event_list_adapter: TypeAdapter[list[Event]] = TypeAdapter(list[Event])

InternalEvent = Annotated[InternalUnion, Field(discriminator="type")]
#: Every input the engine applies, platform or internal: what a durable log stores.
AnyEvent = Annotated[PlatformUnion | InternalUnion, Field(discriminator="type")]
any_event_adapter: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)
