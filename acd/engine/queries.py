"""Read models: what the engine shows its readers (the API, the wallboard, the metrics collector,
the telephony adapters, the simulator). Nothing outside `acd/engine` reads the engine's records or
its router: it asks here. Every answer is plain data (JSON-ready dicts, tuples, numbers), computed
when asked, so a reader can never change the engine's state nor hold on to a live record.

`engine.queries` is a `Queries` over the engine (typed as the `Line` it is, with its parts); it
keeps no state of its own.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import date
from typing import TYPE_CHECKING, Any, NamedTuple, overload
from zoneinfo import ZoneInfo

from acd.engine.line import command_prefix, offer_stamp
from acd.model import AgentState, CallKind, CallStatus, Command

if TYPE_CHECKING:
    from acd.engine.line import Line
    from acd.engine.records import Agent, Appointment, Call, Callback, Entry


class CallState(NamedTuple):
    """Where a call stands, for an adapter checking a command against the engine."""

    status: CallStatus
    agent_id: str | None
    service_id: str | None


class OnHold(NamedTuple):
    """A skill's line as its callers see it: the callers on hold, since when the oldest one
    waits (engine time; None without one), and the callbacks and appointments keeping a place."""

    callers: int
    oldest_at: float | None
    later: int

    def oldest_wait(self, now: float) -> float:
        return 0.0 if self.oldest_at is None else round(max(0.0, now - self.oldest_at), 1)


class RosterEntry(NamedTuple):
    agent_id: str
    site: str
    skills: dict[str, int]


#: The commands that give a call to an agent (`command_superseded`), and the history's lines that
#: ring an agent for a call or put it back in line.
_ASSIGNING = frozenset({"connect", "originate"})
_RINGS = frozenset({"connect", "originate", "requeue"})


class Queries:
    __slots__ = ("_engine",)

    def __init__(self, engine: Line) -> None:
        self._engine = engine

    @property
    def driven_at(self) -> float:
        """The latest time the engine was driven at (an event, a tick, a loaded state)."""
        return self._engine._last_now

    # -- names

    @property
    def skills(self) -> list[str]:
        return list(self._engine.skills)

    @property
    def sites(self) -> list[str]:
        return list(self._engine._site_ids)

    def has_skill(self, skill: str) -> bool:
        return skill in self._engine.skill_index

    def has_site(self, site: str) -> bool:
        return site in self._engine._site_ids

    def skill_names(self) -> dict[str, str]:
        """The skills' display names (the configuration's, without the parenthesised part)."""
        return {s.id: s.name.split(" (")[0] for s in self._engine.config.skills}

    # -- time and the calendar

    def line_open(self, now: float) -> bool:
        return self._engine.calendar.is_open(now)

    def local_date(self, now: float) -> date:
        return self._engine.calendar.hours.local_date(now)

    @property
    def zone(self) -> ZoneInfo:
        """The national line's time zone (local dates and hours)."""
        return self._engine.calendar.zone

    @overload
    def isoformat(self, t: float) -> str: ...
    @overload
    def isoformat(self, t: None) -> None: ...
    def isoformat(self, t: float | None) -> str | None:
        """An instant as RFC 3339 in the national line's zone (the calendar's); None, a time not
        set yet, stays None."""
        return None if t is None else self._engine.calendar.hours.isoformat(t)

    # -- agents

    def agent(self, agent_id: str, now: float) -> dict[str, Any] | None:
        agent = self._engine.agents.get(agent_id)
        return None if agent is None else self._agent_view(agent, now)

    def agents(self, now: float, site: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        views = [
            self._agent_view(a, now) for a in self._engine.agents.values() if site is None or a.site == site
        ]
        return views if state is None else [v for v in views if v["state"] == state]

    def agent_site(self, agent_id: str) -> str | None:
        agent = self._engine.agents.get(agent_id)
        return None if agent is None else agent.site

    def agents_by_site_state(self) -> Counter[tuple[str, str]]:
        """How many agents per (site, state as the contract names it)."""
        engine = self._engine
        state_of = engine.router.agent_state
        return Counter((a.site, state_of(a.row).wire) for a in engine.agents.values())

    def staffing(self) -> tuple[Counter[str], dict[str, Counter[str]]]:
        """Logged-in agents by state (the contract's names), overall and per skill they hold."""
        engine = self._engine
        state_of = engine.router.agent_state
        everyone: Counter[str] = Counter()
        by_skill: dict[str, Counter[str]] = {s: Counter() for s in engine.skills}
        for agent in engine.agents.values():
            state = state_of(agent.row)
            if state is AgentState.LOGGED_OUT:
                continue
            wire = state.wire
            everyone[wire] += 1
            for skill in agent.skills:
                if skill in by_skill:
                    by_skill[skill][wire] += 1
        return everyone, by_skill

    def roster(self) -> list[RosterEntry]:
        """Every agent of the roster: its id, site and skills (with their levels)."""
        return [RosterEntry(a.id, a.site, dict(a.skills)) for a in self._engine.agents.values()]

    def occupancy_seconds(self, now: float) -> dict[str, Any]:
        """Per agent, (occupied, available) seconds so far (the simulator's occupancy)."""
        router = self._engine.router
        return {a.id: router.occupancy_seconds(a.row, now) for a in self._engine.agents.values()}

    def flagged(self) -> dict[str, list[str]]:
        """What the watchdog flags now, by kind."""
        return {kind: list(found) for kind, found in self._engine.flagged.items()}

    # -- calls and the line

    def call(self, call_id: str, now: float) -> dict[str, Any] | None:
        call = self._engine.calls.get(call_id)
        return None if call is None else self._call_view(call, now)

    def call_state(self, call_id: str) -> CallState | None:
        call = self._engine.calls.get(call_id)
        return None if call is None else CallState(call.status, call.agent_id, call.service_id)

    def line_load(self, skill: str) -> tuple[int, int]:
        """A skill's calls waiting and agents staffed for it, now (kept in step: no scan)."""
        i = self._engine.skill_index[skill]
        return self._engine.waiting_by_skill[i], self._engine.staffed_by_skill[i]

    def queues(self, now: float) -> list[dict[str, Any]]:
        """Per skill: `waiting`, `oldest_wait_s`, `ewt_s`, agents available, busy and staffed, AHT
        (the router's figures: no pass over the line, whatever its length)."""
        return self._engine.queue_stats(now)

    def on_hold(self) -> dict[str, OnHold]:
        """Per skill with calls in line: its callers on hold apart from the callbacks (a caller's
        accepted one included) and appointments keeping a place, which are not callers on the
        line. One pass over the line (5-8 ms with 20,000 waiting): for a scrape or the wallboard's
        sampler, not for a request a platform polls."""
        held: Counter[str] = Counter()
        later: Counter[str] = Counter()
        oldest: dict[str, float] = {}
        for call in self._engine.waiting_calls():
            skill, at = call.skill, call.enqueued_at
            if call.callback_id is None and call.kind is CallKind.INBOUND:
                held[skill] += 1
                if at < oldest.get(skill, math.inf):
                    oldest[skill] = at
            else:
                later[skill] += 1
        return {skill: OnHold(held[skill], oldest.get(skill), later[skill]) for skill in held | later}

    def today(self, now: float) -> tuple[str, dict[str, dict[str, int]]]:
        """The local day and, per count (`offered`, `answered`, `abandoned`, `closed`,
        `overflowed`), its figures per skill since local midnight: engine state, so the same on
        every instance (a follower's replica counts as the leader does)."""
        return self._engine.today.read(now)

    # -- callbacks and appointments

    def command_superseded(self, command: Command) -> bool:
        """Whether a command the outbox still holds no longer stands, so it is dropped rather than
        delivered: a `connect` or an `originate` whose assignment is over (the call rang out and
        was given again, to this agent or another; it was answered; it ended). Delivered late (the
        platform down, its retries), it would ring an agent for a call acd has moved on, after the
        newer command. An `offer_callback` whose caller no longer waits in line (put through, ended,
        a callback taken) is too: the offer is for the waiting caller. Other commands always
        stand; so does one whose call acd no longer keeps."""
        if command.command == "offer_callback":
            call = self._engine.calls.get(command.fields.get("call_id", ""))
            return call is not None and call.status is not CallStatus.QUEUED
        if command.command not in _ASSIGNING:
            return False
        call = self._engine.calls.get(command.fields.get("call_id", ""))
        if call is None:
            return False
        stamp, _, place = command.id.removeprefix(command_prefix(call.id, command.command)).rpartition(".")
        if not place.isdigit():
            return False
        if stamp and stamp != offer_stamp(call):
            return True  # an earlier caller's, the call id offered again once acd forgot it
        if call.status is not CallStatus.CONNECTING or call.agent_id != command.fields.get("agent_id"):
            return True
        # its own decision is the history's line `place` (1-based): a later ring supersedes it
        return any(entry.get("action") in _RINGS for _, entry in call.history[int(place) :])

    def callback(self, callback_id: str) -> dict[str, Any] | None:
        callback = self._engine.callbacks.get(callback_id)
        return None if callback is None else self._callback_view(callback)

    def callback_status(self, callback_id: str) -> str | None:
        callback = self._engine.callbacks.get(callback_id)
        return None if callback is None else str(callback.status)

    def appointment(self, appointment_id: str) -> dict[str, Any] | None:
        appointment = self._engine.appointments.get(appointment_id)
        return None if appointment is None else self._appointment_view(appointment)

    def appointment_slots(
        self, skill: str, day: date, site: str | None, now: float, **caller: Any
    ) -> list[dict]:
        """The day's slots with the places left (for the caller when given, `department` and
        `number`: none outside their hours, CallerHours.slots_for); `start`, `end` engine times."""
        book = self._engine.appointment_book
        slots = book.slots.day_left(skill, day, site, now, book.horizon(now))
        return book.caller_hours.slots_for(slots, **caller)

    def booking_horizon(self, now: float) -> tuple[date, int]:
        """The last local date an appointment may be booked on at `now`, and the horizon's days."""
        book = self._engine.appointment_book
        return book.calendar.hours.local_date(book.horizon(now)), book.settings.max_days_ahead

    def slot_occupancy(self, now: float) -> dict[str, tuple[int, int]]:
        return self._engine.appointment_book.slots.occupancy(now)

    # -- overflow

    def overflow(self, now: float) -> dict[str, Any]:
        """`{"mode", "active", "reason"}` (and `campaign` or `skills` when that is the reason)."""
        return self._engine.overflow.status(now)

    def services(self, now: float) -> list[dict[str, Any]]:
        """The local services that take overflow, with their load and whether they are open."""
        return [
            {
                "service": s.id,
                "department": s.spec.department,
                "name": s.spec.name,
                "target": s.spec.target,
                "capacity": s.spec.capacity,
                "active": s.can_take(now),
                "open": s.hours.is_open(now),
                "load": s.load,
                "taken": s.taken,
                "timezone": s.hours.zone.key,
                "skills": sorted(s.skills) if s.skills is not None else None,
            }
            for s in self._engine.overflow.services.values()
        ]

    # -- the resources' views (the API renders them as they are)

    def _agent_view(self, agent: Agent, now: float) -> dict[str, Any]:
        engine = self._engine
        router = engine.router
        state = router.agent_state(agent.row)
        pending = engine._pending.get(agent.id)
        return {
            "agent_id": agent.id,
            "site": agent.site,
            "skills": agent.skills,
            "target": agent.target,
            "state": state.wire,
            "reason": agent.reason,
            "reserved": state is AgentState.RESERVED,
            "call_id": agent.call_id,
            "idle_since": self.isoformat(router.idle_since(agent.row))
            if state is AgentState.AVAILABLE
            else None,
            "state_since": self.isoformat(agent.state_changed_at) if agent.state_changed_at else None,
            "occupancy": round(router.occupancy(agent.row, now), 4),
            "calls_handled": agent.calls_handled,
            # the pause or logout the agent asked for during its call (applied when it ends)
            "pending_state": None if pending is None else pending[0].wire,
            "pending_reason": None if pending is None else pending[1],
        }

    def _waited_until(self, call: Call) -> float | None:
        """When the caller's wait ended, as the call's record counts it (acd/records/sink.py), or
        None while they still wait: refused in closed hours at once; sent to a local service or
        taken a callback at that moment, whatever came after (their talk there, the callback's
        answer hours later); else answered, ended, or rung (while it rings)."""
        if call.status is CallStatus.CLOSED:
            return call.offered_at
        callback = self._engine.callbacks.get(call.callback_id) if call.callback_id else None
        if callback is not None and callback.call_id == call.id and call.kind == "inbound":
            return callback.created_at  # the caller accepted it (virtual hold or a window)
        if call.service_id is not None:
            overflowed = [at for at, entry in call.history if entry.get("action") == "overflow"]
            if overflowed:
                return overflowed[-1]
        if call.answered_at is not None or call.ended_at is not None:
            return call.answered_at or call.ended_at
        return call.connected_at if call.status is CallStatus.CONNECTING else None

    def _call_view(self, call: Call, now: float) -> dict[str, Any]:
        until = self._waited_until(call)
        return {
            "call_id": call.id,
            "caller": call.caller,
            "skill": call.skill,
            "needs": list(call.needs),
            "priority": call.priority,
            "department": call.department,
            "language": call.language,
            "preferred_agent_id": call.preferred_agent_id,
            "status": str(call.status),
            "agent_id": call.agent_id,
            "offered_at": self.isoformat(call.offered_at),
            "connected_at": self.isoformat(call.connected_at),
            "answered_at": self.isoformat(call.answered_at),
            "ended_at": self.isoformat(call.ended_at),
            "end_reason": call.end_reason,
            "wait_s": round(max(0.0, (until if until is not None else now) - call.offered_at), 3),
            "position": self._engine.router.queue_position(call.row) if call.waiting else None,
            "callback_id": call.callback_id,
            "survey_score": call.survey_score,
            "history": self._history(call.history),
        }

    def _callback_view(self, callback: Callback) -> dict[str, Any]:
        iso = self.isoformat
        return {
            "callback_id": callback.id,
            "status": str(callback.status),
            "due_at": iso(callback.due_at),
            "number": callback.number,
            "skill": callback.skill,
            "call_id": callback.call_id,
            "department": callback.department,
            "agent_id": callback.agent_id,
            "attempts": callback.attempts,
            "created_at": iso(callback.created_at),
            "first_dial_at": iso(callback.first_dial_at) if callback.first_dial_at is not None else None,
            "history": self._history(callback.history),
        }

    def _appointment_view(self, appointment: Appointment) -> dict[str, Any]:
        iso = self.isoformat
        return {
            "appointment_id": appointment.id,
            "status": str(appointment.status),
            "start": iso(appointment.start),
            "end": iso(appointment.end),
            "number": appointment.number,
            "skill": appointment.skill,
            "site": appointment.site,
            "department": appointment.department,
            "agent_id": appointment.agent_id,
            "attempts": appointment.attempts,
            "created_at": iso(appointment.created_at),
            "history": self._history(appointment.history),
        }

    def _history(self, entries: list[Entry]) -> list[dict[str, Any]]:
        """The lines of a history, times as RFC 3339 (`at`; `ts`, a platform's stamp kept)."""
        iso = self.isoformat
        return [
            {"at": iso(at), **what, **({"ts": iso(what["ts"])} if "ts" in what else {})}
            for at, what in entries
        ]
