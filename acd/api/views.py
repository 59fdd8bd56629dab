"""Engine records rendered as the API's resources."""

from __future__ import annotations

from typing import Any

from acd.clock import to_rfc3339
from acd.engine import Agent, Appointment, Call, Callback, Engine
from acd.engine.records import Entry
from acd.model import AgentState


def agent_view(engine: Engine, agent: Agent, now: float) -> dict[str, Any]:
    state = engine.agent_state(agent)
    router = engine.router
    return {
        "agent_id": agent.id,
        "site": agent.site,
        "skills": agent.skills,
        "target": agent.target,
        "state": state.wire,
        "reason": agent.reason,
        "reserved": state is AgentState.RESERVED,
        "call_id": agent.call_id,
        "idle_since": to_rfc3339(router.idle_since(agent.row)) if state is AgentState.AVAILABLE else None,
        "state_since": to_rfc3339(agent.state_changed_at) if agent.state_changed_at else None,
        "occupancy": round(router.occupancy(agent.row, now), 4),
        "calls_handled": agent.calls_handled,
        **engine.pending_view(agent),
    }


def call_view(engine: Engine, call: Call, now: float) -> dict[str, Any]:
    until = call.answered_at or call.ended_at or (call.connected_at if call.status == "connecting" else None)
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
        "offered_at": to_rfc3339(call.offered_at),
        "connected_at": to_rfc3339(call.connected_at),
        "answered_at": to_rfc3339(call.answered_at),
        "ended_at": to_rfc3339(call.ended_at),
        "end_reason": call.end_reason,
        "wait_s": round(max(0.0, (until if until is not None else now) - call.offered_at), 3),
        "position": engine.router.queue_position(call.row) if call.waiting else None,
        "callback_id": call.callback_id,
        "survey_score": call.survey_score,
        "history": _history(call.history),
    }


def _history(entries: list[Entry]) -> list[dict[str, Any]]:
    return [{"at": to_rfc3339(at), **what} for at, what in entries]


def callback_view(engine: Engine, callback: Callback) -> dict[str, Any]:
    iso = engine.calendar.hours.isoformat
    return {
        "callback_id": callback.id,
        "status": callback.status,
        "due_at": iso(callback.due_at),
        "number": callback.number,
        "skill": callback.skill,
        "call_id": callback.call_id,
        "department": callback.department,
        "agent_id": callback.agent_id,
        "attempts": callback.attempts,
        "created_at": iso(callback.created_at),
        "first_dial_at": iso(callback.first_dial_at) if callback.first_dial_at is not None else None,
        "history": _history(callback.history),
    }


def appointment_view(engine: Engine, appointment: Appointment) -> dict[str, Any]:
    iso = engine.calendar.hours.isoformat
    return {
        "appointment_id": appointment.id,
        "status": appointment.status,
        "start": iso(appointment.start),
        "end": iso(appointment.end),
        "number": appointment.number,
        "skill": appointment.skill,
        "site": appointment.site,
        "department": appointment.department,
        "agent_id": appointment.agent_id,
        "attempts": appointment.attempts,
        "created_at": iso(appointment.created_at),
        "history": _history(appointment.history),
    }
