"""`/openapi.json`, generated from the same pydantic models that validate requests.

Given the configuration, the document names its skills, sites and departments as enums (a client,
or schemathesis, learns the valid values from it), and OpenAPI links say where a created resource
is read, changed and cancelled (`POST /v1/callbacks` -> `GET`/`DELETE /v1/callbacks/{id}`, ...),
which schemathesis's stateful phase follows.
"""

from __future__ import annotations

import copy
import typing
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import models_json_schema

from acd.api import schemas
from acd.api.routes import ROUTES, Route
from acd.config import AgentConfig, Config
from acd.events import DEPARTMENT_PATTERN, E164_PATTERN, IDENT_PATTERN, AgentStateChanged, Event

REF = "#/components/schemas/{model}"
AGENT_STATES = list(typing.get_args(AgentStateChanged.model_fields["state"].annotation))
ROSTER_ID_PATTERN = AgentConfig.model_json_schema()["properties"]["id"]["pattern"]  # PUT /v1/agents/{id}


#: A creation asked again answers 200 with what the first made (acd/api/handlers.py).
ASKED_AGAIN = {
    "/v1/callbacks": "The number's callback for the skill still open (scheduled or dialing): asked again,"
    " nothing new is made",
    "/v1/appointments": "The number's appointment for the skill at that start (booked or dialing): asked"
    " again, nothing new is made (another skill at that start: 409 appointment_open)",
}


ERROR = {
    "description": "Error",
    "content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorBody")}}},
}
#: Every path answers a method it does not take (another one than its operations here) with a 405.
METHOD_NOT_ALLOWED = {
    **ERROR,
    "description": "Another method than this path's operations: 405 method_not_allowed, whatever "
    "the request (the Allow header lists the methods the path takes)",
    "headers": {
        "Allow": {
            "description": "The methods the path takes, comma-separated (HEAD with GET)",
            "schema": {"type": "string"},
        }
    },
}


def _op_id(method: str, path: str) -> str:
    return f"{method}_{path}"


#: Request bodies whose names of skills and sites the configuration fills in as enums.
_REQUESTS = ("AgentUpsert", "AppointmentRequest", "CallbackRequest", "CallOffered")


def _enum(prop: dict[str, Any], values: list[str]) -> None:
    """Restrict a string property (or the string branch of an optional one) to `values`."""
    for branch in prop.get("anyOf", [prop]):
        if branch.get("type") == "string":
            branch["enum"] = list(values)


def _name_config(components: dict[str, Any], config: Config) -> None:
    skills = [s.id for s in config.skills]
    sites = [s.id for s in config.sites]
    for name in _REQUESTS:
        props = components.get(name, {}).get("properties", {})
        if "skill" in props:
            _enum(props["skill"], skills)
        if "needs" in props:
            _enum(props["needs"]["items"], skills)
        if "site" in props:
            _enum(props["site"], sites)
        if name == "AgentUpsert":
            props["skills"]["propertyNames"] = {"type": "string", "enum": skills}


def _query_schema(name: str, required: bool, config: Config | None) -> dict[str, Any]:
    if name == "state":
        return {"type": "string", "enum": AGENT_STATES}
    if name == "date":
        return {"type": "string", "format": "date", "pattern": r"^20[0-9]{2}-[0-9]{2}-[0-9]{2}$"}
    if name == "department":
        return {"type": "string", "pattern": DEPARTMENT_PATTERN}
    if name == "number":  # as the bodies publish it: the contract's form (a French one is taken too)
        return {"type": "string", "pattern": E164_PATTERN}
    if config is not None and name in ("skill", "site"):
        return {
            "type": "string",
            "enum": [x.id for x in (config.skills if name == "skill" else config.sites)],
        }
    return {"type": "string", "minLength": 1} if required else {"type": "string"}


def _links(route: Route) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, method, path, parameters in route.links:
        link: dict[str, Any] = {"operationId": _op_id(method, path)}
        if parameters:
            link["parameters"] = dict(parameters)
        if name == "BookFirstSlot":  # the day's first slot for the skill, at whichever site has room
            link["requestBody"] = {
                "skill": "$request.query.skill",
                "start": "$response.body#/0/start",
                "site": None,
            }
        out[name] = link
    return out


def build_openapi(version: str, config: Config | None = None) -> dict[str, Any]:
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
    if config is not None:
        components = copy.deepcopy(components)
        _name_config(components, config)

    paths: dict[str, Any] = {}
    for route in ROUTES:
        op: dict[str, Any] = {"summary": route.summary, "operationId": _op_id(route.method, route.path)}
        params = [
            {
                "name": name.strip("{}"),
                "in": "path",
                "required": True,
                "schema": {
                    "type": "string",
                    "pattern": ROSTER_ID_PATTERN if route.method == "put" else IDENT_PATTERN,
                },
            }
            for name in route.path.split("/")
            if name.startswith("{")
        ]
        params += [
            {
                "name": n,
                "in": "query",
                "required": n in route.required_query,
                "schema": _query_schema(n, n in route.required_query, config),
                "description": d,
            }
            for n, d in route.query
        ]
        params += [
            {
                "name": n,
                "in": "header",
                "required": False,
                "schema": {"type": "string", "pattern": pattern},
                "description": d,
            }
            for n, pattern, d in route.headers
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
            if route.links:
                responses[str(route.status)]["links"] = _links(route)
            if route.method == "put" and route.path.startswith("/v1/agents"):
                responses["201"] = {**responses[str(route.status)], "description": "Created"}
            if route.method == "post" and route.path in ASKED_AGAIN:
                responses["200"] = {**responses[str(route.status)], "description": ASKED_AGAIN[route.path]}
        # under /v1 a body where none is taken, or one that is not JSON, is a 400 on every path;
        # a body over the size limit a 413 wherever one is taken
        implied = ((400,) if route.path.startswith("/v1/") else ()) + ((413,) if route.request else ())
        # a write the store cannot make durable (Redis down, a lost lease) is a 503, nothing applied
        implied += (503,) if route.method != "get" else ()
        for code in sorted({*route.errors, *implied}):
            responses[str(code)] = ERROR
        responses["405"] = METHOD_NOT_ALLOWED
        op["responses"] = responses
        paths.setdefault(route.path, {})[route.method] = op
    paths["/metrics"] = {
        "get": {
            "summary": "Prometheus text exposition",
            "operationId": "metrics",
            "responses": {
                "200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}},
                "405": METHOD_NOT_ALLOWED,
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
                **{str(code): ERROR for code in (400, 401, 422, 503)},
                "405": METHOD_NOT_ALLOWED,
            },
        }
    }
    paths["/openapi.json"] = {
        "get": {
            "summary": "This document",
            "operationId": "openapi",
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": {}}}},
                "405": METHOD_NOT_ALLOWED,
            },
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "acd: automatic call distributor", "version": version},
        "paths": paths,
        "components": {"schemas": components},
    }
