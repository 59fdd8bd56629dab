"""One open callback per number and skill: a callback requested (`POST /v1/callbacks`) for a
number that already has one scheduled or dialling for the same skill is refused, naming that one
(`409 callback_open`, `details.callback_id`; the API answers 200 with it), so a form sent twice,
or a caller asking again, is never rung by two agents at once. A replay of an older release's log,
which made a second one, keeps it (acd/engine/replay.py)."""

from __future__ import annotations

import json

import pytest

from acd.engine import EngineError
from acd.engine import state as engine_state
from acd.engine.replay import apply_logged
from tests.conftest import T0, ev
from tests.engine.test_callbacks import driver, iso, request

X = "+33611111111"


def originates(d) -> list[str]:
    return [c.fields["callback_id"] for c in d.commands if c.command == "originate"]


def refused_for(d, callback_id: str, **fields) -> str:
    """Request a callback that must be refused as asked again: the open one it names."""
    with pytest.raises(EngineError) as refused:
        request(d, callback_id, **fields)
    assert (refused.value.status, refused.value.code) == (409, "callback_open")
    assert callback_id not in d.engine.callbacks and callback_id not in d.engine.calls
    return refused.value.details["callback_id"]


def test_a_second_request_for_the_same_number_and_skill_is_the_first_callback(router_kind):
    d = driver(router_kind)
    request(d, "cb1", not_before=iso(T0 + 3600))
    assert refused_for(d, "cb2", not_before=iso(T0 + 600)) == "cb1"
    d.agent("a1", "available")
    d.agent("a2", "available")
    d.advance(3600)
    assert originates(d) == ["cb1"]


def test_another_skill_or_another_number_is_another_callback(router_kind):
    d = driver(router_kind)
    request(d, "cb1", not_before=iso(T0 + 3600))
    assert request(d, "cb2", skill="paiement", not_before=iso(T0 + 3600))["callback_id"] == "cb2"
    assert request(d, "cb3", number="+33622222222", not_before=iso(T0 + 3600))["callback_id"] == "cb3"


def test_a_callback_being_dialled_is_the_one_asked_for_again(router_kind):
    d = driver(router_kind)
    d.agent("a1", "available")
    request(d, "cb1")
    assert originates(d) == ["cb1"]
    assert refused_for(d, "cb2") == "cb1" and d.engine.callbacks["cb1"].status == "dialing"
    assert originates(d) == ["cb1"]


def test_once_the_callback_is_over_a_new_request_is_a_new_callback(router_kind):
    d = driver(router_kind)
    request(d, "cb1", not_before=iso(T0 + 3600))
    d.send("callback.cancelled", callback_id="cb1")
    assert request(d, "cb2", not_before=iso(T0 + 3600))["callback_id"] == "cb2"
    d.agent("a1", "available")
    d.advance(3600)
    d.send("callback.result", callback_id="cb2", outcome="answered")
    d.send("call.ended", call_id="cb2", reason="completed")
    assert d.engine.callbacks["cb2"].status == "done"
    assert request(d, "cb3")["callback_id"] == "cb3"


def test_a_waiting_callers_virtual_hold_is_the_callback_of_its_number(router_kind):
    d = driver(router_kind)
    d.offer("c1", caller=X)
    d.send("callback.accepted", call_id="c1")
    assert refused_for(d, "cb2") == "cb-c1"


def test_two_requests_in_one_batch_make_one_callback(router_kind):
    d = driver(router_kind)
    asked = {"number": X, "skill": "impot_revenu", "not_before": iso(T0 + 60)}
    batch = [ev("callback.requested", callback_id=cb, **asked) for cb in ("cb1", "cb2")]
    with pytest.raises(EngineError) as refused:
        d.engine.apply(batch, d.now)
    assert refused.value.code == "callback_open" and refused.value.details["callback_id"] == "cb1"
    assert d.engine.callbacks == {}  # a batch is refused whole


def test_a_state_loaded_knows_the_open_callbacks_of_each_number(router_kind):
    d = driver(router_kind)
    request(d, "cb1", not_before=iso(T0 + 3600))
    doc = json.loads(json.dumps(engine_state.dump(d.engine)))
    d.engine = engine_state.load(d.engine.config, doc, router=router_kind)
    assert refused_for(d, "cb2") == "cb1"


def test_a_replay_keeps_the_second_callback_an_older_release_made(router_kind):
    """An older release made a second callback for the number (201, acknowledged): replayed from
    its log by this one, under a changed configuration (validated), it is kept, not skipped."""
    d = driver(router_kind)
    asked = {"number": X, "skill": "impot_revenu", "not_before": iso(T0 + 3600)}
    apply_logged(d.engine, [ev("callback.requested", callback_id="cb1", **asked)], d.now)
    results = apply_logged(d.engine, [ev("callback.requested", callback_id="cb2", **asked)], d.now)
    assert [r.decision.callback_id for r in results] == ["cb2"]
    assert sorted(d.engine.callbacks) == ["cb1", "cb2"]
