"""The table of the HTTP API's routes as `/openapi.json` describes them: method, path, summary,
request and response models, status codes, query parameters and links (see `acd.api.openapi`)."""

from __future__ import annotations

from typing import Any, NamedTuple

from pydantic import BaseModel

from acd.api import schemas
from acd.api.creations import IDEMPOTENCY_KEY, IDEMPOTENCY_KEY_PATTERN


class Route(NamedTuple):
    method: str
    path: str
    summary: str
    request: Any = None  # a model or a type adapter target
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    query: tuple[tuple[str, str], ...] = ()
    required_query: tuple[str, ...] = ()
    links: tuple[tuple[str, str, str, dict[str, str]], ...] = ()  # (name, method, path, parameters)
    headers: tuple[tuple[str, str, str], ...] = ()  # optional request headers: (name, pattern, description)


#: A creation's optional key: the same key, the same contact (a retry whose answer was lost).
IDEMPOTENCY_KEY_HEADER = (
    (
        IDEMPOTENCY_KEY,
        IDEMPOTENCY_KEY_PATTERN,
        "Optional, 1-128 letters, digits or . _ : - (a UUID will do): a retry with the same key "
        "and body is the first request's duplicate (the same contact, answered again); the same "
        "key with another body is 409 idempotency_conflict. Remembered for "
        "routing.idempotency_ttl_s.",
    ),
)


ROUTES: list[Route] = [
    Route(
        "post",
        "/v1/events",
        "Inbound platform events (one, or a batch of up to 1000)",
        "events",
        schemas.EventsResponse,
        200,
        (400, 401, 409, 413, 415, 422),
        links=(
            (
                "GetCall",
                "get",
                "/v1/calls/{call_id}",
                {"call_id": "$response.body#/results/0/decision/call_id"},
            ),
        ),
    ),
    Route(
        "put",
        "/v1/agents/{agent_id}",
        "Create or update a roster entry",
        schemas.AgentUpsert,
        schemas.AgentView,
        200,
        (400, 401, 404, 415, 422),
        links=(("GetAgent", "get", "/v1/agents/{agent_id}", {"agent_id": "$response.body#/agent_id"}),),
    ),
    Route(
        "get",
        "/v1/agents",
        "Agents with their state",
        None,
        schemas.AgentList,
        200,
        (401, 422),
        (("site", "Only this site"), ("state", "Only this state")),
    ),
    Route("get", "/v1/agents/{agent_id}", "One agent", None, schemas.AgentView, 200, (401, 404, 422)),
    Route(
        "get",
        "/v1/queues",
        "Per skill: waiting calls, oldest wait, EWT, agents",
        None,
        schemas.QueueList,
        200,
        (401, 422),
    ),
    Route(
        "get",
        "/v1/calls/{call_id}",
        "A call: state, times, agent, decision history",
        None,
        schemas.CallView,
        200,
        (401, 404, 422),
    ),
    Route(
        "post",
        "/v1/callbacks",
        "Request a callback",
        schemas.CallbackRequest,
        schemas.CallbackView,
        201,
        (400, 401, 404, 409, 415, 422),
        headers=IDEMPOTENCY_KEY_HEADER,
        links=(
            (
                "GetCallback",
                "get",
                "/v1/callbacks/{callback_id}",
                {"callback_id": "$response.body#/callback_id"},
            ),
            (
                "CancelCallback",
                "delete",
                "/v1/callbacks/{callback_id}",
                {"callback_id": "$response.body#/callback_id"},
            ),
        ),
    ),
    Route(
        "get", "/v1/callbacks/{callback_id}", "A callback", None, schemas.CallbackView, 200, (401, 404, 422)
    ),
    Route(
        "delete",
        "/v1/callbacks/{callback_id}",
        "Cancel a scheduled callback",
        None,
        schemas.CallbackView,
        200,
        (401, 404, 409, 422),
    ),
    Route(
        "get",
        "/v1/appointments/slots",
        "The day's slots with places left",
        None,
        schemas.SlotList,
        200,
        (401, 422),
        (
            ("skill", "The skill"),
            ("date", "YYYY-MM-DD"),
            ("site", "One site"),
            (
                "department",
                "The caller's department, as the booking's: slots outside the caller's hours have none left",
            ),
            (
                "number",
                "The caller's number, as the booking's (its zone when no department says it; `+` or %2B)",
            ),
        ),
        ("skill", "date"),
        links=(("BookFirstSlot", "post", "/v1/appointments", {}),),
    ),
    Route(
        "post",
        "/v1/appointments",
        "Book a phone appointment",
        schemas.AppointmentRequest,
        schemas.AppointmentView,
        201,
        (400, 401, 404, 409, 415, 422),
        headers=IDEMPOTENCY_KEY_HEADER,
        links=tuple(
            (
                name,
                method,
                "/v1/appointments/{appointment_id}",
                {"appointment_id": "$response.body#/appointment_id"},
            )
            for name, method in (
                ("GetAppointment", "get"),
                ("RescheduleAppointment", "patch"),
                ("CancelAppointment", "delete"),
            )
        ),
    ),
    Route(
        "get",
        "/v1/appointments/{appointment_id}",
        "An appointment",
        None,
        schemas.AppointmentView,
        200,
        (401, 404, 422),
    ),
    Route(
        "delete",
        "/v1/appointments/{appointment_id}",
        "Cancel an appointment (frees its place)",
        None,
        schemas.AppointmentView,
        200,
        (401, 404, 409, 422),
    ),
    Route(
        "patch",
        "/v1/appointments/{appointment_id}",
        "Reschedule an appointment",
        schemas.AppointmentPatch,
        schemas.AppointmentView,
        200,
        (400, 401, 404, 409, 415, 422),
    ),
    Route(
        "get",
        "/v1/overflow",
        "The overflow switch: mode, whether active, why",
        None,
        schemas.OverflowStatus,
        200,
        (401, 422),
    ),
    Route(
        "put",
        "/v1/overflow",
        "Set the overflow switch (auto, on, off)",
        schemas.OverflowModeBody,
        schemas.OverflowStatus,
        200,
        (400, 401, 415, 422),
    ),
    Route(
        "get",
        "/v1/services",
        "The local services that take overflow",
        None,
        schemas.ServiceList,
        200,
        (401, 422),
        (("department", "Only this department's service"),),
    ),
    Route(
        "get",
        "/v1/reports/indicators",
        "The published indicators from the call records, by day, hour, skill or site",
        None,
        schemas.IndicatorsView,
        200,
        (401, 422, 503),
        (
            ("from", "First local date (Europe/Paris), YYYY-MM-DD"),
            ("to", "Last local date, YYYY-MM-DD"),
            ("by", "day, hour, skill or site (none: one row in all)"),
            ("skill", "Only this skill"),
            ("site", "Only this site"),
        ),
        ("from", "to"),
    ),
    Route("get", "/healthz", "Liveness", None, schemas.Health),
    Route(
        "get", "/readyz", "Readiness (503 while the store is unreachable)", None, schemas.Health, 200, (503,)
    ),
]
