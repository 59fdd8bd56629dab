"""HTTP handlers: parse, validate with the pydantic models, hand over to the service, render."""

from __future__ import annotations

import json
import re
import uuid
from datetime import date
from typing import Any, TypeVar

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ValidationError

from acd.api.errors import ApiError, validation_error
from acd.api.schemas import (
    AgentUpsert,
    AppointmentPatch,
    AppointmentRequest,
    CallbackRequest,
    OverflowModeBody,
)
from acd.api.views import agent_view, appointment_view, call_view, callback_view
from acd.config import AgentConfig
from acd.events import (
    IDENT_PATTERN,
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
M = TypeVar("M", bound=BaseModel)
OPENAPI = web.AppKey("openapi", dict)

_ident = re.compile(IDENT_PATTERN)  # what every id in a path must look like


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=_dumps(data), status=status, content_type="application/json")


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        raise ApiError(400, "empty_body", "a JSON body is required")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None


async def _parse(request: web.Request, model: type[M], what: str) -> M:
    """The JSON body validated by `model`; a 400 or 422 JSON error otherwise."""
    try:
        return model.model_validate(await _body(request))
    except ValidationError as exc:
        raise validation_error(exc, what) from None


def _path_id(request: web.Request, name: str) -> str:
    value = request.match_info[name]
    if not _ident.fullmatch(value):
        raise ApiError(
            404, f"unknown_{name.removesuffix('_id')}", f"no such {name.removesuffix('_id')}: {value!r}"
        )
    return value


