"""A state fitted to the configuration it is loaded under (acd/engine/state.py's `load`).

The state never holds the configuration: what `config/` says now applies, and what it no longer
has is handled here, on the plain document before the engine is built, each change noted for the
log, never a crash:

- an agent whose line in config/agents.yaml changed since the state was saved (its `roster`
  fingerprint) takes the new line; one whose line is unchanged keeps what `PUT /v1/agents` made of
  it; an agent added by `PUT` (`roster: "api"`) stays;
- an agent removed from the roster (or whose site is gone) is dropped, unless a call owns it: then
  it stays until that call ends and logs out (a pending `logged_out`, reason `removed`, that no
  request of the platform withdraws or replaces), marked `roster: "removed"` (so that a later
  load drops it, never keeps it as an agent of the API's); logged out, it is unknown to the
  platform's events;
- a removed skill ends the calls in progress that need it (`lost`), fails its callbacks and
  cancels its appointments (their places freed); an agent that rang or talked on such a call is
  left `busy` with no call, until the platform's end of that call (`Line._release_from_fit`);
  a removed need is dropped from the calls;
- a preferred agent who left is forgotten by the calls that waited for it;
- a callback or an appointment to a number acd must not dial (acd/phone.py: a special-rate or
  short number, the wrong length for the French plan), which releases before 2026-12-04 took, is
  failed or cancelled as a removed skill's (`why: number_refused`), its call out of the line.

What the fit ends, it names in `Endings`, so that `load` can report those contacts to the
engine's observer: each leaves its record, as a contact ended by an event does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from acd.config import Config
from acd.phone import diallable

#: The calls' statuses in which a call is still being handled (it needs its skill to go on).
LIVE = ("queued", "connecting", "answered", "callback")


def roster_entry(entry: Any) -> str:
    """The fingerprint of an agent's line in config/agents.yaml."""
    return hashlib.sha256(entry.model_dump_json().encode()).hexdigest()[:12]


@dataclass(slots=True)
class Endings:
    """The contacts a fit ended: calls (`lost`), callbacks (`failed`), appointments (`cancelled`)."""

    calls: list[str] = field(default_factory=list)
    callbacks: list[str] = field(default_factory=list)
    appointments: list[str] = field(default_factory=list)


