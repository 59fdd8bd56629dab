"""The records sink: an engine observer that turns each ended contact into a call record (and
each survey score into an update of one), queued for the writer (acd/records/writer.py), which
stores them without ever holding up the engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from acd.engine.observer import Observer
from acd.engine.records import Agent, Appointment, Call, Callback
from acd.records.db import RecordsDB
from acd.records.model import Record
from acd.records.writer import RecordMetrics, RecordWriter

__all__ = ["FanOut", "RecordMetrics", "RecordSink"]

_END_OUTCOME = {"failed": "failed", "lost": "lost"}
#: An unanswered inbound call's outcome by its end's reason (else `abandoned`). `completed` and
#: `transferred` are the platform's word that the caller was talked to or put through while acd
#: never heard the answer (a `call.ended` for a call still ringing, its `call.answered` lost):
#: `lost`, neither answered (no time to count it by) nor abandoned (the caller did not hang up
#: waiting), as the wallboard and the metrics count it.
_INBOUND_END_OUTCOME = {**_END_OUTCOME, "completed": "lost", "transferred": "lost"}


class RecordSink(RecordWriter, Observer):
    """The writer's queue, fed by the engine's notifications (`Observer`)."""

    def __init__(
        self,
        db: RecordsDB,
        metrics: RecordMetrics,
        *,
        site_of: Callable[[str], str | None] = lambda agent_id: None,
        **writer: Any,
    ) -> None:
        super().__init__(db, metrics, **writer)
        self._site_of = site_of
        self._answered_site: dict[str, str] = {}
        # The dial of each callback and appointment acd dialled and that is still open (the
        # engine's call, by the contact's record key): its final record (`failed`, `no_show`)
        # tells that dial's story (priority, needs, queued_at, connected_at), not one of a contact
        # never dialled. Forgotten at a restart: such a final record then tells none.
        self._dials: dict[tuple[str, str], Call] = {}

    # ------------------------------------------------------------------ building records

    def _site(self, call: Call) -> str | None:
        """The site of the agent who answered `call`: as it was when they answered (heard live),
        else when acd rang them (the `connect` decision of the call's history: a call answered
        before a restart and ended after it, by an event or by the fit to a changed config/ that
        may have moved the agent), else the agent's site now (an agent acd had not rung)."""
        if call.agent_id is None:
            return None
        site = self._answered_site.pop(call.id, None)
        if site is None:
            site = _rung_site(call, call.agent_id)
        return site if site is not None else self._site_of(call.agent_id)

    def _base(self, call: Call, **kw: Any) -> Record:
        """The call's record as an answered inbound call, then `kw`'s fields over it. Built by
        position, then the few fields each hook changes set on it: a dict of every field
        unpacked into the constructor took three times as long, on every contact."""
        record = Record(
            call.id,  # call_id
            "call",  # kind
            call.skill,
            call.department,
            None,  # site
            call.agent_id,
            call.priority,
            ",".join(call.needs),
            call.offered_at,
            call.enqueued_at or None,  # queued_at
            call.connected_at,
            call.answered_at,
            call.ended_at,
            None,  # wait_s
            "answered",  # outcome
            call.end_reason,
            call.callback_id,
            None,  # appointment_id
            None,  # origin_call_id
            call.service_id,  # overflow_service
            call.survey_score,
        )
        for name, value in kw.items():
            setattr(record, name, value)
        return record

    # ------------------------------------------------------------------ Observer hooks

    def call_answered(self, call: Call, agent: Agent, wait_s: float) -> None:
        self._answered_site[call.id] = agent.site

    def call_answered_late(self, call: Call) -> None:
        """The call's record, written unanswered at its end, is written again answered (an upsert
        of the same call id)."""
        self.call_ended(call, call.end_reason or "completed", None)

    def decision(self, call: Call, action: str, now: float) -> None:
        if action == "originate":
            self._dials[_contact_key(call)] = call
        elif action == "closed":
            self._answered_site.pop(call.id, None)
            self._record(
                self._base(call, outcome="closed", ended_at=call.offered_at, wait_s=0.0, queued_at=None)
            )

    def call_overflowed(self, call: Call, service_id: str, department: str) -> None:
        at = call.history[-1][0] if call.history else call.offered_at
        self._record(
            self._base(call, outcome="overflowed", wait_s=max(0.0, at - call.offered_at), agent_id=None)
        )

    def callback_accepted(self, call: Call, callback: Callback, now: float) -> None:
        """The waiting caller accepted a callback: the call's record ends here (outcome `callback`);
        the callback gets its own record when it ends."""
        self._record(self._accepted_callback(call, callback.created_at, call.enqueued_at or None, None))

    def _accepted_callback(self, call: Call, at: float, queued_at: float | None, site: str | None) -> Record:
        """The record of a call whose caller accepted a callback at `at`; `site`: the site of the
        agent who answered that callback (the call counts there, docs/records.md), once it has."""
        return self._base(
            call,
            site=site,
            outcome="callback",
            queued_at=queued_at,
            ended_at=at,
            wait_s=max(0.0, at - call.offered_at),
            agent_id=None,
            connected_at=None,
            answered_at=None,
            end_reason="callback",
            survey_score=None,  # a score rates the callback's conversation: on its record
        )

    def call_ended(self, call: Call, reason: str, wait_s: float | None) -> None:
        answered = call.answered_at is not None
        if answered and (call.callback_id is not None or call.kind == "appointment"):
            self._dials.pop(_contact_key(call), None)
        site = self._site(call) if answered else None
        if call.callback_id is not None:  # a callback's conversation (virtual hold or requested)
            self._record(
                self._base(
                    call,
                    call_id=call.callback_id,
                    kind="callback",
                    site=site,
                    outcome="answered" if answered else _END_OUTCOME.get(reason, "failed"),
                    origin_call_id=call.id if call.kind == "inbound" else None,
                    offered_at=_callback_start(call),
                    wait_s=None,
                    survey_score=None,
                )
            )
            if answered and call.kind == "inbound":
                # The call it came from was answered through it, by an agent of `site`: the call's
                # record, written when its caller accepted, takes that site (`GET /v1/records?site=`
                # and the indicators by site count it there alike). Its line as it was then: the
                # offer's `queued_at` (a later dial joins the line again).
                queued_at = call.history[0][0] if call.history else call.enqueued_at or None
                self._record(self._accepted_callback(call, _callback_start(call), queued_at, site))
            return
        if call.kind == "appointment":
            self._record(
                self._base(
                    call,
                    kind="appointment",
                    appointment_id=call.id,
                    site=site,
                    outcome="answered" if answered else _END_OUTCOME.get(reason, "failed"),
                )
            )
            return
        if answered:
            outcome, waited = "answered", max(0.0, (call.answered_at or 0.0) - call.offered_at)
        elif call.service_id is not None:
            outcome = "overflowed"
            waited = None
            for at, entry in call.history:
                if entry.get("action") == "overflow":
                    waited = max(0.0, at - call.offered_at)
        else:
            outcome = _INBOUND_END_OUTCOME.get(reason, "abandoned")
            waited = wait_s if wait_s is not None else max(0.0, (call.ended_at or 0.0) - call.offered_at)
        self._record(
            self._base(
                call, site=site, outcome=outcome, wait_s=waited, agent_id=call.agent_id if answered else None
            )
        )

    def _final(self, record: Record) -> Record:
        """A callback's or an appointment's final record (`failed`, `cancelled`, `no_show`),
        with its last dial's story when acd dialled it (docs/records.md)."""
        dial = self._dials.pop((record.call_id, record.kind), None)
        if dial is not None:
            record.priority, record.needs = dial.priority, ",".join(dial.needs)
            record.queued_at, record.connected_at = dial.enqueued_at or None, dial.connected_at
        return record

    def callback(self, callback: Callback, status: str, now: float) -> None:
        if status not in ("failed", "cancelled"):
            return
        self._unanswered(
            (callback.id, "callback"),
            callback.skill,
            callback.department,
            None,
            callback.created_at,
            status,
            now,
            callback_id=callback.id,
            # the call whose caller accepted it (virtual hold or a callback window); a callback
            # requested through the API is its own call
            origin_call_id=None if callback.call_id == callback.id else callback.call_id,
        )

    def appointment(self, appointment: Appointment, status: str, now: float) -> None:
        if status not in ("no_show", "cancelled"):
            return
        self._unanswered(
            (appointment.id, "appointment"),
            appointment.skill,
            appointment.department,
            appointment.site,
            appointment.start,
            status,
            now,
            appointment_id=appointment.id,
        )

    def _unanswered(
        self,
        key: tuple[str, str],
        skill: str,
        department: str | None,
        site: str | None,
        offered_at: float,
        status: str,
        now: float,
        **ids: Any,
    ) -> None:
        """The final record of a callback or an appointment no agent talked on (`status`), with
        its last dial's story when acd dialled it (`_final`)."""
        record = Record(
            call_id=key[0],
            kind=key[1],
            skill=skill,
            department=department,
            site=site,
            agent_id=None,
            priority=0,
            needs="",
            offered_at=offered_at,
            queued_at=None,
            connected_at=None,
            answered_at=None,
            ended_at=now,
            wait_s=None,
            outcome=status,
            end_reason=status,
            **ids,
        )
        self._record(self._final(record))

    def survey(self, call: Call, score: int) -> None:
        """The score goes on the record of the conversation it rates (a virtual-hold caller's
        callback, or the call itself), that contact's (its offer's instant: not another caller's
        whose call had the same id); a later score for the same record is ignored."""
        if call.callback_id is not None:
            key, at = (call.callback_id, "callback"), _callback_start(call)
        elif call.kind == "appointment":
            key, at = (call.id, "appointment"), call.offered_at
        else:
            key, at = (call.id, "call" if call.kind == "inbound" else call.kind), call.offered_at
        self._put(("survey", (key[0], key[1], int(score), at)))


