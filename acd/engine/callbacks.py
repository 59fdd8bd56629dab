"""Automatic callbacks: virtual hold and requested callbacks.

- Virtual hold: a queued caller offered a callback who accepts (`callback.accepted`) leaves the
  line and keeps its place; when its turn comes an eligible agent is reserved and an `originate`
  command is sent. Its first dial happens in its original place.
- Requested (`POST /v1/callbacks`): due at `not_before` (or now), moved to the next opening when
  that falls outside hours; when due it joins the line in order of due time, within a fair share
  of the skill's agents (`max_share`), so neither live calls nor callbacks starve; past the share
  only while an agent who could take it is idle (the share never keeps an agent idle).
- Outcomes: `answered` -> done (the agent talks; `call.ended` on the callback's call id ends it);
  `no_answer` / `busy` / `failed` -> the agent is released and the callback retried after the
  configured delay, up to `max_attempts`, then `failed`. Dialled only in opening hours and the
  caller's daytime (acd/engine/caller_hours.py). A `call.unanswered` from the reserved agent is
  its ring-out, not the caller's no answer: no attempt, back in its place in line at once.

Each dial borrows the call machinery: the callback's `Call` (the caller's own call for virtual
hold, or one with the callback's id) waits in the line, is connected, answered and ended.
"""

from __future__ import annotations

import heapq
from typing import Any, ClassVar

from acd.engine import callback_checks as checks
from acd.engine.agents import Ignored
from acd.engine.caller_hours import CallerHours, arm_stop, caller_zone
from acd.engine.line import Line
from acd.engine.outbound import Outbound
from acd.engine.records import Agent, Call, Callback
from acd.engine.validation import Batch
from acd.engine.windows import Bookings, book_window, offered, release
from acd.events import CallbackAccepted, CallbackCancelled, CallbackRequested, CallbackResult
from acd.model import CallbackDecision, CallbackStatus, CallKind, CallStatus, Command
from acd.phone import diallable

SCHEDULED, DIALING, DONE, FAILED, CANCELLED = (
    CallbackStatus.SCHEDULED,
    CallbackStatus.DIALING,
    CallbackStatus.DONE,
    CallbackStatus.FAILED,
    CallbackStatus.CANCELLED,
)


