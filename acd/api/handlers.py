"""HTTP handlers: parse, validate with the pydantic models, hand over to the service, render."""

from __future__ import annotations

import contextlib
import re
import typing
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from acd import jsonio
from acd.api.creations import create, created, created_id, new_id
from acd.api.errors import ApiError, shorten, validation_error
from acd.api.inputs import literal_plus, one_of, read_json, read_model, read_query
from acd.api.schemas import (
    AgentUpsert,
    AppointmentPatch,
    AppointmentRequest,
    CallbackRequest,
    OverflowModeBody,
    SlotsCaller,
    calendar_date,
)
from acd.config import AGENT_ID_RULE, AgentConfig
from acd.engine import EngineError, EventResult
from acd.events import (
    EDGE,
    FIRST_YEAR,
    IDENT_PATTERN,
    LAST_YEAR,
    AgentStateChanged,
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentRescheduled,
    CallbackCancelled,
    CallbackRequested,
    OverflowMode,
    event_adapter,
    event_list_adapter,
)
from acd.service import Service

SERVICE = web.AppKey("service", Service)
OPENAPI = web.AppKey("openapi", dict)

_ident = re.compile(IDENT_PATTERN)  # what every id in a path must look like
AGENT_STATES: tuple[str, ...] = typing.get_args(AgentStateChanged.model_fields["state"].annotation)
_INTERNAL_DETAILS = ("index", "id", "type")  # of an internal event, in an engine refusal


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=jsonio.dumps(data), status=status, content_type="application/json")


@contextlib.contextmanager
def _about_the_request() -> Iterator[None]:
    """Refusals of the internal events a REST request stands for speak of the request: the
    internal event's id, type and place in a batch mean nothing to a client who sent none."""
    try:
        yield
    except EngineError as exc:
        details = exc.details
        if isinstance(details, dict):
            details = {k: v for k, v in details.items() if k not in _INTERNAL_DETAILS}
        raise EngineError(exc.status, exc.code, exc.message, details) from None


async def _apply_request(service: Service, events: Sequence[Any]) -> list[EventResult]:
    with _about_the_request():
        return await service.apply_events(events)


def _path_id(request: web.Request, name: str) -> str:
    value = request.match_info[name]
    if not _ident.fullmatch(value):
        what = name.removesuffix("_id")
        raise ApiError(404, f"unknown_{what}", f"no such {what}: {shorten(value)!r}")
    return value


