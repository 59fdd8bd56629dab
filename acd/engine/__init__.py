"""The engine: the deterministic state machine shared by the service and the simulator."""

from acd.engine.core import Engine, EventResult
from acd.engine.errors import EngineError
from acd.engine.observer import Observer
from acd.engine.records import Agent, Appointment, Call, Callback

__all__ = ["Agent", "Appointment", "Call", "Callback", "Engine", "EngineError", "EventResult", "Observer"]
