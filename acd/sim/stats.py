"""The simulator's statistics: an engine Observer, so every figure is the engine's own account
(the wait the engine measured, the outcome it recorded), never the simulator's guess.

A call is measured when it is among the calls offered after the warm-up. Its outcome is counted
once, when it is settled: answered (directly, through a callback, or through the appointment its
caller booked: a scheduled callback, answered when an agent's dial of it is), abandoned,
overflowed to a local service, refused as closed, or ended otherwise (an appointment not kept, a
callback failed).
Its wait runs from the offer to its answer or end (through a callback: to the callback's
conversation); its time on hold, until the caller left the line (answered, gone, overflowed, or
when it accepted a callback or booked an appointment).
A call refused as closed is counted apart (`closed`), not in `offered`: the shares are over the
calls offered while the line was open, as the contract's indicators count the answer rate.
Counts are kept per skill and, overall, per batch of consecutive measured calls, for the
confidence intervals (batch means).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

from acd.engine.observer import Observer
from acd.engine.records import Agent, Appointment, Call, Callback

# Fields of a row of counts.
(
    OFFERED,
    ANSWERED,
    ABANDONED,
    WAITED,
    WAIT_SUM,
    ANSWERED_WAIT_SUM,
    WITHIN_SL,
    OVERFLOWED,
    CLOSED,
    OTHER,
    CALLBACK_ANSWERED,
    APPOINTMENT_ANSWERED,
    HOLD_SUM,
    DIRECT_WAIT_SUM,
    CALLBACK_WAIT_SUM,
) = range(15)
N_FIELDS = 15


class Stats(Observer):
    def __init__(
        self,
        skills: list[str],
        warmup: int,
        service_level_s: float,
        batch_of: Callable[[int, float], int],
        batches: int,
    ) -> None:
        self.skills = skills
        self.skill_index = {s: i for i, s in enumerate(skills)}
        self.warmup = warmup
        self.sl_s = service_level_s
        self.batch_of = batch_of
        self.rows = [[0.0] * N_FIELDS for _ in skills]
        self.batch_rows = [[0.0] * N_FIELDS for _ in range(batches)]
        self.offered_total = 0  # every inbound call, warm-up included
        self._tag: dict[str, tuple[list[float], list[float]]] = {}  # measured calls not settled yet
        self.callbacks: Counter[str] = Counter()
        self.appointments: Counter[str] = Counter()
        self.on_callback_over: Callable[[Callback], None] | None = None
        #: calls whose caller booked an appointment, by the appointment: their rows and wait
        self._booked: dict[str, tuple[tuple[list[float], list[float]], float]] = {}
        self.handle_sum = 0.0
        self.handled = 0
        self.unresolved: int | None = None  # once settled at the end of the run
        #: the unresolved calls by what they waited for: on the line, their callback, their appointment
        self.unresolved_by: dict[str, int] = {"line": 0, "callback": 0, "appointment": 0}
        #: When a call was offered, by id (the engine's record; None: unknown).
        self.offered_at: Callable[[str], float | None] | None = None
        #: measured calls whose caller accepted a callback and hung up: how long they held the line
        self._held: dict[str, float] = {}

    # -- engine hooks

    def call_offered(self, call: Call, now: float) -> None:
        n = self.offered_total
        self.offered_total = n + 1
        if n < self.warmup:
            return
        row = self.rows[self.skill_index[call.skill]]
        batch = self.batch_rows[self.batch_of(n - self.warmup, now)]
        row[OFFERED] += 1
        batch[OFFERED] += 1
        self._tag[call.id] = (row, batch)

    def decision(self, call: Call, action: str, now: float) -> None:
        if action in ("connect", "queue", "originate"):
            return
        rows = self._tag.pop(call.id, None)
        if rows is None:
            return
        if action == "closed":  # counted apart: `offered` is the calls offered while open
            for r in rows:
                r[OFFERED] -= 1
                r[CLOSED] += 1
            return
        wait = max(0.0, now - call.offered_at)
        field = OVERFLOWED if action == "overflow" else OTHER
        hold = self._held.pop(call.id, wait)
        for r in rows:
            r[field] += 1
            r[WAIT_SUM] += wait
            r[HOLD_SUM] += hold
            if wait > 0:
                r[WAITED] += 1

    def call_answered(self, call: Call, agent: Agent, wait_s: float) -> None:
        rows = self._tag.pop(call.id, None)
        if rows is None:
            return
        within = wait_s <= self.sl_s
        through_callback = call.callback_id is not None
        hold = self._held.pop(call.id, wait_s)
        for r in rows:
            r[ANSWERED] += 1
            r[WAIT_SUM] += wait_s
            r[ANSWERED_WAIT_SUM] += wait_s
            r[HOLD_SUM] += hold
            if wait_s > 0:
                r[WAITED] += 1
            if within:
                r[WITHIN_SL] += 1
            if through_callback:
                r[CALLBACK_ANSWERED] += 1
                r[CALLBACK_WAIT_SUM] += wait_s
            else:
                r[DIRECT_WAIT_SUM] += wait_s

    def call_ended(self, call: Call, reason: str, wait_s: float | None) -> None:
        rows = self._tag.pop(call.id, None)
        if rows is None:
            return
        wait = wait_s or 0.0
        field = ABANDONED if reason == "abandoned" else OTHER
        hold = self._held.pop(call.id, wait)
        for r in rows:
            r[field] += 1
            r[WAIT_SUM] += wait
            r[HOLD_SUM] += hold
            if wait > 0:
                r[WAITED] += 1

    def callback(self, callback: Callback, status: str, now: float) -> None:
        self.callbacks[status] += 1
        if status in ("failed", "cancelled"):
            rows = self._tag.pop(callback.call_id, None)
            if rows is not None:
                # the caller waited from the offer until the callback was given up, as one
                # answered through its callback waited until the answer
                offered_at = self.offered_at(callback.call_id) if self.offered_at is not None else None
                wait = max(0.0, now - offered_at) if offered_at is not None else 0.0
                hold = self._held.pop(callback.call_id, wait)
                for r in rows:
                    r[OTHER] += 1
                    r[WAITED] += 1
                    r[WAIT_SUM] += wait
                    r[HOLD_SUM] += hold
            if self.on_callback_over is not None:
                self.on_callback_over(callback)

    def callback_accepted(self, call: Call, callback: Callback, now: float) -> None:
        """The caller hung up to be called back: the line was held until now (the callback's
        delay is a wait, not time on hold)."""
        if call.id in self._tag:
            self._held[call.id] = max(0.0, now - call.offered_at)

    def booked(self, call_id: str, appointment_id: str, now: float) -> None:
        """The caller of `call_id` booked `appointment_id` and hung up (the platform's word: the
        engine does not link the two): the call waited until then, and is settled with its
        appointment, answered when an agent's dial of it is."""
        rows = self._tag.pop(call_id, None)
        if rows is not None:
            self._booked[appointment_id] = (rows, self._waited(call_id, rows, now))

    def appointment(self, appointment: Appointment, status: str, now: float) -> None:
        self.appointments[status] += 1
        if status not in ("done", "no_show", "cancelled"):
            return
        booked = self._booked.pop(appointment.id, None)
        if booked is None:
            return
        rows, wait = booked
        for r in rows:
            if status == "done":  # answered at its time: not within the service level
                r[ANSWERED] += 1
                r[APPOINTMENT_ANSWERED] += 1
                r[ANSWERED_WAIT_SUM] += wait
            else:
                r[OTHER] += 1

    def handle_time(self, skill: str, seconds: float) -> None:
        self.handle_sum += seconds
        self.handled += 1

    # -- results

    def settle_unresolved(self, end: float) -> None:
        """The run stops at `end` with these measured calls still unresolved (waiting in line or
        for their callback): each waited, at least until then (from when it was offered,
        `offered_at`). They stay `unresolved`, and count in `p_wait` and `mean_wait_s` as calls
        that waited that long (a lower bound of their wait)."""
        self.unresolved = len(self._tag) + len(self._booked)  # booked: their wait is counted
        callback = sum(1 for call_id in self._tag if call_id in self._held)  # accepted one, hung up
        self.unresolved_by = {
            "line": len(self._tag) - callback,
            "callback": callback,
            "appointment": len(self._booked),
        }
        self._booked.clear()
        for call_id, rows in self._tag.items():
            self._waited(call_id, rows, end)
        self._tag.clear()
        self._held.clear()

    def _waited(self, call_id: str, rows: tuple[list[float], list[float]], until: float) -> float:
        """Count in `rows` that the call waited from when it was offered until `until`; the wait."""
        offered_at = self.offered_at(call_id) if self.offered_at is not None else None
        wait = max(0.0, until - offered_at) if offered_at is not None else 0.0
        hold = self._held.pop(call_id, wait)
        for r in rows:
            r[WAIT_SUM] += wait
            r[HOLD_SUM] += hold
            if wait > 0:
                r[WAITED] += 1
        return wait

    @property
    def unsettled(self) -> int:
        return self.unresolved if self.unresolved is not None else len(self._tag)

    def totals(self) -> list[float]:
        return [sum(r[i] for r in self.rows) for i in range(N_FIELDS)]


