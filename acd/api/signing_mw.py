"""Checks `X-ACD-Signature` on every `/v1/*` request when a webhook secret is set."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from acd.api.errors import ApiError
from acd.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, verify


def signature_middleware(secret: bytes) -> Any:
    @web.middleware
    async def check_signature(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/v1/"):
            body = await request.read()
            try:
                verify(
                    secret, request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER), body
                )
            except SignatureError as exc:
                raise ApiError(401, exc.code, exc.message) from None
        return await handler(request)

    return check_signature
