"""The sink builds a contact's record by position (acd/records/sink.py `RecordSink._base`, on
every contact): each of the call's fields lands in its own column, and a hook's overrides in
theirs. A field added to `Record` in the middle would shift every one after it; this says so."""

from __future__ import annotations

import dataclasses

from acd.engine.records import Call
from acd.records.sink import RecordSink


def _call() -> Call:
    call = Call("c1", "+33612345678", "impot_revenu", 3, 1000.0, 7, department="59", needs=("lsf", "x"))
    call.enqueued_at, call.agent_id, call.connected_at = 1001.0, "a1", 1002.0
    call.answered_at, call.ended_at, call.end_reason = 1003.0, 1004.0, "completed"
    call.callback_id, call.service_id, call.survey_score = "cb1", "sip-59", 4
    return call


def test_each_of_the_call_s_fields_lands_in_its_own_column():
    record = RecordSink._base(None, _call())  # type: ignore[arg-type]
    assert dataclasses.asdict(record) == {
        "call_id": "c1",
        "kind": "call",
        "skill": "impot_revenu",
        "department": "59",
        "site": None,
        "agent_id": "a1",
        "priority": 3,
        "needs": "lsf,x",
        "offered_at": 1000.0,
        "queued_at": 1001.0,
        "connected_at": 1002.0,
        "answered_at": 1003.0,
        "ended_at": 1004.0,
        "wait_s": None,
        "outcome": "answered",
        "end_reason": "completed",
        "callback_id": "cb1",
        "appointment_id": None,
        "origin_call_id": None,
        "overflow_service": "sip-59",
        "survey_score": 4,
    }


def test_a_hook_s_overrides_replace_their_fields_only():
    base = dataclasses.asdict(RecordSink._base(None, _call()))  # type: ignore[arg-type]
    changes = {
        "site": "lille",
        "outcome": "callback",
        "wait_s": 2.5,
        "origin_call_id": "c0",
        "queued_at": None,
    }
    record = RecordSink._base(None, _call(), **changes)  # type: ignore[arg-type]
    assert dataclasses.asdict(record) == {**base, **changes}


def test_a_call_never_queued_has_no_queue_time():
    call = _call()
    call.enqueued_at = 0.0
    assert RecordSink._base(None, call).queued_at is None  # type: ignore[arg-type]
