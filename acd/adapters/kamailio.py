"""The Kamailio adapter: the contract's signed events and commands, for a SIP proxy that cannot sign.

Kamailio 5.6 (Debian bookworm) has a synchronous HTTP client (`http_client`) but no HMAC function in
its configuration language, so it cannot sign `POST /v1/events`. This adapter sits beside the API, in
the same process, under `/adapters/kamailio/`; `acd serve` adds it to the app when `ACD_KAMAILIO_URL`
(where Kamailio's `xhttp` endpoint takes commands) is set:

- `POST /adapters/kamailio/offered|answered|ended|failed` (form fields, unsigned, loopback peers
  only): the adapter builds the contract's events (event ids derived from the SIP Call-ID, so a
  retransmission, or the same request retried on another instance, is a `duplicate`), applies them
  through `Service.apply_events` like `POST /v1/events` does, and answers `offered` with the routing
  decision, flattened to one JSON line Kamailio's `jansson_get` reads.
- `failed` is Kamailio's failure route for a branch that did not answer, the caller's CANCEL left
  out (Kamailio tells them apart with `t_is_canceled()`; the CANCEL posts `ended` `abandoned`). A
  branch to an agent (408 ring timeout, 480, 486, 487, 603, ...) is a ring-no-answer: the adapter
  posts `call.unanswered` with the agent the call was ringing, the call goes back to its place in
  line, and the answer `{"action": "hold"}` tells Kamailio to hold the caller again until acd's next
  `connect`. A branch to a local service (overflow) that fails ends the call (`call.ended`
  `failed`, `{"action": "end"}`: Kamailio passes the failure on to the caller).
- `POST /adapters/kamailio/commands`: point `ACD_COMMAND_URL` here. The outbox's signed command is
  verified (when `ACD_WEBHOOK_SECRET` is set) and relayed to Kamailio, whose answer is passed on: a
  `connect` for a call Kamailio does not hold yet is a `503`, so the outbox retries it; a command for a
  call that has ended already is acknowledged (`200`, `gone`) so it is not retried for ever, and so is
  a `connect` the engine has moved past (`superseded`: the call rang out and went to someone else),
  so a late retry never rings an agent the call no longer belongs to.

The call map (what the adapter remembers of each call, in Redis behind several instances) is in
`acd.adapters.kamailio_calls`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import re
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import ValidationError

from acd.adapters.kamailio_calls import CallMap, call_map_for
from acd.api.errors import ApiError, validation_error
from acd.api.handlers import SERVICE
from acd.engine import CallState, EventResult
from acd.events import IDENT_PATTERN, event_adapter
from acd.model import CallStatus, ConnectDecision, OverflowDecision
from acd.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, verify

log = logging.getLogger("acd.adapters.kamailio")
#: Commands this adapter does not carry out: dials out (callbacks, appointments) and reminders
#: need an outbound leg Kamailio's script does not place; the outbox takes "ignored" as done.
NOT_RELAYED = frozenset({"originate", "remind"})

PREFIX = "/adapters/kamailio"
STATE = web.AppKey("kamailio_adapter", dict)
_IDENT = re.compile(IDENT_PATTERN)
_MAX_IDENT = 128
#: The call's states in which a failed branch sends the caller back to wait (the call is in line
#: again, or already on its way to its next agent or to a local service).
_HOLD = (CallStatus.QUEUED, CallStatus.CONNECTING, CallStatus.OVERFLOWED)


def call_id_of(sip_call_id: str) -> str:
    """The contract's `call_id` for a SIP Call-ID: itself when it fits the contract's identifiers,
    otherwise a stable digest of it."""
    if _IDENT.fullmatch(sip_call_id):
        return sip_call_id
    return "sip-" + hashlib.sha256(sip_call_id.encode()).hexdigest()[:40]


def event_id(call_id: str, *parts: str) -> str:
    """A stable event id for a call's event: `<call_id>:<part>...`, or a digest of it when that
    would not fit the contract's identifiers (a Call-ID of 128 characters)."""
    plain = ":".join((call_id, *parts))
    if len(plain) <= _MAX_IDENT and _IDENT.fullmatch(plain):
        return plain
    return "sip-" + hashlib.sha256(plain.encode()).hexdigest()[:40] + ":" + parts[0][:32]


# ---------------------------------------------------------------------------------------- routes


def add_kamailio_routes(app: web.Application) -> None:
    """Add the adapter's routes to an app built by `create_app` (a no-op without
    `ACD_KAMAILIO_URL`). `acd serve` passes it in `create_app`'s `extensions`."""
    service = app[SERVICE]
    url = service.settings.kamailio_url
    if url is None:
        return
    app[STATE] = {"url": str(url), "calls": call_map_for(app), "session": None}
    r = app.router
    r.add_post(f"{PREFIX}/offered", _offered)
    r.add_post(f"{PREFIX}/answered", _answered)
    r.add_post(f"{PREFIX}/ended", _ended)
    r.add_post(f"{PREFIX}/failed", _failed)
    r.add_post(f"{PREFIX}/commands", _commands)

    async def close_session(app: web.Application) -> None:
        session = app[STATE]["session"]
        if session is not None:
            await session.close()

    app.on_cleanup.append(close_session)


