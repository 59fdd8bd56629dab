"""The callbacks' checks: pure, before anything changes (a batch is validated whole before any
event in it is applied). Each takes the callbacks' part (acd/engine/callbacks.py), the event and
the batch (acd/engine/validation.py), and fails the batch with the field at fault. (`book` is
the part itself, typed `Any`: this module is imported by it, never the other way round.)"""

from __future__ import annotations

from typing import Any

from acd.engine.records import Callback
from acd.engine.validation import Batch
from acd.engine.windows import check_window
from acd.events import CallbackAccepted, CallbackCancelled, CallbackRequested, CallbackResult
from acd.model import CallbackStatus
from acd.phone import diallable, refusal


def accepted(book: Any, e: CallbackAccepted, batch: Batch) -> None:
    """With a window: one offered now with room (counting the batch's own bookings). A number to
    call back: the one the caller gave (`number`), or their caller id's (a withheld one is none)."""
    if e.window_start is not None:
        check_window(book, e, batch)
    batch.known_call(e.call_id, book.line.calls)
    call = book.line.calls.get(e.call_id)
    caller = call.caller if call is not None else batch.offered.get(e.call_id)
    if e.number is None and not diallable(caller):
        why = refusal(caller) if caller is not None else None  # a number acd must not dial
        batch.fail(
            422,
            "no_number",
            f"the caller id of call {e.call_id!r} is no number to call back "
            f"({why[1] if why else f'{caller!r}: withheld'}); give the number the caller chose (`number`)",
            "number",
        )


def requested(book: Any, e: CallbackRequested, batch: Batch) -> None:
    batch.known("skill", e.skill, book.line.skill_index, "skill")
    if e.callback_id in book.records or e.callback_id in book.line.calls or e.callback_id in batch.new_ids:
        batch.fail(409, "callback_exists", f"callback {e.callback_id!r} exists already", "callback_id")
    open_id = book.open_id(e.number, e.skill) or batch.asked.get((e.number, e.skill))
    if open_id is not None:  # asked again (a form sent twice): never two agents ringing
        what = f"{e.number} has a callback for {e.skill} still open: {open_id!r}"
        batch.fail(409, "callback_open", what, "number", callback_id=open_id)
    if e.not_before is not None:
        horizon(book, e, batch)
    batch.new_ids.add(e.callback_id)
    batch.asked[(e.number, e.skill)] = e.callback_id


def horizon(book: Any, e: CallbackRequested, batch: Batch) -> None:
    """`not_before`, and the first instant the callback may be dialled after it, within the
    booking horizon (`max_days_ahead`): no due date past it, never one the calendar cannot
    reason about. Days are the line's calendar days (the same hour `days` later, clocks changed
    between or not)."""
    days = book.settings.max_days_ahead
    latest = book.calendar.hours.days_after(batch.now, days)
    wanted = max(batch.now, e.not_before.timestamp())  # type: ignore[union-attr]  # set: caller
    due = None if wanted > latest else book.dial_time(wanted, e)
    if due is None or due > latest:
        iso = book.calendar.hours.isoformat
        what = "not_before" if due is None else f"the first dial after not_before, {iso(due)},"
        batch.fail(
            422,
            "beyond_horizon",
            f"{what} is more than {days} days ahead (the booking horizon, callbacks.max_days_ahead;"
            f" the latest is {iso(latest)})",
            "not_before",
        )


def known(book: Any, e: Any, batch: Batch) -> Callback:
    callback = book.records.get(e.callback_id)
    if callback is None:
        batch.fail(422, "unknown_callback", f"unknown callback {e.callback_id!r}", "callback_id")
    return callback


def cancelled(book: Any, e: CallbackCancelled, batch: Batch) -> None:
    callback = known(book, e, batch)
    if callback.status is not CallbackStatus.SCHEDULED:
        batch.fail(
            409,
            "callback_not_cancellable",
            f"callback {e.callback_id!r} is {callback.status}: only a scheduled one can be cancelled",
            "callback_id",
        )


def result(book: Any, e: CallbackResult, batch: Batch) -> None:
    book.outbound.check_originate_id(book, known(book, e, batch), e, batch)