class Callbacks:
    """The callbacks' part: their records and rules, over the line and the outbound machine."""

    key = "callback_id"
    waiting_status = SCHEDULED
    dialing_status = DIALING
    done_status = DONE
    answered_entry: ClassVar[dict[str, Any]] = {"leg": "callback"}

    def __init__(self, line: Line, outbound: Outbound) -> None:
        self.line = line
        self.outbound = outbound
        self.settings = line.config.callbacks
        self.calendar = line.calendar
        self.caller_hours = CallerHours(*self.settings.caller_hours, line.calendar)
        self.records: dict[str, Callback] = {}
        self.pending: dict[str, list[tuple[float, int, str]]] = {}  # skill -> heap of due callbacks
        self.active: dict[str, int] = {}  # skill -> requested callbacks admitted to the line
        self.admitted: set[str] = set()
        self.window_booked = Bookings()  # (local date, window) -> callbacks
        self.open_of: dict[tuple[str, str], str] = {}  # (number, skill) -> its open callback (made)

    # -- callback windows

    def windows(self, now: float, limit: int = 2, call: Call | None = None) -> list[dict[str, Any]]:
        """The next `limit` windows with room (acd/engine/windows.py); a call's: wholly in its daytime
        (one ending after the caller's evening was dialled the next morning, not when promised)."""
        zone = None if call is None else caller_zone(call.department, call.caller)
        found = offered(self.settings, self.calendar, self.window_booked, now, limit * (8 if zone else 1))
        if zone is None:
            return found[:limit]
        daytime = self.caller_hours.daytime
        return [w for w in found if daytime(w["_key"][2], zone) and daytime(w["_key"][3] - 1.0, zone)][:limit]

    def window_at(self, start: float, now: float, call: Call) -> dict[str, Any] | None:
        """The window offered to the call starting at `start`, if it is one with room."""
        offered = self.windows(now, len(self.settings.windows) * 8, call)
        return next((window for window in offered if window["_key"][2] == start), None)

    # -- events

    def on_accepted(
        self, e: CallbackAccepted, t: float, now: float, commands: list[Command]
    ) -> CallbackDecision | Ignored:
        call = self.line.calls[e.call_id]
        if call.status in (CallStatus.ENDED, CallStatus.CLOSED, CallStatus.OVERFLOWED):
            return Ignored("call_ended")
        if call.callback_id is not None:
            return Ignored("callback_exists")
        if call.kind is not CallKind.INBOUND:
            return Ignored("not_a_caller")  # an appointment's call in line: nobody on the line
        if call.status is not CallStatus.QUEUED or not call.waiting:
            return Ignored("not_waiting")  # already with an agent: nothing to hold
        number = e.number or call.caller
        if not diallable(number):
            return Ignored("no_number")  # (refused by its check: a replay of an older log)
        if e.window_start is not None:
            return book_window(self, call, e.window_start.timestamp(), t, now, number)
        callback = self.hold(call, t, due=now, requested=False, number=number)
        decision = CallbackDecision(callback.id, call_id=call.id)
        self.line._record(call, now, decision.to_wire())
        self.note(callback, now, "scheduled", why="virtual_hold")
        self.line.observer.callback_accepted(call, callback, now)
        self.line.observer.callback(callback, "scheduled", now)
        arm_stop(self.line, self.caller_hours, callback, now, leave=True)  # the caller's night: out
        return decision

    def hold(self, call: Call, t: float, *, due: float, requested: bool, number: str) -> Callback:
        """The waiting caller's callback, to `number` (the caller id's, or the one the caller
        gave): out of the line's rules (no max-wait action any more)."""
        callback = Callback(
            id=f"cb-{call.id}",
            number=number,
            skill=call.skill,
            status=SCHEDULED,
            created_at=t,
            due_at=due,
            call_id=call.id,
            department=call.department,
            requested=requested,
        )
        self.records[callback.id] = callback
        self.open_of[(callback.number, callback.skill)] = callback.id
        call.callback_id, call.callback_at = callback.id, t  # accepted then, as the platform dated it
        call.status = CallStatus.CALLBACK
        call.stranded = True
        return callback

    def on_requested(
        self, e: CallbackRequested, t: float, now: float, commands: list[Command]
    ) -> CallbackDecision:
        wanted = max(now, e.not_before.timestamp()) if e.not_before is not None else now
        due = self.dial_time(wanted, e)
        call = Call(
            id=e.callback_id,
            caller=e.number,
            skill=e.skill,
            priority=self.settings.priority,
            offered_at=t,
            seq=0,
            department=e.department,
            kind=CallKind.CALLBACK,
            status=CallStatus.CALLBACK,
            callback_id=e.callback_id,
            stranded=True,
        )
        self.line.calls[call.id] = call
        callback = Callback(
            id=e.callback_id,
            number=e.number,
            skill=e.skill,
            status=SCHEDULED,
            created_at=t,
            due_at=due,
            call_id=call.id,
            department=e.department,
            requested=True,
        )
        self.records[callback.id] = callback
        self.open_of[(callback.number, callback.skill)] = callback.id
        self.note(callback, now, "scheduled", why="requested")
        self.line.observer.callback(callback, "scheduled", now)
        if due <= now:
            self.due(callback, now, commands)
        else:
            self.arm(callback)
        return CallbackDecision(callback.id, status=SCHEDULED, due_at=due)

    def open_id(self, number: str, skill: str) -> str | None:
        """The number's callback for the skill still to be dialled or being dialled, if any."""
        callback = self.records.get(self.open_of.get((number, skill), ""))
        return callback.id if callback is not None and callback.status in (SCHEDULED, DIALING) else None

    def forget(self, callback: Callback) -> None:
        """The callback leaves the engine (its call past the retention of ended calls)."""
        if self.open_of.get((callback.number, callback.skill)) == callback.id:
            del self.open_of[(callback.number, callback.skill)]

    def on_cancelled(
        self, e: CallbackCancelled, t: float, now: float, commands: list[Command]
    ) -> CallbackDecision:
        callback = self.records[e.callback_id]
        callback.status = CANCELLED
        callback.token += 1
        call = self.line.calls.get(callback.call_id)
        if call is not None:
            if call.waiting:
                self.line._dequeue(call)
            self.line._finish_call(call, t, now, "cancelled")
        self.note(callback, now, "cancelled")
        release(self, callback)  # a window's place, not yet used
        self.line.observer.callback(callback, "cancelled", now)
        self.leave_share(callback, now, commands)
        return CallbackDecision(callback.id, status=CANCELLED)

    def on_result(self, e: CallbackResult, t: float, now: float, commands: list[Command]) -> Ignored | None:
        return self.outbound.result(
            self, self.records[e.callback_id], e.outcome, t, now, commands, e.originate_id
        )

    # -- the outbound machine's questions (acd/engine/outbound.py)

    def contact_of(self, call: Call) -> Callback:
        return self.records[call.callback_id or ""]

    def call_id_of(self, callback: Callback) -> str:
        return callback.call_id

    def dialing(self, callback: Callback, now: float) -> None:
        if callback.first_dial_at is None:
            callback.first_dial_at = now
            self.line.observer.callback_dialled(callback, now - callback.created_at)
        self.line.observer.callback(callback, "dialing", now)

    def answered(
        self,
        callback: Callback,
        call: Call,
        agent: Agent | None,
        t: float,
        now: float,
        commands: list[Command],
    ) -> None:
        line = self.line
        if agent is not None and call.kind is CallKind.INBOUND:
            # the caller's own contact, answered at last
            line.observer.call_answered(call, agent, max(0.0, t - call.offered_at))
            line.today.add("answered", call.skill, now, call.offered_at)
        line.observer.callback(callback, "done", now)
        self.leave_share(callback, now, commands)

    def not_answered(
        self, callback: Callback, call: Call, t: float, now: float, commands: list[Command]
    ) -> None:
        """Dialled again after the configured delay, up to `max_attempts`, then failed."""
        settings = self.settings
        if callback.attempts >= settings.max_attempts:
            callback.status = FAILED
            self.line._finish_call(call, t, now, "failed")
            self.line.observer.callback(callback, "failed", now)
        else:
            delays = settings.retry_delays_s
            delay = delays[min(callback.attempts, len(delays)) - 1]
            callback.status = SCHEDULED
            callback.due_at = self.dial_time(now + delay, callback)
            call.status = CallStatus.CALLBACK
            self.arm(callback)
            self.note(callback, now, "scheduled", why="retry")
            self.line.observer.callback(callback, "retry", now)
        self.leave_share(callback, now, commands)

    # -- checks (pure, before anything changes): acd/engine/callback_checks.py

    def check_accepted(self, e: CallbackAccepted, batch: Batch) -> None:
        checks.accepted(self, e, batch)

    def check_requested(self, e: CallbackRequested, batch: Batch) -> None:
        checks.requested(self, e, batch)

    def check_cancelled(self, e: CallbackCancelled, batch: Batch) -> None:
        checks.cancelled(self, e, batch)

    def check_result(self, e: CallbackResult, batch: Batch) -> None:
        checks.result(self, e, batch)

    # -- timers and the line

    def arm(self, callback: Callback) -> None:
        self.outbound.arm(callback, callback.due_at, "callback")

    def timer_live(self, key: str, token: int) -> bool:
        return self.outbound.live(self.records.get(key), token, SCHEDULED)

    def due(self, callback: Callback, now: float, commands: list[Command]) -> None:
        if not self.caller_hours.may_dial_for(callback, now):
            self.wait_for_opening(callback, now)
            return
        call = self.line.calls[callback.call_id]
        if callback.requested:
            heapq.heappush(
                self.pending.setdefault(callback.skill, []),
                (callback.due_at, call.offered_at, callback.id),
            )
            self.admit(callback.skill, now, commands)
        else:
            self.enter_line(callback, call, now, commands)

    def admit(self, skill: str, now: float, commands: list[Command]) -> None:
        """Let due requested callbacks into the line while the skill's fair share allows, and past
        it while an agent who could take one is idle (work-conserving, as the contract asks of the
        shipped configuration: routing is, so no live caller that agent could take waits)."""
        heap = self.pending.get(skill)
        line = self.line
        while heap:
            index = line.skill_index[skill]
            # the line's count (kept as agents change state): the router's `staffed` would scan
            # every agent, and this runs for every skill with callbacks pending after each batch
            staffed = line.staffed_by_skill[index]
            limit = max(1, int(self.settings.max_share * staffed))
            if self.active.get(skill, 0) >= limit and line.router.pick_new(index, (), -1, 0.0, now) < 0:
                return
            _, _, callback_id = heapq.heappop(heap)
            callback = self.records.get(callback_id)
            if callback is None or callback.status is not SCHEDULED or callback.id in self.admitted:
                continue
            self.active[skill] = self.active.get(skill, 0) + 1
            self.admitted.add(callback.id)
            self.enter_line(callback, self.line.calls[callback.call_id], now, commands)

    def enter_line(self, callback: Callback, call: Call, now: float, commands: list[Command]) -> None:
        if call.waiting:
            return
        if not (call.kind is CallKind.INBOUND and callback.attempts == 0):
            # A virtual-hold caller's first dial keeps its place; any other dial joins the line now.
            self.line._seq += 1
            call.seq = self.line._seq
            call.enqueued_at = now
        call.status = CallStatus.CALLBACK
        self.line._enqueue(call)
        arm_stop(self.line, self.caller_hours, callback, now)
        self.line._try_route(call, now, commands)

    def leave_share(self, callback: Callback, now: float, commands: list[Command]) -> None:
        if callback.id in self.admitted:
            self.admitted.discard(callback.id)
            self.active[callback.skill] -= 1
            self.admit(callback.skill, now, commands)

    def admit_all(self, now: float, commands: list[Command]) -> None:
        for skill, heap in self.pending.items():
            if heap:
                self.admit(skill, now, commands)

    def defer(self, call: Call, now: float) -> None:
        """Picked while it may not be dialled (the line closed, or night for the caller): out of
        the line until the next instant it may be."""
        self.line._dequeue(call)
        callback = self.records[call.callback_id or ""]
        if callback.id in self.admitted:  # it re-enters through the share when due again
            self.admitted.discard(callback.id)
            self.active[callback.skill] -= 1
        self.wait_for_opening(callback, now)
        # the line's closing, or the caller's own day over while the line is open (an overseas
        # caller: acd/engine/caller_hours.py)
        why = "caller_hours" if self.line.calendar.is_open(now) else "closed"
        self.note(callback, now, "scheduled", why=why)

    def wait_for_opening(self, callback: Callback, now: float) -> None:
        """Due while closed: at the next opening; with none (closed for good) a day on, never now."""
        opening = self.caller_hours.next_dial_for(callback, now)
        callback.due_at = opening if opening is not None else callback.due_at
        self.outbound.arm(callback, opening if opening is not None else now + 86400.0, "callback")

    def dial_time(self, t: float, contact: Any) -> float:
        return self.caller_hours.next_dial_for(contact, t) or t  # None: no dial time in the horizon

    def note(self, callback: Callback, now: float, what: str, **extra: Any) -> None:
        callback.history.append((now, {"status": what, **extra}))
