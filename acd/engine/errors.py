"""Errors the engine raises for bad requests; the API renders them as JSON 4xx answers."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any


class EngineError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def unknown(what: str, value: str, valid: Iterable[str]) -> str:
    """The message of a refused name that says what would have been accepted (and the likeliest
    one meant, when one is close)."""
    valid = list(valid)
    close = difflib.get_close_matches(value[:64], valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown {what} {value[:64]!r}{hint}; valid {what}s: {', '.join(valid)}"
