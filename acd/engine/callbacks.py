"""Automatic callbacks: virtual hold and requested callbacks.

- Virtual hold: a queued caller offered a callback who accepts (`callback.accepted`) leaves the
  line and keeps its place; when its turn comes an eligible agent is reserved and an `originate`
  command is sent. Its first dial happens in its original place.
- Requested (`POST /v1/callbacks`): due at `not_before` (or now), moved to the next opening when
  that falls outside hours; when due it joins the line in order of due time, within a fair share
  of the skill's agents (`max_share`), so neither live calls nor callbacks starve.
- Outcomes: `answered` -> done (the agent talks; `call.ended` on the callback's call id ends it);
  `no_answer` / `busy` / `failed` -> the agent is released and the callback retried after the
  configured delay, up to `max_attempts`, then `failed`. Dialled only in opening hours.

Each dial borrows the call machinery: the callback's `Call` (the caller's own call for virtual
hold, or one with the callback's id) waits in the line, is connected, answered and ended.
"""

from __future__ import annotations

import heapq
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from acd.engine.agents import Ignored
from acd.engine.records import Call, Callback
from acd.engine.validation import Batch
from acd.events import CallbackAccepted, CallbackCancelled, CallbackRequested, CallbackResult
from acd.model import CallbackDecision, CallbackStatus, CallKind, CallStatus, Command

if TYPE_CHECKING:
    from acd.engine.core import Engine

    _Base = Engine
else:
    _Base = object

SCHEDULED, DIALING, DONE, FAILED, CANCELLED = (
    CallbackStatus.SCHEDULED,
    CallbackStatus.DIALING,
    CallbackStatus.DONE,
    CallbackStatus.FAILED,
    CallbackStatus.CANCELLED,
)


