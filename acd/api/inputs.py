"""What a request says, read strictly: its query string and its JSON body. A parameter a path
does not take, a body that is not JSON, a model's refusal: each a 4xx JSON error, before anything
is applied."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, TypeVar
from urllib.parse import unquote

from aiohttp import hdrs, web
from pydantic import BaseModel, ValidationError

from acd import jsonio
from acd.api.errors import ApiError, shorten, validation_error
from acd.api.logging_mw import PARSED_BODY
from acd.engine.errors import unknown
from acd.events import EDGE

M = TypeVar("M", bound=BaseModel)


def read_query(request: web.Request, allowed: Sequence[str]) -> dict[str, str]:
    """The query parameters, refused (422) when one is unknown or repeated: a filter that is
    silently ignored answers a question the client did not ask, a write's `?mode=off` does what
    it did not. Every handler under /v1 reads it first, whatever its method."""
    query = request.query
    if not query:  # the usual case (every POST /v1/events): nothing to check
        return {}
    extra = sorted(set(query) - set(allowed))
    if extra:
        name = extra[0][:64]
        raise ApiError(
            422,
            "unknown_parameter",
            f"unknown query parameter {name!r}; "
            + (f"this path takes {', '.join(allowed)}" if allowed else "this path takes none"),
            {"field": name, "valid": list(allowed)},
        )
    for name in query:
        if len(query.getall(name)) > 1:
            raise ApiError(422, "invalid_query", f"{name} is given more than once", {"field": name})
    return dict(query)


def literal_plus(request: web.Request, name: str) -> str | None:
    """A query parameter as written, its `+` kept (a phone number's, `?number=+33...`): a query
    string's `+` otherwise reads as a space (HTML forms' encoding), `%2B` as `+` either way."""
    for part in request.rel_url.raw_query_string.split("&"):
        key, _, value = part.partition("=")
        if unquote(key) == name:
            return unquote(value)
    return None


def one_of(value: str | None, valid: Sequence[str], field: str, code: str, what: str) -> None:
    """Refuse a filter naming nothing that exists, saying what does."""
    if value is not None and value not in valid:
        raise ApiError(
            422,
            code,
            f"{field}: {unknown(what, value, valid)}",
            {"field": field, "valid": list(valid)},
        )


#: The charsets a JSON body may declare: JSON exchanged between systems is UTF-8 (RFC 8259 8.1).
_UTF8 = frozenset({"utf-8", "utf8", "us-ascii"})


def check_json_type(request: web.Request) -> None:
    """Refuse (415) a body declared as anything but JSON: `application/json` or a `+json` type,
    in UTF-8. No Content-Type at all is read as JSON. A declared `text/plain` or form is the
    client saying it sent something else, and what a browser may send anywhere unasked (CSRF)."""
    declared = request.headers.get(hdrs.CONTENT_TYPE, "").strip()
    if not declared or declared == "application/json":  # none, or what nearly every client sends
        return
    media, charset = request.content_type, request.charset
    is_json = media == "application/json" or (media.startswith("application/") and media.endswith("+json"))
    if is_json and (charset is None or charset.strip().lower() in _UTF8):
        return
    raise ApiError(
        415,
        "unsupported_media_type",
        f"the body must be JSON in UTF-8, sent as Content-Type: application/json (got {shorten(declared)!r})",
        {"content_type": shorten(declared), "accepted": ["application/json"]},
    )


async def read_json(request: web.Request) -> Any:
    """The JSON body; a 415 JSON error when it is declared as something else, a 400 when there is
    none or it is not JSON."""
    check_json_type(request)
    raw = await request.read()
    if not raw:
        raise ApiError(400, "empty_body", "a JSON body is required")
    try:
        body = jsonio.loads(raw, unique_keys=True)
    except jsonio.DuplicateKey as exc:
        key = shorten(exc.key)
        message = f"the body is not valid JSON for acd: the key {key!r} appears twice in one object"
        raise ApiError(400, "duplicate_key", message, {"key": key}) from None
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


#: The methods whose requests carry no body.
BODILESS = frozenset({"GET", "HEAD", "DELETE"})


async def refuse_body(request: web.Request) -> None:
    """Refuse (400) a GET, HEAD or DELETE that carries a body: RFC 9110 gives it no meaning, and
    ignoring `{"site": "lille"}` or `{"reason": ...}` answers or does what the client did not ask.
    An empty body (Content-Length: 0, or chunked with no bytes) is no body."""
    if request.method in BODILESS and request.body_exists and await request.read():
        raise ApiError(
            400,
            "unexpected_body",
            f"{request.method} {shorten(request.path)} takes no body; say it in the path or the query",
            None,
        )


def refuse_declared_size(request: web.Request, max_body: int) -> None:
    """Refuse (413) a request whose Content-Length declares a body over `max_body` bytes, from its
    headers: aiohttp would only refuse it once that many bytes had come, and a client declaring
    100 GB then sending nothing held the connection waiting for a body acd refuses anyway."""
    declared = request.content_length
    if declared is not None and declared > max_body:
        raise ApiError(
            413,
            "body_too_large",
            f"the body declares {declared} bytes; at most {max_body} are accepted",
            {"content_length": declared, "max": max_body},
        )


async def await_body(request: web.Request, timeout_s: float) -> None:
    """Read the body now when it has not all come with the headers, within `timeout_s` (a 408
    after that): aiohttp has no time limit on a body, so a client that declared one and never
    sent it held its connection and a task for good. A body that came with its headers (the
    usual case) costs nothing here."""
    if not request.body_exists or request.content.is_eof():
        return
    try:
        async with asyncio.timeout(timeout_s):
            await request.read()
    except TimeoutError:
        raise ApiError(
            408,
            "body_timeout",
            f"the body did not arrive within {timeout_s:g} s of the headers",
            {"timeout_s": timeout_s},
        ) from None
