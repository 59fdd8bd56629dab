"""JSON errors: every 4xx/5xx body is `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

import logging
from typing import Any, get_args

from aiohttp import web
from pydantic import ValidationError

from acd import jsonio
from acd.engine.errors import EngineError
from acd.events import (
    CALLER_PATTERN,
    DEPARTMENT_PATTERN,
    E164_PATTERN,
    EVENT_TYPES,
    IDENT_PATTERN,
    NUMBER_PATTERN,
    SIP_URI_PATTERN,
)
from acd.phone import REFUSALS

log = logging.getLogger("acd.api")

#: The counter of refused requests, by error code (set by the app factory).
REJECTED = web.AppKey("rejected", object)


class ApiError(EngineError):
    """A request the API refuses before it reaches the engine."""


MAX_ECHO_CHARS = 200  # of a client's own string (a key, a value) echoed in an error


def shorten(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_ECHO_CHARS:
        return f"{value[:MAX_ECHO_CHARS]}…[+{len(value) - MAX_ECHO_CHARS} chars]"
    return value


def error_response(status: int, code: str, message: str, details: Any = None) -> web.Response:
    body = {"error": {"code": code, "message": message, "details": details}}
    return web.Response(status=status, body=jsonio.dumps(body), content_type="application/json")


#: What a pattern or a type error means, said the way a person would (added to the message).
_PATTERN_HINTS = {
    E164_PATTERN: "an E.164 number, such as +33142000000, or a French one, such as 01 42 00 00 00",
    NUMBER_PATTERN: "an E.164 number, such as +33142000000, or a French one, such as 01 42 00 00 00",
    CALLER_PATTERN: "a caller id without control characters (a number, or anonymous)",
    DEPARTMENT_PATTERN: "an INSEE department code, such as 59, 2A or 971",
    IDENT_PATTERN: "1 to 128 letters, digits or . _ : @ + -",
    SIP_URI_PATTERN: "a SIP URI such as sip:a1@lille.example, in visible ASCII",
}
_TYPE_HINTS = {
    "timezone_aware": "add the offset: 2026-03-02T10:00:00+01:00, or Z for UTC",
    "datetime_from_date_parsing": "an RFC 3339 time such as 2026-03-02T10:00:00+01:00",
    "datetime_parsing": "an RFC 3339 time such as 2026-03-02T10:00:00+01:00",
    "datetime_type": "an RFC 3339 time such as 2026-03-02T10:00:00+01:00",
}


def _hint(error: dict[str, Any]) -> str:
    pattern = (error.get("ctx") or {}).get("pattern")
    hint = _PATTERN_HINTS.get(pattern) if pattern else _TYPE_HINTS.get(error["type"])
    return f" ({hint})" if hint else ""


def validation_error(exc: ValidationError, what: str) -> ApiError:
    errors = exc.errors(include_url=False, include_context=True, include_input=False)
    details = [{"loc": [shorten(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]} for e in errors]
    tag = next((e for e in errors if e["type"] == "union_tag_invalid"), None)
    if tag is not None:
        ctx = tag.get("ctx") or {}
        given, valid = shorten(str(ctx.get("tag", ""))), ctx.get("expected_tags", "")
        return ApiError(
            422, "unknown_event_type", f"unknown event type {given!r}; valid types: {valid}", details
        )
    first = details[0]
    where = ".".join(str(p) for p in first["loc"]) or what
    if first["type"] == "union_tag_not_found":  # no `type` to know the event by (a wrapped batch?)
        valid = ", ".join(get_args(kind.model_fields["type"].annotation)[0] for kind in EVENT_TYPES)
        message = (
            f"{where}: an event needs its `type`, one of: {valid}; the body is one event object "
            "or a JSON array of up to 1000 of them"
        )
        return ApiError(422, f"invalid_{what}", message, details)
    if first["type"] in REFUSALS:  # a number acd must not dial (acd/phone.py): the reason is the code
        field = str(first["loc"][-1]) if first["loc"] else what
        return ApiError(422, first["type"], f"{where}: {first['msg']}", {"field": field, "loc": first["loc"]})
    return ApiError(422, f"invalid_{what}", f"{where}: {first['msg']}{_hint(errors[0])}", details)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def _count(request: web.Request, code: str) -> None:
    counter = request.app.get(REJECTED)
    if counter is not None:
        counter.labels(code).inc()


def error_answer(request: web.Request, exc: Exception) -> web.Response:
    """The JSON error answering what a handler (or the signature check) raised; an HTTP exception
    below 400 (a redirect) is raised again as it is. Unexpected errors are logged and answer 500."""
    if isinstance(exc, EngineError):
        _count(request, exc.code)
        return error_response(exc.status, exc.code, exc.message, exc.details)
    if isinstance(exc, web.HTTPException):
        if exc.status < 400:
            raise exc
        code = _HTTP_CODES.get(exc.status, "http_error")
        _count(request, code)
        message = exc.reason or code
        where = f"{request.method} {shorten(request.path)}"
        if exc.status == 404:
            message = f"no such path: {where} (the API is described at GET /openapi.json)"
        elif exc.status == 405 and "Allow" in exc.headers:
            message = f"{where}: method not allowed; this path takes {exc.headers['Allow']}"
        response = error_response(exc.status, code, message, None)
        if "Allow" in exc.headers:  # a 405 says which methods the path takes
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    if isinstance(exc, web.RequestPayloadError):  # a body that does not decode (Content-Encoding)
        _count(request, "unreadable_body")
        reason = " ".join(str(exc).split()).removeprefix("400, message:").strip() or "unreadable"
        response = error_response(400, "unreadable_body", f"the body could not be read: {shorten(reason)}")
        # the rest of the body cannot be read either: answer, then close the connection (without
        # this, aiohttp's read of the rest raised again and reset it before the answer was sent)
        request.content.feed_eof()
        response.force_close()
        return response
    if isinstance(exc, ConnectionResetError):  # the client went away before the body was all sent
        _count(request, "incomplete_body")
        return error_response(400, "incomplete_body", "the connection closed before the body was complete")
    log.error("unexpected error", exc_info=exc, extra={"path": request.path})
    return error_response(500, "internal_error", "internal error; the request may not have been applied")
