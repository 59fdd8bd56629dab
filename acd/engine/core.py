"""The engine: a deterministic state machine over calls, agents and the waiting line.

It takes events and the current time, changes its state and returns what must happen: the routing
decision for the caller, commands for the platform, and (through `next_wakeup`) the next instant it
wants to be woken. It does no I/O and reads no clock, so the service, the tests and the simulator
drive the very same code.

Time: `now` is the engine's time (the service clock, or the simulator's); an event's `ts` (when the
platform saw it, `now` if absent) dates what the event records (offered, answered, idle since).

From parts: `Engine` is the waiting line and the agents (`Line`, acd/engine/line.py) with, composed
around it and given the line explicitly: the outbound-contact machine (acd/engine/outbound.py)
that callbacks (acd/engine/callbacks.py) and appointments (acd/engine/appointments.py) both use,
overflow (acd/engine/overflow.py). Each event type's check and handler are paired in
`EVENT_TYPES` below (the line's own in acd/engine/calls.py, reconciliation in acd/engine/sync.py).
"""

from __future__ import annotations

import logging
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import blake2b
from typing import Any, ClassVar, NamedTuple

from acd.config import Config
from acd.engine import caller_hours, calls, kept, sync, watchdog
from acd.engine.agents import Ignored
from acd.engine.appointments import Appointments
from acd.engine.callbacks import Callbacks
from acd.engine.line import CLOSED, ENDED, WRAP_UP, Line
from acd.engine.observer import NULL_OBSERVER, Observer
from acd.engine.outbound import Outbound
from acd.engine.overflow import Overflow, OverflowRules
from acd.engine.queries import Queries
from acd.engine.timers import Timer
from acd.engine.validation import Batch
from acd.model import CallKind, Command, Decision, OverflowSwitch

log = logging.getLogger("acd.engine")

AUTO, ON = OverflowSwitch.AUTO, OverflowSwitch.ON  # read on every batch: globals, not class attributes


@dataclass(slots=True)
class EventResult:
    id: str
    status: str  # "applied" | "duplicate"
    decision: Decision | None = None
    ignored: str | None = None  # why an applied event changed nothing

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.decision is not None:
            out["decision"] = self.decision.to_wire()
        if self.ignored is not None:
            out["ignored"] = self.ignored
        return out


#: An event's handler: (engine, event, t, now, commands) -> its decision, an `Ignored`, or None.
Handler = Callable[..., Any]
#: An event's check: (engine, event, batch); raises `EngineError` (through `batch.fail`).
Check = Callable[..., None]


def _canonical_json(kind: type) -> Callable[[Any], bytes] | None:
    """How an event type's canonical body is written: its pydantic serializer's `to_json`, the
    very bytes of `model_dump_json()` without its wrapping and the text round trip (a third of
    the digest's cost); None for a type without a body to digest.

    A field added to an event type after a release (its `DIGEST_WHEN_SET`) is left out while
    absent: the body then writes as it did before the field existed, so a digest remembered by
    the earlier release (in a snapshot, a state export) still matches a retry of its event."""
    serializer = getattr(kind, "__pydantic_serializer__", None)
    if serializer is None or not hasattr(kind, "model_dump_json"):
        return None
    to_json = serializer.to_json
    late: tuple[str, ...] = getattr(kind, "DIGEST_WHEN_SET", ())
    if not late:
        return to_json  # type: ignore[no-any-return]

    def canonical(event: Any) -> bytes:
        absent = {name for name in late if getattr(event, name) is None}
        return to_json(event, exclude=absent) if absent else to_json(event)  # type: ignore[no-any-return]

    return canonical


#: Bytes of an event's digest (blake2b-96): a durable log carries them, one after the other.
DIGEST_SIZE = 12

#: Event type -> `_canonical_json(type)`, found once per type; read for every applied event.
_CANONICAL: dict[type, Callable[[Any], bytes] | None] = {}


def event_digest(event: Any) -> bytes | None:
    """A digest of the event's canonical body (its validated fields, in the model's order), kept
    beside its remembered id: an id reused with another body is a conflict, not a duplicate.
    None for the simulator's light events (never repeated, never checked)."""
    kind = type(event)
    if kind not in _CANONICAL:
        _CANONICAL[kind] = _canonical_json(kind)
    canonical = _CANONICAL[kind]
    return None if canonical is None else blake2b(canonical(event), digest_size=DIGEST_SIZE).digest()


