"""The Kamailio adapter: the contract's signed events and commands, for a SIP proxy that cannot sign.

Kamailio 5.6 (Debian bookworm) has a synchronous HTTP client (`http_client`) but no HMAC function in
its configuration language, so it cannot sign `POST /v1/events`. This adapter sits beside the API, in
the same process, under `/adapters/kamailio/`, and is enabled by `ACD_KAMAILIO_URL` (where Kamailio's
`xhttp` endpoint takes commands):

- `POST /adapters/kamailio/offered|answered|ended` (form fields, unsigned, loopback peers only): the
  adapter builds the contract's `call.offered`, `call.answered` and `call.ended` events (event ids
  derived from the SIP Call-ID, so a retransmission is a `duplicate`), applies them through
  `Service.apply_events` like `POST /v1/events` does, and answers `offered` with the routing
  decision, flattened to one JSON line Kamailio's `jansson_get` reads.
- `POST /adapters/kamailio/commands`: point `ACD_COMMAND_URL` here. The outbox's signed command is
  verified (when `ACD_WEBHOOK_SECRET` is set) and relayed to Kamailio, whose answer is passed on: a
  `connect` for a call Kamailio does not hold yet is a `503`, so the outbox retries it; a command for a
  call that has ended already is acknowledged (`200`, `gone`) so it is not retried for ever.
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

from acd.api.errors import ApiError, validation_error
from acd.api.handlers import SERVICE
from acd.events import IDENT_PATTERN, event_adapter
from acd.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, verify

log = logging.getLogger("acd.adapters.kamailio")

PREFIX = "/adapters/kamailio"
STATE = web.AppKey("kamailio_adapter", dict)
_IDENT = re.compile(IDENT_PATTERN)
#: Calls remembered for the Call-ID mapping, the agent of each call and the ended ones.
MAX_CALLS = 100_000


def call_id_of(sip_call_id: str) -> str:
    """The contract's `call_id` for a SIP Call-ID: itself when it fits the contract's identifiers,
    otherwise a stable digest of it."""
    if _IDENT.fullmatch(sip_call_id):
        return sip_call_id
    return "sip-" + hashlib.sha256(sip_call_id.encode()).hexdigest()[:40]


def add_kamailio_routes(app: web.Application) -> None:
    """Register the adapter's routes when `ACD_KAMAILIO_URL` is set (a no-op otherwise)."""
    service = app[SERVICE]
    url = service.settings.kamailio_url
    if url is None:
        return
    app[STATE] = {
        "url": str(url),
        "sip_call_ids": {},  # call_id -> SIP Call-ID
        "agents": {},  # call_id -> agent_id of its connect
        "ended": {},  # call_id -> reason
        "overflowed": {},  # call_id -> local service (answered there: no call.answered, no agent)
        "session": None,
    }
    r = app.router
    r.add_post(f"{PREFIX}/offered", _offered)
    r.add_post(f"{PREFIX}/answered", _answered)
    r.add_post(f"{PREFIX}/ended", _ended)
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


def _remember(table: dict[str, Any], key: str, value: Any) -> None:
    table[key] = value
    while len(table) > MAX_CALLS:
        del table[next(iter(table))]


async def _apply(request: web.Request, event: dict[str, Any]) -> dict[str, Any]:
    try:
        parsed = event_adapter.validate_python(event)
    except ValidationError as exc:
        raise validation_error(exc, "event") from None
    [result] = await request.app[SERVICE].apply_events([parsed])
    return result.to_wire()


async def _form(request: web.Request) -> tuple[dict[str, Any], str, str]:
    _loopback_only(request)
    form = await request.post()
    sip_call_id = str(form.get("call_id") or "")
    if not sip_call_id:
        raise ApiError(422, "invalid_event", "call_id (the SIP Call-ID) is required")
    call_id = call_id_of(sip_call_id)
    _remember(request.app[STATE]["sip_call_ids"], call_id, sip_call_id)
    return dict(form), call_id, sip_call_id


async def _offered(request: web.Request) -> web.Response:
    form, call_id, _ = await _form(request)
    event: dict[str, Any] = {
        "id": f"{call_id}:offered",
        "type": "call.offered",
        "call_id": call_id,
        "caller": form.get("caller", ""),
        "skill": form.get("skill", ""),
    }
    for key in ("department", "language", "preferred_agent_id"):
        if form.get(key):
            event[key] = form[key]
    if form.get("priority"):
        event["priority"] = form["priority"]
    if form.get("needs"):
        event["needs"] = [s for s in str(form["needs"]).split(",") if s]
    result = await _apply(request, event)
    decision = result.get("decision") or {}
    if decision.get("action") == "connect":
        _remember(request.app[STATE]["agents"], call_id, decision["agent_id"])
    elif decision.get("action") == "overflow":
        _remember(request.app[STATE]["overflowed"], call_id, decision.get("service"))
    return web.json_response(decision)


async def _answered(request: web.Request) -> web.Response:
    form, call_id, _ = await _form(request)
    if call_id in request.app[STATE]["overflowed"]:
        return web.json_response({"status": "overflowed", "call_id": call_id})
    agent_id = form.get("agent_id") or request.app[STATE]["agents"].get(call_id)
    if not agent_id:
        raise ApiError(409, "unknown_agent", f"no agent is known for call {call_id}")
    result = await _apply(
        request,
        {"id": f"{call_id}:answered", "type": "call.answered", "call_id": call_id, "agent_id": agent_id},
    )
    return web.json_response(result)


async def _ended(request: web.Request) -> web.Response:
    form, call_id, _ = await _form(request)
    reason = form.get("reason", "completed")
    _remember(request.app[STATE]["ended"], call_id, reason)
    result = await _apply(
        request, {"id": f"{call_id}:ended", "type": "call.ended", "call_id": call_id, "reason": reason}
    )
    return web.json_response(result)


async def _commands(request: web.Request) -> web.Response:
    _loopback_only(request)
    state = request.app[STATE]
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
    if call_id is None:  # originate (callbacks, appointments): not handled by this adapter
        return web.json_response({"status": "ignored", "id": command.get("id")})
    if call_id in state["ended"]:
        return web.json_response({"status": "gone", "id": command.get("id")})
    if command.get("command") == "connect":
        _remember(state["agents"], call_id, command.get("agent_id"))
    elif command.get("command") == "overflow":
        _remember(state["overflowed"], call_id, command.get("service"))
    relayed = {**command, "sip_call_id": state["sip_call_ids"].get(call_id, call_id)}
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
    if call_id in state["ended"]:
        return web.json_response({"status": "gone", "id": command.get("id")})
    raise ApiError(503, "not_held", f"Kamailio answered {status}: {text[:200]}")
