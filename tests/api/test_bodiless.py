"""GET, HEAD and DELETE under /v1 take no body: one sent with them is refused (400 unexpected_body)
and changes nothing, rather than ignored. `DELETE /v1/callbacks/{id}` with `{"reason": ...}` or
`GET /v1/agents` with `{"site": "lille"}` would otherwise do what the client did not ask, as an
ignored query parameter would (tests/api/test_query_strings.py); RFC 9110 gives such content no
meaning and lets a server refuse it. An empty body (Content-Length: 0, or no body) is no body."""

from __future__ import annotations

import pytest

from acd.api.handlers import SERVICE
from acd.engine.state import dump
from acd.signing import signed_headers
from tests.api.test_bad_input import assert_error
from tests.engine.test_appointments import ap_config

CALLBACK = {"number": "+33611111111", "skill": "impot_revenu"}
APPOINTMENT = {"number": "+33611111111", "skill": "impot_revenu", "start": "2026-03-03T10:00:00+01:00"}


async def _with_contacts(make_platform):
    platform = await make_platform(config=ap_config())
    _, callback = await platform.request("POST", "/v1/callbacks", CALLBACK)
    _, appointment = await platform.request("POST", "/v1/appointments", APPOINTMENT)
    return platform, callback["callback_id"], appointment["appointment_id"]


def _bodiless_routes(platform, cb: str, ap: str) -> list[tuple[str, str]]:
    """Every GET and DELETE the app serves under /v1, its ids filled in with existing ones."""
    ids = {"callback_id": cb, "appointment_id": ap, "agent_id": "a1", "call_id": "c1"}
    out = []
    for route in platform.client.app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if path and path.startswith("/v1/") and route.method in ("GET", "DELETE"):
            out.append((route.method, path.format(**ids)))
    return out


@pytest.mark.parametrize("body", [b'{"reason":"caller asked"}', b"{}", b"x"])
async def test_a_body_on_a_get_or_a_delete_is_refused_and_changes_nothing(make_platform, body):
    platform, cb, ap = await _with_contacts(make_platform)
    before = dump(platform.client.app[SERVICE].engine)
    routes = _bodiless_routes(platform, cb, ap)
    assert ("DELETE", f"/v1/callbacks/{cb}") in routes and ("GET", "/v1/agents") in routes
    for method, path in routes:
        status, err = await platform.request(method, path, raw=body)
        assert_error(status, err, 400, "unexpected_body")
        assert method in err["error"]["message"], (method, path)
    assert dump(platform.client.app[SERVICE].engine) == before


async def test_an_empty_body_is_no_body(make_platform):
    platform, cb, _ = await _with_contacts(make_platform)
    status, _ = await platform.request("GET", "/v1/queues", raw=b"", headers={"Content-Length": "0"})
    assert status == 200

    async def nothing():
        yield b""

    headers = signed_headers(platform.secret, b"")  # chunked, no bytes
    resp = await platform.client.request("DELETE", f"/v1/callbacks/{cb}", data=nothing(), headers=headers)
    assert resp.status == 200, await resp.text()


async def test_a_body_on_a_method_the_path_does_not_take_is_still_a_405(platform):
    status, err = await platform.request("DELETE", "/v1/queues", raw=b"{}")
    assert_error(status, err, 405, "method_not_allowed")


async def test_outside_v1_a_body_on_a_get_is_ignored(platform):
    status, _ = await platform.request("GET", "/healthz", raw=b"{}", sign=False)
    assert status == 200
