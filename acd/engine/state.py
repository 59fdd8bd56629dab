"""The engine's whole state as plain, versioned data: `dump(engine)` and `load(config, data)`.

A state document is a JSON-able dict (lists, dicts, strings, numbers, booleans, null) with a
`format` number. It holds what the engine has learnt from its events, never what it reads from
its configuration: `load` builds a fresh engine from the configuration it is given (the current
`config/`) and fills it from the document, so a changed roster, wrap-up, routing, calendar or
capacity applies at once, and the router's arrays are rebuilt from the agents and the waiting
calls rather than stored.

The document (format 3; docs/state.md describes every field):

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
    remembered               event ids remembered for idempotency: expiry, decision, body digest
    machine                  the agent machine's own: last sync, watchdog

Older formats are upgraded on load by `upcast_vN_vN+1` steps (`UPCASTS`); format 2, the pickled
engine of the releases before this one, by `acd.engine.state_v2` (read once, from the
deployment's own snapshot, never written again).

Statuses are written as their string values, so the document does not depend on the engine's
classes. Each concept has its own pair of functions (`_dump_calls` / `_load_calls`, ...): the
engine's internals may move, and then only that pair changes.

What the configuration changed applies, and what it no longer has (an agent, a skill, a site) is
handled, logged and never a crash: acd/engine/state_fit.py. When the configuration changed, every
waiting call is routed again at the first tick (a widened roster may take it now).
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import logging
import math
from collections import deque
from collections.abc import Iterator
from dataclasses import MISSING, fields
from typing import Any

from acd import __version__
from acd.config import Config
from acd.engine.core import Engine
from acd.engine.observer import NULL_OBSERVER, Observer
from acd.engine.records import Agent, Appointment, Call, Callback
from acd.engine.state_fit import fit, roster_entry
from acd.model import STAFFED_STATES, AgentState, CallStatus

log = logging.getLogger("acd.engine.state")

#: The layout `dump` writes. Formats 1 and 2 were the pickled engine (acd.engine.state_v2 reads 2).
FORMAT = 3


class StateError(ValueError):
    """A state document that cannot be read (another program's JSON, a format from the future)."""


# ---------------------------------------------------------------------------- the document


def dump(engine: Engine) -> dict[str, Any]:
    """The engine's whole state as plain data (see the module's docstring). The lines of the
    records' histories and the remembered decisions are the engine's own dicts (plain JSON values
    that the engine never changes once written), shared rather than copied."""
    with collector_paused():
        return _dump(engine)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection while a large state's millions of objects are made: each would walk
    them all again for nothing (the state holds no cycles)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _dump(engine: Engine) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "acd": __version__,
        "config": config_sections(engine.config),
        "now": engine._last_now,
        "seq": engine._seq,
        "agents": _dump_agents(engine),
        "calls": _dump_calls(engine),
        "waiting": _dump_waiting(engine),
        "ended": list(engine._ended),
        "callbacks": _dump_callbacks(engine),
        "callback_line": _dump_callback_line(engine),
        "appointments": _dump_appointments(engine),
        "slots": _dump_slots(engine),
        "overflow": _dump_overflow(engine),
        "timers": _dump_timers(engine),
        **_dump_trackers(engine),
        "remembered": _dump_remembered(engine),
        "machine": _dump_machine(engine),
    }


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
    data = fit(data, config, notes)
    engine = Engine(config, router=router, observer=NULL_OBSERVER)
    engine._last_now = float(data["now"])
    engine._seq = int(data["seq"])
    _load_agents(engine, data["agents"])
    _load_calls(engine, data["calls"], data["ended"])
    _load_callbacks(engine, data["callbacks"], data["callback_line"])
    _load_appointments(engine, data["appointments"], data["slots"])
    _load_waiting(engine, data["waiting"])
    _load_overflow(engine, data["overflow"])
    _load_trackers(engine, data)
    _load_timers(engine, data["timers"])
    _load_remembered(engine, data["remembered"])
    _load_machine(engine, data["machine"])
    changed = changed_sections(data.get("config"), config)
    if changed:
        notes.insert(0, f"configuration changed since the state was saved: {', '.join(changed)}")
        _route_again(engine)
        engine._ewt_dirty = set(range(len(engine.skills)))
    for note in notes:
        log.warning("state: %s", note)
    engine.observer = observer
    return engine


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