def _loopback_only(request: web.Request) -> None:
    peer = request.remote or ""
    try:
        ok = ipaddress.ip_address(peer).is_loopback
    except ValueError:
        ok = False
    if not ok:
        raise ApiError(403, "forbidden", "the Kamailio adapter takes requests from loopback peers only")


def _calls(request: web.Request) -> CallMap:
    return request.app[STATE]["calls"]  # type: ignore[no-any-return]


def _engine_call(request: web.Request, call_id: str) -> CallState | None:
    """Where the call stands in this instance's engine (a follower's replica includes every write
    it has forwarded and been answered for)."""
    return request.app[SERVICE].engine.queries.call_state(call_id)


async def _apply_one(request: web.Request, event: dict[str, Any]) -> EventResult:
    try:
        parsed = event_adapter.validate_python(event)
    except ValidationError as exc:
        raise validation_error(exc, "event") from None
    [result] = await request.app[SERVICE].apply_events([parsed])
    return result


async def _apply(request: web.Request, event: dict[str, Any]) -> dict[str, Any]:
    return (await _apply_one(request, event)).to_wire()


async def _form(request: web.Request) -> tuple[dict[str, Any], str, str]:
    _loopback_only(request)
    form = await request.post()
    sip_call_id = str(form.get("call_id") or "")
    if not sip_call_id:
        raise ApiError(422, "invalid_event", "call_id (the SIP Call-ID) is required")
    return dict(form), call_id_of(sip_call_id), sip_call_id


async def _offered(request: web.Request) -> web.Response:
    form, call_id, sip_call_id = await _form(request)
    calls = _calls(request)
    # Before the call exists in acd: a connect command for it may be relayed by another instance.
    await calls.put(call_id, sip=sip_call_id)
    event: dict[str, Any] = {
        "id": event_id(call_id, "offered"),
        "type": "call.offered",
        "call_id": call_id,
        "caller": form.get("caller", ""),
        "skill": form.get("skill", ""),
    }
    for key in ("department", "language", "preferred_agent_id"):
        if form.get(key):
            event[key] = form[key]
    if form.get("priority"):  # a form's value is text: the event's priority is an integer
        priority = str(form["priority"]).strip()
        event["priority"] = int(priority) if priority.isascii() and priority.isdigit() else priority
    if form.get("needs"):
        event["needs"] = [s for s in str(form["needs"]).split(",") if s]
    decision = (await _apply_one(request, event)).decision
    if isinstance(decision, ConnectDecision):
        await calls.put(call_id, agent=decision.agent_id, assignment="offered", service="")
    elif isinstance(decision, OverflowDecision):
        await calls.put(call_id, service=decision.service, agent="", assignment="")
    return web.json_response(decision.to_wire() if decision is not None else {})


async def _agent_of(request: web.Request, call_id: str, known: dict[str, str]) -> str | None:
    if known.get("agent"):
        return known["agent"]
    call = _engine_call(request, call_id)  # the map lost it (expired, or written by no one)
    if call is not None and call.status in (CallStatus.CONNECTING, CallStatus.ANSWERED):
        return call.agent_id  # type: ignore[no-any-return]
    return None


async def _answered(request: web.Request) -> web.Response:
    form, call_id, _ = await _form(request)
    known = await _calls(request).get(call_id)
    if known.get("service"):
        return web.json_response({"status": "overflowed", "call_id": call_id})
    agent_id = form.get("agent_id") or await _agent_of(request, call_id, known)
    if not agent_id:
        raise ApiError(409, "unknown_agent", f"no agent is known for call {call_id}")
    result = await _apply(
        request,
        {
            "id": event_id(call_id, "answered"),
            "type": "call.answered",
            "call_id": call_id,
            "agent_id": agent_id,
        },
    )
    return web.json_response(result)


async def _ended(request: web.Request) -> web.Response:
    form, call_id, sip_call_id = await _form(request)
    reason = form.get("reason", "completed")
    await _calls(request).put(call_id, ended=str(reason), sip=sip_call_id)
    result = await _apply(
        request,
        {"id": event_id(call_id, "ended"), "type": "call.ended", "call_id": call_id, "reason": reason},
    )
    return web.json_response(result)


