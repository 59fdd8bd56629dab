"""Replaying the log after a snapshot: each entry's events applied as they were first applied.

An entry was validated against this very state when it was first applied (a refused batch is
never logged) and the engine is deterministic, so a replay under the same release and
configuration applies it `trusted`. Otherwise (a restart after the roster or the skills changed)
an entry may name what the configuration no longer has: it is validated whole first, and when that
fails applied event by event, validated, each refused event skipped and logged, never a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from acd.engine.core import DIGEST_SIZE, Engine, EventResult
from acd.engine.errors import EngineError

log = logging.getLogger("acd.engine.replay")

#: Refusals that, in a replay, do not undo what was acknowledged: a booking into a slot the new
#: capacities of config/ leave full; a callback requested, or an appointment booked, under an
#: older release, for a number with one still open for its skill, or at that start (a release
#: that refuses it answers with that one instead).
#: The event is kept.
KEPT_IN_REPLAY = frozenset({"slot_full", "callback_open", "appointment_open"})


def apply_logged(
    engine: Engine,
    events: list[Any],
    now: float,
    *,
    same_config: bool = False,
    digests: bytes | None = None,
    models: Callable[[], list[Any]] | None = None,
) -> list[Any]:
    """Apply a log entry's events in a replay: `trusted` (they were validated when first
    applied), unless that fails, which happens when the snapshot was loaded under a changed
    configuration and an event names what it no longer has (an agent or a skill removed): then
    one event at a time, validated, each refused one skipped and logged, never a crash. Events of
    the entry applied before the failure are not applied twice (their ids are remembered): their
    results are those first given. Returns the results.

    `same_config`: the state was saved under this very configuration (and release), so nothing
    it names can have gone: a failure is then an engine defect or a broken determinism, not a
    changed `config/`, and is logged as an error with its traceback rather than as a warning.

    `digests`: the events' digests the entry carries (`Engine.digests_of` when it was first
    applied), remembered as they are; not of the events' length (a damaged entry): computed.
    `models`: the events as the pydantic models, when `events` are the replay's plain structs
    (acd/store/log_events.py): the event-by-event path validates them and digests them."""
    seen = engine._seen
    repeats = {event.id for event in events if event.id in seen}
    try:
        # Under another configuration the entry is validated whole first (nothing applied when an
        # event names what config/ lost): trusted, a handler could fail half-way through an event.
        if digests is not None and len(digests) != DIGEST_SIZE * len(events):
            digests = None
        results, _ = engine.apply(events, now, trusted=same_config, digests=digests)
        return results
    except (EngineError, KeyError, IndexError, ValueError) as exc:
        first = exc
    if models is not None:
        events = models()
    results = []
    for event in events:
        if event.id in seen and event.id not in repeats:  # applied before the failure
            why = engine._seen_ignored.get(event.id)
            results.append(EventResult(event.id, "applied", seen[event.id], why))
            repeats.add(event.id)
            continue
        try:
            try:
                done, _ = engine.apply([event], now)
            except EngineError as exc:
                if exc.code not in KEPT_IN_REPLAY:
                    raise
                done, _ = engine.apply([event], now, trusted=True)  # kept, as acknowledged
        except (EngineError, KeyError, IndexError, ValueError) as exc:
            log.warning(
                "snapshot replay: event %s (%s) no longer applies under the current config/ (%s); skipped",
                getattr(event, "id", "?"),
                getattr(event, "type", "?"),
                exc,
            )
            continue
        results += done
    if same_config:
        log.error(
            "snapshot replay: a log entry failed to apply as it was first applied, under the same "
            "configuration and release (an engine defect or a broken determinism, not a changed "
            "config/); applied event by event, validated: %s: %s",
            type(first).__name__,
            first,
            exc_info=first,
        )
    else:
        log.warning(
            "snapshot replay: a log entry applied event by event after %s: %s", type(first).__name__, first
        )
    return results
