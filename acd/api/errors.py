"""JSON errors: every 4xx/5xx body is `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from acd import jsonio
from acd.engine.errors import EngineError

log = logging.getLogger("acd.api")

#: The counter of refused requests, by error code (set by the app factory).
REJECTED = web.AppKey("rejected", object)


class ApiError(EngineError):
    """A request the API refuses before it reaches the engine."""


MAX_ECHO_CHARS = 200  # of a client's own string (a key, a value) echoed in an error


def _short(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_ECHO_CHARS:
        return f"{value[:MAX_ECHO_CHARS]}…[+{len(value) - MAX_ECHO_CHARS} chars]"
    return value


def error_response(status: int, code: str, message: str, details: Any = None) -> web.Response:
    body = {"error": {"code": code, "message": message, "details": details}}
    return web.Response(status=status, body=jsonio.dumps(body), content_type="application/json")


def validation_error(exc: ValidationError, what: str) -> ApiError:
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    details = [{"loc": [_short(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]} for e in errors]
    if any(e["type"] == "union_tag_invalid" for e in errors):
        return ApiError(422, "unknown_event_type", "unknown event type", details)
    first = details[0]
    where = ".".join(str(p) for p in first["loc"]) or what
    return ApiError(422, f"invalid_{what}", f"{where}: {first['msg']}", details)


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


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        return await handler(request)
    except EngineError as exc:
        _count(request, exc.code)
        return error_response(exc.status, exc.code, exc.message, exc.details)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        _count(request, code)
        response = error_response(exc.status, code, exc.reason or code, None)
        if "Allow" in exc.headers:  # a 405 says which methods the path takes
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("unexpected error", extra={"path": request.path})
        return error_response(500, "internal_error", "internal error; the request may not have been applied")
