"""The engine: the deterministic state machine shared by the service and the simulator.

Its public boundary, all a reader or a driver outside `acd/engine` may use:

- `Engine(config, router=..., observer=...)`, driven by
  `apply(events, now) -> (results, commands)`, `tick(now) -> commands` and `next_wakeup()`.
  It does no I/O and reads no clock: time is passed in. `validate(events, now)` checks a batch
  without applying it (`EngineError`: the API's 4xx); `check_configured(events, skills, sites)`
  makes, without any state, the checks only `config/` decides (skills, sites): for a batch the
  service cannot apply while its store is unreachable.
- Its events are `acd.events` (the contract's, and the engine's own: `roster.agent`,
  `callback.requested`, `appointment.booked`, `overflow.mode`, ...).
- What it returns: `EventResult` (per event: `applied` or `duplicate`, the typed `Decision`, why
  an applied event changed nothing) and `Command`s for the platform (`acd.model`); both render
  the contract's JSON with `to_wire()`, at the edge only.
- Its read models: `engine.queries` (`Queries`, acd/engine/queries.py): views of agents, calls,
  callbacks, appointments, the line, overflow, the day's figures, as plain data. Nothing outside
  the engine reads its records (`engine.calls`, `engine.agents`, ...) or its router.
- What it reports as it works: an `Observer` (metrics, call records, the simulator's statistics),
  which receives the records `Agent`, `Call`, `Callback`, `Appointment` to read, never to change.

Inside (for the engine's own modules): `Engine` (core.py) is the waiting line and the agents
over the router (`Line`, line.py) with, composed around it, the outbound-contact machine
(outbound.py) that callbacks (callbacks.py, windows.py) and appointments (appointments.py,
slots.py) both use, and overflow (overflow.py); each event type's check and handler are paired in
`core.EVENT_TYPES` (the line's events in calls.py, reconciliation in sync.py).
- Its state: `acd.engine.state` dumps the engine to a plain, versioned document and loads one into
  an engine built from the current configuration (snapshots, `acd state export`/`import`);
  `apply_logged` (replay.py) replays a log entry after a snapshot, event by event where a changed
  configuration refuses one.
"""

from acd.engine.core import Engine, EventResult
from acd.engine.errors import EngineError
from acd.engine.observer import Observer
from acd.engine.queries import CallState, OnHold, Queries
from acd.engine.records import Agent, Appointment, Call, Callback
from acd.engine.replay import apply_logged
from acd.engine.validation import check_configured
from acd.model import Command, Decision

__all__ = [
    "Agent",
    "Appointment",
    "Call",
    "CallState",
    "Callback",
    "Command",
    "Decision",
    "Engine",
    "EngineError",
    "EventResult",
    "Observer",
    "OnHold",
    "Queries",
    "apply_logged",
    "check_configured",
]
