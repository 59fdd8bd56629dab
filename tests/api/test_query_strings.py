"""The query string, on every path under /v1: a parameter a path does not take, or one given twice,
is a 422 naming it, whatever the method, before anything else is read, and changes nothing. A write
that ignored `?mode=off` or `?force=1` would do what the client did not ask; reads already refused
them (`acd.api.inputs.read_query`). Outside /v1 (liveness, readiness, metrics, the OpenAPI document,
the wallboard) a query string is ignored: probes, scrapers and browsers add their own."""

from __future__ import annotations

import pytest

from acd.api.handlers import SERVICE
from acd.engine.state import dump
from tests.api.test_bad_input import assert_error
from tests.engine.test_appointments import ap_config

CALLBACK = {"number": "+33611111111", "skill": "impot_revenu"}
APPOINTMENT = {"number": "+33611111111", "skill": "impot_revenu", "start": "2026-03-03T10:00:00+01:00"}
ELEVEN = "2026-03-03T11:00:00+01:00"
AVAILABLE = {"id": "e1", "type": "agent.state", "agent_id": "a1", "state": "available"}


async def _with_contacts(make_platform):
    """A platform holding a scheduled callback and a booked appointment."""
    platform = await make_platform(config=ap_config())
    status, callback = await platform.request("POST", "/v1/callbacks", CALLBACK)
    assert status == 201, callback
    status, appointment = await platform.request("POST", "/v1/appointments", APPOINTMENT)
    assert status == 201, appointment
    return platform, callback["callback_id"], appointment["appointment_id"]


def _state(platform):
    return dump(platform.client.app[SERVICE].engine)


WRITES = [
    ("DELETE", "/v1/callbacks/{cb}?force=1", None, "force"),
    ("DELETE", "/v1/appointments/{ap}?notify=no", None, "notify"),
    ("PATCH", "/v1/appointments/{ap}?start=2026-03-03T11:00:00%2B01:00", {"start": ELEVEN}, "start"),
    ("PATCH", "/v1/appointments/{ap}?x=1", {"start": ELEVEN}, "x"),
    ("PUT", "/v1/overflow?mode=off", {"mode": "on"}, "mode"),
    ("PUT", "/v1/agents/a9?site=pau", {"site": "lille", "skills": {"lsf": 2}, "target": "sip:a9@x"}, "site"),
    ("POST", "/v1/events?dry_run=1", AVAILABLE, "dry_run"),
    ("POST", "/v1/callbacks?skill=lsf", CALLBACK, "skill"),
    ("POST", "/v1/appointments?site=pau", {**APPOINTMENT, "start": ELEVEN}, "site"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), WRITES)
async def test_a_write_with_a_query_parameter_it_does_not_take_is_refused_and_changes_nothing(
    make_platform, method, path, body, field
):
    platform, cb, ap = await _with_contacts(make_platform)
    before = _state(platform)
    status, err = await platform.request(method, path.format(cb=cb, ap=ap), body)
    assert_error(status, err, 422, "unknown_parameter")
    assert err["error"]["details"] == {"field": field, "valid": []}
    assert field in err["error"]["message"]
    assert _state(platform) == before


async def test_every_path_under_v1_refuses_an_unknown_query_parameter_first(make_platform):
    """Every route the app serves under /v1, by every method it takes: the query is read before the
    path's id, the body or the store, so the answer is the same 422 whatever else is wrong."""
    platform, _, _ = await _with_contacts(make_platform)
    before = _state(platform)
    seen = []
    for route in platform.client.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if not path or not path.startswith("/v1/") or route.method in ("HEAD", "*"):
            continue
        url = path.replace("{", "").replace("}", "") + "?zz_unknown=1"
        status, err = await platform.request(route.method, url)
        assert_error(status, err, 422, "unknown_parameter")
        assert err["error"]["details"]["field"] == "zz_unknown", (route.method, url)
        seen.append((route.method, path))
    assert ("DELETE", "/v1/callbacks/{callback_id}") in seen and ("POST", "/v1/events") in seen
    assert len(seen) >= 18
    assert _state(platform) == before


async def test_a_write_without_a_query_string_still_works(make_platform):
    platform, cb, ap = await _with_contacts(make_platform)
    status, body = await platform.request("PATCH", f"/v1/appointments/{ap}", {"start": ELEVEN})
    assert status == 200 and body["start"] == ELEVEN
    assert (await platform.request("DELETE", f"/v1/appointments/{ap}"))[1]["status"] == "cancelled"
    assert (await platform.request("DELETE", f"/v1/callbacks/{cb}"))[1]["status"] == "cancelled"
    # an empty query string (a bare `?`) names no parameter
    status, body = await platform.request("PUT", "/v1/overflow?", {"mode": "off"})
    assert status == 200 and body["mode"] == "off"


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/openapi.json", "/wallboard"])
async def test_outside_v1_a_query_string_is_ignored(platform, path):
    status, _ = await platform.request("GET", f"{path}?probe=1&probe=2", sign=False)
    assert status == 200