async def post_events(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    body = await _body(request)
    max_batch = service.settings.max_batch
    try:
        if isinstance(body, list):
            if not body:
                raise ApiError(422, "empty_batch", "a batch holds at least one event")
            if len(body) > max_batch:
                raise ApiError(
                    413, "batch_too_large", f"a batch holds at most {max_batch} events", {"size": len(body)}
                )
            events = event_list_adapter.validate_python(body)
        elif isinstance(body, dict):
            events = [event_adapter.validate_python(body)]
        else:
            raise ApiError(422, "invalid_event", "the body must be an event object or an array of events")
    except ValidationError as exc:
        raise validation_error(exc, "event") from None
    results = await service.apply_events(events)
    return _json({"results": [r.to_wire() for r in results]})


async def put_agent(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    agent_id = _path_id(request, "agent_id")
    spec = await _parse(request, AgentUpsert, "agent")
    agent, created = await service.upsert_agent(
        AgentConfig(id=agent_id, site=spec.site, skills=spec.skills, target=spec.target)
    )
    return _json(agent_view(service.engine, agent, service.clock.now()), status=201 if created else 200)


async def list_agents(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    engine, now = service.engine, service.clock.now()
    site, state = request.query.get("site"), request.query.get("state")
    views = [agent_view(engine, a, now) for a in engine.agents.values() if site is None or a.site == site]
    if state is not None:
        views = [v for v in views if v["state"] == state]
    return _json({"agents": views})


async def get_agent(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    agent = service.engine.agents.get(_path_id(request, "agent_id"))
    if agent is None:
        raise ApiError(404, "unknown_agent", f"no such agent: {request.match_info['agent_id']!r}")
    return _json(agent_view(service.engine, agent, service.clock.now()))


async def get_queues(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    return _json({"queues": service.engine.queue_stats(service.clock.now())})


async def get_call(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    call = service.engine.calls.get(_path_id(request, "call_id"))
    if call is None:
        raise ApiError(404, "unknown_call", f"no such call: {request.match_info['call_id']!r}")
    return _json(call_view(service.engine, call, service.clock.now()))


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


def _known(mapping: dict, request: web.Request, name: str) -> Any:
    record = mapping.get(_path_id(request, name))
    if record is None:
        what = name.removesuffix("_id")
        raise ApiError(404, f"unknown_{what}", f"no such {what}: {request.match_info[name]!r}")
    return record


async def post_callback(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    body = await _parse(request, CallbackRequest, "callback")
    callback_id = _new_id("cb")
    event = CallbackRequested(
        id=f"api-{callback_id}",
        callback_id=callback_id,
        number=body.number,
        skill=body.skill,
        department=body.department,
        not_before=body.not_before,
    )
    await service.apply_events([event])
    return _json(callback_view(service.engine, service.engine.callbacks[callback_id]), status=201)


async def get_callback(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    return _json(callback_view(service.engine, _known(service.engine.callbacks, request, "callback_id")))


async def delete_callback(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    callback = _known(service.engine.callbacks, request, "callback_id")
    await service.apply_events([CallbackCancelled(id=_new_id("api"), callback_id=callback.id)])
    return _json(callback_view(service.engine, callback))


async def get_slots(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    engine = service.engine
    skill, day, site = request.query.get("skill"), request.query.get("date"), request.query.get("site")
    if not skill:
        raise ApiError(422, "invalid_query", "skill is required", {"field": "skill"})
    if skill not in engine.skill_index:
        raise ApiError(422, "unknown_skill", f"unknown skill {skill!r}", {"field": "skill"})
    if site is not None and site not in engine._site_ids:
        raise ApiError(422, "unknown_site", f"unknown site {site!r}", {"field": "site"})
    try:
        when = date.fromisoformat(day or "")
        if len(day or "") != 10:
            raise ValueError
    except ValueError:
        raise ApiError(422, "invalid_query", "date must be YYYY-MM-DD", {"field": "date"}) from None
    iso = engine.calendar.hours.isoformat
    slots = engine.appointment_slots(skill, when, site, service.clock.now())
    return _json([{**s, "start": iso(s["start"]), "end": iso(s["end"])} for s in slots])


async def post_appointment(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    body = await _parse(request, AppointmentRequest, "appointment")
    appointment_id = _new_id("ap")
    event = AppointmentBooked(
        id=f"api-{appointment_id}",
        appointment_id=appointment_id,
        number=body.number,
        skill=body.skill,
        start=body.start,
        department=body.department,
        site=body.site,
    )
    await service.apply_events([event])
    return _json(appointment_view(service.engine, service.engine.appointments[appointment_id]), status=201)


async def get_appointment(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    return _json(
        appointment_view(service.engine, _known(service.engine.appointments, request, "appointment_id"))
    )


async def delete_appointment(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    appointment = _known(service.engine.appointments, request, "appointment_id")
    await service.apply_events([AppointmentCancelled(id=_new_id("api"), appointment_id=appointment.id)])
    return _json(appointment_view(service.engine, appointment))


async def patch_appointment(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    appointment = _known(service.engine.appointments, request, "appointment_id")
    body = await _parse(request, AppointmentPatch, "appointment")
    event = AppointmentRescheduled(id=_new_id("api"), appointment_id=appointment.id, start=body.start)
    await service.apply_events([event])
    return _json(appointment_view(service.engine, appointment))


async def get_overflow(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    return _json(service.engine.overflow.status(service.clock.now()))


async def put_overflow(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    body = await _parse(request, OverflowModeBody, "overflow")
    [result] = await service.apply_events([OverflowMode(id=f"overflow-{uuid.uuid4().hex}", mode=body.mode)])
    return _json(result.decision)


async def list_services(request: web.Request) -> web.Response:
    service = request.app[SERVICE]
    now = service.clock.now()
    views = [
        {
            "service": s.id,
            "department": s.spec.department,
            "name": s.spec.name,
            "target": s.spec.target,
            "capacity": s.spec.capacity,
            "active": s.can_take(now),
            "open": s.hours.is_open(now),
            "load": s.load,
            "taken": s.taken,
            "timezone": s.hours.zone.key,
        }
        for s in service.engine.overflow.services.values()
    ]
    department = request.query.get("department")
    if department is not None:
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