def figures(row: list[float]) -> dict[str, float | int]:
    """The contract's figures from a row of counts (over all measured calls offered)."""
    offered = row[OFFERED]
    answered = row[ANSWERED]
    direct = answered - row[CALLBACK_ANSWERED] - row[APPOINTMENT_ANSWERED]

    def share(x: float) -> float:
        return x / offered if offered else math.nan

    def mean(total: float, n: float) -> float:
        return total / n if n else math.nan

    return {
        "offered": int(offered),
        "answered": int(answered),
        "abandoned": int(row[ABANDONED]),
        "overflowed": int(row[OVERFLOWED]),
        "closed": int(row[CLOSED]),
        "other": int(row[OTHER]),
        "p_wait": share(row[WAITED]),
        "p_abandon": share(row[ABANDONED]),
        "mean_wait_s": share(row[WAIT_SUM]),
        "asa_s": mean(row[ANSWERED_WAIT_SUM], answered),
        "mean_hold_s": share(row[HOLD_SUM]),
        "asa_direct_s": mean(row[DIRECT_WAIT_SUM], direct),
        "callback_wait_s": mean(row[CALLBACK_WAIT_SUM], row[CALLBACK_ANSWERED]),
        "service_level": share(row[WITHIN_SL]),
        "answer_rate": share(answered),
        "contact_rate": share(answered + row[OVERFLOWED]),
        "callbacks_answered": int(row[CALLBACK_ANSWERED]),
        "appointments_answered": int(row[APPOINTMENT_ANSWERED]),
    }