class Engine(Line):
    def __init__(self, config: Config, *, router: str = "numba", observer: Observer = NULL_OBSERVER) -> None:
        super().__init__(config, router, observer)
        self._seen: dict[str, Decision | None] = {}  # event id -> its decision (for a duplicate)
        self._seen_ignored: dict[str, str] = {}  # event id -> why it changed nothing (the few ignored)
        self._seen_expiry: deque[tuple[float, str]] = deque()
        # the parts, each given what it needs. They refer back to the engine (and the outbound
        # machine to its rules) weakly: an engine in reference cycles would be freed only by a
        # full collection walking its whole state, and never once `acd serve`'s collector policy
        # has frozen it (acd/gcpolicy.py), so each engine the store replaces would leak.
        line = weakref.proxy(self)
        self.overflow = Overflow(config, self.calendar)
        self.overflow_rules = OverflowRules(line, self.overflow)
        self.outbound = Outbound(line)
        self.callback_book = Callbacks(line, self.outbound)
        self.appointment_book = Appointments(line, self.outbound)
        self.outbound.rules = {
            CallKind.CALLBACK: weakref.proxy(self.callback_book),
            CallKind.APPOINTMENT: weakref.proxy(self.appointment_book),
        }
        # their records, at hand (the same objects)
        self.callbacks = self.callback_book.records
        self.appointments = self.appointment_book.records

    # ------------------------------------------------------------------ events

    def apply(
        self, events: list[Any], now: float, *, trusted: bool = False, digests: bytes | None = None
    ) -> tuple[list[EventResult], list[Command]]:
        """Validate the whole batch, then apply it in order. Nothing is applied if any event is bad.

        `trusted`: the caller built the events from the engine's own state (the simulator) and
        skips the reference checks; never for input from outside. `digests`: the events' digests,
        `DIGEST_SIZE` bytes each in order, as `digests_of` gave them when the batch was first
        applied (a replay of the durable log): remembered as they are, not computed again."""
        if not trusted:
            self.validate(events, now)
        self._last_now = now
        commands: list[Command] = []
        self._arm_standing(now)
        results = self._apply_all(events, now, commands, digests)
        if self.callback_book.pending:
            self.callback_book.admit_all(now, commands)
        self._housekeep(now)
        return results, commands

    def digests_of(self, events: list[Any]) -> bytes | None:
        """The digests remembered for a batch just applied, `DIGEST_SIZE` bytes each in order (a
        duplicate's: its first's), for a durable log to carry; None when one is not remembered
        (forgotten already, or an event type without a body)."""
        known = self._seen_digest
        found = [known.get(event.id) for event in events]
        return None if None in found else b"".join(found)  # type: ignore[arg-type]

    def _apply_all(
        self, events: list[Any], now: float, commands: list[Command], known: bytes | None = None
    ) -> list[EventResult]:
        """Apply each event in order, remembering its id (its decision, its body's digest, when it
        expires); a remembered id is a duplicate. The hot path: one loop, look-ups hoisted.
        `known`: the events' digests, given (see `apply`)."""
        seen, digests, expiry, handlers = self._seen, self._seen_digest, self._seen_expiry, self._handlers
        reasons = self._seen_ignored
        canonicals = _CANONICAL
        expires = now + self._idempotency_ttl_s
        results = []
        for index, event in enumerate(events):
            event_id = event.id
            if event_id in seen:
                # what the first answer carried: its decision, or why it changed nothing
                results.append(EventResult(event_id, "duplicate", seen[event_id], reasons.get(event_id)))
                continue
            ts = event.ts
            decision = handlers[event.type](self, event, now if ts is None else ts.timestamp(), now, commands)
            ignored = None
            if decision is not None and type(decision) is Ignored:
                ignored, decision = str(decision), None
                reasons[event_id] = ignored
            seen[event_id] = decision
            if known is not None:
                digests[event_id] = known[index * DIGEST_SIZE : (index + 1) * DIGEST_SIZE]
            else:
                kind = type(event)  # event_digest, inline: this runs for every applied event
                if kind not in canonicals:
                    canonicals[kind] = _canonical_json(kind)
                canonical = canonicals[kind]
                if canonical is not None:
                    digests[event_id] = blake2b(canonical(event), digest_size=DIGEST_SIZE).digest()
            expiry.append((expires, event_id))
            results.append(EventResult(event_id, "applied", decision, ignored))
        return results

    def validate(self, events: list[Any], now: float | None = None) -> None:
        """Check every reference in the batch against the state (and what the batch's own events
        before it claim) before anything changes: each event type's check, in `EVENT_TYPES`.
        Transitions themselves never fail: late or repeated platform events are absorbed, as
        telephony needs."""
        batch = Batch(self._last_now if now is None else now)
        now = batch.now
        skew, ahead = self._ts_skew_s, self.config.routing.max_ts_ahead_s
        first: dict[str, Any] = {}  # the batch's new events by id (a repeat is compared with it)
        checks = self._checks
        for index, e in enumerate(events):
            batch.index, batch.event = index, e
            if e.id in self._seen or e.id in first:
                known = self._seen_digest.get(e.id) if e.id in self._seen else event_digest(first[e.id])
                if known is not None and event_digest(e) != known:
                    batch.fail(
                        409,
                        "idempotency_conflict",
                        f"event id {e.id!r} was already used for another event: an id names one "
                        "event (a retry repeats it byte for byte); give a new event a new id",
                        "id",
                    )
                continue
            first[e.id] = e
            if e.ts is not None and skew > 0 and abs(e.ts.timestamp() - now) > skew:
                batch.fail(
                    422,
                    "ts_out_of_range",
                    f"ts {e.ts.isoformat()} is more than {skew:g} s away from the service clock "
                    f"({datetime.fromtimestamp(now, UTC).isoformat()}): check the platform's clock "
                    "(routing.max_ts_skew_s sets the tolerance)",
                    "ts",
                )
            if e.ts is not None and ahead > 0 and e.ts.timestamp() - now > ahead:
                batch.fail(
                    422,
                    "ts_out_of_range",
                    f"ts {e.ts.isoformat()} is more than {ahead:g} s ahead of the service clock "
                    f"({datetime.fromtimestamp(now, UTC).isoformat()}): an event is seen before it is "
                    "posted; check the platform's clock (routing.max_ts_ahead_s sets the tolerance)",
                    "ts",
                )
            check = checks[e.type]
            if check is not None:
                check(self, e, batch)

    # ------------------------------------------------------------------ timers

    def next_wakeup(self) -> float | None:
        return self.timers.next_live_at(self._timer_live)

    def tick(self, now: float) -> list[Command]:
        """Fire every timer due at `now`: ends of wrap-up, widening steps, preferred-agent waits."""
        commands: list[Command] = []
        self._last_now = now
        self._arm_standing(now)
        while (timer := self.timers.pop_due(now)) is not None:
            if not self._timer_live(timer):
                continue
            at, _, kind, key, _ = timer
            if kind == "wrap_up":
                self._agent_event(self.agents[key], "wrap_timer", at, now, commands)
            elif kind == "watchdog":
                watchdog.check(self, now)
                watchdog.arm(self, now)
            elif kind == "call":
                self._try_route(self.calls[key], now, commands)
            elif kind == "callback":
                self.callback_book.due(self.callbacks[key], now, commands)
            elif kind == "appointment":
                self.appointment_book.due(self.appointments[key], now, commands)
            elif kind == "remind":
                self.appointment_book.remind(self.appointments[key], now, commands)
            elif kind == "service_open":
                self.overflow_rules.opened(now, commands)
            elif kind == "slot_end":
                self.appointment_book.slot_over(self.appointments[key], now)
            elif kind == "callback_stop":  # acd/engine/caller_hours.py's arm_stop
                caller_hours.stop_due(self, self.callback_book.caller_hours, self.callbacks[key], now)
        if self.callback_book.pending:
            self.callback_book.admit_all(now, commands)
        self._housekeep(now)
        return commands

    def _arm_standing(self, now: float) -> None:
        """The timers that stand whatever the events (the watchdog's; with the overflow switch
        on, the next service opening), armed when none is (a new engine, a state loaded)."""
        if self._watchdog_at is None and self._watchdog_s > 0:
            watchdog.arm(self, now)
        if self._opening_at is None and self.overflow.mode is ON:
            self.overflow_rules.arm_opening(now)

    def _timer_live(self, timer: Timer) -> bool:
        """Whether the timer still stands (its owner's token has not moved on); the commonest
        kinds first, as the simulator asks this of every timer."""
        _, _, kind, key, token = timer
        if kind == "call":
            call = self.calls.get(key)
            return call is not None and call.row >= 0 and call.timer_token == token
        if kind == "wrap_up":
            agent = self.agents.get(key)
            return (
                agent is not None
                and agent.wrap_token == token
                and self.router.agent_state(agent.row) == WRAP_UP
            )
        if kind == "callback" or kind == "callback_stop":
            return self.callback_book.timer_live(key, token)
        if kind == "watchdog":
            return timer[0] == self._watchdog_at and self._watchdog_s > 0
        if kind == "service_open":
            return timer[0] == self._opening_at and self.overflow.mode is ON
        return self.appointment_book.timer_live(key, token)  # appointment, remind, slot_end

    # ------------------------------------------------------------------ upkeep

    def _housekeep(self, now: float) -> None:
        if self._ewt_dirty and self.overflow.mode is AUTO:
            self.overflow_rules.watch(now)
        expiry = self._seen_expiry
        if expiry and expiry[0][0] <= now:
            seen, digests, reasons = self._seen, self._seen_digest, self._seen_ignored
            while expiry and expiry[0][0] <= now:
                event_id = expiry.popleft()[1]
                seen.pop(event_id, None)
                digests.pop(event_id, None)
                reasons.pop(event_id, None)
        book = self.appointment_book
        if book.forget_at and book.forget_at[0][0] <= now:
            kept.forget(book.forget_at, book.records, self.calls, book.slots.taken, book.open_at, now)
        ended, keep = self._ended, self._ended_retention
        while len(ended) > keep:
            call_id = ended.popleft()
            call = self.calls.get(call_id)
            if call is not None and call.status in (ENDED, CLOSED):
                del self.calls[call_id]
                if call.callback_id and (callback := self.callbacks.pop(call.callback_id, None)):
                    self.callback_book.forget(callback)

    @property
    def queries(self) -> Queries:
        """The read models every reader outside the engine uses (acd/engine/queries.py)."""
        return Queries(self)

    #: event type -> its handler and its check (filled from EVENT_TYPES below): the dispatch of
    #: `apply` and `validate`, one dictionary look-up per event.
    _handlers: ClassVar[dict[str, Handler]] = {}
    _checks: ClassVar[dict[str, Check | None]] = {}


