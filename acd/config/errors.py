"""Configuration errors that name the file, the line and the reason (see `acd.config`)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

KeyPath = tuple[str | int, ...]


class ConfigError(Exception):
    """A configuration file is missing, unreadable, malformed or inconsistent.

    `file` is the file's path as given (under the config directory), `line` the 1-based line of the
    offending value (None when the whole file is at fault, e.g. missing), `reason` what is wrong,
    starting with the key's path (`agents[16].skills.lsf: ...`) when there is one. When validation
    found several problems, `issues` lists them all as (file, line, reason), the first being this one.
    """

    def __init__(
        self,
        file: str,
        line: int | None,
        reason: str,
        issues: Sequence[tuple[str, int | None, str]] = (),
    ) -> None:
        self.file = file
        self.line = line
        self.reason = reason
        self.issues: list[tuple[str, int | None, str]] = list(issues) or [(file, line, reason)]
        super().__init__(_format_issue(file, line, reason))

    def __str__(self) -> str:
        return _format_issue(self.file, self.line, self.reason)


def _format_issue(file: str, line: int | None, reason: str) -> str:
    return f"{file}:{line}: {reason}" if line is not None else f"{file}: {reason}"


class _Located(ValueError):
    """A validation failure that knows where it is: `issues` holds (path, message) pairs, paths
    relative to the validated object (absolute from `Config` for the cross checks)."""

    def __init__(self, issues: list[tuple[KeyPath, str]]) -> None:
        self.issues = issues
        super().__init__("; ".join(f"{format_path(p) or '<root>'}: {m}" for p, m in issues))


def format_path(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            out += " (key)"
        else:
            out += f".{part}" if out else str(part)
    return out


def _hint(name: str, known: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