class CallbackMixin(_Base):
    def _init_callbacks(self) -> None:
        self.callbacks: dict[str, Callback] = {}
        self._cb_pending: dict[str, list[tuple[float, int, str]]] = {}  # skill -> heap of due callbacks
        self._cb_active: dict[str, int] = {}  # skill -> requested callbacks admitted to the line
        self._cb_admitted: set[str] = set()
        self._window_booked: dict[tuple[str, int], int] = {}  # (local date, window) -> callbacks

    # -- callback windows

    def callback_windows(self, now: float, limit: int = 2) -> list[dict[str, Any]]:
        """The next `limit` callback windows with room (config/callbacks.yaml `windows`): today's
        that start at least `window_lead_s` from now, then the next days', on days and at times
        the line is open. Each: `start`, `end` (RFC 3339), `remaining`."""
        settings = self.config.callbacks
        if not settings.windows:
            return []
        hours = self.calendar.hours
        day = hours.local_date(now)
        out: list[dict[str, Any]] = []
        for _ in range(8):  # a week ahead at most
            for index, window in enumerate(settings.windows):
                start, end = (
                    datetime.combine(day, time.fromisoformat(x), hours.zone).timestamp()
                    for x in (window.start, window.end)
                )
                if start < now + settings.window_lead_s or not self.calendar.is_open(start):
                    continue
                remaining = window.capacity - self._window_booked.get((day.isoformat(), index), 0)
                if remaining > 0:
                    out.append(
                        {
                            "start": hours.isoformat(start),
                            "end": hours.isoformat(end),
                            "remaining": remaining,
                            "_key": (day.isoformat(), index, start),
                        }
                    )
            if len(out) >= limit:
                break
            day += timedelta(days=1)
        out.sort(key=lambda w: w["_key"][2])
        return out[:limit]

    def _window_at(self, start: float, now: float) -> dict[str, Any] | None:
        """The offered window starting at `start`, if it is one with room."""
        for window in self.callback_windows(now, limit=len(self.config.callbacks.windows) * 8):
            if window["_key"][2] == start:
                return window
        return None

    # -- events

    def _on_callback_accepted(
        self, e: CallbackAccepted, t: float, now: float, commands: list[Command]
    ) -> CallbackDecision | Ignored:
        call = self.calls[e.call_id]
        if call.status in (CallStatus.ENDED, CallStatus.CLOSED, CallStatus.OVERFLOWED):
            return Ignored("call_ended")
        if call.callback_id is not None:
            return Ignored("callback_exists")
        if call.status is not CallStatus.QUEUED or not call.waiting:
            return Ignored("not_waiting")  # already with an agent: nothing to hold
        if e.window_start is not None:
            return self._book_window(call, e.window_start.timestamp(), t, now)
        callback = self._hold_callback(call, t, due=now, requested=False)
        decision = CallbackDecision(callback.id, call_id=call.id)
        self._record(call, now, decision.to_wire())
        self._cb_record(callback, now, "scheduled", why="virtual_hold")
        self.observer.callback_accepted(call, callback, now)
        self.observer.callback(callback, "scheduled", now)
        return decision

    def _hold_callback(self, call: Call, t: float, *, due: float, requested: bool) -> Callback:
        """The waiting caller's callback: the call leaves the line's rules (no max-wait action any
        more) and becomes the callback's."""
        callback = Callback(
            id=f"cb-{call.id}",
            number=call.caller,
            skill=call.skill,
            status=SCHEDULED,
            created_at=t,
            due_at=due,
            call_id=call.id,
            department=call.department,
            requested=requested,
        )
        self.callbacks[callback.id] = callback
        call.callback_id = callback.id
        call.status = CallStatus.CALLBACK
        call.stranded = True
        return callback

    def _book_window(self, call: Call, start: float, t: float, now: float) -> CallbackDecision:
        """The caller takes a callback window: it leaves the line, and its callback is due at the
        window's start, dialled then in the order of its first call's arrival."""
        window = self._window_at(start, now)
        assert window is not None  # validated
        day, index, _ = window["_key"]
        self._window_booked[(day, index)] = self._window_booked.get((day, index), 0) + 1
        self._dequeue(call)
        callback = self._hold_callback(call, t, due=start, requested=True)
        decision = CallbackDecision(
            callback.id,
            call_id=call.id,
            window={"start": window["start"], "end": window["end"]},
            due_at=window["start"],
        )
        self._record(call, now, decision.to_wire())
        self._cb_record(callback, now, "scheduled", why="window", window=window["start"])
        self.observer.callback(callback, "scheduled", now)
        self.observer.callback_accepted(call, callback, now)
        self._arm_callback(callback)
        return decision

    def _on_callback_requested(
        self, e: CallbackRequested, t: float, now: float, commands: list[Command]
    ) -> CallbackDecision:
        wanted = max(now, e.not_before.timestamp()) if e.not_before is not None else now
        due = self._dial_time(wanted)
        call = Call(
            id=e.callback_id,
            caller=e.number,
            skill=e.skill,
            priority=self.config.callbacks.priority,
            offered_at=t,
            seq=0,
            department=e.department,
            kind=CallKind.CALLBACK,
            status=CallStatus.CALLBACK,
            callback_id=e.callback_id,
            stranded=True,
        )
        self.calls[call.id] = call
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
        self.callbacks[callback.id] = callback
        self._cb_record(callback, now, "scheduled", why="requested")
        self.observer.callback(callback, "scheduled", now)
        if due <= now:
            self._callback_due(callback, now, commands)
        else:
            self._arm_callback(callback)
        return CallbackDecision(callback.id, status=SCHEDULED, due_at=due)

    def _on_callback_cancelled(
        self, e: CallbackCancelled, t: float, now: float, commands: list[Command]
    ) -> CallbackDecision:
        callback = self.callbacks[e.callback_id]
        callback.status = CANCELLED
        callback.token += 1
        call = self.calls.get(callback.call_id)
        if call is not None:
            if call.waiting:
                self._dequeue(call)
            self._finish_call(call, t, now, "cancelled")
        self._cb_record(callback, now, "cancelled")
        self.observer.callback(callback, "cancelled", now)
        self._cb_leave_share(callback, now, commands)
        return CallbackDecision(callback.id, status=CANCELLED)

    def _on_callback_result(self, e: CallbackResult, t: float, now: float, commands: list[Command]) -> None:
        callback = self.callbacks[e.callback_id]
        if callback.status is not DIALING:
            return Ignored("not_dialing")
        call = self.calls[callback.call_id]
        agent = self.agents.get(callback.agent_id) if callback.agent_id else None
        self._cb_record(callback, now, e.outcome)
        if e.outcome == "answered":
            callback.status = DONE
            self._outbound_answered(call, agent, t, now, leg="callback")
            if (
                agent is not None and call.kind is CallKind.INBOUND
            ):  # the caller's own contact, answered at last
                self.observer.call_answered(call, agent, max(0.0, t - call.offered_at))
                self.today.add("answered", call.skill, now)
            self.observer.callback(callback, "done", now)
            self._cb_leave_share(callback, now, commands)
            return None
        self._outbound_failed(call, agent, t, now, commands)
        callback.agent_id = None
        settings = self.config.callbacks
        if callback.attempts >= settings.max_attempts:
            callback.status = FAILED
            self._finish_call(call, t, now, "failed")
            self.observer.callback(callback, "failed", now)
        else:
            delays = settings.retry_delays_s
            delay = delays[min(callback.attempts, len(delays)) - 1]
            callback.status = SCHEDULED
            callback.due_at = self._dial_time(now + delay)
            call.status = CallStatus.CALLBACK
            self._arm_callback(callback)
            self._cb_record(callback, now, "scheduled", why="retry")
            self.observer.callback(callback, "retry", now)
        self._cb_leave_share(callback, now, commands)
        return None

    # -- checks (pure, before anything changes)

    def _check_callback_accepted(self, e: CallbackAccepted, batch: Batch) -> None:
        """With a window: one offered now with room (counting the batch's own bookings)."""
        if e.window_start is not None:
            self._check_window(e, batch)
        self._check_call(e, batch)

    def _check_window(self, e: CallbackAccepted, batch: Batch) -> None:
        call = self.calls.get(e.call_id)
        if call is None or call.status is not CallStatus.QUEUED or not call.waiting or call.callback_id:
            return  # unknown (said next), or no longer waiting: the handler says it is ignored
        assert e.window_start is not None
        start = e.window_start.timestamp()
        offered = self.callback_windows(batch.now, limit=len(self.config.callbacks.windows) * 8)
        window = next((w for w in offered if w["_key"][2] == start), None)
        if window is None:
            starts = [w["start"] for w in offered]
            batch.fail(
                422,
                "unknown_window",
                f"no callback window with room starts at {e.window_start.isoformat()}; "
                f"open windows: {', '.join(starts) or 'none'}",
                "window_start",
                valid=starts,
            )
        booked = batch.windows
        booked[start] = booked.get(start, 0) + 1
        if booked[start] > window["remaining"]:
            batch.fail(
                409, "window_full", f"the callback window at {window['start']} is full", "window_start"
            )

    def _check_callback_requested(self, e: CallbackRequested, batch: Batch) -> None:
        batch.known("skill", e.skill, self.skill_index, "skill")
        if e.callback_id in self.callbacks or e.callback_id in self.calls or e.callback_id in batch.new_ids:
            batch.fail(409, "callback_exists", f"callback {e.callback_id!r} exists already", "callback_id")
        batch.new_ids.add(e.callback_id)

    def _known_callback(self, e: Any, batch: Batch) -> Callback:
        callback = self.callbacks.get(e.callback_id)
        if callback is None:
            batch.fail(422, "unknown_callback", f"unknown callback {e.callback_id!r}", "callback_id")
        return callback

    def _check_callback_cancelled(self, e: CallbackCancelled, batch: Batch) -> None:
        callback = self._known_callback(e, batch)
        if callback.status is not SCHEDULED:
            batch.fail(
                409,
                "callback_not_cancellable",
                f"callback {e.callback_id!r} is {callback.status}: only a scheduled one can be cancelled",
                "callback_id",
            )

    def _check_callback_result(self, e: CallbackResult, batch: Batch) -> None:
        self._known_callback(e, batch)

    # -- timers and the line

    def _arm_callback(self, callback: Callback) -> None:
        callback.token += 1
        self.timers.set(callback.due_at, "callback", callback.id, callback.token)

    def _callback_timer_live(self, key: str, token: int) -> bool:
        callback = self.callbacks.get(key)
        return callback is not None and callback.token == token and callback.status is SCHEDULED

    def _callback_due(self, callback: Callback, now: float, commands: list[Command]) -> None:
        if not self.calendar.is_open(now):
            callback.due_at = self._dial_time(now)
            self._arm_callback(callback)
            return
        call = self.calls[callback.call_id]
        if callback.requested:
            heapq.heappush(
                self._cb_pending.setdefault(callback.skill, []),
                (callback.due_at, call.offered_at, callback.id),
            )
            self._cb_admit(callback.skill, now, commands)
        else:
            self._cb_enter_line(callback, call, now, commands)

    def _cb_admit(self, skill: str, now: float, commands: list[Command]) -> None:
        """Let due requested callbacks into the line while the skill's fair share allows."""
        heap = self._cb_pending.get(skill)
        while heap:
            staffed = self.router.staffed(self.skill_index[skill], ())
            limit = max(1, int(self.config.callbacks.max_share * staffed))
            if self._cb_active.get(skill, 0) >= limit:
                return
            _, _, callback_id = heapq.heappop(heap)
            callback = self.callbacks.get(callback_id)
            if callback is None or callback.status is not SCHEDULED or callback.id in self._cb_admitted:
                continue
            self._cb_active[skill] = self._cb_active.get(skill, 0) + 1
            self._cb_admitted.add(callback.id)
            self._cb_enter_line(callback, self.calls[callback.call_id], now, commands)

    def _cb_enter_line(self, callback: Callback, call: Call, now: float, commands: list[Command]) -> None:
        if call.waiting:
            return
        if not (call.kind is CallKind.INBOUND and callback.attempts == 0):
            # A virtual-hold caller's first dial keeps its place; any other dial joins the line now.
            self._seq += 1
            call.seq = self._seq
            call.enqueued_at = now
        call.status = CallStatus.CALLBACK
        self._enqueue(call)
        self._try_route(call, now, commands)

    def _cb_leave_share(self, callback: Callback, now: float, commands: list[Command]) -> None:
        if callback.id in self._cb_admitted:
            self._cb_admitted.discard(callback.id)
            self._cb_active[callback.skill] -= 1
            self._cb_admit(callback.skill, now, commands)

    def _cb_admit_all(self, now: float, commands: list[Command]) -> None:
        for skill, heap in self._cb_pending.items():
            if heap:
                self._cb_admit(skill, now, commands)

    def _defer_callback(self, call: Call, now: float) -> None:
        """Picked while the line is closed: out of the line until the next opening."""
        self._dequeue(call)
        callback = self.callbacks[call.callback_id or ""]
        callback.due_at = self._dial_time(now)
        if callback.id in self._cb_admitted:  # it re-enters through the share when due again
            self._cb_admitted.discard(callback.id)
            self._cb_active[callback.skill] -= 1
        self._arm_callback(callback)
        self._cb_record(callback, now, "scheduled", why="closed")

    def _dial_time(self, t: float) -> float:
        opening = self.calendar.next_opening(t)
        return opening if opening is not None else t

    def _cb_record(self, callback: Callback, now: float, what: str, **extra: Any) -> None:
        callback.history.append((now, {"status": what, **extra}))
