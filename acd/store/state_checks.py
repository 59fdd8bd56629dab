"""The checks of a state document before `acd state import` writes it (acd/store/state_cli.py):
one edited by hand into a state the engine never makes is refused in a sentence, nothing written.
"""

from __future__ import annotations

from collections import Counter
from typing import Any


class StateCommandError(Exception):
    """What the command refuses, said to the operator."""


#: The instants acd takes (the contract's: the years 2000-2099), in seconds since the epoch.
EARLIEST, LATEST = 946_684_800.0, 4_102_444_800.0
#: The times each kind of entry carries, in seconds (numbers in every release's documents).
_TIMES = {
    "calls": ("offered_at", "enqueued_at", "connected_at", "answered_at", "ended_at"),
    "callbacks": ("created_at", "due_at"),
    "appointments": ("start", "end", "created_at"),
}


def holds_together(document: Any) -> None:
    """Refuse a document edited by hand into a state the engine never makes (one call twice in the
    line would ring two agents for it; an agent twice is two rows of the router for one agent; an
    agent owned by a call the document lacks is reserved for ever):
    a `StateCommandError` saying what, before anything is written. Only what every release's
    documents keep (format 3 and 4 alike; earlier formats are upgraded by `load`, not checked)."""
    from acd.engine.state import FORMAT

    if (
        not isinstance(document, dict)
        or not isinstance(document.get("format"), int)
        or not 3 <= document["format"] <= FORMAT  # earlier: upgraded by `load`; later: refused by it
    ):
        return
    bad = "the document does not hold together (edited by hand?): "
    try:
        _holds_together(document, bad)
    except (AttributeError, TypeError, KeyError) as exc:  # an entry of another shape than a release's
        raise StateCommandError(bad + f"an entry of an unexpected shape ({exc})") from None


_JSON_WORD = {int: "a number", float: "a number", list: "a list", dict: "an object"}


def _holds_together(document: dict[str, Any], bad: str) -> None:
    from acd.engine.state import SECTIONS  # what every export carries: the writer's own list

    missing = [key for key in SECTIONS if key not in document]
    if missing:  # the engine's reader would name one, as a Python KeyError
        raise StateCommandError(
            bad + f"it lacks {', '.join(f'`{k}`' for k in missing)}, which every export carries"
        )
    for key, kinds in SECTIONS.items():
        value = document[key]
        if isinstance(value, bool) or not isinstance(value, kinds):
            raise StateCommandError(bad + f"`{key}` is not {_JSON_WORD[kinds[0]]}")
    for key in ("agents", "calls", "callbacks", "appointments"):
        for i, entry in enumerate(document[key]):
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                raise StateCommandError(bad + f"`{key}` entry {i} is not an object with a string `id`")
    for i, entry in enumerate(document["waiting"]):
        if not isinstance(entry, list) or not entry or not isinstance(entry[0], str):
            raise StateCommandError(bad + f"`waiting` entry {i} is not a list starting with a call id")
    counts = Counter(a.get("id") if isinstance(a, dict) else None for a in document.get("agents", []))
    twice = sorted(str(a) for a, n in counts.items() if n > 1)
    if twice:
        raise StateCommandError(bad + f"agents listed more than once: {', '.join(twice)}")
    status = {
        c.get("id"): c.get("status", "queued") for c in document.get("calls", []) if isinstance(c, dict)
    }
    held_by = {c.get("id"): c.get("agent_id") for c in document.get("calls", []) if isinstance(c, dict)}
    for agent in document.get("agents", []):
        owner = agent.get("call_id")
        if owner is not None and owner not in status:
            raise StateCommandError(
                bad + f"agent {agent.get('id')} is owned by call {owner!r}, which it lacks"
            )
        if owner is not None and held_by.get(owner) != agent.get("id"):  # its end would not free it
            raise StateCommandError(
                bad
                + f"agent {agent.get('id')} is owned by call {owner!r}, whose agent is {held_by.get(owner)!r}"
            )
    now = document.get("now", 0.0)  # (absent: the engine's reader says so)
    # the engine's clock (Infinity froze it): an instant acd takes, or 0.0, an engine that never ran
    if not _a_time(now) or not (now == 0.0 or EARLIEST <= now < LATEST):
        raise StateCommandError(bad + f"`now` is {now!r}, not an instant in the years 2000-2099 (seconds)")
    for key, times in _TIMES.items():  # times are numbers: a string here was a 500 at each read
        for entry in document.get(key, []):
            for name in times:
                value = entry.get(name)
                if value is not None and not _a_time(value):
                    raise StateCommandError(
                        bad + f"{key[:-1]} {entry.get('id')}: `{name}` is {value!r}, not a time (seconds)"
                    )
    _timers_hold_together(document.get("timers"), bad)
    seen: set[Any] = set()
    for entry in document.get("waiting", []):
        call_id = entry[0] if isinstance(entry, list) and entry else None
        if call_id in seen:
            raise StateCommandError(bad + f"call {call_id} is in the line twice")
        if status.get(call_id) not in ("queued", "callback"):  # a caller, or a callback keeping its place
            raise StateCommandError(
                bad
                + f"the line holds {call_id!r}, which is not a call waiting (status {status.get(call_id)})"
            )
        seen.add(call_id)


def _a_time(value: Any) -> bool:
    """A number of seconds, finite (Python's JSON reads NaN and Infinity)."""
    return not isinstance(value, bool) and isinstance(value, int | float) and abs(value) < float("inf")


def _timers_hold_together(timers: Any, bad: str) -> None:
    """Each timer is one the engine sets: a known kind, a time, a key, a token; the counter a
    whole number not below zero (ties fire in the order of it)."""
    from acd.engine.timers import KINDS

    if timers is None:
        return
    seq = timers["seq"]
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        raise StateCommandError(bad + f"`timers.seq` is {seq!r}, not a whole number from 0")
    for entry in timers["due"]:
        at, seq, kind, key, token = entry
        if kind not in KINDS:
            raise StateCommandError(
                bad + f"a timer of kind {kind!r}, which acd never sets (kinds: {', '.join(sorted(KINDS))})"
            )
        for name, value in (("at", at), ("seq", seq), ("token", token)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
                raise StateCommandError(bad + f"a {kind} timer's `{name}` is {value!r}, not a number")
        if not isinstance(key, str):
            raise StateCommandError(bad + f"a {kind} timer's key is {key!r}, not a string")
