"""JSON errors for what aiohttp refuses before the app sees a request.

A request aiohttp's parser cannot take (a request line or a header over its 8,190 bytes, a
`Content-Encoding` it cannot decode, bytes that are not HTTP, TLS sent to the plain port) is
answered by aiohttp's `RequestHandler.handle_error`, before any middleware, with a text/plain
body. The contract says every 4xx/5xx body is JSON: `json_protocol_errors` makes that answer
`{"error": {"code", "message", "details"}}` with the same status, aiohttp's own words as the
message (cut short where they echo the client's bytes), and the connection closed as aiohttp
closes it. A client's unreadable request is the client's mistake: one warning line (no traceback,
where aiohttp logged an error with one, which log-based alerting would take for a server fault);
a 500 is still aiohttp's to log. Either way nothing is answered on a connection whose answer has
begun (as aiohttp).

aiohttp offers no hook for this answer (its `Server` makes `RequestHandler`s of its own class),
so the method is replaced on the class, once per process, by `create_app`. Nothing else of
aiohttp's behaviour changes.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from acd.api.errors import error_response, shorten

log = logging.getLogger("acd.api")

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
        if status >= 500:
            original(self, request, status, exc, message)  # aiohttp's log, with its traceback
            text = "the server could not answer this request"  # never a traceback in the answer
        else:
            if request.writer.output_size > 0:  # as aiohttp: the answer has begun, none can follow
                raise ConnectionError("Response is sent already, cannot send another response")
            said = " ".join(str(message or exc or "bad request").split())
            text = f"the request could not be read as HTTP: {shorten(said)}"
            log.warning("refused a request that could not be read as HTTP: %s", shorten(said))
        response = error_response(status, CODES.get(status, "http_error"), text)
        response.force_close()
        return response

    handle_error.acd_json = True  # type: ignore[attr-defined]
    RequestHandler.handle_error = handle_error  # type: ignore[method-assign]