#: Two-sided 97.5 % quantiles of Student's t by degrees of freedom (then 1.96 + 2.5/df).
_T975 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    12: 2.179,
    15: 2.131,
    19: 2.093,
    20: 2.086,
    24: 2.064,
    29: 2.045,
    30: 2.042,
    39: 2.023,
    49: 2.010,
}


def t975(df: int) -> float:
    if df in _T975:
        return _T975[df]
    smaller = [k for k in _T975 if k <= df]
    return _T975[max(smaller)] if df < 50 else 1.96 + 2.5 / df


CI_METRICS = ("p_wait", "p_abandon", "mean_wait_s", "asa_s", "mean_hold_s", "service_level", "answer_rate")


def batch_intervals(batch_rows: list[list[float]]) -> dict[str, dict[str, float]]:
    """Per metric: batch-means standard error and 95 % half-width over the non-empty batches."""
    per_batch = [figures(r) for r in batch_rows if r[OFFERED] > 0]
    out: dict[str, dict[str, float]] = {}
    k = len(per_batch)
    if k < 2:
        return out
    for metric in CI_METRICS:
        values = [float(f[metric]) for f in per_batch if not math.isnan(float(f[metric]))]
        if len(values) < 2:
            continue
        mean = sum(values) / len(values)
        var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
        se = math.sqrt(var / len(values))
        out[metric] = {"se": se, "ci95": t975(len(values) - 1) * se, "batches": len(values)}
    return out
