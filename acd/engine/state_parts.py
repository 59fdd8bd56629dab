"""The engine's state by concept: one pair of functions per concept (`dump_agents` /
`load_agents`, `dump_calls` / `load_calls`, ...), each reading or filling the engine's own
records and parts. `acd.engine.state` assembles them into the versioned document; when the
engine's internals move, only the pair of the concept that moved changes here.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import MISSING, fields
from typing import Any

from acd.engine import kept
from acd.engine.core import Engine
from acd.engine.records import Agent, Appointment, Call, Callback
from acd.engine.state_fit import roster_entry
from acd.engine.windows import Bookings
from acd.model import (
    STAFFED_STATES,
    AgentState,
    AppointmentStatus,
    CallbackStatus,
    CallKind,
    CallStatus,
    OverflowSwitch,
    decision_from_wire,
)

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


def dump_agents(engine: Engine) -> list[dict[str, Any]]:
    configured = {a.id: a for a in engine.config.agents}
    out = []
    for agent in engine._agent_by_row:
        record = _plain(agent, skip=("row",))
        record.update(id=agent.id, site=agent.site, skills=dict(agent.skills), target=agent.target)
        idle_since, occupied, idle, since = engine.router.agent_times(agent.row)
        entry = configured.get(agent.id)
        # an agent leaving (removed from config/ while a call owned it) is no agent of the API's
        if entry is not None:
            record["roster"] = roster_entry(entry)
        else:
            record["roster"] = "removed" if agent.id in engine._leaving else "api"
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


def load_agents(engine: Engine, records: list[dict[str, Any]]) -> None:
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
        if record.get("roster") == "removed":
            engine._leaving.add(agent.id)
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


def dump_calls(engine: Engine) -> list[dict[str, Any]]:
    out = []
    for call in engine.calls.values():
        record = _plain(call, skip=("row",))
        record.update(id=call.id, status=str(call.status))
        out.append(record)
    return out


def load_calls(engine: Engine, records: list[dict[str, Any]], ended: list[str]) -> None:
    for record in records:
        call = _build(Call, record, status=CallStatus, kind=CallKind, needs=tuple, history=_history)
        engine.calls[call.id] = call
    engine._ended = deque(ended)


def dump_waiting(engine: Engine) -> list[list[Any]]:
    """The waiting calls in the order they joined the line, each with the preferred agent it
    waits for (or None) and until when; the router's order is rebuilt from their priorities and
    arrival numbers."""
    out: list[list[Any]] = []
    for call in engine._call_by_row.values():
        row, until = engine.router.call_preference(call.row)
        out.append([call.id, engine._agent_by_row[row].id if row >= 0 else None, until])
    return out


def load_waiting(engine: Engine, waiting: list[list[Any]]) -> None:
    for call_id, preferred, until in waiting:
        agent = engine.agents.get(preferred) if preferred is not None else None
        preference = (agent.row, float(until)) if agent is not None else (-1, 0.0)
        engine._enqueue(engine.calls[call_id], preference)


def route_again(engine: Engine) -> None:
    """After a change of configuration: every waiting call is routed again at the next tick (an
    agent who holds its skill now takes it; its widening and deadlines follow the new rules)."""
    now = engine._last_now
    for call in list(engine._call_by_row.values()):
        call.timer_token += 1
        engine.timers.set(now, "call", call.id, call.timer_token)


# ---------------------------------------------------------------------------- callbacks


def dump_callbacks(engine: Engine) -> list[dict[str, Any]]:
    return [{**_plain(cb), "id": cb.id, "status": str(cb.status)} for cb in engine.callbacks.values()]


def dump_callback_line(engine: Engine) -> dict[str, Any]:
    book = engine.callback_book
    return {
        "pending": {skill: _value(heap) for skill, heap in book.pending.items()},
        "active": dict(book.active),
        "admitted": sorted(book.admitted),
        "windows_booked": [[day, index, n] for (day, index), n in book.window_booked.items()],
    }


def load_callbacks(engine: Engine, records: list[dict[str, Any]], line: dict[str, Any]) -> None:
    for record in records:
        callback = _build(Callback, record, status=CallbackStatus, history=_history)
        engine.callbacks[callback.id] = callback
    book = engine.callback_book
    book.pending = {
        skill: [(float(due), float(offered), str(cb_id)) for due, offered, cb_id in heap]
        for skill, heap in line["pending"].items()
        if skill in engine.skill_index
    }
    book.active = {s: int(n) for s, n in line["active"].items() if s in engine.skill_index}
    book.admitted = set(line["admitted"])
    book.window_booked = Bookings({(day, int(index)): int(n) for day, index, n in line["windows_booked"]})
    book.open_of = {(cb.number, cb.skill): cb.id for cb in engine.callbacks.values()}  # made from them


# ---------------------------------------------------------------------------- appointments


def dump_appointments(engine: Engine) -> list[dict[str, Any]]:
    return [{**_plain(ap), "id": ap.id, "status": str(ap.status)} for ap in engine.appointments.values()]


def dump_slots(engine: Engine) -> list[list[Any]]:
    return [
        [site, skill, start, n] for (site, skill, start), n in engine.appointment_book.slots.taken.items()
    ]


def load_appointments(engine: Engine, records: list[dict[str, Any]], slots: list[list[Any]]) -> None:
    for record in records:
        appointment = _build(Appointment, record, status=AppointmentStatus, history=_history)
        engine.appointments[appointment.id] = appointment
    engine.appointment_book.slots.taken = {
        (site, skill, float(start)): int(n) for site, skill, start, n in slots
    }
    engine.appointment_book.forget_at = kept.keep_all(engine.appointments)
    engine.appointment_book.open_at = {(ap.number, ap.start): ap.id for ap in engine.appointments.values()}


# ---------------------------------------------------------------------------- overflow


def dump_overflow(engine: Engine) -> dict[str, Any]:
    overflow = engine.overflow
    return {
        "mode": str(overflow.mode),
        "hot_skills": sorted(overflow.hot_skills),
        "services": {sid: [s.load, s.taken] for sid, s in overflow.services.items() if s.load or s.taken},
    }


def load_overflow(engine: Engine, data: dict[str, Any]) -> None:
    overflow = engine.overflow
    overflow.mode = OverflowSwitch(data["mode"])
    overflow.hot_skills = {s for s in data["hot_skills"] if s in engine.skill_index}
    for sid, (load, taken) in data["services"].items():
        service = overflow.services.get(sid)
        if service is not None:  # a service removed from config/services.yaml holds nothing now
            service.load, service.taken = int(load), int(taken)


# ---------------------------------------------------------------------------- timers


def dump_timers(engine: Engine) -> dict[str, Any]:
    """The timers that still stand, by instant (the cancelled ones are left out)."""
    live = sorted(t for t in engine.timers._heap if engine._timer_live(t))
    return {"seq": engine.timers._seq, "due": [_value(list(t)) for t in live]}


def load_timers(engine: Engine, data: dict[str, Any]) -> None:
    timers = engine.timers
    for at, seq, kind, key, token in data["due"]:
        timers._heap.append((float(at), int(seq), str(kind), str(key), int(token)))
    timers._heap.sort()  # sorted is a heap
    timers._seq = max(timers._seq, int(data["seq"]))


# ---------------------------------------------------------------------------- expected wait


def arm_slot_ends(engine: Engine) -> list[str]:
    """An appointment waiting in line has a `slot_end` timer (at its slot's end, still waiting: a
    no-show acd did not dial). Releases before 15ddc04 armed none: a document they wrote gets it
    here (one already there is kept, never doubled). The ids of those armed."""
    standing = {(key, token) for _, _, kind, key, token in engine.timers._heap if kind == "slot_end"}
    armed = []
    for appointment in engine.appointments.values():
        call = engine.calls.get(appointment.id)
        if (
            appointment.status is AppointmentStatus.BOOKED
            and call is not None
            and call.waiting
            and (appointment.id, appointment.token) not in standing
        ):
            engine.timers.set(appointment.end, "slot_end", appointment.id, appointment.token)
            armed.append(appointment.id)
    return armed


def dump_trackers(engine: Engine) -> dict[str, Any]:
    return {
        "aht": engine.aht.as_dict(),
        "abandonment": engine.abandonment.as_dict(),
        "service_rate": _value(engine.service_rate.as_dict()),
        "ewt_dirty": sorted(engine.skills[i] for i in engine._ewt_dirty),
    }


def load_trackers(engine: Engine, data: dict[str, Any]) -> None:
    engine.aht.load(data["aht"])
    engine.abandonment.load(data["abandonment"])
    engine.service_rate.load(data["service_rate"])
    engine._ewt_dirty = {engine.skill_index[s] for s in data["ewt_dirty"] if s in engine.skill_index}


# ---------------------------------------------------------------------------- idempotency


def dump_remembered(engine: Engine) -> dict[str, Any]:
    return {
        "expiry": [[at, event_id] for at, event_id in engine._seen_expiry],
        # the decisions answered, in the contract's form
        "decisions": {event_id: None if d is None else d.to_wire() for event_id, d in engine._seen.items()},
        "digests": {event_id: digest.hex() for event_id, digest in engine._seen_digest.items()},
        # why the events applied without changing anything were ignored (format 4)
        "ignored": dict(engine._seen_ignored),
    }


def load_remembered(engine: Engine, data: dict[str, Any]) -> None:
    engine._seen_expiry = deque((float(at), event_id) for at, event_id in data["expiry"])
    engine._seen = {event_id: decision_from_wire(d) for event_id, d in data["decisions"].items()}
    engine._seen_digest = {event_id: bytes.fromhex(d) for event_id, d in data["digests"].items()}
    engine._seen_ignored = {event_id: str(why) for event_id, why in data["ignored"].items()}


# ---------------------------------------------------------------------------- the agent machine


def dump_machine(engine: Engine) -> dict[str, Any]:
    return {
        "last_sync_at": _value(engine._last_sync_at),
        "watchdog_at": engine._watchdog_at,
        "opening_at": _value(engine._opening_at),  # inf (none within the horizon): null, armed again
        "flagged": {kind: list(keys) for kind, keys in engine.flagged.items()},
    }


def load_machine(engine: Engine, data: dict[str, Any]) -> None:
    last = data["last_sync_at"]
    engine._last_sync_at = -math.inf if last is None else float(last)
    engine._watchdog_at = data["watchdog_at"]
    engine._opening_at = data.get("opening_at")  # absent before this release: armed again
    for kind, keys in data["flagged"].items():
        if kind in engine.flagged:
            engine.flagged[kind] = list(keys)
