"""Structured logs: one JSON object per line, with whatever `extra` fields the caller gave
(event id, call id, command id).

Every field is capped: a string longer than `MAX_FIELD_CHARS` (an id a client made up, a path) is
cut there with a marker saying how much was left out, the message at `MAX_MESSAGE_CHARS`, a
traceback at `MAX_EXC_CHARS`, and lists at `MAX_ITEMS` items, so no request can write a log line
of its own size.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

MAX_FIELD_CHARS = 200
MAX_MESSAGE_CHARS = 1000
MAX_EXC_CHARS = 20_000
MAX_ITEMS = 100


_MARK = re.compile(r"…\[\+\d+ chars\]\Z")


def _capped(value: str, limit: int) -> bool:
    """Whether `value` is already a string cut at `limit` (capping twice changes nothing)."""
    mark = _MARK.search(value, limit)
    return mark is not None and mark.start() == limit


def cap(value: Any, limit: int = MAX_FIELD_CHARS) -> Any:
    """`value` with every string in it cut at `limit` characters (`…[+N chars]` says how many
    were left out) and every list or mapping at MAX_ITEMS entries."""
    if isinstance(value, str):
        if len(value) <= limit or _capped(value, limit):
            return value
        return f"{value[:limit]}…[+{len(value) - limit} chars]"
    if isinstance(value, list | tuple | set | frozenset):
        items = [cap(v, limit) for _, v in zip(range(MAX_ITEMS), value, strict=False)]
        if len(value) > MAX_ITEMS:
            items.append(f"…[+{len(value) - MAX_ITEMS} items]")
        return items
    if isinstance(value, dict):
        out = {
            cap(str(k), limit): cap(v, limit)
            for _, (k, v) in zip(range(MAX_ITEMS), value.items(), strict=False)
        }
        if len(value) > MAX_ITEMS:
            out["…"] = f"+{len(value) - MAX_ITEMS} entries"
        return out
    if isinstance(value, bool | int | float) or value is None:
        return value
    return cap(str(value), limit)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": cap(record.getMessage(), MAX_MESSAGE_CHARS),
        }
        out.update({k: cap(v) for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            out["exc"] = cap(self.formatException(record.exc_info), MAX_EXC_CHARS)
        return json.dumps(out, default=str)


class CappedFormatter(logging.Formatter):
    """The plain-text format, its line capped as the JSON one's fields are."""

    def format(self, record: logging.LogRecord) -> str:
        return cap(super().format(record), MAX_MESSAGE_CHARS + MAX_EXC_CHARS)


def setup_logging(level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else CappedFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("aiohttp.access").setLevel("WARNING")
