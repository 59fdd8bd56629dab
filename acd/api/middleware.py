"""The app's one middleware: the access log's line (`acd.api.logging_mw`), the signature check of
`/v1/*` when a webhook secret is set (`acd.api.signing_mw`), then the refusal of a body sent with a
GET or a DELETE there (`acd.api.inputs.refuse_body`), and JSON errors (`acd.api.errors`), in that
order from the outside in, as three nested middlewares did before. A body declared (Content-Length)
over the limit is refused first, from the headers alone; one that has not all come with the headers
is awaited within `ACD_BODY_TIMEOUT_S` (408 after that).

One layer instead of three: each layer of aiohttp's middleware chain costs every request a partial
call, a coroutine and an await, and the three did nothing but wrap each other.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from aiohttp import web

from acd.api.errors import error_answer
from acd.api.inputs import await_body, refuse_body, refuse_declared_size
from acd.api.logging_mw import REQUEST_ID, line_level, log, log_request, request_id_of
from acd.api.signing_mw import check_signature


def api_middleware(secret: bytes | None, max_body: int | None = None, body_timeout_s: float = 10.0) -> Any:
    @web.middleware
    async def api(request: web.Request, handler: Any) -> web.StreamResponse:
        started = time.perf_counter()
        request_id = request_id_of(request)
        status = 500
        try:
            try:
                if max_body is not None:
                    refuse_declared_size(request, max_body)
                await await_body(request, body_timeout_s)
                if request.path.startswith("/v1/"):
                    if secret:
                        await check_signature(request, secret)
                    if request.match_info.http_exception is None:  # a route's own handler
                        await refuse_body(request)
                response = await handler(request)
            except Exception as exc:  # a JSON error; a redirect goes on as it is
                response = error_answer(request, exc)
                if response.status in (408, 413):  # the rest of the body is not read: close after it
                    response.force_close()
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
            level = line_level(request, status)
            if log.isEnabledFor(level):  # the line is made only when it is written
                await log_request(request, status, started, request_id, level)

    return api
