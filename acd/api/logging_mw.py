"""Access log: one structured line per request (logger `acd.access`), with the event and call ids of
`POST /v1/events`, so an operator can follow a call from the platform's webhook to the logs.

Fields: `method`, `path` (no query string), `status`, `duration_ms`, `remote`, `request_id` (the
client's `X-Request-Id`, or a new one, echoed in the response), and for `/v1/events`: `events` (how
many), `event_ids`, `call_ids` and `event_types` (at most `MAX_IDS` ids each, each cut at
`acd.logs.MAX_FIELD_CHARS` characters with a marker, as every logged field is). Callers' numbers are
never logged. Probes, `/metrics` and the wallboard log at DEBUG; server errors at ERROR.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from typing import Any

from aiohttp import web

from acd import jsonio
from acd.logs import cap

log = logging.getLogger("acd.access")

MAX_IDS = 50
REQUEST_ID = "X-Request-Id"
_QUIET = ("/healthz", "/readyz", "/metrics", "/wallboard")
_request_id_ok = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _event_fields(raw: bytes) -> dict[str, Any]:
    try:
        body = jsonio.loads(raw)
    except ValueError:
        return {}
    events = [e for e in (body if isinstance(body, list) else [body]) if isinstance(e, dict)]
    if not events:
        return {}

    def strings(key: str) -> list[str]:
        seen = dict.fromkeys(cap(str(e[key])) for e in events if isinstance(e.get(key), str | int))
        return list(seen)[:MAX_IDS]

    return {
        "events": len(events),
        "event_ids": strings("id"),
        "call_ids": strings("call_id"),
        "event_types": strings("type"),
    }


def _level(request: web.Request, status: int) -> int:
    if status >= 500:
        return logging.ERROR
    if request.method in ("GET", "HEAD") and request.path.startswith(_QUIET):
        return logging.DEBUG
    return logging.INFO


@web.middleware
async def access_log_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    started = time.perf_counter()
    given = request.headers.get(REQUEST_ID, "")
    request_id = given if _request_id_ok.match(given) else uuid.uuid4().hex
    status = 500
    try:
        response = await handler(request)
        status = response.status
        if not response.prepared:
            response.headers[REQUEST_ID] = request_id
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = 499  # the client went away before the answer (nginx's convention)
        raise
    finally:
        extra: dict[str, Any] = {
            "method": request.method,
            "path": cap(request.path),
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            "remote": request.remote,
            "request_id": request_id,
        }
        if request.method == "POST" and request.path == "/v1/events" and status not in (413, 499):
            # The handler (or the signature check) has read the body already: this is its cache.
            with contextlib.suppress(Exception):  # never let logging change the answer
                extra.update(_event_fields(await request.read()))
        level = _level(request, status)
        if log.isEnabledFor(level):
            log.log(level, "%s %s %d", cap(request.method), extra["path"], status, extra=extra)