def _on(part: str, method: str) -> Callable[..., Any]:
    """A part's handler or check as the registry calls it: (engine, event, ...)."""

    def call(engine: Engine, *args: Any) -> Any:
        return getattr(getattr(engine, part), method)(*args)

    call.__name__ = call.__qualname__ = f"{part}.{method}"
    return call


def _part_event(part: str, name: str) -> EventType:
    """An event a part checks and applies itself: its `check_<name>` and `on_<name>`."""
    return EventType(_on(part, f"check_{name}"), _on(part, f"on_{name}"))


class EventType(NamedTuple):
    """An event type the engine takes: how a batch checks it before anything changes (None: it
    names nothing that must exist), and how it is applied."""

    check: Check | None
    handle: Handler


#: Every event the engine takes, its check beside its handler.
EVENT_TYPES: dict[str, EventType] = {
    "call.offered": EventType(calls.check_offered, calls.on_offered),
    "call.answered": EventType(calls.check_call_and_agent, calls.on_answered),
    "call.unanswered": EventType(calls.check_call_and_agent, calls.on_unanswered),
    "call.ended": EventType(calls.check_call, calls.on_ended),
    "agent.state": EventType(calls.check_agent_state, calls.on_agent_state),
    "roster.agent": EventType(calls.check_roster_agent, calls.on_roster_agent),
    "survey.result": EventType(calls.check_call, calls.on_survey),
    "callback.accepted": EventType(_on("callback_book", "check_accepted"), calls.on_accepted),
    "callback.requested": _part_event("callback_book", "requested"),
    "callback.cancelled": _part_event("callback_book", "cancelled"),
    "callback.result": _part_event("callback_book", "result"),
    "appointment.booked": _part_event("appointment_book", "booked"),
    "appointment.cancelled": _part_event("appointment_book", "cancelled"),
    "appointment.rescheduled": _part_event("appointment_book", "rescheduled"),
    "appointment.result": _part_event("appointment_book", "result"),
    # a sync names calls and agents acd may not know: those are ignored, not refused
    "platform.sync": EventType(None, sync.on_sync),
    "overflow.mode": EventType(None, _on("overflow_rules", "on_mode")),
}
Engine._handlers.update({name: t.handle for name, t in EVENT_TYPES.items()})
Engine._checks.update({name: t.check for name, t in EVENT_TYPES.items()})