async def _failed(request: web.Request) -> web.Response:
    """A branch failed, not by the caller's CANCEL: a ring-no-answer when it rang an agent (the call
    goes back in line: hold the caller), a failed call when it went to a local service."""
    form, call_id, sip_call_id = await _form(request)
    calls = _calls(request)
    known = await calls.get(call_id)
    code = str(form.get("code") or "")
    if known.get("ended"):
        return web.json_response({"action": "end", "call_id": call_id, "why": "ended"})
    agent_id = None if known.get("service") else await _agent_of(request, call_id, known)
    if agent_id is None:
        await calls.put(call_id, ended="failed", sip=sip_call_id)
        result = await _apply(
            request,
            {"id": event_id(call_id, "ended"), "type": "call.ended", "call_id": call_id, "reason": "failed"},
        )
        log.info("branch failed, call ended", extra={"call_id": call_id, "code": code})
        return web.json_response({"action": "end", "call_id": call_id, "result": result})
    assignment = known.get("assignment") or agent_id
    result = await _apply(
        request,
        {
            "id": event_id(call_id, "unanswered", assignment),
            "type": "call.unanswered",
            "call_id": call_id,
            "agent_id": agent_id,
        },
    )
    # The agent stays in the map: the same failure posted again (retried on another instance) is
    # the same `call.unanswered` (a duplicate); the next connect replaces it.
    call = _engine_call(request, call_id)
    hold = call is None or call.status in _HOLD
    log.info("ring-no-answer", extra={"call_id": call_id, "agent_id": agent_id, "code": code, "hold": hold})
    return web.json_response(
        {"action": "hold" if hold else "end", "call_id": call_id, "agent_id": agent_id, "result": result}
    )


def _stale(request: web.Request, command: dict[str, Any]) -> str | None:
    """Why this `connect` or `overflow` no longer applies, by the engine (`None`: it does). Only
    the leader's engine is sure to have seen the command's own write; on a follower, a command the
    replica does not explain yet is answered 503 (retried), never dropped."""
    call = _engine_call(request, command["call_id"])
    if call is None:
        return None
    if call.status in (CallStatus.ENDED, CallStatus.CLOSED):
        return "gone"
    kind = command.get("command")
    if kind == "connect":
        if call.agent_id == command.get("agent_id"):
            if call.status is CallStatus.CONNECTING:
                return None
            if call.status is CallStatus.ANSWERED:
                return "answered"
    elif kind == "overflow":
        if call.status is CallStatus.OVERFLOWED and call.service_id == command.get("service"):
            return None
    else:
        return None
    if request.app[SERVICE].store.leading:
        return "superseded"
    raise ApiError(503, "not_current", "this instance's replica does not show the command's assignment yet")


async def _commands(request: web.Request) -> web.Response:
    _loopback_only(request)
    state = request.app[STATE]
    calls: CallMap = state["calls"]
    body = await request.read()
    secret = request.app[SERVICE].settings.secret
    if secret:
        try:
            verify(secret, request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER), body)
        except SignatureError as exc:
            raise ApiError(401, exc.code, exc.message) from None
    try:
        command = json.loads(body)
        call_id = command.get("call_id")
    except (ValueError, AttributeError):
        raise ApiError(422, "invalid_command", "the body must be a JSON command object") from None
    if call_id is None or command.get("command") in NOT_RELAYED:
        return web.json_response({"status": "ignored", "id": command.get("id")})
    if not isinstance(call_id, str):
        raise ApiError(422, "invalid_command", "call_id must be a string")
    known = await calls.get(call_id)
    if known.get("ended"):
        return web.json_response({"status": "gone", "id": command.get("id")})
    why = _stale(request, command)
    if why is not None:
        log.info(
            "command not relayed", extra={"call_id": call_id, "command": command.get("command"), "why": why}
        )
        return web.json_response({"status": why, "id": command.get("id")})
    if command.get("command") == "connect":
        await calls.put(
            call_id, agent=str(command.get("agent_id")), assignment=str(command.get("id")), service=""
        )
    elif command.get("command") == "overflow":
        await calls.put(call_id, service=str(command.get("service")), agent="", assignment="")
    relayed = {**command, "sip_call_id": known.get("sip") or call_id}
    if state["session"] is None:
        state["session"] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
    try:
        async with state["session"].post(state["url"], json=relayed) as response:
            status, text = response.status, await response.text()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ApiError(502, "kamailio_unreachable", f"Kamailio did not take the command: {exc!r}") from None
    log.info(
        "command relayed", extra={"call_id": call_id, "command": command.get("command"), "status": status}
    )
    if 200 <= status < 300:
        return web.json_response({"status": "relayed", "id": command.get("id")})
    if (await calls.get(call_id)).get("ended") or _stale(request, command) == "gone":
        return web.json_response({"status": "gone", "id": command.get("id")})
    raise ApiError(503, "not_held", f"Kamailio answered {status}: {text[:200]}")
