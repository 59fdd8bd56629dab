"""A JSON body is declared as JSON, or not declared at all. Every endpoint that reads a JSON body
(POST /v1/events, PUT /v1/agents/{id}, POST /v1/callbacks, POST and PATCH /v1/appointments, PUT
/v1/overflow) answers a body declared as something else (`text/plain`, a form, XML, bytes, a
charset other than UTF-8) with 415 and a JSON error, and changes nothing: the client said it sent
something else, and a browser may send `text/plain` or a form to any address without asking first.
A request with no Content-Type is read as JSON (`curl --data-binary` with no header, say)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from acd.api.handlers import SERVICE
from acd.engine.state import dump
from acd.signing import signed_headers
from tests.api.test_bad_input import assert_error
from tests.engine.test_appointments import ap_config

APPOINTMENT = {"number": "+33611111111", "skill": "impot_revenu", "start": "2026-03-03T10:00:00+01:00"}
ELEVEN = "2026-03-03T11:00:00+01:00"

#: Each JSON-body endpoint with a body it accepts ({ap}: a booked appointment's id).
WRITES = [
    ("POST", "/v1/events", {"id": "e1", "type": "agent.state", "agent_id": "a1", "state": "available"}),
    ("PUT", "/v1/agents/a9", {"site": "lille", "skills": {"lsf": 2}, "target": "sip:a9@lille.example"}),
    ("POST", "/v1/callbacks", {"number": "+33622222222", "skill": "impot_revenu"}),
    ("POST", "/v1/appointments", {**APPOINTMENT, "start": ELEVEN}),
    ("PATCH", "/v1/appointments/{ap}", {"start": ELEVEN}),
    ("PUT", "/v1/overflow", {"mode": "on"}),
]

NOT_JSON = [
    "text/plain",
    "text/plain; charset=utf-8",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
    "application/xml",
    "application/octet-stream",
    "text/json",
    "application/json; charset=latin-1",
    "application/json; charset=utf-16",
    "nonsense",
]

JSON = [
    "application/json",
    "Application/JSON; Charset=UTF-8",
    'application/json; charset="utf-8"',
    "application/merge-patch+json",
    "application/vnd.acd+json; charset=utf-8",
]


async def _platform(make_platform):
    platform = await make_platform(config=ap_config())
    status, booked = await platform.request("POST", "/v1/appointments", APPOINTMENT)
    assert status == 201, booked
    return platform, booked["appointment_id"]


async def _send(platform, method: str, path: str, body: Any, content_type: str | None) -> tuple[int, Any]:
    """Send `body` as JSON bytes, signed, declared as `content_type` (None: no Content-Type at all)."""
    data = json.dumps(body).encode()
    headers = signed_headers(platform.secret, data) if platform.secret else {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    resp = await platform.client.request(
        method, path, data=data, headers=headers, skip_auto_headers=("Content-Type",)
    )
    return resp.status, await resp.json(content_type=None)


@pytest.mark.parametrize("content_type", NOT_JSON)
@pytest.mark.parametrize(("method", "path", "body"), WRITES)
async def test_a_body_declared_as_something_else_than_json_is_refused_and_changes_nothing(
    make_platform, method, path, body, content_type
):
    platform, ap = await _platform(make_platform)
    before = dump(platform.client.app[SERVICE].engine)
    status, err = await _send(platform, method, path.format(ap=ap), body, content_type)
    assert_error(status, err, 415, "unsupported_media_type")
    assert "application/json" in err["error"]["message"]
    assert err["error"]["details"]["content_type"] == content_type
    assert dump(platform.client.app[SERVICE].engine) == before


@pytest.mark.parametrize("content_type", [None, *JSON])
@pytest.mark.parametrize(("method", "path", "body"), WRITES)
async def test_a_json_body_declared_as_json_or_not_declared_is_read(
    make_platform, method, path, body, content_type
):
    platform, ap = await _platform(make_platform)
    status, answer = await _send(platform, method, path.format(ap=ap), body, content_type)
    assert status in (200, 201), answer


async def test_an_empty_body_declared_as_text_is_refused_for_its_type(platform):
    text = {"Content-Type": "text/plain"}
    status, err = await platform.request("POST", "/v1/events", raw=b"", headers=text)
    assert_error(status, err, 415, "unsupported_media_type")


async def test_an_unsigned_body_of_another_type_is_still_a_401_first(platform):
    status, err = await platform.request(
        "POST", "/v1/events", raw=b"hello", sign=False, headers={"Content-Type": "text/plain"}
    )
    assert_error(status, err, 401)


async def test_a_request_without_a_body_ignores_its_content_type(platform):
    status, _ = await platform.request("GET", "/v1/queues", headers={"Content-Type": "text/plain"})
    assert status == 200
