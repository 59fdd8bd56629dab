"""Light twins of the engine's inbound event models, for the simulator's hot path.

The engine reads events by attribute (`e.id`, `e.type`, `e.ts`, `e.call_id`, ...); pydantic models
cost microseconds to build even with `model_construct`. These slotted classes carry the same
fields (a test keeps them in step with acd/events.py) and are what the simulator applies: no
validation per event, since the simulator builds only events that are valid by construction.

`ts`: when the platform saw the event. The simulator reports an agent's answer with the next batch
of events it sends, stamped with the instant it happened (`SimTime`, a float that answers
`timestamp()` as the engine asks of a datetime), as the real platform's webhooks do.
"""

from __future__ import annotations

from typing import Any


class SimTime(float):
    """An instant of the simulated clock, readable as a datetime's `timestamp()`."""

    __slots__ = ()

    def timestamp(self) -> float:
        return float(self)


class CallOffered:
    __slots__ = (
        "call_id",
        "caller",
        "department",
        "id",
        "language",
        "needs",
        "preferred_agent_id",
        "priority",
        "skill",
        "ts",
    )
    type = "call.offered"

    def __init__(
        self,
        id: str,
        call_id: str,
        caller: str,
        skill: str,
        priority: int,
        department: str | None,
        needs: list,
    ) -> None:
        self.id, self.ts, self.call_id, self.caller, self.skill = id, None, call_id, caller, skill
        self.priority, self.department, self.language, self.needs = priority, department, "fr", needs
        self.preferred_agent_id = None


class CallAnswered:
    __slots__ = ("agent_id", "call_id", "id", "ts")
    type = "call.answered"

    def __init__(self, id: str, call_id: str, agent_id: str, ts: SimTime | None = None) -> None:
        self.id, self.ts, self.call_id, self.agent_id = id, ts, call_id, agent_id


class CallEnded:
    __slots__ = ("call_id", "id", "reason", "ts")
    type = "call.ended"

    def __init__(self, id: str, call_id: str, reason: str) -> None:
        self.id, self.ts, self.call_id, self.reason = id, None, call_id, reason


class AgentStateChanged:
    __slots__ = ("agent_id", "id", "reason", "state", "ts")
    type = "agent.state"

    def __init__(self, id: str, agent_id: str, state: str) -> None:
        self.id, self.ts, self.agent_id, self.state, self.reason = id, None, agent_id, state, None


class CallbackAccepted:
    __slots__ = ("call_id", "id", "number", "ts", "window_start")
    type = "callback.accepted"

    def __init__(self, id: str, call_id: str, window_start: Any = None) -> None:
        self.id, self.ts, self.call_id, self.window_start = id, None, call_id, window_start
        self.number = None  # the caller id's: the simulator's callers have numbers


class CallbackResult:
    __slots__ = ("callback_id", "id", "originate_id", "outcome", "ts")
    type = "callback.result"

    def __init__(
        self,
        id: str,
        callback_id: str,
        outcome: str,
        ts: SimTime | None = None,
        originate_id: str | None = None,
    ) -> None:
        self.id, self.ts, self.callback_id, self.outcome = id, ts, callback_id, outcome
        self.originate_id = originate_id


class AppointmentResult:
    __slots__ = ("appointment_id", "id", "originate_id", "outcome", "ts")
    type = "appointment.result"

    def __init__(
        self,
        id: str,
        appointment_id: str,
        outcome: str,
        ts: SimTime | None = None,
        originate_id: str | None = None,
    ) -> None:
        self.id, self.ts, self.appointment_id, self.outcome = id, ts, appointment_id, outcome
        self.originate_id = originate_id


class AppointmentBooked:
    __slots__ = ("appointment_id", "department", "id", "number", "site", "skill", "start", "ts")
    type = "appointment.booked"

    def __init__(
        self, id: str, appointment_id: str, number: str, skill: str, start: float, department: Any
    ) -> None:
        self.id, self.ts, self.appointment_id, self.number = id, None, appointment_id, number
        self.skill, self.start, self.department, self.site = skill, SimTime(start), department, None


#: Twins by the engine's model they stand for (for the test that keeps the fields in step).
TWINS = {
    "CallOffered": CallOffered,
    "CallAnswered": CallAnswered,
    "CallEnded": CallEnded,
    "AgentStateChanged": AgentStateChanged,
    "CallbackAccepted": CallbackAccepted,
    "CallbackResult": CallbackResult,
    "AppointmentResult": AppointmentResult,
    "AppointmentBooked": AppointmentBooked,
}
