"""Callers' numbers through HTTP: a withheld caller id is routed, a national number is written in
E.164 (in the call's view, a callback's, the one-open-callback rule), and a callback accepted for
a withheld caller id without the number the caller gave is a 422 that changes nothing."""

from __future__ import annotations

from tests.api.test_bad_input import assert_error


async def test_a_withheld_caller_through_http(make_platform):
    platform = await make_platform()
    status, body = await platform.events(
        {"id": "e1", "type": "call.offered", "call_id": "c1", "caller": "anonymous", "skill": "impot_revenu"},
        {
            "id": "e2",
            "type": "call.offered",
            "call_id": "c2",
            "caller": "06 12 34 56 78",
            "skill": "paiement",
        },
    )
    assert status == 200, body
    assert [r["decision"]["action"] for r in body["results"]] == ["queue", "queue"]
    status, view = await platform.get("/v1/calls/c2")
    assert status == 200 and view["caller"] == "+33612345678"
    status, body = await platform.events({"id": "e3", "type": "callback.accepted", "call_id": "c1"})
    assert_error(status, body, 422, "no_number")
    status, view = await platform.get("/v1/calls/c1")
    assert view["callback_id"] is None  # nothing applied
    status, body = await platform.events(
        {"id": "e4", "type": "callback.accepted", "call_id": "c1", "number": "0698765432"}
    )
    assert status == 200, body
    status, callback = await platform.get(f"/v1/callbacks/{body['results'][0]['decision']['callback_id']}")
    assert callback["number"] == "+33698765432"


async def test_a_requested_callback_s_national_number_is_the_same_number(make_platform):
    platform = await make_platform()
    status, first = await platform.request(
        "POST", "/v1/callbacks", {"number": "06 12 34 56 78", "skill": "paiement"}
    )
    assert status == 201 and first["number"] == "+33612345678"
    status, again = await platform.request(
        "POST", "/v1/callbacks", {"number": "+33612345678", "skill": "paiement"}
    )
    assert status == 200 and again["callback_id"] == first["callback_id"]  # one open per number and skill