async def post_events(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    read_query(request, ())
    body = await read_json(request)
    max_batch = service.settings.max_batch
    try:
        if isinstance(body, list):
            if not body:
                raise ApiError(422, "empty_batch", "a batch holds at least one event")
            if len(body) > max_batch:
                raise ApiError(
                    413, "batch_too_large", f"a batch holds at most {max_batch} events", {"size": len(body)}
                )
            events = event_list_adapter.validate_python(body, context=EDGE)
        elif isinstance(body, dict):
            events = [event_adapter.validate_python(body, context=EDGE)]
        else:
            raise ApiError(422, "invalid_event", "the body must be an event object or an array of events")
    except ValidationError as exc:
        raise validation_error(exc, "event") from None
    results = await service.apply_events(events)
    return _json({"results": [r.to_wire() for r in results]})


async def put_agent(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    read_query(request, ())
    agent_id = request.match_info["agent_id"]
    if not _ident.fullmatch(agent_id):  # an upsert names the agent it creates: a bad id, not a missing one
        message = f"agent_id: not a valid id: {agent_id[:80]!r} ({AGENT_ID_RULE})"
        raise ApiError(422, "invalid_agent", message, {"field": "agent_id"})
    spec = await read_model(request, AgentUpsert, "agent")
    try:
        entry = AgentConfig(id=agent_id, site=spec.site, skills=spec.skills, target=spec.target)
    except ValidationError as exc:  # a path id the roster's stricter id pattern refuses (`a:b`)
        first = exc.errors(include_url=False, include_context=False, include_input=False)[0]
        field = "agent_id" if tuple(first["loc"]) == ("id",) else ".".join(str(p) for p in first["loc"])
        message = f"{field}: {first['msg']}"
        if field == "agent_id":
            message = f"agent_id: not a valid id: {agent_id[:80]!r} ({AGENT_ID_RULE})"
        raise ApiError(422, "invalid_agent", message, {"field": field}) from None
    with _about_the_request():
        _, created = await service.upsert_agent(entry)
    return _json(service.engine.queries.agent(agent_id, service.clock.now()), status=201 if created else 200)


async def list_agents(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    engine, now = service.engine, service.clock.now()
    query = read_query(request, ("site", "state"))
    site, state = query.get("site"), query.get("state")
    one_of(site, engine.queries.sites, "site", "unknown_site", "site")
    one_of(state, AGENT_STATES, "state", "invalid_query", "state")
    return _json({"agents": engine.queries.agents(now, site, state)})


async def get_agent(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    read_query(request, ())
    agent = service.engine.queries.agent(_path_id(request, "agent_id"), service.clock.now())
    if agent is None:
        raise ApiError(404, "unknown_agent", f"no such agent: {shorten(request.match_info['agent_id'])!r}")
    return _json(agent)


async def get_queues(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    read_query(request, ())
    return _json({"queues": service.engine.queries.queues(service.clock.now())})


async def get_call(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    read_query(request, ())
    call = service.engine.queries.call(_path_id(request, "call_id"), service.clock.now())
    if call is None:
        raise ApiError(404, "unknown_call", f"no such call: {shorten(request.match_info['call_id'])!r}")
    return _json(call)


def _known(view: Any, request: web.Request, name: str) -> Any:
    """The view of the record the path names (`view`: a read model's lookup), or 404."""
    record = view(_path_id(request, name))
    if record is None:
        what = name.removesuffix("_id")
        raise ApiError(404, f"unknown_{what}", f"no such {what}: {shorten(request.match_info[name])!r}")
    return record


async def post_callback(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    read_query(request, ())
    body = await read_model(request, CallbackRequest, "callback")
    callback_id = created_id(request, "cb")
    event = CallbackRequested(
        id=f"api-{callback_id}",
        callback_id=callback_id,
        number=body.number,
        skill=body.skill,
        department=body.department,
        not_before=body.not_before,
    )
    try:
        await create(request, _apply_request(service, [event]), "callback")
    except EngineError as exc:
        if exc.code != "callback_open":
            raise
        # the number has a callback still open for the skill: that one (acd/engine/callbacks.py)
        return _json(created(service.engine.queries.callback(exc.details["callback_id"]), "callback"))
    return _json(created(service.engine.queries.callback(callback_id), "callback"), status=201)


async def get_callback(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    read_query(request, ())
    return _json(_known(service.engine.queries.callback, request, "callback_id"))


async def delete_callback(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    read_query(request, ())
    callback_id = _known(service.engine.queries.callback, request, "callback_id")["callback_id"]
    await _apply_request(service, [CallbackCancelled(id=new_id("api"), callback_id=callback_id)])
    return _json(service.engine.queries.callback(callback_id))


async def get_slots(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    engine = service.engine
    query = read_query(request, ("skill", "date", "site", "department", "number"))
    skill, day, site = query.get("skill"), query.get("date"), query.get("site")
    caller = _slots_caller(request, query)
    if not skill:
        raise ApiError(
            422,
            "invalid_query",
            f"skill is required (one of {', '.join(engine.queries.skills)})",
            {"field": "skill"},
        )
    one_of(skill, engine.queries.skills, "skill", "unknown_skill", "skill")
    one_of(site, engine.queries.sites, "site", "unknown_site", "site")
    try:
        when = calendar_date(day)
    except ValueError:
        raise ApiError(422, "invalid_query", "date must be YYYY-MM-DD", {"field": "date"}) from None
    if not FIRST_YEAR <= when.year <= LAST_YEAR:
        message = f"date must fall in the years {FIRST_YEAR} to {LAST_YEAR}"
        raise ApiError(422, "invalid_query", message, {"field": "date"})
    now = service.clock.now()
    horizon = engine.queries.booking_horizon(now)
    if when > horizon[0]:
        raise ApiError(
            422,
            "beyond_horizon",
            f"date is more than {horizon[1]} days ahead (the booking horizon, appointments.max_days_ahead):"
            f" the latest is {horizon[0].isoformat()}",
            {"field": "date"},
        )
    iso = engine.queries.isoformat
    slots = engine.queries.appointment_slots(skill, when, site, now, **caller.model_dump())
    return _json([{**s, "start": iso(s["start"]), "end": iso(s["end"])} for s in slots])


def _slots_caller(request: web.Request, query: dict[str, str]) -> SlotsCaller:
    """The slots query's caller (`department`, `number`), refused as the booking refuses them: a
    number acd must not dial, its reason the code; another bad value, `invalid_query`."""
    given = {"department": query.get("department"), "number": literal_plus(request, "number")}
    try:
        return SlotsCaller.model_validate({k: v for k, v in given.items() if v is not None}, context=EDGE)
    except ValidationError as exc:
        refused = validation_error(exc, "query")
        field = str(exc.errors()[0]["loc"][0])
        raise ApiError(refused.status, refused.code, refused.message, {"field": field}) from None


async def post_appointment(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    read_query(request, ())
    body = await read_model(request, AppointmentRequest, "appointment")
    appointment_id = created_id(request, "ap")
    event = AppointmentBooked(
        id=f"api-{appointment_id}",
        appointment_id=appointment_id,
        number=body.number,
        skill=body.skill,
        start=body.start,
        department=body.department,
        site=body.site,
    )
    try:
        await create(request, _apply_request(service, [event]), "appointment")
    except EngineError as exc:
        held = (
            service.engine.queries.appointment(exc.details["appointment_id"])
            if exc.code == "appointment_open"
            else None
        )
        if held is None or held["skill"] != body.skill:
            raise
        return _json(held)  # booked already, at that start for that skill: that one (asked again)
    return _json(created(service.engine.queries.appointment(appointment_id), "appointment"), status=201)


async def get_appointment(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    read_query(request, ())
    return _json(_known(service.engine.queries.appointment, request, "appointment_id"))


async def delete_appointment(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    read_query(request, ())
    appointment_id = _known(service.engine.queries.appointment, request, "appointment_id")["appointment_id"]
    await _apply_request(service, [AppointmentCancelled(id=new_id("api"), appointment_id=appointment_id)])
    return _json(service.engine.queries.appointment(appointment_id))


async def patch_appointment(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    read_query(request, ())
    appointment_id = _known(service.engine.queries.appointment, request, "appointment_id")["appointment_id"]
    body = await read_model(request, AppointmentPatch, "appointment")
    event = AppointmentRescheduled(id=new_id("api"), appointment_id=appointment_id, start=body.start)
    await _apply_request(service, [event])
    return _json(service.engine.queries.appointment(appointment_id))


async def get_overflow(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    read_query(request, ())
    return _json(service.engine.queries.overflow(service.clock.now()))


async def put_overflow(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    read_query(request, ())
    body = await read_model(request, OverflowModeBody, "overflow")
    event = OverflowMode(id=f"overflow-{uuid.uuid4().hex}", mode=body.mode)
    [result] = await _apply_request(service, [event])
    assert result.decision is not None
    return _json(result.decision.to_wire())


async def list_services(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    department = read_query(request, ("department",)).get("department")
    views = service.engine.queries.services(service.clock.now())
    if department is not None:
        departments = sorted({v["department"] for v in views})
        if department not in departments:
            raise ApiError(
                422,
                "unknown_department",
                f"no local service for department {department[:16]!r} (an INSEE code such as 59, 2A, 971)",
                {"field": "department", "valid": departments},
            )
        views = [v for v in views if v["department"] == department]
    return _json({"services": views})


async def metrics(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    service.metrics.ready.set(1.0 if await service.ready() else 0.0)
    return web.Response(body=generate_latest(service.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    return _json({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    ready = await service.ready()
    service.metrics.ready.set(1.0 if ready else 0.0)
    if ready:
        return _json({"status": "ready"})
    raise ApiError(503, "not_ready", "the state store is unreachable")


async def openapi(request: web.Request) -> web.Response:
    return _json(request.app[OPENAPI])
