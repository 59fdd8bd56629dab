"""What the engine reports as it works. Metrics and the simulator's statistics listen; they never
steer the engine. Every method is a no-op here, so a listener overrides only what it needs."""

from __future__ import annotations

from acd.engine.records import Agent, Appointment, Call, Callback


class Observer:
    def call_offered(self, call: Call, now: float) -> None: ...

    def decision(self, call: Call, action: str, now: float) -> None: ...

    def call_answered(self, call: Call, agent: Agent, wait_s: float) -> None: ...

    def call_ended(self, call: Call, reason: str, wait_s: float | None) -> None:
        """`wait_s` is the time waited in line for a call that never reached an agent."""

    def call_answered_late(self, call: Call) -> None:
        """A call that ended unanswered turned out answered (its `call.answered`, stamped before
        the end, came after it): `call_answered` has just been reported; its record changes."""

    def call_overflowed(self, call: Call, service_id: str, department: str) -> None: ...

    def callback(self, callback: Callback, status: str, now: float) -> None:
        """scheduled, dialing, retry, done, failed, cancelled."""

    def callback_accepted(self, call: Call, callback: Callback, now: float) -> None:
        """A waiting caller accepted a callback (virtual hold): the call leaves the line."""

    def callback_dialled(self, callback: Callback, delay_s: float) -> None:
        """First dial of a callback, `delay_s` after it was requested or accepted."""

    def appointment(self, appointment: Appointment, status: str, now: float) -> None:
        """booked, rescheduled, cancelled, dialing, done, no_show."""

    def survey(self, call: Call, score: int) -> None: ...

    def handle_time(self, skill: str, seconds: float) -> None: ...

    def watchdog(self, kind: str, key: str, now: float) -> None:
        """The watchdog flagged something new: `answered_too_long`, `ringing_too_long` or
        `waiting_too_long` (a call id), or `busy_without_call` (an agent id)."""


NULL_OBSERVER = Observer()
