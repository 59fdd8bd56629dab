"""The engine's whole state as plain, versioned data: `dump(engine)` and `load(config, data)`.

A state document is a JSON-able dict (lists, dicts, strings, numbers, booleans, null) with a
`format` number. It holds what the engine has learnt from its events, never what it reads from
its configuration: `load` builds a fresh engine from the configuration it is given (the current
`config/`) and fills it from the document, so a changed roster, wrap-up, routing, calendar or
capacity applies at once, and the router's arrays are rebuilt from the agents and the waiting
calls rather than stored.

The document (format 4; docs/state.md describes every field):

    format, acd              this layout's number; the release that wrote it
    config                   a fingerprint per section of the configuration it ran under
    now, seq                 the latest time the engine was driven at; the arrival counter
    agents                   in router-row order: roster entry (and the fingerprint of its line in
                             config/agents.yaml, or "api"), state, clock, pending request
    calls                    every call kept (waiting, in progress, ended up to the retention)
    waiting                  the ids of the waiting calls, in the order they joined the line
    ended                    the ended calls' ids, oldest first (the retention drops from there)
    callbacks, callback_line the callbacks; the due requested ones queued for their fair share
    appointments, slots      the appointments; the places taken per (site, skill, slot start)
    overflow                 the supervisor's mode, the skills above the threshold, services' load
    timers                   the live timers, by instant (wrap-up ends, widening, due callbacks...)
    aht, abandonment, service_rate, ewt_dirty    what the expected wait has learnt
    remembered               event ids remembered for idempotency: expiry, decision, body digest,
                             why an ignored one changed nothing (format 4)
    machine                  the agent machine's own: last sync, watchdog
    today                    the day's figures per skill (the wallboard's), and their local date

Older formats are upgraded on load by `upcast_vN_vN+1` steps (`UPCASTS`); format 2, the pickled
engine of the releases before this one, by `acd.engine.state_v2` (read once, from the
deployment's own snapshot, never written again).

Statuses are written as their string values, so the document does not depend on the engine's
classes. Each concept has its own pair of functions (`dump_calls` / `load_calls`, ...): the
engine's internals may move, and then only that pair changes.

What the configuration changed applies, and what it no longer has (an agent, a skill, a site) is
handled, logged and never a crash: acd/engine/state_fit.py. The contacts it ends (a removed
skill's calls, callbacks and appointments) are reported to the observer `load` is given, as
contacts ended by events are: each leaves its record. When the configuration changed, every
waiting call is routed again at the first tick (a widened roster may take it now).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from acd import __version__
from acd.config import Config
from acd.engine.core import Engine
from acd.engine.observer import NULL_OBSERVER, Observer
from acd.engine.state_fit import Endings, fit
from acd.engine.state_parts import (
    arm_slot_ends,
    dump_agents,
    dump_appointments,
    dump_callback_line,
    dump_callbacks,
    dump_calls,
    dump_machine,
    dump_overflow,
    dump_remembered,
    dump_slots,
    dump_timers,
    dump_trackers,
    dump_waiting,
    load_agents,
    load_appointments,
    load_callbacks,
    load_calls,
    load_machine,
    load_overflow,
    load_remembered,
    load_timers,
    load_trackers,
    load_waiting,
    route_again,
)
from acd.gcpolicy import collector_paused

log = logging.getLogger("acd.engine.state")

#: The layout `dump` writes. Formats 1 and 2 were the pickled engine (acd.engine.state_v2 reads 2);
#: 3 lacked the remembered ids' reasons (`remembered.ignored`).
FORMAT = 4


class StateError(ValueError):
    """A state document that cannot be read (another program's JSON, a format from the future)."""


# ---------------------------------------------------------------------------- the document


def dump(engine: Engine) -> dict[str, Any]:
    """The engine's whole state as plain data (see the module's docstring). The lines of the
    records' histories and the remembered decisions are the engine's own dicts (plain JSON values
    that the engine never changes once written), shared rather than copied."""
    with collector_paused():
        return _dump(engine)


_LIST, _OBJECT = (list,), (dict,)

#: The sections `_dump` writes after `format`, `acd` and `config`, in this order, each with what it
#: is in JSON when every document of formats 3 and 4 carries it (None: not in every one, `today`
#: absent from the first documents of format 3), and its writer; the trackers' writes four
#: (`aht`, `abandonment`, `service_rate`, `ewt_dirty`).
_WRITTEN: tuple[tuple[str | None, tuple[type, ...] | None, Callable[[Engine], Any]], ...] = (
    ("now", (int, float), lambda engine: engine._last_now),
    ("seq", (int,), lambda engine: engine._seq),
    ("agents", _LIST, dump_agents),
    ("calls", _LIST, dump_calls),
    ("waiting", _LIST, dump_waiting),
    ("ended", _LIST, lambda engine: list(engine._ended)),
    ("callbacks", _LIST, dump_callbacks),
    ("callback_line", _OBJECT, dump_callback_line),
    ("appointments", _LIST, dump_appointments),
    ("slots", _LIST, dump_slots),
    ("overflow", _OBJECT, dump_overflow),
    ("timers", _OBJECT, dump_timers),
    (None, None, dump_trackers),
    ("remembered", _OBJECT, dump_remembered),
    ("machine", _OBJECT, dump_machine),
    ("today", None, lambda engine: engine.today.dump()),
)
#: The sections every document of formats 3 and 4 carries, and what each is in JSON (an import
#: lacking one, or with another kind, is refused: acd/store/state_checks.py).
SECTIONS: dict[str, tuple[type, ...]] = {name: kinds for name, kinds, _ in _WRITTEN if name and kinds}


def _dump(engine: Engine) -> dict[str, Any]:
    document: dict[str, Any] = {
        "format": FORMAT,
        "acd": __version__,
        "config": config_sections(engine.config),
    }
    for name, _, write in _WRITTEN:
        if name is None:
            document.update(write(engine))
        else:
            document[name] = write(engine)
    return document


def load(
    config: Config,
    data: dict[str, Any],
    *,
    router: str = "numba",
    observer: Observer = NULL_OBSERVER,
) -> Engine:
    """An engine built from `config` (the current one) and filled from the state `data`, of this
    format or an earlier one."""
    with collector_paused():
        return _load(config, upgrade(data), router, observer)


def _load(config: Config, data: dict[str, Any], router: str, observer: Observer) -> Engine:
    notes: list[str] = []
    endings = Endings()
    data = fit(data, config, notes, endings)
    engine = Engine(config, router=router, observer=NULL_OBSERVER)
    engine._last_now = float(data["now"])
    engine._seq = int(data["seq"])
    load_agents(engine, data["agents"])
    load_calls(engine, data["calls"], data["ended"])
    load_callbacks(engine, data["callbacks"], data["callback_line"])
    load_appointments(engine, data["appointments"], data["slots"])
    load_waiting(engine, data["waiting"])
    load_overflow(engine, data["overflow"])
    load_trackers(engine, data)
    load_timers(engine, data["timers"])
    for appointment_id in arm_slot_ends(engine):  # a document of a release before 15ddc04
        notes.append(f"appointment {appointment_id} in line: its slot's end armed (no_show if not dialled)")
    load_remembered(engine, data["remembered"])
    load_machine(engine, data["machine"])
    if "today" in data:  # the day's figures (absent from the first documents of format 3)
        engine.today.load(data["today"])
    changed = changed_sections(data.get("config"), config)
    if changed:
        notes.insert(0, f"configuration changed since the state was saved: {', '.join(changed)}")
        route_again(engine)
        engine._ewt_dirty = set(range(len(engine.skills)))
    for note in notes:
        log.warning("state: %s", note)
    engine.observer = observer
    report_endings(engine, endings, observer)
    return engine


def report_endings(engine: Engine, endings: Endings, observer: Observer) -> None:
    """Tell `observer` of the contacts the fit ended, as the engine tells of those an event ends:
    a callback failed and an appointment cancelled by their own hooks (their calls' ends are
    theirs), every other call by `call_ended` (`lost`)."""
    now = engine._last_now
    for call_id in endings.calls:
        call = engine.calls.get(call_id)  # None: past the retention of ended calls already
        if call is None or call.callback_id in endings.callbacks or call_id in endings.appointments:
            continue
        observer.call_ended(call, "lost", None)
    for callback_id in endings.callbacks:
        if (callback := engine.callbacks.get(callback_id)) is not None:
            observer.callback(callback, "failed", now)
    for appointment_id in endings.appointments:
        if (appointment := engine.appointments.get(appointment_id)) is not None:
            observer.appointment(appointment, "cancelled", now)


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """The document in this format, through the upcast steps from its own."""
    if not isinstance(data, dict) or not isinstance(data.get("format"), int):
        raise StateError("not an acd state document (no integer `format`)")
    version = data["format"]
    if version > FORMAT:
        raise StateError(
            f"state format {version} is newer than this release reads (acd {__version__}, format {FORMAT})"
        )
    while version < FORMAT:
        step = UPCASTS.get(version)
        if step is None:
            raise StateError(f"state format {version} cannot be upgraded (the oldest readable is 2)")
        data = step(data)
        version = data["format"]
    return data


def _upcast_v2_v3(data: dict[str, Any]) -> dict[str, Any]:
    from acd.engine.state_v2 import upcast_v2_v3

    return upcast_v2_v3(data)


def _upcast_v3_v4(data: dict[str, Any]) -> dict[str, Any]:
    """Format 4 remembers, beside each ignored event's id, why it was ignored (a duplicate
    answers it again). Format 3 kept no reason: its remembered ids have none."""
    remembered = {**data["remembered"], "ignored": {}}
    return {**data, "format": 4, "remembered": remembered}


#: format -> the step that upgrades a document of that format to the next one.
UPCASTS = {2: _upcast_v2_v3, 3: _upcast_v3_v4}


# ---------------------------------------------------------------------------- configuration


def _digest(value: Any) -> str:
    return hashlib.sha256(str(value).encode()).hexdigest()[:12]


def config_sections(config: Config) -> dict[str, str]:
    """A fingerprint per section of the configuration (what a restart compares)."""
    out = {}
    for name in type(config).model_fields:
        section = getattr(config, name)
        dumped = (
            [x.model_dump_json() for x in section] if isinstance(section, list) else section.model_dump_json()
        )
        out[name] = _digest(dumped)
    return out


def changed_sections(saved: dict[str, str] | None, config: Config) -> list[str]:
    """The sections of `config` that differ from the fingerprints a state was saved with (all
    when it has none: a state upgraded from a pickle)."""
    now = config_sections(config)
    if not saved:
        return sorted(now)
    return sorted(name for name, digest in now.items() if saved.get(name) != digest)
