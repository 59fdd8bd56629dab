"""Format 2, the pickled engine of the releases up to 2026-12 (snapshots in a running deployment's
Redis), read once and turned into a state document of format 3.

Over 400 lines because it is one frozen description of a format that will never change again: the
record layouts of format 2 field by field (`FIELDS`, a third of the file) and the one upcast that
reads them. Split, the layouts and the reader would drift apart for no gain.

The pickle is trusted input (the deployment's own Redis, as the log), but it is not unpickled into
today's classes: those may have moved or changed since. Every class of acd (and of any other
package but a few plain ones) is replaced by a shadow that only keeps what the pickle gives it
(its constructor arguments and its state), and the upcast reads the engine's attributes by name,
as format 2 laid them out, with the defaults its own `__setstate__` gave to attributes that older
format-2 snapshots lacked. The records (calls, agents, callbacks, appointments) are slotted
dataclasses, pickled as their field values in declaration order: `FIELDS` keeps that order, as
it stood all through format 2 (2026-11-23 to 2026-12-02).
"""

from __future__ import annotations

import io
import math
import pickle
from typing import Any

#: The record layouts of format 2, field by field in declaration order.
FIELDS = {
    "acd.engine.records.Agent": [
        "id",
        "site",
        "skills",
        "target",
        "row",
        "reason",
        "call_id",
        "state_changed_at",
        "wrap_token",
        "calls_handled",
    ],
    "acd.engine.records.Call": [
        "id",
        "caller",
        "skill",
        "priority",
        "offered_at",
        "seq",
        "department",
        "language",
        "needs",
        "preferred_agent_id",
        "kind",
        "status",
        "row",
        "enqueued_at",
        "agent_id",
        "connected_at",
        "answered_at",
        "ended_at",
        "end_reason",
        "survey_score",
        "callback_id",
        "service_id",
        "stranded",
        "timer_token",
        "unanswered",
        "history",
    ],
    "acd.engine.records.Callback": [
        "id",
        "number",
        "skill",
        "status",
        "created_at",
        "due_at",
        "call_id",
        "department",
        "agent_id",
        "attempts",
        "requested",
        "token",
        "first_dial_at",
        "history",
    ],
    "acd.engine.records.Appointment": [
        "id",
        "number",
        "skill",
        "site",
        "start",
        "end",
        "status",
        "created_at",
        "department",
        "agent_id",
        "attempts",
        "token",
        "reminded",
        "history",
    ],
    "acd.engine.overflow.ServiceState": ["spec", "hours", "load", "taken"],
    "acd.routing.reference._Agent": [
        "levels",
        "site",
        "state",
        "idle_since",
        "occupied_s",
        "idle_s",
        "state_since",
    ],
    "acd.routing.reference._Call": [
        "skill",
        "skills",
        "priority",
        "seq",
        "enqueued_at",
        "pref_agent",
        "pref_until",
    ],
}
#: AgentState's members by value, as format 2 numbered them.
AGENT_STATES = ("logged_out", "available", "busy", "wrap_up", "paused", "reserved")
#: What is unpickled as itself: plain data and the few functions that rebuild it (everything
#: else, acd's classes first, becomes a shadow that holds data and runs nothing).
REAL = {
    *(
        ("builtins", n)
        for n in ("getattr", "set", "frozenset", "list", "dict", "tuple", "bytes", "bytearray")
    ),
    *(("builtins", n) for n in ("int", "float", "str", "bool", "complex", "slice", "range", "object")),
    *(("collections", n) for n in ("deque", "OrderedDict", "defaultdict")),
    *(("datetime", n) for n in ("date", "time", "datetime", "timedelta", "timezone")),
    ("zoneinfo", "ZoneInfo"),
    ("zoneinfo._zoneinfo", "ZoneInfo"),
    ("copyreg", "_reconstructor"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    *((m, n) for m in ("numpy._core.numeric", "numpy.core.numeric") for n in ("_frombuffer",)),
    *(
        (m, n)
        for m in ("numpy._core.multiarray", "numpy.core.multiarray")
        for n in ("_reconstruct", "scalar")
    ),
}


class _Member:
    """An enum member of a shadowed enum (`getattr(Enum, NAME)` in the pickle)."""

    def __init__(self, owner: str, name: str) -> None:
        self.owner, self.name = owner, name


class _ShadowMeta(type):
    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Member(cls._origin, name)


class _Shadow(metaclass=_ShadowMeta):
    _origin = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> _Shadow:
        obj = object.__new__(cls)
        obj._args = args
        obj._state = None
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self._state = state

    @property
    def attrs(self) -> dict[str, Any]:
        """The object's attributes by name, whatever way it was pickled."""
        state = self._state
        layout = FIELDS.get(self._origin)
        if layout is not None and isinstance(state, list | tuple) and not _slot_pair(state):
            return dict(zip(layout, state, strict=False))
        if _slot_pair(state):
            return {**(state[0] or {}), **state[1]}
        if isinstance(state, dict):
            return state.get("__dict__", state) if "__pydantic_fields_set__" in state else state
        return {}


def _slot_pair(state: Any) -> bool:
    return isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict)


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self._classes: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in REAL:
            return super().find_class(module, name)
        origin = f"{module}.{name}"
        cls = self._classes.get(origin)
        if cls is None:
            cls = self._classes[origin] = _ShadowMeta(name, (_Shadow,), {"_origin": origin})
        return cls


