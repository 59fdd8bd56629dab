"""What a request says, read strictly: its query string and its JSON body. A parameter a path
does not take, a body that is not JSON, a model's refusal: each a 4xx JSON error, before anything
is applied."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from acd import jsonio
from acd.api.errors import ApiError, validation_error
from acd.api.logging_mw import PARSED_BODY
from acd.events import EDGE

M = TypeVar("M", bound=BaseModel)


def read_query(request: web.Request, allowed: Sequence[str]) -> dict[str, str]:
    """The query parameters, refused (422) when one is unknown or repeated: a filter that is
    silently ignored answers a question the client did not ask, a write's `?mode=off` does what
    it did not. Every handler under /v1 reads it first, whatever its method."""
    extra = sorted(set(request.query) - set(allowed))
    if extra:
        name = extra[0][:64]
        raise ApiError(
            422,
            "unknown_parameter",
            f"unknown query parameter {name!r}; "
            + (f"this path takes {', '.join(allowed)}" if allowed else "this path takes none"),
            {"field": name, "valid": list(allowed)},
        )
    for name in request.query:
        if len(request.query.getall(name)) > 1:
            raise ApiError(422, "invalid_query", f"{name} is given more than once", {"field": name})
    return dict(request.query)


async def read_json(request: web.Request) -> Any:
    """The JSON body; a 400 JSON error when there is none or it is not JSON."""
    raw = await request.read()
    if not raw:
        raise ApiError(400, "empty_body", "a JSON body is required")
    try:
        body = jsonio.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None
    request[PARSED_BODY] = body  # for the access log's line
    return body


async def read_model(request: web.Request, model: type[M], what: str) -> M:
    """The JSON body validated by `model`; a 400 or 422 JSON error otherwise."""
    try:
        return model.model_validate(await read_json(request), context=EDGE)
    except ValidationError as exc:
        raise validation_error(exc, what) from None