def _rung_site(call: Call, agent_id: str) -> str | None:
    """The site of `agent_id` when acd last rang it for `call` (its `connect` decision, or the
    `originate` of a callback's or an appointment's dial), if it did."""
    for _, entry in reversed(call.history):
        if entry.get("action") in ("connect", "originate") and entry.get("agent_id") == agent_id:
            site = entry.get("site")
            return site if isinstance(site, str) else None
    return None


def _contact_key(call: Call) -> tuple[str, str]:
    """The record key of the callback or appointment whose dial `call` is."""
    return (call.callback_id, "callback") if call.callback_id is not None else (call.id, "appointment")


def _callback_start(call: Call) -> float:
    """When a callback began: its request, or the caller's acceptance (virtual hold), as the
    platform dated it (the event's `ts`, as the callback's own `created_at`); for a call of an
    earlier release's state, which has no `callback_at`, when acd heard of it."""
    if call.callback_at is not None:
        return call.callback_at
    if call.kind == "inbound":
        for at, entry in call.history:
            if entry.get("action") == "callback":
                return at
    return call.offered_at


class FanOut(Observer):
    """Several observers as one (metrics and the records sink)."""

    def __init__(self, *observers: Observer) -> None:
        self.observers = observers
        # every hook the engine reports through (a hook added to Observer is fanned out too)
        for name in [n for n, v in vars(Observer).items() if not n.startswith("_") and callable(v)]:
            methods = [
                getattr(o, name) for o in observers if getattr(type(o), name) is not getattr(Observer, name)
            ]
            setattr(self, name, _fan(methods))


def _fan(methods: list[Callable[..., None]]) -> Callable[..., None]:
    if not methods:
        return lambda *args: None
    if len(methods) == 1:
        return methods[0]

    def call(*args: Any) -> None:
        for m in methods:
            m(*args)

    return call