def fit(
    data: dict[str, Any], config: Config, notes: list[str], endings: Endings | None = None
) -> dict[str, Any]:
    """The state, fitted to what `config` still has (a copy; what changed goes to `notes`, the
    contacts it ended to `endings`)."""
    endings = Endings() if endings is None else endings
    skills = {s.id for s in config.skills}
    sites = {s.id for s in config.sites}
    configured = {a.id: a for a in config.agents}
    now = float(data["now"])
    data = dict(data)
    calls = {c["id"]: dict(c) for c in data["calls"]}
    agents: list[dict[str, Any]] = []
    kept: set[str] = set()
    for record in data["agents"]:
        record = dict(record)
        agent_id = record["id"]
        on_call = record.get("call_id") is not None
        entry = configured.get(agent_id)
        if entry is not None and (record.get("roster") != roster_entry(entry) or record["site"] not in sites):
            # config/agents.yaml changed this agent (or lists it now): its entry wins; an entry
            # unchanged keeps what PUT /v1/agents made of it since
            record.update(site=entry.site, skills=dict(entry.skills), target=entry.target)
            if record.get("roster") == "removed" and record.get("pending") == ["logged_out", "removed"]:
                del record["pending"]  # back in the roster before its call ended: it stays
            record["roster"] = roster_entry(entry)
        elif entry is None and (record.get("roster") != "api" or record["site"] not in sites):
            why = "removed from config/agents.yaml" if record.get("roster") != "api" else "its site is gone"
            if not on_call:
                notes.append(f"agent {agent_id} dropped: {why} (was {record['state']})")
                continue
            notes.append(
                f"agent {agent_id} {why}: kept until its call {record['call_id']} ends, then logged out"
            )
            record["pending"] = ["logged_out", "removed"]
            record["roster"] = "removed"  # leaving, once its call ends (not an agent of the API's)
        gone = sorted(set(record["skills"]) - skills)
        if gone:
            record["skills"] = {s: lv for s, lv in record["skills"].items() if s in skills}
            notes.append(f"agent {agent_id}: skills {', '.join(gone)} no longer exist")
        agents.append(record)
        kept.add(agent_id)
    data["agents"] = agents

    def drop_agent_ref(record: dict[str, Any]) -> None:
        if record.get("agent_id") is not None and record["agent_id"] not in kept:
            record["agent_id"] = None

    # contacts still to dial (or being dialled) to a number this release refuses: their calls end
    refused = {
        r["id"]: r.get("call_id", r["id"])  # an appointment's call has its id
        for r in (*data["callbacks"], *data["appointments"])
        if r.get("status") in ("scheduled", "booked", "dialing") and not diallable(r["number"])
    }
    refused_calls = set(refused.values())
    ended_calls: set[str] = set()
    for call in calls.values():
        if call.get("status", "queued") not in LIVE:
            continue
        if call["id"] in refused_calls:
            ended_calls.add(call["id"])
            reason = "cancelled" if call.get("kind") == "appointment" else "failed"
            call.update(status="ended", ended_at=now, end_reason=reason)
            call["history"] = [
                *call.get("history", []),
                [now, {"action": "ended", "reason": reason, "why": "number_refused"}],
            ]
            continue
        if call["skill"] not in skills:
            ended_calls.add(call["id"])
            notes.append(f"call {call['id']} ended (lost): its skill {call['skill']} no longer exists")
            call.update(status="ended", ended_at=now, end_reason="lost")
            call["history"] = [
                *call.get("history", []),
                [now, {"action": "ended", "reason": "lost", "why": "skill_removed"}],
            ]
            continue
        needs = call.get("needs") or []
        if any(n not in skills for n in needs):
            call["needs"] = [n for n in needs if n in skills]
            notes.append(
                f"call {call['id']}: needs {', '.join(n for n in needs if n not in skills)} no longer exist"
            )
        if call.get("preferred_agent_id") is not None and call["preferred_agent_id"] not in kept:
            notes.append(f"call {call['id']}: its preferred agent {call['preferred_agent_id']} has left")
            call["preferred_agent_id"] = None
    for record in agents:  # an agent whose call ended above is busy on the platform still
        if record.get("call_id") in ended_calls:
            record["call_id"] = None
            if record["state"] == "reserved":
                record["state"] = "busy"
    data["calls"] = list(calls.values())
    data["waiting"] = [w for w in data["waiting"] if w[0] not in ended_calls]
    data["ended"] = [*data["ended"], *sorted(ended_calls)]
    endings.calls.extend(sorted(ended_calls))

    callbacks = []
    failed: set[str] = set()
    for cb in data["callbacks"]:
        cb = dict(cb)
        if cb.get("status") in ("scheduled", "dialing") and _end(
            cb, "callback", "failed", skills, refused, now, notes
        ):
            failed.add(cb["id"])
            endings.callbacks.append(cb["id"])
        drop_agent_ref(cb)
        callbacks.append(cb)
    data["callbacks"] = callbacks
    line = dict(data["callback_line"])
    active = {s: n for s, n in line["active"].items() if s in skills}
    for cb in callbacks:  # a failed callback let into the line leaves its skill's share
        if cb["id"] in failed and cb["id"] in line["admitted"] and active.get(cb["skill"], 0) > 0:
            active[cb["skill"]] -= 1
    line["admitted"] = [c for c in line["admitted"] if c not in failed]
    line["active"] = active
    data["callback_line"] = line

    appointments = []
    taken = {(site, skill, float(start)): n for site, skill, start, n in data["slots"]}
    for ap in data["appointments"]:
        ap = dict(ap)
        if ap.get("status") in ("booked", "dialing") and _end(
            ap, "appointment", "cancelled", skills, refused, now, notes
        ):
            endings.appointments.append(ap["id"])
            key = (ap["site"], ap["skill"], float(ap["start"]))
            if taken.get(key, 0) > 1:
                taken[key] -= 1
            else:
                taken.pop(key, None)
        drop_agent_ref(ap)
        appointments.append(ap)
    data["appointments"] = appointments
    data["slots"] = [[site, skill, start, n] for (site, skill, start), n in taken.items()]
    return data


def _end(
    record: dict[str, Any],
    what: str,
    status: str,
    skills: set[str],
    refused: Any,
    now: float,
    notes: list[str],
) -> bool:
    """End a contact still to dial (`what`: callback or appointment) whose skill is gone or whose
    number acd must not dial: `status`, and why in its history and `notes`; False if it stands."""
    if record["id"] in refused:
        why, text = "number_refused", "acd must not dial its number"
    elif record["skill"] not in skills:
        why, text = "skill_removed", f"its skill {record['skill']} no longer exists"
    else:
        return False
    notes.append(f"{what} {record['id']} {status}: {text}")
    record["status"] = status
    record["history"] = [*record.get("history", []), [now, {"status": status, "why": why}]]
    return True