def read_pickle(data: bytes) -> _Shadow:
    """The pickled engine (uncompressed bytes) as shadows."""
    engine = _Unpickler(data).load()
    if not isinstance(engine, _Shadow) or engine._origin != "acd.engine.core.Engine":
        raise ValueError(f"the snapshot holds a {type(engine).__name__}, not an acd Engine")
    return engine


def _member(value: Any) -> str:
    """An enum member's string value: CallStatus by its value, AgentState by its name."""
    if isinstance(value, _Member):
        return value.name.lower()
    if isinstance(value, _Shadow):  # an enum pickled by value
        (raw,) = value._args
        if isinstance(raw, int) and value._origin.endswith("AgentState"):
            return AGENT_STATES[raw]
        return str(raw)
    return str(value)


def _float(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _history(entries: list) -> list[list[Any]]:
    return [[float(t), entry] for t, entry in entries]


def _plain(attrs: dict[str, Any], defaults: dict[str, Any], skip: tuple[str, ...] = ()) -> dict[str, Any]:
    out = {}
    for key, value in attrs.items():
        if key in skip or (key in defaults and value == defaults[key]):
            continue
        if isinstance(value, tuple):
            value = list(value)
        out[key] = value
    return out


CALL_DEFAULTS = {
    "department": None,
    "language": "fr",
    "needs": (),
    "preferred_agent_id": None,
    "kind": "inbound",
    "enqueued_at": 0.0,
    "agent_id": None,
    "connected_at": None,
    "answered_at": None,
    "ended_at": None,
    "end_reason": None,
    "survey_score": None,
    "callback_id": None,
    "service_id": None,
    "stranded": False,
    "timer_token": 0,
    "unanswered": 0,
    "history": [],
}
OUTBOUND_DEFAULTS = {
    "department": None,
    "agent_id": None,
    "attempts": 0,
    "requested": False,
    "token": 0,
    "first_dial_at": None,
    "reminded": False,
    "history": [],
}


def upcast_v2_v3(data: dict[str, Any]) -> dict[str, Any]:
    """`{"format": 2, "engine": <pickled engine bytes, uncompressed>}` -> a format-3 document."""
    engine = read_pickle(data["engine"])
    e = engine.attrs
    config = e["config"].attrs
    skills: list[str] = list(e["skills"])
    router = e["router"]
    agents = _agents(e, config, router)
    waiting = _waiting(e, router)
    calls = []
    for call in e["calls"].values():
        a = call.attrs
        record = _plain(a, CALL_DEFAULTS, skip=("row", "history", "status"))
        record["status"] = _member(a["status"])
        if a.get("history"):
            record["history"] = _history(a["history"])
        calls.append(record)
    callbacks = []
    for cb in e.get("callbacks", {}).values():
        a = cb.attrs
        record = _plain(a, OUTBOUND_DEFAULTS, skip=("history",))
        if a.get("history"):
            record["history"] = _history(a["history"])
        callbacks.append(record)
    appointments = []
    for ap in e.get("appointments", {}).values():
        a = ap.attrs
        record = _plain(a, OUTBOUND_DEFAULTS, skip=("history",))
        if a.get("history"):
            record["history"] = _history(a["history"])
        appointments.append(record)
    overflow = e["overflow"].attrs
    timers = e["timers"].attrs
    dirty = e.get("_ewt_dirty", set(range(len(skills))))
    seen = e.get("_seen", {})
    service_rate = e.get("service_rate")
    abandonment = e.get("abandonment")
    return {
        "format": 3,
        "acd": data.get("acd"),
        "config": _config_sections(e["config"]),
        "now": float(e.get("_last_now", 0.0)),
        "seq": int(e.get("_seq", 0)),
        "agents": agents,
        "calls": calls,
        "waiting": waiting,
        "ended": list(e.get("_ended", [])),
        "callbacks": callbacks,
        "callback_line": {
            "pending": {s: [list(x) for x in heap] for s, heap in e.get("_cb_pending", {}).items()},
            "active": dict(e.get("_cb_active", {})),
            "admitted": sorted(e.get("_cb_admitted", set())),
            "windows_booked": [[d, i, n] for (d, i), n in e.get("_window_booked", {}).items()],
        },
        "appointments": appointments,
        "slots": [[site, skill, start, n] for (site, skill, start), n in e["slots"].attrs["taken"].items()],
        "overflow": {
            "mode": str(overflow["mode"]),
            "hot_skills": sorted(overflow.get("hot_skills", set())),
            "services": {
                sid: [s.attrs["load"], s.attrs["taken"]]
                for sid, s in overflow["services"].items()
                if s.attrs["load"] or s.attrs["taken"]
            },
        },
        "timers": {"seq": timers["_seq"], "due": sorted([list(t) for t in timers["_heap"]])},
        "aht": dict(e["aht"].attrs["_aht"]),
        "abandonment": _abandonment(abandonment),
        "service_rate": _service_rate(service_rate),
        "ewt_dirty": sorted(skills[i] for i in dirty if i < len(skills)),
        "remembered": {
            "expiry": [[at, event_id] for at, event_id in e.get("_seen_expiry", [])],
            "decisions": dict(seen),
            "digests": {k: bytes(v).hex() for k, v in e.get("_seen_digest", {}).items()},
        },
        "machine": {
            "last_sync_at": _float(e.get("_last_sync_at", -math.inf)),
            "watchdog_at": e.get("_watchdog_at"),
            "flagged": {k: list(v) for k, v in e.get("flagged", {}).items()},
        },
    }


def _config_sections(config: Any) -> dict[str, str] | None:
    """The fingerprints of the configuration the pickled engine carried, as this release reads
    it (None if it no longer validates: every section then counts as changed)."""
    from acd.config import Config
    from acd.engine.state import config_sections

    try:
        return config_sections(Config.model_validate(_unshadow(config)))
    except ValueError:
        return None


def _roster_entry(entry: Any) -> str | None:
    """The fingerprint of an agent's line of the configuration the pickled engine carried."""
    from acd.config import AgentConfig
    from acd.engine.state_fit import roster_entry

    try:
        return roster_entry(AgentConfig.model_validate(_unshadow(entry)))
    except ValueError:
        return None


def _unshadow(value: Any) -> Any:
    if isinstance(value, _Shadow):
        return {k: _unshadow(v) for k, v in value.attrs.items()}
    if isinstance(value, _Member):
        return value.name.lower()
    if isinstance(value, list | tuple):
        return [_unshadow(v) for v in value]
    if isinstance(value, dict):
        return {k: _unshadow(v) for k, v in value.items()}
    return value


def _abandonment(tracker: Any) -> dict[str, list[float]]:
    if tracker is None:
        return {}
    a = tracker.attrs
    return {s: [a["_abandons"][s], a["_waited"][s], a["_seen"][s]] for s in a["_waited"]}


def _service_rate(tracker: Any) -> dict[str, Any]:
    if tracker is None:
        return {}
    a = tracker.attrs
    return {s: [list(entries), a["_busy"][s], a["_since"][s]] for s, entries in a["_entries"].items()}


def _agents(e: dict[str, Any], config: dict[str, Any], router: Any) -> list[dict[str, Any]]:
    """The agents in row order, their state and clock read from the router's own layout."""
    configured = {a.attrs["id"]: _roster_entry(a) for a in config["agents"]}
    clock = _router_agents(router)
    pending = e.get("_pending", {})
    reported = e.get("_reported_at", {})
    no_answer = e.get("_no_answer", {})
    out = []
    for agent in e["_agent_by_row"]:
        a = agent.attrs
        state, times = clock[a["row"]]
        record = {
            "id": a["id"],
            "site": a["site"],
            "skills": dict(a["skills"]),
            "target": a["target"],
            "roster": configured.get(a["id"], "api"),
            "state": state,
            "clock": [_float(x) for x in times],
        }
        for key, default in (
            ("reason", None),
            ("call_id", None),
            ("state_changed_at", 0.0),
            ("wrap_token", 0),
        ):
            if a.get(key, default) != default:
                record[key] = a[key]
        if a.get("calls_handled"):
            record["calls_handled"] = a["calls_handled"]
        if a["id"] in pending:
            wanted, reason = pending[a["id"]]
            record["pending"] = [_member(wanted), reason]
        if a["id"] in reported:
            record["reported_at"] = _float(reported[a["id"]])
        if no_answer.get(a["id"]):
            record["no_answer"] = no_answer[a["id"]]
        out.append(record)
    return out


def _router_agents(router: Any) -> list[tuple[str, tuple[float, float, float, float]]]:
    """Per agent row: its state and (idle_since, occupied_s, idle_s, state_since)."""
    r = router.attrs
    if router._origin.endswith("NumbaRouter"):
        table = r["_agents"].attrs
        states = [_member(s) for s in r["_states"]]
        return [(states[row], tuple(float(x) for x in table["times"][row])) for row in range(table["n"])]
    out = []
    for agent in r["_agents"]:
        a = agent.attrs
        out.append((_member(a["state"]), (a["idle_since"], a["occupied_s"], a["idle_s"], a["state_since"])))
    return out


def _waiting(e: dict[str, Any], router: Any) -> list[list[Any]]:
    """The waiting calls in the order they joined the line, each with the preferred agent the
    router holds for it (the agent's id, or None) and until when."""
    by_row = e["_call_by_row"]
    agent_ids = [a.attrs["id"] for a in e["_agent_by_row"]]
    r = router.attrs
    prefs: dict[int, tuple[int, float]] = {}
    if router._origin.endswith("NumbaRouter"):
        table = r["_calls"].attrs
        for row, slot in enumerate(table["slot_of_row"]):
            if slot >= 0:
                prefs[row] = (int(table["ints"][slot][4]), float(table["times"][slot][1]))
    else:
        for row, call in r["_calls"].items():
            a = call.attrs
            prefs[row] = (int(a["pref_agent"]), float(a["pref_until"]))
    out = []
    for row, call in by_row.items():
        pref, until = prefs.get(row, (-1, 0.0))
        out.append([call.attrs["id"], agent_ids[pref] if pref >= 0 else None, until])
    return out
