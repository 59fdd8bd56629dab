"""An id in a path that no record can have (a slash, percent-encoded or not, Unicode, a NUL, a
lone surrogate's bytes, dot segments, 5,000 characters) is a 404 JSON error naming the id (cut
short), on every method that reads or changes a record, and never a 5xx; PUT /v1/agents/{id}, which
would create the agent, answers 422 invalid_agent instead (tests/api/test_bad_input.py)."""

from __future__ import annotations

import pytest

from tests.api.test_bad_input import assert_error

IDS = ["a%2Fb", "%C3%A9t%C3%A9", "%F0%9F%98%80", "a%00b", "%ED%A0%80", "%FF", "a%20b", "%2e%2e", "x" * 5000]
PATHS = [
    ("GET", "/v1/agents/{}", "unknown_agent"),
    ("GET", "/v1/calls/{}", "unknown_call"),
    ("GET", "/v1/callbacks/{}", "unknown_callback"),
    ("DELETE", "/v1/callbacks/{}", "unknown_callback"),
    ("GET", "/v1/appointments/{}", "unknown_appointment"),
    ("DELETE", "/v1/appointments/{}", "unknown_appointment"),
]


@pytest.mark.parametrize("raw_id", IDS)
@pytest.mark.parametrize(("method", "path", "code"), PATHS)
async def test_an_id_no_record_can_have_is_a_404_json_error(platform, method, path, code, raw_id):
    status, err = await platform.request(method, path.format(raw_id))
    assert_error(status, err, 404)
    assert err["error"]["code"] in (code, "not_found")  # `..` leaves the route: no such path
    assert len(err["error"]["message"]) < 400


@pytest.mark.parametrize("raw_id", IDS)
async def test_a_reschedule_of_an_id_no_record_can_have_is_a_404_json_error(platform, raw_id):
    status, err = await platform.request(
        "PATCH", f"/v1/appointments/{raw_id}", {"start": "2026-03-03T11:00:00+01:00"}
    )
    assert_error(status, err, 404)
