"""One open callback per number and skill: a callback requested (`POST /v1/callbacks`) for a
number that already has one scheduled or dialling for the same skill is that callback (the
decision names it; nothing new is made), so a form sent twice, or a caller asking again, is never
rung twice by two agents at once."""

from __future__ import annotations

import json

from acd.engine import state as engine_state
from tests.conftest import T0, ev
from tests.engine.test_callbacks import driver, iso, request

X = "+33611111111"


def originates(d) -> list[str]:
    return [c.fields["callback_id"] for c in d.commands if c.command == "originate"]


def test_a_second_request_for_the_same_number_and_skill_is_the_first_callback(router_kind):
    d = driver(router_kind)
    first = request(d, "cb1", not_before=iso(T0 + 3600))
    again = request(d, "cb2", not_before=iso(T0 + 600))
    assert again["callback_id"] == "cb1" and again["due_at"] == first["due_at"]
    assert again["status"] == "scheduled"
    assert "cb2" not in d.engine.callbacks and "cb2" not in d.engine.calls
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
    again = request(d, "cb2")
    assert again["callback_id"] == "cb1" and again["status"] == "dialing"
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
    assert request(d, "cb2")["callback_id"] == "cb-c1"


def test_two_requests_in_one_batch_make_one_callback(router_kind):
    d = driver(router_kind)
    asked = {"number": X, "skill": "impot_revenu", "not_before": iso(T0 + 60)}
    batch = [ev("callback.requested", callback_id=cb, **asked) for cb in ("cb1", "cb2")]
    results, _ = d.engine.apply(batch, d.now)
    assert [r.decision.callback_id for r in results] == ["cb1", "cb1"]
    assert list(d.engine.callbacks) == ["cb1"]


def test_a_state_loaded_knows_the_open_callbacks_of_each_number(router_kind):
    d = driver(router_kind)
    request(d, "cb1", not_before=iso(T0 + 3600))
    doc = json.loads(json.dumps(engine_state.dump(d.engine)))
    d.engine = engine_state.load(d.engine.config, doc, router=router_kind)
    assert request(d, "cb2")["callback_id"] == "cb1"
