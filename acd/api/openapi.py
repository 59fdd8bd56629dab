"""`/openapi.json`, generated from the same pydantic models that validate requests."""

from __future__ import annotations

from typing import Any, NamedTuple

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from acd.api import schemas
from acd.events import Event

REF = "#/components/schemas/{model}"


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


ROUTES: list[Route] = [
    Route(
        "post",
        "/v1/events",
        "Inbound platform events (one, or a batch of up to 1000)",
        "events",
        schemas.EventsResponse,
        200,
        (400, 401, 409, 413, 422),
    ),
    Route(
        "put",
        "/v1/agents/{agent_id}",
        "Create or update a roster entry",
        schemas.AgentUpsert,
        schemas.AgentView,
        200,
        (400, 401, 404, 422),
    ),
    Route(
        "get",
        "/v1/agents",
        "Agents with their state",
        None,
        schemas.AgentList,
        200,
        (401,),
        (("site", "Only this site"), ("state", "Only this state")),
    ),
    Route("get", "/v1/agents/{agent_id}", "One agent", None, schemas.AgentView, 200, (401, 404)),
    Route(
        "get",
        "/v1/queues",
        "Per skill: waiting calls, oldest wait, EWT, agents",
        None,
        schemas.QueueList,
        200,
        (401,),
    ),
    Route(
        "get",
        "/v1/calls/{call_id}",
        "A call: state, times, agent, decision history",
        None,
        schemas.CallView,
        200,
        (401, 404),
    ),
    Route(
        "post",
        "/v1/callbacks",
        "Request a callback",
        schemas.CallbackRequest,
        schemas.CallbackView,
        201,
        (400, 401, 409, 422),
    ),
    Route("get", "/v1/callbacks/{callback_id}", "A callback", None, schemas.CallbackView, 200, (401, 404)),
    Route(
        "delete",
        "/v1/callbacks/{callback_id}",
        "Cancel a scheduled callback",
        None,
        schemas.CallbackView,
        200,
        (401, 404, 409),
    ),
    Route(
        "get",
        "/v1/appointments/slots",
        "The day's slots with places left",
        None,
        schemas.SlotList,
        200,
        (401, 422),
        (("skill", "The skill"), ("date", "YYYY-MM-DD"), ("site", "One site")),
        ("skill", "date"),
    ),
    Route(
        "post",
        "/v1/appointments",
        "Book a phone appointment",
        schemas.AppointmentRequest,
        schemas.AppointmentView,
        201,
        (400, 401, 409, 422),
    ),
    Route(
        "get",
        "/v1/appointments/{appointment_id}",
        "An appointment",
        None,
        schemas.AppointmentView,
        200,
        (401, 404),
    ),
    Route(
        "delete",
        "/v1/appointments/{appointment_id}",
        "Cancel an appointment (frees its place)",
        None,
        schemas.AppointmentView,
        200,
        (401, 404, 409),
    ),
    Route(
        "patch",
        "/v1/appointments/{appointment_id}",
        "Reschedule an appointment",
        schemas.AppointmentPatch,
        schemas.AppointmentView,
        200,
        (400, 401, 404, 409, 422),
    ),
    Route(
        "get",
        "/v1/overflow",
        "The overflow switch: mode, whether active, why",
        None,
        schemas.OverflowStatus,
        200,
        (401,),
    ),
    Route(
        "put",
        "/v1/overflow",
        "Set the overflow switch (auto, on, off)",
        schemas.OverflowModeBody,
        schemas.OverflowStatus,
        200,
        (400, 401, 422),
    ),
    Route(
        "get",
        "/v1/services",
        "The local services that take overflow",
        None,
        schemas.ServiceList,
        200,
        (401,),
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


def build_openapi(version: str) -> dict[str, Any]:
    models = {schemas.ErrorBody}
    for route in ROUTES:
        for m in (route.request, route.response):
            if isinstance(m, type) and issubclass(m, BaseModel):
                models.add(m)
    _, top = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)], ref_template=REF
    )
    components: dict[str, Any] = dict(top.get("$defs", {}))
    event_schema = TypeAdapter(Event | list[Event]).json_schema(ref_template=REF)
    components.update(event_schema.pop("$defs", {}))
    components["EventOrBatch"] = event_schema

    paths: dict[str, Any] = {}
    for route in ROUTES:
        op: dict[str, Any] = {"summary": route.summary, "operationId": f"{route.method}_{route.path}"}
        params = [
            {"name": name.strip("{}"), "in": "path", "required": True, "schema": {"type": "string"}}
            for name in route.path.split("/")
            if name.startswith("{")
        ]
        params += [
            {
                "name": n,
                "in": "query",
                "required": n in route.required_query,
                "schema": {"type": "string", "minLength": 1}
                if n in route.required_query
                else {"type": "string"},
                "description": d,
            }
            for n, d in route.query
        ]
        if params:
            op["parameters"] = params
        if route.request is not None:
            ref = "EventOrBatch" if route.request == "events" else route.request.__name__
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": REF.format(model=ref)}}},
            }
        responses: dict[str, Any] = {}
        if route.response is not None:
            responses[str(route.status)] = {
                "description": "OK",
                "content": {
                    "application/json": {"schema": {"$ref": REF.format(model=route.response.__name__)}}
                },
            }
            if route.method == "put" and route.path.startswith("/v1/agents"):
                responses["201"] = {**responses[str(route.status)], "description": "Created"}
        for code in route.errors:
            responses[str(code)] = {
                "description": "Error",
                "content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorBody")}}},
            }
        op["responses"] = responses
        paths.setdefault(route.path, {})[route.method] = op
    paths["/metrics"] = {
        "get": {
            "summary": "Prometheus text exposition",
            "operationId": "metrics",
            "responses": {
                "200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}}
            },
        }
    }
    paths["/v1/records"] = {
        "get": {
            "summary": "The call records offered between two local dates, oldest first, streamed "
            "(NDJSON; CSV with Accept: text/csv)",
            "operationId": "get_/v1/records",
            "parameters": [
                {"name": n, "in": "query", "required": n in ("from", "to"), "schema": {"type": "string"}}
                for n in ("from", "to", "skill", "site")
            ],
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {
                        "application/x-ndjson": {"schema": {"type": "string"}},
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                **{
                    str(code): {
                        "description": "Error",
                        "content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorBody")}}},
                    }
                    for code in (401, 422, 503)
                },
            },
        }
    }
    paths["/openapi.json"] = {
        "get": {
            "summary": "This document",
            "operationId": "openapi",
            "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {}}}}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "acd: automatic call distributor", "version": version},
        "paths": paths,
        "components": {"schemas": components},
    }
