"""Inbound events from the telephony platform: a discriminated union on `type`.

The same models validate `POST /v1/events` and describe it in `/openapi.json`.
"""

from __future__ import annotations

import re
import typing
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError

from acd import phone

EventId = Annotated[str, Field(min_length=1, max_length=128, description="Unique id: the idempotency key")]
IDENT_PATTERN = r"^[A-Za-z0-9._:@+\-]{1,128}$"
Ident = Annotated[str, Field(min_length=1, max_length=128, pattern=IDENT_PATTERN)]
E164_PATTERN = phone.E164_PATTERN
NUMBER_PATTERN = phone.NUMBER_PATTERN
DEPARTMENT_PATTERN = r"^(0[1-9]|[1-8][0-9]|9[0-5]|2A|2B|97[1-6])$"
#: A SIP URI as it goes out in commands (an agent's, a local service's): visible ASCII only
#: (RFC 3261 percent-encodes the rest), so no NUL, control or invisible character reaches the
#: platform's line. The API's roster upserts and config/ alike.
SIP_URI_PATTERN = r"^sips?:[!-~]+$"


def _as_number(value: Any) -> Any:
    """A number in a form the French plan makes certain, written in E.164 (acd/phone.py)."""
    return phone.normalize(value) if isinstance(value, str) else value


def _as_number_to_dial(value: Any, info: ValidationInfo) -> Any:
    """`_as_number`; from outside, a number acd must not dial back (the French plan's wrong
    lengths, special-rate and short numbers: acd/phone.py) is refused, its code the reason. A
    stored log replays without the check: what an earlier release took still loads."""
    edge = bool(info.context and info.context.get("edge"))
    if edge and isinstance(value, str) and not phone.NUMBER.fullmatch(value):
        raise PydanticCustomError(
            "string_pattern_mismatch", "not a phone number", {"pattern": NUMBER_PATTERN}
        )
    number = _as_number(value)
    if isinstance(number, str) and edge:
        why = phone.refusal(number)
        if why is not None:
            raise PydanticCustomError(why[0], why[1].replace("{", "{{").replace("}", "}}"))
    return number


#: A number acd may dial: E.164, or a French national form written in E.164 (acd/phone.py).
E164 = Annotated[
    str,
    Field(
        # The contract's form, published as the pattern; the description gives the other forms
        # taken (a pattern of every form would let generated requests through that the French
        # plan's rules refuse, and hide the form the contract names).
        pattern=E164_PATTERN,
        description="A phone number acd dials, written in E.164: +33142000000; also taken, a French form "
        "(01 42 00 00 00, 0033 1..., +33 (0)1..., with spaces, . - ( ) / as separators; 0590, 0594, "
        "0596, 0262, 0269, 0639, 0692... and 05 08 with their overseas country codes), or a sip:, "
        "sips: or tel: URI's user part. Refused (422, the code says why): number_wrong_length (a "
        "French number, +33, +262, +590, +594, +596, not 9 digits after its country code; +508: 6; "
        "any number under 7 digits), "
        "number_not_in_plan (+33 0...), number_surcharged (special-rate 081x-089x), number_short "
        "(3BPQ such as 3949, 1X, 11X, 10XY, 118XYZ). 080x (free), 01-07 and 09 are called back",
    ),
    BeforeValidator(_as_number_to_dial),  # after the Field: the pattern stays in the JSON schema
]
#: A caller id as the platform has it: a number (written in E.164 when its form is certain), or a
#: withheld one (`anonymous`, `restricted`, empty): the call is taken, and never called back.
CALLER_PATTERN = r"^[^\x00-\x1f\x7f]*$"
CallerId = Annotated[
    str,
    Field(
        max_length=256,  # a platform may send a whole SIP URI: the call is taken all the same
        pattern=CALLER_PATTERN,
        description="The caller id: a number (E.164, or a French national form, written in E.164), "
        "or a withheld one (`anonymous`): the call is routed, a callback is offered only to a number",
    ),
    BeforeValidator(_as_number),
]
Department = Annotated[str, Field(pattern=DEPARTMENT_PATTERN, description="INSEE department code")]
SkillId = Annotated[str, Field(min_length=1, max_length=64)]

