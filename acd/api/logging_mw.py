"""Access log: one structured line per request (logger `acd.access`), with the event and call ids of
`POST /v1/events`, so an operator can follow a call from the platform's webhook to the logs.

Fields: `method`, `path` (no query string), `status`, `duration_ms`, `remote`, `request_id` (the
client's `X-Request-Id`, or a new one, echoed in the response), and for `/v1/events`: `events` (how
many), `event_ids`, `call_ids` and `event_types` (at most `MAX_IDS` ids each, each cut at
`acd.logs.MAX_FIELD_CHARS` characters with a marker, as every logged field is). Callers' numbers are
never logged. Probes, `/metrics` and the wallboard log at DEBUG; server errors at ERROR.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import re
import time
from typing import Any

from aiohttp import web

from acd import jsonio
from acd.logs import cap

log = logging.getLogger("acd.access")

MAX_IDS = 50
REQUEST_ID = "X-Request-Id"
_QUIET = ("/healthz", "/readyz", "/metrics", "/wallboard")
_request_id_ok = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
#: The JSON body a handler parsed, kept on the request so that the log line need not parse it again.
PARSED_BODY: Any = (
    web.RequestKey("parsed_body", object) if hasattr(web, "RequestKey") else "acd.parsed_body"
)  # aiohttp 3.12+ wants a typed key; older releases take a string

# A request id made here: 32 hex digits, a random prefix for this process then a counter (a
# uuid4 a request cost a system call and an object; these are unique all the same).
_ID_PREFIX = os.urandom(8).hex()
_id_counter = itertools.count(int.from_bytes(os.urandom(4), "big"))


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_id_counter) & 0xFFFFFFFFFFFFFFFF:016x}"


def request_id_of(request: web.Request) -> str:
    """The request's id: the client's `X-Request-Id` when it is a sane one, else a new one."""
    given = request.headers.get(REQUEST_ID)
    return given if given and _request_id_ok.match(given) else new_request_id()


def _event_fields(request: web.Request, raw: bytes) -> dict[str, Any]:
    body = request.get(PARSED_BODY)
    if body is None:
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


def line_level(request: web.Request, status: int) -> int:
    """The level of the request's line: errors for 5xx, debug for probes and scrapes."""
    if status >= 500:
        return logging.ERROR
    if request.method in ("GET", "HEAD") and request.path.startswith(_QUIET):
        return logging.DEBUG
    return logging.INFO


async def log_request(request: web.Request, status: int, started: float, request_id: str, level: int) -> None:
    """Write the request's line at `level` (the caller checked that the level is enabled: the line
    is made only when it is written)."""
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
            extra.update(_event_fields(request, await request.read()))
    log.log(level, "%s %s %d", cap(request.method), _one_line(request.rel_url.raw_path), status, extra=extra)


def _one_line(raw_path: str) -> str:
    """The path as the client sent it (percent-encoded), for the line's message: a decoded `%0A`
    would end the line of the text format and forge the next. Anything else unprintable that
    reaches here is escaped too."""
    return cap(raw_path if raw_path.isascii() and raw_path.isprintable() else json.dumps(raw_path)[1:-1])
