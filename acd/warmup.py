"""Ready means warm: what `acd serve` does before it listens, so that no request after `/readyz`
turns 200 waits for a compilation, a lazy import or a table filled on first use.

1. The router's numba kernels are loaded from the on-disk cache, or compiled the first time on a
   machine (`acd.routing.warm_up`).
2. A rehearsal: a scratch engine, built from the same configuration, with no observer, takes one
   call through its life (an agent logs in, a call is connected, answered and ended, a second one
   waits, is connected by the agent's return and abandoned, the wrap-up timer fires), at the
   service's time and at the next opening, each event validated by the same pydantic models as
   `POST /v1/events` and each result rendered as the API renders it. What that touches on first use
   (the public-holiday tables, read from the table acd ships; the schema serializers; the routing
   paths above the kernels; the expected-wait estimates; the queue statistics) is ready before the
   first request. The local services' calendars are consulted once too (their subdivisions'
   holiday tables).

The scratch engine shares nothing with the service's: its state is thrown away. A rehearsal that
fails (a configuration without any agent, say) is logged and skipped: it never stops the service.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from acd import jsonio
from acd.config import Config

log = logging.getLogger("acd.warmup")


def warm(config: Config, now: float, *, router: str = "numba") -> dict[str, Any]:
    """Load the kernels (numba router) and rehearse; returns what it did and how long it took."""
    out: dict[str, Any] = {}
    if router == "numba":
        from acd.routing import warm_up

        out["kernels"] = warm_up()
    started = time.perf_counter()
    try:
        out["events"] = rehearse(config, now, router=router)
    except Exception:
        log.exception("the warm-up rehearsal failed; the first requests may be slower")
        out["events"] = 0
    out["rehearsal_s"] = time.perf_counter() - started
    return out


def rehearse(config: Config, now: float, *, router: str = "numba") -> int:
    """Take a scratch engine through a call's life at `now` and at the next opening; returns the
    number of events applied."""
    from acd.engine import Engine
    from acd.events import EDGE, event_adapter

    engine = Engine(config, router=router)
    skill = engine.skills[0]
    agent = next((a.id for a in config.agents if skill in a.skills), None)
    applied = 0
    instants = [now]
    opening = engine.calendar.next_opening(now)
    if opening is not None and opening != now:
        instants.append(opening)
    for n, at in enumerate(instants):
        stamp = engine.calendar.hours.isoformat(at)
        events: list[dict[str, Any]] = []
        if agent is not None:
            events.append({"type": "agent.state", "agent_id": agent, "state": "available"})
        first, second = f"warmup-{n}-1", f"warmup-{n}-2"
        events.append({"type": "call.offered", "call_id": first, "caller": "+33100000000", "skill": skill})
        if agent is not None:
            events.append({"type": "call.answered", "call_id": first, "agent_id": agent})
        events += [
            {
                "type": "call.offered",
                "call_id": second,
                "caller": "+33100000001",
                "skill": skill,
                "department": "75",
                "ts": stamp,
            },
            {"type": "call.ended", "call_id": first, "reason": "completed"},
        ]
        if agent is not None:
            events.append({"type": "agent.state", "agent_id": agent, "state": "available"})
        events.append({"type": "call.ended", "call_id": second, "reason": "abandoned"})
        for i, body in enumerate(events):
            body["id"] = f"warmup-{n}-e{i}"
            event = event_adapter.validate_python(jsonio.loads(jsonio.dumps(body)), context=EDGE)
            results, _ = engine.apply([event], at)
            jsonio.dumps({"results": [r.to_wire() for r in results]})
            applied += 1
        engine.tick(at + 3600.0)
        jsonio.dumps({"queues": engine.queries.queues(at)})
        for service in engine.overflow.services.values():
            service.hours.is_open(at)
    return applied
