"""Errors the engine raises for bad requests; the API renders them as JSON 4xx answers."""

from __future__ import annotations

from typing import Any


class EngineError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
