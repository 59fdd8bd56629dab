"""JSON in and out of the HTTP API, through orjson.

Parsing is strict and bounded: orjson refuses nesting deeper than 1024 levels (Python's own decoder
raises `RecursionError` on a body of 5,000 `[`), `NaN`/`Infinity` literals, numbers that overflow a
double, lone surrogates and invalid UTF-8, each with a plain `ValueError` (`JSONDecodeError`), so
the API answers a 400 and never a 500. Rendering is compact, writes numpy scalars as numbers and
never writes the `Infinity` or `NaN` that `json.dumps` would (they are not JSON).
"""

from __future__ import annotations

from typing import Any

import orjson

_DUMPS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class JsonError(ValueError):
    """The bytes are not a JSON document acd accepts."""


def loads(raw: bytes | str) -> Any:
    """The JSON value of `raw`; `JsonError` (a ValueError) with a readable reason otherwise."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise JsonError(str(exc)) from None
    except (RecursionError, MemoryError):  # pragma: no cover - orjson bounds depth itself
        raise JsonError("the JSON document is nested too deeply") from None


def dumps(data: Any) -> bytes:
    """Compact JSON bytes."""
    return orjson.dumps(data, option=_DUMPS)
