"""A withheld caller id (`anonymous`: a private call, common on a public helpline) or a national
number: the call is taken and routed like any other (before, `caller` had to be E.164: the
call, and the whole batch it came in, got a 422, so those callers never reached the line). A
callback (or an appointment) goes only to a number: none is offered to a withheld caller id (the
queue decision, the never-stranded offer), and one accepted for it must say the number the caller gave
(`number`, else 422 `no_number`); the survey command names no number for it."""

from __future__ import annotations

import pytest

from acd.config import Config
from acd.engine import Engine, EngineError
from tests.conftest import Driver, ev, small_config
from tests.engine.test_overflow import driver as overflow_driver


def driver(router_kind: str, **routing) -> Driver:
    return Driver(Engine(small_config(callback_offer_ewt_s=0, **routing), router=router_kind))


@pytest.mark.parametrize("caller", ["anonymous", "restricted", ""])
def test_a_withheld_caller_is_routed_and_offered_no_callback(router_kind, caller):
    d = driver(router_kind)
    decision = d.offer("c1", caller=caller)  # nobody staffed: a long wait, above the offer's threshold
    assert decision["action"] == "queue" and decision["callback_offer"] is False
    assert "callback_windows" not in decision
    assert d.offer("c2")["callback_offer"] is True  # a number: offered
    d.agent("a1", "available")
    assert d.engine.calls["c1"].agent_id == "a1"  # served first, as any caller


def test_a_caller_id_that_is_a_whole_sip_uri_is_taken(router_kind):
    """A platform that sends the From's URI: its user part is the number; one with no number
    (a private call's) is kept whole, and taken."""
    d = driver(router_kind)
    uri = "sip:+33612345678@trunk.operator.example.net;user=phone"
    assert d.offer("c1", caller=uri)["callback_offer"] is True
    assert d.engine.calls["c1"].caller == "+33612345678"
    private = "sip:anonymous@anonymous.invalid"
    assert d.offer("c2", caller=private)["callback_offer"] is False
    assert d.engine.calls["c2"].caller == private


def test_a_withheld_caller_is_offered_no_appointment_either(router_kind):
    """An appointment is a call to a number, as a callback is: the queue decision offers none to
    a withheld caller id (`appointments.offer_above_ewt_s` set, the wait above it)."""
    data = small_config().model_dump()
    data["appointments"]["offer_above_ewt_s"] = 60
    d = Driver(Engine(Config.model_validate(data), router=router_kind))
    assert d.offer("c1", caller="anonymous")["appointment_offer"] is False
    assert d.offer("c2")["appointment_offer"] is True


def test_a_national_number_is_kept_in_e164(router_kind):
    d = driver(router_kind)
    d.offer("c1", caller="06 12 34 56 78")
    assert d.engine.calls["c1"].caller == "+33612345678"


def test_a_batch_with_a_withheld_caller_applies_whole(router_kind):
    d = driver(router_kind)
    events = [
        ev("agent.state", agent_id="a1", state="available"),
        ev("call.offered", call_id="c1", caller="anonymous", skill="impot_revenu"),
        ev("call.offered", call_id="c2", caller="0612345678", skill="impot_revenu"),
    ]
    results, _ = d.engine.apply(events, d.now)
    assert [r.status for r in results] == ["applied"] * 3
    assert results[1].decision.to_wire()["action"] == "connect"


def test_a_callback_accepted_for_a_withheld_caller_needs_the_number_given(router_kind):
    d = driver(router_kind)
    d.offer("c1", caller="anonymous")
    with pytest.raises(EngineError) as refused:
        d.engine.apply([ev("callback.accepted", call_id="c1")], d.now)
    assert refused.value.status == 422 and refused.value.code == "no_number"
    assert d.engine.calls["c1"].callback_id is None  # nothing applied
    decision = d.send("callback.accepted", call_id="c1", number="06 98 76 54 32")
    callback = d.engine.callbacks[decision["callback_id"]]
    assert callback.number == "+33698765432"
    d.agent("a1", "available")  # dialled at the number the caller gave
    [originate] = [c for c in d.commands if c.command == "originate"]
    assert originate.fields["number"] == "+33698765432"


def test_a_callback_accepted_in_the_batch_that_offers_a_withheld_call_needs_the_number(router_kind):
    d = driver(router_kind)
    offered = ev("call.offered", call_id="c1", caller="anonymous", skill="impot_revenu")
    with pytest.raises(EngineError) as refused:
        d.engine.apply([offered, ev("callback.accepted", call_id="c1")], d.now)
    assert refused.value.code == "no_number" and "c1" not in d.engine.calls


def test_a_caller_may_give_another_number_than_their_caller_id(router_kind):
    d = driver(router_kind)
    d.offer("c1", caller="+33612345678")
    decision = d.send("callback.accepted", call_id="c1", number="+33142000000")
    assert d.engine.callbacks[decision["callback_id"]].number == "+33142000000"


def test_a_withheld_caller_waiting_too_long_gets_no_callback_offer(router_kind):
    d = overflow_driver(
        router_kind, overflow={"max_wait_s": 600, "activate_ewt_s": 99999, "deactivate_ewt_s": 0}
    )
    d.offer("c1", caller="anonymous")  # no department: no local service
    d.offer("c2")
    d.advance(600)
    assert [(c.command, c.fields["call_id"]) for c in d.commands] == [("offer_callback", "c2")]
    assert d.engine.calls["c1"].status == "queued"  # waits on


def test_the_survey_of_a_withheld_caller_names_no_number(router_kind):
    config = small_config(wrap_up_s=0).model_dump()
    config["records"] = {"surveys": {"share": 1.0}}
    from acd.config import Config

    d = Driver(Engine(Config.model_validate(config), router=router_kind))
    d.agent("a1", "available")
    d.offer("c1", caller="anonymous")
    d.send("call.answered", call_id="c1", agent_id="a1")
    d.send("call.ended", call_id="c1", reason="completed")
    [survey] = [c for c in d.commands if c.command == "survey"]
    assert survey.fields["number"] is None


@pytest.mark.parametrize("caller", ["anon\x00ymous", "x" * 257, 33612345678])
def test_a_caller_id_with_control_characters_too_long_or_not_text_is_refused(caller):
    with pytest.raises(Exception):  # noqa: B017 (pydantic's ValidationError)
        ev("call.offered", call_id="c1", caller=caller, skill="impot_revenu")