#: The years an instant from outside may name (event `ts`, callback `not_before`, appointment
#: `start`, slot dates): past them, calendar arithmetic would overflow (year 9999 + 1 day) and
#: nothing a contact centre does makes sense.
FIRST_YEAR, LAST_YEAR = 2000, 2099
YEAR_PATTERN = r"^20[0-9]{2}-"  # what the bounds mean for an RFC 3339 string (the local year)
#: Validation context of requests from outside: the date bounds apply. The replay of a stored log
#: validates without it, so events accepted by an earlier release still load.
EDGE = {"edge": True}


def _sane_instant(value: datetime, info: ValidationInfo) -> datetime:
    if info.context and info.context.get("edge") and not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must fall in the years {FIRST_YEAR} to {LAST_YEAR} (got year {value.year})")
    return value


#: How an RFC 3339 time's text begins (a date, then T, t or a space).
_RFC3339_START = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ]")


def _rfc3339_text(value: Any, info: ValidationInfo) -> Any:
    """From outside, a time is an RFC 3339 string (CONTRACT.md): a number, or digits in a string,
    is a wrong type, refused rather than read as Unix seconds or milliseconds (pydantic's lax
    mode would). Datetimes made inside (the API's own events) pass."""
    if not (info.context and info.context.get("edge")) or isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339_START.match(value):
        raise ValueError("must be an RFC 3339 string with an offset, such as 2026-03-02T10:00:00+01:00")
    return value


Instant = Annotated[
    AwareDatetime,
    BeforeValidator(_rfc3339_text),
    AfterValidator(_sane_instant),
    Field(
        description=f"RFC 3339 with an offset, in the years {FIRST_YEAR}-{LAST_YEAR}",
        json_schema_extra={"pattern": YEAR_PATTERN},
    ),
]
Outcome = Literal["answered", "no_answer", "busy", "failed"]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: EventId
    ts: Instant | None = Field(
        None, description=f"When the platform saw it (RFC 3339 with offset, years {FIRST_YEAR}-{LAST_YEAR})"
    )


class CallOffered(_Event):
    type: Literal["call.offered"]
    call_id: Ident
    caller: CallerId
    skill: SkillId
    priority: int = Field(0, ge=0, le=9, strict=True, description="0-9, higher served first (an integer)")
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
    #: A callback window the queue decision offered (its `start`); absent: virtual hold.
    window_start: Instant | None = None
    #: The number to call back, when the caller gave one (the voice server asked); absent: the
    #: caller id's, which must then be a number (a withheld one: 422 `no_number`).
    number: E164 | None = None
    #: Added after a release: left out of the digest while absent (acd/engine/core.py).
    DIGEST_WHEN_SET: ClassVar[tuple[str, ...]] = ("number",)


#: An outbound command's id (`originate`: the call id, `.originate.`, the offer instant in ms, `.`, a number).
CommandId = Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[^\s]+$")]
_ORIGINATE_ID = Field(
    None,
    description="The `id` of the `originate` command this result answers (optional): a result for "
    "another dial than the one in progress is `stale` and changes nothing",
)


class CallbackResult(_Event):
    #: Fields added after the first release: left out of the event's digest while absent, so an
    #: id remembered before the upgrade is still a duplicate when retried (acd/engine/core.py).
    DIGEST_WHEN_SET: ClassVar[tuple[str, ...]] = ("originate_id",)

    type: Literal["callback.result"]
    callback_id: Ident
    outcome: Outcome
    originate_id: CommandId | None = _ORIGINATE_ID


class AppointmentResult(_Event):
    DIGEST_WHEN_SET: ClassVar[tuple[str, ...]] = ("originate_id",)

    type: Literal["appointment.result"]
    appointment_id: Ident
    outcome: Outcome
    originate_id: CommandId | None = _ORIGINATE_ID


class SurveyResult(_Event):
    type: Literal["survey.result"]
    call_id: Ident
    score: int = Field(ge=1, le=5, strict=True)


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
    ts: Instant | None = None


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
    not_before: Instant | None = None


class CallbackCancelled(_Internal):
    type: Literal["callback.cancelled"] = "callback.cancelled"
    callback_id: Ident


class AppointmentBooked(_Internal):
    type: Literal["appointment.booked"] = "appointment.booked"
    appointment_id: Ident
    number: E164
    skill: SkillId
    start: Instant
    department: Department | None = None
    site: Ident | None = None


class AppointmentCancelled(_Internal):
    type: Literal["appointment.cancelled"] = "appointment.cancelled"
    appointment_id: Ident


class AppointmentRescheduled(_Internal):
    type: Literal["appointment.rescheduled"] = "appointment.rescheduled"
    appointment_id: Ident
    start: Instant


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
