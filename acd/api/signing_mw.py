"""Checks `X-ACD-Signature` on every `/v1/*` request when a webhook secret is set (called by the
app's one middleware, `acd.api.middleware`)."""

from __future__ import annotations

from aiohttp import web

from acd.api.errors import ApiError
from acd.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, verify


async def check_signature(request: web.Request, secret: bytes) -> None:
    """Raise a 401 `ApiError` unless the request's body is signed with `secret`."""
    body = await request.read()
    headers = request.headers
    try:
        verify(secret, headers.get(TIMESTAMP_HEADER), headers.get(SIGNATURE_HEADER), body)
    except SignatureError as exc:
        raise ApiError(401, exc.code, exc.message) from None
