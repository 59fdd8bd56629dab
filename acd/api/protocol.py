"""JSON errors for what aiohttp refuses before the app sees a request.

A request aiohttp's parser cannot take (a request line or a header over its 8,190 bytes, a
`Content-Encoding` it cannot decode, bytes that are not HTTP, TLS sent to the plain port) is
answered by aiohttp's `RequestHandler.handle_error`, before any middleware, with a text/plain
body. The contract says every 4xx/5xx body is JSON: `json_protocol_errors` makes that answer
`{"error": {"code", "message", "details"}}` with the same status, aiohttp's own words as the
message (cut short where they echo the client's bytes), and the connection closed as aiohttp
closes it. aiohttp still logs the error and still refuses to answer twice on a broken connection
(its `handle_error` runs first; only its response is replaced).

aiohttp offers no hook for this answer (its `Server` makes `RequestHandler`s of its own class),
so the method is replaced on the class, once per process, by `create_app`. Nothing else of
aiohttp's behaviour changes.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from acd.api.errors import error_response, shorten

#: The error code for each status aiohttp answers itself.
CODES = {400: "malformed_request", 500: "internal_error", 504: "timeout"}


def json_protocol_errors() -> None:
    """Answer aiohttp's own refusals in the contract's JSON (idempotent)."""
    original = RequestHandler.handle_error
    if getattr(original, "acd_json", False):
        return

    def handle_error(
        self: RequestHandler,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        original(self, request, status, exc, message)  # aiohttp's logging and its checks
        if status >= 500:
            text = "the server could not answer this request"  # never a traceback
        else:
            said = message or (str(exc) if exc is not None else "") or "bad request"
            text = f"the request could not be read as HTTP: {shorten(said)}"
        response = error_response(status, CODES.get(status, "http_error"), text)
        response.force_close()
        return response

    handle_error.acd_json = True  # type: ignore[attr-defined]
    RequestHandler.handle_error = handle_error  # type: ignore[method-assign]