#: format -> the step that upgrades a document of that format to the next one.
UPCASTS = {2: _upcast_v2_v3}


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


# ---------------------------------------------------------------------------- records


_LAYOUTS: dict[type, tuple[tuple[str, Any], ...]] = {}
_NO_DEFAULT = object()


def _layout(cls: type) -> tuple[tuple[str, Any], ...]:
    """A record class's fields and their defaults (a factory's value made once), kept."""
    layout = _LAYOUTS.get(cls)
    if layout is None:
        out = []
        for f in fields(cls):
            if f.default is not MISSING:
                out.append((f.name, f.default))
            elif f.default_factory is not MISSING:
                out.append((f.name, f.default_factory()))
            else:
                out.append((f.name, _NO_DEFAULT))
        layout = _LAYOUTS[cls] = tuple(out)
    return layout


def _plain(record: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """A record's fields that differ from their defaults, as plain data."""
    out: dict[str, Any] = {}
    for name, default in _layout(type(record)):
        value = getattr(record, name)
        if name in skip or (value == default and type(value) is type(default)):
            continue
        # a history's lines are the engine's own JSON values, never changed once written: shared
        out[name] = [[t, entry] for t, entry in value] if name == "history" else _value(value)
    return out


def _value(value: Any) -> Any:
    if isinstance(value, str):
        return str(value)  # a StrEnum as its value
    if isinstance(value, tuple | list):
        return [_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _value(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _build(cls: type, data: dict[str, Any], **convert: Any) -> Any:
    names = {name for name, _ in _layout(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            continue  # a field this release no longer has
        fn = convert.get(key)
        kwargs[key] = fn(value) if fn is not None and value is not None else value
    return cls(**kwargs)


def _history(entries: list) -> list[tuple[float, dict[str, Any]]]:
    return [(float(t), entry) for t, entry in entries]


# ---------------------------------------------------------------------------- agents


def _state_name(state: Any) -> str:
    return state.name.lower()


def _dump_agents(engine: Engine) -> list[dict[str, Any]]:
    configured = {a.id: a for a in engine.config.agents}
    out = []
    for agent in engine._agent_by_row:
        record = _plain(agent, skip=("row",))
        record.update(id=agent.id, site=agent.site, skills=dict(agent.skills), target=agent.target)
        idle_since, occupied, idle, since = engine.router.agent_times(agent.row)
        entry = configured.get(agent.id)
        record["roster"] = "api" if entry is None else roster_entry(entry)
        record["state"] = _state_name(engine.router.agent_state(agent.row))
        record["clock"] = _value([idle_since, occupied, idle, since])
        pending = engine._pending.get(agent.id)
        if pending is not None:
            record["pending"] = [_state_name(pending[0]), pending[1]]
        if agent.id in engine._reported_at:
            record["reported_at"] = _value(engine._reported_at[agent.id])
        if engine._no_answer.get(agent.id):
            record["no_answer"] = engine._no_answer[agent.id]
        out.append(record)
    return out


def _load_agents(engine: Engine, records: list[dict[str, Any]]) -> None:
    router = engine.router
    for record in records:
        agent = engine.agents.get(record["id"])
        if agent is None:  # an agent of the API's roster (PUT /v1/agents), or one leaving
            agent = _add_agent(engine, record)
        elif (agent.site, agent.skills, agent.target) != (record["site"], record["skills"], record["target"]):
            # what PUT /v1/agents made of an agent whose entry in config/ has not changed since
            agent.site, agent.skills, agent.target = record["site"], dict(record["skills"]), record["target"]
            router.set_agent_site(agent.row, engine._site_ids[agent.site])
            router.set_agent_skills(agent.row, {engine.skill_index[s]: lv for s, lv in agent.skills.items()})
        state = AgentState[record["state"].upper()]
        idle_since, occupied, idle, since = (math.nan if x is None else float(x) for x in record["clock"])
        if state is not AgentState.LOGGED_OUT:
            router.set_agent_state(agent.row, state, since)
            if state in STAFFED_STATES:
                engine._count_staffed(agent.skills, +1)
        router.set_agent_times(agent.row, idle_since, occupied, idle, since)
        agent.reason = record.get("reason")
        agent.call_id = record.get("call_id")
        agent.state_changed_at = float(record.get("state_changed_at", 0.0))
        agent.wrap_token = int(record.get("wrap_token", 0))
        agent.calls_handled = int(record.get("calls_handled", 0))
        if "pending" in record:
            wanted, reason = record["pending"]
            engine._pending[agent.id] = (AgentState[wanted.upper()], reason)
        if "reported_at" in record:
            reported = record["reported_at"]
            engine._reported_at[agent.id] = -math.inf if reported is None else float(reported)
        if record.get("no_answer"):
            engine._no_answer[agent.id] = int(record["no_answer"])


def _add_agent(engine: Engine, record: dict[str, Any]) -> Agent:
    """An agent the configuration does not list (its site may be gone: the router's -1)."""
    skills = {s: lv for s, lv in record["skills"].items() if s in engine.skill_index}
    levels = {engine.skill_index[s]: lv for s, lv in skills.items()}
    row = engine.router.add_agent(
        levels, engine._site_ids.get(record["site"], -1), AgentState.LOGGED_OUT, 0.0
    )
    agent = Agent(id=record["id"], site=record["site"], skills=skills, target=record["target"], row=row)
    engine.agents[agent.id] = agent
    engine._agent_by_row.append(agent)
    return agent


# ---------------------------------------------------------------------------- calls


def _dump_calls(engine: Engine) -> list[dict[str, Any]]:
    out = []
    for call in engine.calls.values():
        record = _plain(call, skip=("row",))
        record.update(id=call.id, status=str(call.status))
        out.append(record)
    return out


def _load_calls(engine: Engine, records: list[dict[str, Any]], ended: list[str]) -> None:
    for record in records:
        call = _build(Call, record, status=CallStatus, needs=tuple, history=_history)
        engine.calls[call.id] = call
    engine._ended = deque(ended)


def _dump_waiting(engine: Engine) -> list[list[Any]]:
    """The waiting calls in the order they joined the line, each with the preferred agent it
    waits for (or None) and until when; the router's order is rebuilt from their priorities and
    arrival numbers."""
    out: list[list[Any]] = []
    for call in engine._call_by_row.values():
        row, until = engine.router.call_preference(call.row)
        out.append([call.id, engine._agent_by_row[row].id if row >= 0 else None, until])
    return out


def _load_waiting(engine: Engine, waiting: list[list[Any]]) -> None:
    for call_id, preferred, until in waiting:
        agent = engine.agents.get(preferred) if preferred is not None else None
        preference = (agent.row, float(until)) if agent is not None else (-1, 0.0)
        engine._enqueue(engine.calls[call_id], preference)


def _route_again(engine: Engine) -> None:
    """After a change of configuration: every waiting call is routed again at the next tick (an
    agent who holds its skill now takes it; its widening and deadlines follow the new rules)."""
    now = engine._last_now
    for call in list(engine._call_by_row.values()):
        call.timer_token += 1
        engine.timers.set(now, "call", call.id, call.timer_token)


# ---------------------------------------------------------------------------- callbacks


def _dump_callbacks(engine: Engine) -> list[dict[str, Any]]:
    return [{**_plain(cb), "id": cb.id, "status": str(cb.status)} for cb in engine.callbacks.values()]


def _dump_callback_line(engine: Engine) -> dict[str, Any]:
    return {
        "pending": {skill: _value(heap) for skill, heap in engine._cb_pending.items()},
        "active": dict(engine._cb_active),
        "admitted": sorted(engine._cb_admitted),
        "windows_booked": [[day, index, n] for (day, index), n in engine._window_booked.items()],
    }


def _load_callbacks(engine: Engine, records: list[dict[str, Any]], line: dict[str, Any]) -> None:
    for record in records:
        callback = _build(Callback, record, history=_history)
        engine.callbacks[callback.id] = callback
    engine._cb_pending = {
        skill: [(float(due), float(offered), str(cb_id)) for due, offered, cb_id in heap]
        for skill, heap in line["pending"].items()
        if skill in engine.skill_index
    }
    engine._cb_active = {s: int(n) for s, n in line["active"].items() if s in engine.skill_index}
    engine._cb_admitted = set(line["admitted"])
    engine._window_booked = {(day, int(index)): int(n) for day, index, n in line["windows_booked"]}


# ---------------------------------------------------------------------------- appointments


def _dump_appointments(engine: Engine) -> list[dict[str, Any]]:
    return [{**_plain(ap), "id": ap.id, "status": str(ap.status)} for ap in engine.appointments.values()]


def _dump_slots(engine: Engine) -> list[list[Any]]:
    return [[site, skill, start, n] for (site, skill, start), n in engine.slots.taken.items()]


def _load_appointments(engine: Engine, records: list[dict[str, Any]], slots: list[list[Any]]) -> None:
    for record in records:
        appointment = _build(Appointment, record, history=_history)
        engine.appointments[appointment.id] = appointment
    engine.slots.taken = {(site, skill, float(start)): int(n) for site, skill, start, n in slots}


# ---------------------------------------------------------------------------- overflow


def _dump_overflow(engine: Engine) -> dict[str, Any]:
    overflow = engine.overflow
    return {
        "mode": str(overflow.mode),
        "hot_skills": sorted(overflow.hot_skills),
        "services": {sid: [s.load, s.taken] for sid, s in overflow.services.items() if s.load or s.taken},
    }


def _load_overflow(engine: Engine, data: dict[str, Any]) -> None:
    overflow = engine.overflow
    overflow.mode = data["mode"]
    overflow.hot_skills = {s for s in data["hot_skills"] if s in engine.skill_index}
    for sid, (load, taken) in data["services"].items():
        service = overflow.services.get(sid)
        if service is not None:  # a service removed from config/services.yaml holds nothing now
            service.load, service.taken = int(load), int(taken)


# ---------------------------------------------------------------------------- timers


def _dump_timers(engine: Engine) -> dict[str, Any]:
    """The timers that still stand, by instant (the cancelled ones are left out)."""
    live = sorted(t for t in engine.timers._heap if engine._timer_live(t))
    return {"seq": engine.timers._seq, "due": [_value(list(t)) for t in live]}


def _load_timers(engine: Engine, data: dict[str, Any]) -> None:
    timers = engine.timers
    for at, seq, kind, key, token in data["due"]:
        timers._heap.append((float(at), int(seq), str(kind), str(key), int(token)))
    timers._heap.sort()  # sorted is a heap
    timers._seq = max(timers._seq, int(data["seq"]))


# ---------------------------------------------------------------------------- expected wait


def _dump_trackers(engine: Engine) -> dict[str, Any]:
    return {
        "aht": engine.aht.as_dict(),
        "abandonment": engine.abandonment.as_dict(),
        "service_rate": _value(engine.service_rate.as_dict()),
        "ewt_dirty": sorted(engine.skills[i] for i in engine._ewt_dirty),
    }


def _load_trackers(engine: Engine, data: dict[str, Any]) -> None:
    engine.aht.load(data["aht"])
    engine.abandonment.load(data["abandonment"])
    engine.service_rate.load(data["service_rate"])
    engine._ewt_dirty = {engine.skill_index[s] for s in data["ewt_dirty"] if s in engine.skill_index}


# ---------------------------------------------------------------------------- idempotency


def _dump_remembered(engine: Engine) -> dict[str, Any]:
    return {
        "expiry": [[at, event_id] for at, event_id in engine._seen_expiry],
        "decisions": dict(engine._seen),  # the decisions answered: JSON values, shared
        "digests": {event_id: digest.hex() for event_id, digest in engine._seen_digest.items()},
    }


def _load_remembered(engine: Engine, data: dict[str, Any]) -> None:
    engine._seen_expiry = deque((float(at), event_id) for at, event_id in data["expiry"])
    engine._seen = dict(data["decisions"])
    engine._seen_digest = {event_id: bytes.fromhex(d) for event_id, d in data["digests"].items()}


# ---------------------------------------------------------------------------- the agent machine


def _dump_machine(engine: Engine) -> dict[str, Any]:
    return {
        "last_sync_at": _value(engine._last_sync_at),
        "watchdog_at": engine._watchdog_at,
        "flagged": {kind: list(keys) for kind, keys in engine.flagged.items()},
    }


def _load_machine(engine: Engine, data: dict[str, Any]) -> None:
    last = data["last_sync_at"]
    engine._last_sync_at = -math.inf if last is None else float(last)
    engine._watchdog_at = data["watchdog_at"]
    for kind, keys in data["flagged"].items():
        if kind in engine.flagged:
            engine.flagged[kind] = list(keys)
