"""Creations through REST (`POST /v1/callbacks`, `POST /v1/appointments`) and their optional
`Idempotency-Key`: the same key names the same contact, so a retry of a request whose answer was
lost (a timeout, an instance killed) is the first request's duplicate in the engine (one contact,
dialled once, one place taken), remembered as event ids are (`routing.idempotency_ttl_s`, the
Redis log too); the same key with another body is a conflict."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Awaitable
from typing import Any

from aiohttp import web

from acd.api.errors import ApiError
from acd.engine import EngineError

IDEMPOTENCY_KEY = "Idempotency-Key"
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"  # also the OpenAPI document's
_idempotency_key = re.compile(IDEMPOTENCY_KEY_PATTERN)


def new_id(prefix: str) -> str:
    """A fresh id for what a REST request makes (a contact, or its internal event)."""
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


def created_id(request: web.Request, prefix: str) -> str:
    """The id a creation gives its contact: from the request's `Idempotency-Key` when it has one
    (the same key, the same id), else a fresh one."""
    key = request.headers.get(IDEMPOTENCY_KEY)
    if key is None:
        return new_id(prefix)
    if not _idempotency_key.fullmatch(key):
        raise ApiError(
            422,
            "invalid_idempotency_key",
            f"{IDEMPOTENCY_KEY} must be 1-128 letters, digits or . _ : - (a UUID will do)",
            {"field": IDEMPOTENCY_KEY},
        )
    return f"{prefix}-{hashlib.blake2b(key.encode(), digest_size=10).hexdigest()}"


async def create(request: web.Request, applying: Awaitable[Any], what: str) -> None:
    """Await the creation's internal event being applied; the same `Idempotency-Key` with another
    body is a conflict, said of the key (the internal event's id means nothing to the client)."""
    try:
        await applying
    except EngineError as exc:
        if exc.code != "idempotency_conflict":
            raise
        raise ApiError(
            409,
            "idempotency_conflict",
            f"{IDEMPOTENCY_KEY} {request.headers.get(IDEMPOTENCY_KEY)!r} was already used for another "
            f"{what}: a retry repeats its request as it was; give a new request a new key",
            {"field": IDEMPOTENCY_KEY},
        ) from None


def created(view: dict[str, Any] | None, what: str) -> dict[str, Any]:
    """The created contact's view; a retry after its contact ended and was forgotten (within the
    key's life) finds none: 404."""
    if view is None:
        raise ApiError(404, f"unknown_{what}", f"the {what} this key created is over and no longer kept")
    return view
