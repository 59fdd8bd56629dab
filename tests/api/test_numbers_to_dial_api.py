"""Numbers acd would dial (a callback's, an appointment's, the one a caller gave when accepting a
callback) are checked against the French numbering plan: a French number of the wrong length, a
special-rate one (081x-089x) or a short one (3BPQ) is a 422 naming the reason and the field, and
changes nothing (D7 of the outside audit). A caller id is never refused for it: the call is taken,
and offered no callback to that number (acd/phone.py)."""

from __future__ import annotations

import pytest

from acd.api.handlers import SERVICE
from tests.api.test_bad_input import assert_error
from tests.api.test_callbacks_appointments_api import local
from tests.api.test_duplicate_keys import dump
from tests.engine.test_appointments import ap_config
from tests.engine.test_callbacks import cb_config

REFUSED = [
    ("+331", "number_wrong_length"),
    ("+33 6 12 34 56", "number_wrong_length"),
    ("+33012345678", "number_not_in_plan"),
    ("0899123456", "number_surcharged"),
    ("08 99 12 34 56", "number_surcharged"),
    ("+33891123456", "number_surcharged"),
    ("0825 00 00 00", "number_surcharged"),
    ("3949", "number_short"),
    ("+590 5901234", "number_wrong_length"),
    ("+10", "number_wrong_length"),  # no country's number is this short
]
ACCEPTED = ["0800 12 34 56", "09 70 12 34 56", "0692 12 34 56", "+508 41 23 45", "+687 28 12 34"]


@pytest.mark.parametrize(("number", "code"), REFUSED)
async def test_a_callback_to_a_number_acd_must_not_dial_is_a_422_that_changes_nothing(
    make_platform, number, code
):
    platform = await make_platform(config=cb_config())
    before = dump(platform.client.app[SERVICE].engine)
    status, err = await platform.request("POST", "/v1/callbacks", {"number": number, "skill": "paiement"})
    assert_error(status, err, 422, code)
    assert err["error"]["details"]["field"] == "number"
    assert dump(platform.client.app[SERVICE].engine) == before


@pytest.mark.parametrize(("number", "code"), REFUSED)
async def test_an_appointment_for_a_number_acd_must_not_dial_is_a_422_that_takes_no_place(
    make_platform, number, code
):
    platform = await make_platform(config=ap_config())
    body = {"number": number, "skill": "impot_revenu", "start": local("2026-03-03T09:00:00"), "site": "lille"}
    status, err = await platform.request("POST", "/v1/appointments", body)
    assert_error(status, err, 422, code)
    assert err["error"]["details"]["field"] == "number"
    _, slots = await platform.get("/v1/appointments/slots?skill=impot_revenu&date=2026-03-03&site=lille")
    assert all(s["remaining"] == s["capacity"] for s in slots)


@pytest.mark.parametrize("number", ACCEPTED)
async def test_free_overseas_and_non_geographic_numbers_are_still_called_back(make_platform, number):
    platform = await make_platform(config=cb_config())
    status, body = await platform.request("POST", "/v1/callbacks", {"number": number, "skill": "paiement"})
    assert status == 201, body


async def test_a_callback_accepted_for_a_surcharged_number_is_a_422_that_changes_nothing(platform):
    await platform.offer("c1")
    status, err = await platform.events(
        {"id": "e2", "type": "callback.accepted", "call_id": "c1", "number": "0899 12 34 56"}
    )
    assert_error(status, err, 422, "number_surcharged")
    assert err["error"]["details"]["field"] == "number"
    _, view = await platform.get("/v1/calls/c1")
    assert view["callback_id"] is None and view["status"] == "queued"


async def test_a_surcharged_caller_is_taken_but_offered_no_callback(platform):
    """The platform says who called: the call is routed whatever its caller id; acd offers a
    callback only to a number it may dial, so a premium-rate caller id is never dialled back."""
    status, body = await platform.events(
        {"id": "e1", "type": "call.offered", "call_id": "c1", "caller": "+33612345678", "skill": "paiement"},
        {"id": "e2", "type": "call.offered", "call_id": "c2", "caller": "0899123456", "skill": "paiement"},
        {"id": "e3", "type": "call.offered", "call_id": "c3", "caller": "+331", "skill": "paiement"},
    )
    assert status == 200, body
    decisions = [r["decision"] for r in body["results"]]
    assert [d["action"] for d in decisions] == ["queue", "queue", "queue"]
    assert [d["callback_offer"] for d in decisions] == [True, False, False]
    status, err = await platform.events({"id": "e4", "type": "callback.accepted", "call_id": "c2"})
    assert_error(status, err, 422, "no_number")
    assert "surcharged" in err["error"]["message"] or "special-rate" in err["error"]["message"]
