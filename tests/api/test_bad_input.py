"""Bad input gets a clear 4xx JSON error and changes nothing; signatures guard /v1/*."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acd.signing import sign

GOOD = {
    "id": "g1",
    "type": "call.offered",
    "call_id": "c1",
    "caller": "+33612345678",
    "skill": "impot_revenu",
}


def assert_error(status: int, body, expected_status: int, code: str | None = None) -> None:
    assert status == expected_status, body
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code


async def nothing_changed(platform) -> None:
    status, _ = await platform.get("/v1/calls/c1")
    assert status == 404
    _, agents = await platform.get("/v1/agents")
    assert {a["state"] for a in agents["agents"]} == {"logged_out"}


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"{not json", 400, "malformed_json"),
        (b"", 400, "empty_body"),
        (b"\xff\xfe", 400, "malformed_json"),
        (b"42", 422, "invalid_event"),
        (b"[]", 422, "empty_batch"),
        (json.dumps({**GOOD, "type": "call.teleported"}).encode(), 422, "unknown_event_type"),
        (json.dumps({**GOOD, "priority": 10}).encode(), 422, "invalid_event"),
        (json.dumps({**GOOD, "priority": "high"}).encode(), 422, "invalid_event"),
        # a wrong type is refused, not coerced: a string or a boolean is not a priority
        (json.dumps({**GOOD, "priority": "3"}).encode(), 422, "invalid_event"),
        (json.dumps({**GOOD, "priority": True}).encode(), 422, "invalid_event"),
        (json.dumps({**GOOD, "priority": 3.0}).encode(), 422, "invalid_event"),
        (b'{"id":"s","type":"survey.result","call_id":"c1","score":"5"}', 422, "invalid_event"),
        (b'{"id":"s","type":"survey.result","call_id":"c1","score":true}', 422, "invalid_event"),
        # a caller id is text without control characters (a national number or `anonymous` is
        # taken: tests/api/test_withheld_callers_api.py)
        (json.dumps({**GOOD, "caller": "06\u000012345678"}).encode(), 422, "invalid_event"),
        (json.dumps({**GOOD, "caller": 33612345678}).encode(), 422, "invalid_event"),
        (json.dumps({**GOOD, "department": "99"}).encode(), 422, "invalid_event"),
        (json.dumps({**GOOD, "ts": "yesterday"}).encode(), 422, "invalid_event"),
        (json.dumps({**GOOD, "ts": "2026-03-02T09:00:00"}).encode(), 422, "invalid_event"),  # no offset
        # a time is an RFC 3339 string: a number (Unix seconds or milliseconds), or digits in a
        # string, is a wrong type, refused rather than read as a Unix time
        (json.dumps({**GOOD, "ts": 1772442000}).encode(), 422, "invalid_event"),
        (json.dumps({**GOOD, "ts": 1772442000.5}).encode(), 422, "invalid_event"),
        (json.dumps({**GOOD, "ts": 1772442000000}).encode(), 422, "invalid_event"),
        (json.dumps({**GOOD, "ts": "1772442000"}).encode(), 422, "invalid_event"),
        (json.dumps({**GOOD, "colour": "blue"}).encode(), 422, "invalid_event"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "id"}).encode(), 422, "invalid_event"),
        (json.dumps({**GOOD, "skill": "astrologie"}).encode(), 422, "unknown_skill"),
        (json.dumps({**GOOD, "preferred_agent_id": "ghost"}).encode(), 422, "unknown_agent"),
    ],
)
async def test_bad_events_are_refused_with_a_json_error(platform, raw, status, code):
    got_status, body = await platform.request("POST", "/v1/events", raw=raw)
    assert_error(got_status, body, status, code)
    await nothing_changed(platform)


async def test_a_batch_with_one_bad_event_applies_none_of_it(platform):
    status, body = await platform.events(
        {"id": "x1", "type": "agent.state", "agent_id": "a1", "state": "available"},
        GOOD,
        {"id": "x3", "type": "agent.state", "agent_id": "a1", "state": "dancing"},
    )
    assert_error(status, body, 422, "invalid_event")
    assert body["error"]["details"][0]["loc"][0] == 2
    await nothing_changed(platform)


async def test_a_batch_with_an_unknown_reference_applies_none_of_it(platform):
    status, body = await platform.events(
        {"id": "x1", "type": "agent.state", "agent_id": "a1", "state": "available"},
        GOOD,
        {"id": "x3", "type": "call.ended", "call_id": "c404", "reason": "completed"},
    )
    assert_error(status, body, 422, "unknown_call")
    assert body["error"]["details"]["index"] == 2
    await nothing_changed(platform)


async def test_a_batch_over_1000_events_is_refused(platform):
    batch = [{"id": f"s{i}", "type": "agent.state", "agent_id": "a1", "state": "paused"} for i in range(1001)]
    status, body = await platform.events(*batch)
    assert_error(status, body, 413, "batch_too_large")
    await nothing_changed(platform)


async def test_a_body_over_the_size_limit_is_refused(make_platform):
    platform = await make_platform(max_body_bytes=4096)
    status, body = await platform.request("POST", "/v1/events", raw=b"[" + b" " * 8000 + b"]")
    assert_error(status, body, 413)


async def test_a_call_offered_again_under_a_new_event_id_is_a_conflict(platform):
    await platform.events(GOOD)
    status, body = await platform.events({**GOOD, "id": "g2"})
    assert_error(status, body, 409, "call_exists")


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/v1/calls/nope", 404, "unknown_call"),
        ("GET", "/v1/agents/nope", 404, "unknown_agent"),
        ("GET", "/v1/callbacks/nope", 404, "unknown_callback"),
        ("GET", "/v1/nothing-here", 404, "not_found"),
        ("DELETE", "/v1/queues", 405, "method_not_allowed"),
    ],
)
async def test_unknown_resources_and_methods_get_json_errors(platform, method, path, status, code):
    got, body = await platform.request(method, path)
    assert_error(got, body, status, code)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"site": "paris", "skills": {"lsf": 3}, "target": "sip:x@p"}, "unknown_site"),
        ({"site": "pau", "skills": {"astrologie": 3}, "target": "sip:x@p"}, "unknown_skill"),
        ({"site": "pau", "skills": {"lsf": 6}, "target": "sip:x@p"}, "invalid_agent"),
        ({"site": "pau", "skills": {"lsf": "3"}, "target": "sip:x@p"}, "invalid_agent"),
        ({"site": "pau", "skills": {"lsf": True}, "target": "sip:x@p"}, "invalid_agent"),
        ({"site": "pau", "skills": {}, "target": "sip:x@p"}, "invalid_agent"),
        ({"site": "pau", "skills": {"lsf": 3}, "target": "http://x"}, "invalid_agent"),
        # a SIP URI is visible ASCII (RFC 3261; anything else percent-encoded): it goes out in
        # connect commands, where a NUL or a control character cuts or forges the platform's line
        ({"site": "pau", "skills": {"lsf": 3}, "target": "sip:x\u0000@p"}, "invalid_agent"),
        ({"site": "pau", "skills": {"lsf": 3}, "target": "sip:x\u0001@p"}, "invalid_agent"),
        ({"site": "pau", "skills": {"lsf": 3}, "target": "sip:x\u007f@p"}, "invalid_agent"),
        ({"site": "pau", "skills": {"lsf": 3}, "target": "sip:x\u200b@p"}, "invalid_agent"),
        ({"site": "pau", "skills": {"lsf": 3}, "target": "sip:\u00e9@p"}, "invalid_agent"),
        ({"site": "pau", "skills": {"lsf": 3}}, "invalid_agent"),
        ([1, 2], "invalid_agent"),
    ],
)
async def test_bad_roster_entries_are_refused_and_change_nothing(platform, body, code):
    status, err = await platform.request("PUT", "/v1/agents/x", body)
    assert_error(status, err, 422, code)
    assert (await platform.get("/v1/agents/x"))[0] == 404


@pytest.mark.parametrize("agent_id", ["a" * 2000, "a%2Fb", "a%20b"])
async def test_a_roster_upsert_under_an_ill_formed_id_is_a_422_naming_agent_id(platform, agent_id):
    """The upsert names the agent it would create: an id no agent may have is bad input (422),
    not an agent that is missing (404)."""
    body = {"site": "pau", "skills": {"lsf": 3}, "target": "sip:x@p"}
    before = await platform.get("/v1/agents")
    status, err = await platform.request("PUT", f"/v1/agents/{agent_id}", body)
    assert_error(status, err, 422, "invalid_agent")
    assert err["error"]["details"] == {"field": "agent_id"}
    assert await platform.get("/v1/agents") == before


async def test_an_unsigned_request_is_refused_when_a_secret_is_set(platform):
    status, body = await platform.request("POST", "/v1/events", GOOD, sign=False)
    assert_error(status, body, 401, "missing_signature")
    await nothing_changed(platform)


async def test_a_wrong_signature_is_refused(platform):
    raw = json.dumps(GOOD).encode()
    ts = str(int(time.time()))
    headers = {"X-ACD-Timestamp": ts, "X-ACD-Signature": sign(b"not-the-secret", int(ts), raw)}
    status, body = await platform.request("POST", "/v1/events", raw=raw, sign=False, headers=headers)
    assert_error(status, body, 401, "bad_signature")
    await nothing_changed(platform)


async def test_a_signature_over_another_body_is_refused(platform):
    ts = int(time.time())
    headers = {"X-ACD-Timestamp": str(ts), "X-ACD-Signature": sign(platform.secret, ts, b"{}")}
    status, body = await platform.request("POST", "/v1/events", GOOD, sign=False, headers=headers)
    assert_error(status, body, 401, "bad_signature")


@pytest.mark.parametrize("skew", [-301, 301])
async def test_a_stale_timestamp_is_refused(platform, skew):
    raw = json.dumps(GOOD).encode()
    ts = int(time.time()) + skew
    headers = {"X-ACD-Timestamp": str(ts), "X-ACD-Signature": sign(platform.secret, ts, raw)}
    status, body = await platform.request("POST", "/v1/events", raw=raw, sign=False, headers=headers)
    assert_error(status, body, 401, "stale_timestamp")


async def test_signatures_use_the_wall_clock_even_when_the_service_clock_is_shifted(make_platform, clock):
    clock.t = 0.0  # the service believes it is 1970; the signature window still follows the wall clock
    platform = await make_platform()
    status, _ = await platform.events(GOOD)
    assert status == 200


async def test_get_requests_under_v1_are_signed_too(platform):
    status, body = await platform.request("GET", "/v1/queues", sign=False)
    assert_error(status, body, 401)
    assert (await platform.get("/v1/queues"))[0] == 200


async def test_without_a_secret_requests_need_no_signature(make_platform):
    platform = await make_platform(secret=None)
    status, _ = await platform.request("POST", "/v1/events", GOOD, sign=False)
    assert status == 200


# -- no request may cause a 5xx

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
event_like = st.fixed_dictionaries(
    {
        "id": st.text(max_size=10),
        "type": st.sampled_from(
            [
                "call.offered",
                "call.answered",
                "call.ended",
                "agent.state",
                "callback.accepted",
                "callback.result",
                "appointment.result",
                "survey.result",
                "nope",
            ]
        ),
    },
    optional={
        "call_id": st.sampled_from(["c1", "c2", "", "x" * 200]) | st.text(max_size=5),
        "agent_id": st.sampled_from(["a1", "a2", "zz"]),
        "caller": st.sampled_from(["+33612345678", "12", ""]),
        "skill": st.sampled_from(["impot_revenu", "lsf", "nope"]),
        "state": st.sampled_from(["available", "busy", "paused", "wrap_up", "logged_out", "x"]),
        "reason": st.sampled_from(["completed", "abandoned", "x"]) | json_values,
        "priority": st.integers(-3, 12) | json_values,
        "needs": st.lists(st.sampled_from(["lsf", "paiement", "bad"]), max_size=3) | json_values,
        "score": st.integers(-1, 7),
        "ts": st.sampled_from(["2026-03-02T09:00:00+01:00", "bad", None]),
        "callback_id": st.text(max_size=5),
        "outcome": st.sampled_from(["answered", "no_answer", "x"]),
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(json_values, event_like, st.lists(event_like, min_size=1, max_size=6)))
async def test_no_event_body_causes_a_server_error(platform, body):
    status, payload = await platform.request("POST", "/v1/events", body)
    assert status < 500, payload
    if status >= 400:
        assert set(payload["error"]) == {"code", "message", "details"}


async def test_a_405_says_which_methods_the_path_takes(platform):
    resp = await platform.client.request("TRACE", "/healthz")
    assert resp.status == 405
    assert "GET" in resp.headers["Allow"]


async def test_the_ready_gauge_is_set_at_each_scrape(platform):
    _, text = await platform.request("GET", "/metrics", sign=False)
    assert "acd_ready 1.0" in text


# -- no body causes a 5xx (issue 14, point 5)


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 5000,  # RecursionError in Python's own decoder: a 500 before orjson
        b"[" * 5000 + b"]" * 5000,
        b'{"a":' * 3000 + b"1" + b"}" * 3000,
        b'{"id":"n","type":"survey.result","call_id":"c1","score":NaN}',
        b'{"id":"n","type":"survey.result","call_id":"c1","score":Infinity}',
        b'{"id":"n","type":"survey.result","call_id":"c1","score":1e999}',
        b'{"id":"\\ud800","type":"agent.state","agent_id":"a1","state":"paused"}',  # a lone surrogate
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/events"), ("POST", "/v1/callbacks"), ("PUT", "/v1/agents/a1"), ("PUT", "/v1/overflow")],
)
async def test_a_deeply_nested_or_non_standard_json_body_is_malformed_json_not_a_server_error(
    platform, method, path, raw
):
    status, body = await platform.request(method, path, raw=raw)
    assert_error(status, body, 400, "malformed_json")
    await nothing_changed(platform)


@pytest.mark.parametrize(
    ("digits", "status", "code"), [(30, 422, "invalid_event"), (4000, 400, "malformed_json")]
)
async def test_a_huge_integer_is_a_4xx_not_a_server_error(platform, digits, status, code):
    """Past 64 bits an integer is read as a double (a 422 on a 0-9 priority); past a double's range
    (a number JSON parsers need not take, RFC 8259 section 6), the body is refused as malformed."""
    raw = b'{"id":"g1","type":"call.offered","call_id":"c1","caller":"+33612345678","skill":"lsf","priority":'
    got, body = await platform.request("POST", "/v1/events", raw=raw + b"9" * digits + b"}")
    assert_error(got, body, status, code)
    if status == 422:
        assert body["error"]["details"][0]["loc"][-1] == "priority"
    await nothing_changed(platform)


async def test_a_huge_string_is_a_422_and_the_error_does_not_echo_it_whole(platform):
    long_key = "k" * 100_000
    status, body = await platform.events({**GOOD, long_key: 1, "call_id": "x" * 100_000})
    assert_error(status, body, 422, "invalid_event")
    assert len(json.dumps(body)) < 5000
    await nothing_changed(platform)


@pytest.mark.parametrize("year", ["9999", "0001", "1970", "2100"])
@pytest.mark.parametrize(
    ("method", "path", "body", "field", "code"),
    [
        ("POST", "/v1/events", {**GOOD, "ts": "{Y}-12-31T10:00:00+01:00"}, "ts", "invalid_event"),
        (
            "POST",
            "/v1/callbacks",
            {"number": "+33611111111", "skill": "paiement", "not_before": "{Y}-12-31T10:00:00+01:00"},
            "not_before",
            "invalid_callback",
        ),
        (
            "POST",
            "/v1/appointments",
            {"number": "+33611111111", "skill": "impot_revenu", "start": "{Y}-12-31T10:00:00+01:00"},
            "start",
            "invalid_appointment",
        ),
    ],
)
async def test_dates_outside_the_years_2000_to_2099_are_a_422_naming_the_field(
    platform, method, path, body, field, code, year
):
    raw = json.dumps(body).replace("{Y}", year).encode()
    status, err = await platform.request(method, path, raw=raw)
    assert_error(status, err, 422, code)
    assert f"{field}: " in err["error"]["message"]
    assert "2000 to 2099" in err["error"]["message"]
    assert err["error"]["details"][0]["loc"][-1] == field
    await nothing_changed(platform)


@pytest.mark.parametrize("year", ["9999", "0001", "1970"])
async def test_a_reschedule_outside_the_years_2000_to_2099_is_a_422_naming_start(make_platform, year):
    from tests.engine.test_appointments import ap_config

    platform = await make_platform(config=ap_config())
    start = "2026-03-03T10:00:00+01:00"
    status, booked = await platform.request(
        "POST", "/v1/appointments", {"number": "+33611111111", "skill": "impot_revenu", "start": start}
    )
    assert status == 201
    path = f"/v1/appointments/{booked['appointment_id']}"
    status, err = await platform.request("PATCH", path, {"start": f"{year}-12-31T10:00:00+01:00"})
    assert_error(status, err, 422, "invalid_appointment")
    assert err["error"]["details"][0]["loc"] == ["start"]
    assert (await platform.get(path))[1]["start"] == start


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1970-01-01", "2100-01-01"])
async def test_a_slot_date_outside_the_years_2000_to_2099_is_a_422_naming_date(platform, day):
    status, err = await platform.get(f"/v1/appointments/slots?skill=impot_revenu&date={day}")
    assert_error(status, err, 422, "invalid_query")
    assert err["error"]["details"] == {"field": "date"}


async def test_a_callback_not_before_the_end_of_the_century_is_a_422_not_a_server_error(platform):
    """Beyond the booking horizon (callbacks.max_days_ahead): refused, never a due date in 2100."""
    status, body = await platform.request(
        "POST",
        "/v1/callbacks",
        {"number": "+33611111111", "skill": "paiement", "not_before": "2099-12-31T23:30:00+01:00"},
    )
    assert_error(status, body, 422, "beyond_horizon")
    assert body["error"]["details"] == {"field": "not_before"}


async def test_the_access_log_caps_a_rejected_events_100000_character_call_id(platform, caplog):
    from acd.logs import MAX_FIELD_CHARS, JsonFormatter

    call_id = "x" * 100_000
    with caplog.at_level("INFO", logger="acd.access"):
        status, _ = await platform.events({**GOOD, "call_id": call_id})
    assert status == 422
    [record] = [r for r in caplog.records if r.name == "acd.access"]
    assert record.call_ids == ["x" * MAX_FIELD_CHARS + "…[+99800 chars]"]
    line = JsonFormatter().format(record)
    assert len(line) < 3000
    assert json.loads(line)["call_ids"][0].endswith("…[+99800 chars]")


def test_every_logged_field_is_capped_whatever_its_source():
    import logging

    from acd.logs import MAX_FIELD_CHARS, MAX_ITEMS, JsonFormatter

    record = logging.makeLogRecord(
        {
            "name": "acd.test",
            "levelno": logging.WARNING,
            "levelname": "WARNING",
            "msg": "m" * 50_000,
            "call_id": "c" * 10_000,
            "ids": ["i" * 10_000] * 1000,
            "nested": {"k" * 10_000: {"deep": "d" * 10_000}},
            "count": 12,
        }
    )
    out = json.loads(JsonFormatter().format(record))
    assert out["call_id"] == "c" * MAX_FIELD_CHARS + f"…[+{10_000 - MAX_FIELD_CHARS} chars]"
    assert len(out["ids"]) == MAX_ITEMS + 1 and out["ids"][-1] == f"…[+{1000 - MAX_ITEMS} items]"
    assert all(len(i) < MAX_FIELD_CHARS + 20 for i in out["ids"])
    [(key, value)] = out["nested"].items()
    assert len(key) < MAX_FIELD_CHARS + 20 and len(value["deep"]) < MAX_FIELD_CHARS + 20
    assert len(out["msg"]) < 1100
    assert out["count"] == 12


EDGE_INSTANTS = [
    "9999-12-31T10:00:00+01:00",  # the not_before: OverflowError in next_opening
    "9999-12-31T23:59:59-12:00",
    "0001-01-01T00:00:00+14:00",
    "1970-01-01T00:00:00Z",
    "2099-12-31T23:59:59-12:00",
]
any_instant = st.sampled_from(EDGE_INSTANTS) | st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)
).flatmap(
    lambda d: st.sampled_from(["Z", "+14:00", "-12:00", "+01:00", "+00:30"]).map(
        lambda off: d.isoformat() + off
    )
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    instant=any_instant,
    where=st.sampled_from(["ts", "not_before", "start", "patch", "slots"]),
)
async def test_no_instant_anywhere_causes_a_server_error(make_platform, instant, where):
    from tests.engine.test_appointments import ap_config

    platform = await make_platform(config=ap_config())
    if where == "ts":
        status, body = await platform.events({**GOOD, "ts": instant})
    elif where == "not_before":
        status, body = await platform.request(
            "POST", "/v1/callbacks", {"number": "+33611111111", "skill": "paiement", "not_before": instant}
        )
    elif where in ("start", "patch"):
        start = instant if where == "start" else "2026-03-03T10:00:00+01:00"
        status, body = await platform.request(
            "POST", "/v1/appointments", {"number": "+33611111111", "skill": "impot_revenu", "start": start}
        )
        if where == "patch":
            assert status == 201, body
            status, body = await platform.request(
                "PATCH", f"/v1/appointments/{body['appointment_id']}", {"start": instant}
            )
    else:
        status, body = await platform.get(f"/v1/appointments/slots?skill=impot_revenu&date={instant[:10]}")
    assert status < 500, body
    if status >= 400:
        assert set(body["error"]) == {"code", "message", "details"}


@pytest.mark.parametrize("when", [1772442000, 1772442000.0, "1772442000", "1772442000000"])
async def test_a_number_for_a_time_is_refused_by_the_resources(platform, when):
    """not_before and start are RFC 3339 strings (CONTRACT.md: times): a Unix number is refused
    with the field named, and nothing is made."""
    status, body = await platform.request(
        "POST", "/v1/callbacks", {"number": "+33611111111", "skill": "paiement", "not_before": when}
    )
    assert_error(status, body, 422, "invalid_callback")
    assert body["error"]["details"][0]["loc"] == ["not_before"]
    status, body = await platform.request(
        "POST", "/v1/appointments", {"number": "+33611111111", "skill": "paiement", "start": when}
    )
    assert_error(status, body, 422, "invalid_appointment")
    assert body["error"]["details"][0]["loc"] == ["start"]


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_body_that_does_not_decode_as_its_content_encoding_is_a_400(platform, encoding):
    """A body announced compressed that is not: aiohttp cannot read it. That was a 500 (an
    unexpected error, logged as one); it is the client's body, a 400 JSON error, nothing applied."""
    raw = json.dumps(GOOD).encode()
    status, body = await platform.request(
        "POST", "/v1/events", raw=raw, headers={"Content-Encoding": encoding}
    )
    assert_error(status, body, 400, "unreadable_body")
    await nothing_changed(platform)


async def test_a_gzipped_body_is_read(make_platform):
    import gzip

    platform = await make_platform(secret=None)
    raw = gzip.compress(json.dumps(GOOD).encode())
    status, body = await platform.request("POST", "/v1/events", raw=raw, headers={"Content-Encoding": "gzip"})
    assert status == 200 and body["results"][0]["status"] == "applied", body


def test_a_client_gone_before_its_body_ended_is_no_server_error():
    """A client that closes the connection in the middle of its body (Content-Length not reached):
    reading the body raises ConnectionResetError, which was answered (to nobody) and logged as a
    500, an unexpected error; it is the client's incomplete request, a 400."""
    from aiohttp.test_utils import make_mocked_request

    from acd.api.errors import error_answer

    request = make_mocked_request("POST", "/v1/events")
    response = error_answer(request, ConnectionResetError("Connection lost"))
    assert response.status == 400
    assert json.loads(response.body)["error"]["code"] == "incomplete_body"


async def _raw_exchange(platform, data: bytes) -> bytes:
    """Bytes sent on a connection of their own, and all the server answers before closing it."""
    import asyncio

    server = platform.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    writer.write(data)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    return answer


@pytest.mark.parametrize(
    "data",
    [
        b"GET /v1/calls/" + b"x" * 10_000 + b" HTTP/1.1\r\nHost: acd\r\n\r\n",  # an id past the line limit
        b"GET /v1/queues HTTP/1.1\r\nHost: acd\r\nX-Big: " + b"y" * 10_000 + b"\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 TLS to the plain port\r\n\r\n",
        b"POST /v1/events HTTP/1.1\r\nHost: acd\r\nContent-Encoding: br\r\nContent-Length: 2\r\n\r\n{}",
        b"NOT HTTP AT ALL\r\n\r\n",
    ],
    ids=["long-request-line", "long-header", "tls", "unknown-encoding", "not-http"],
)
async def test_what_aiohttp_refuses_before_the_app_is_a_json_error_too(platform, data, caplog):
    """aiohttp answers a request its parser cannot take itself, before any middleware; the
    contract's "every 4xx/5xx body is JSON" holds there too (it was text/plain). The client's
    mistake is one warning in the log, not an error with a traceback (aiohttp's)."""
    caplog.set_level(logging.INFO)
    answer = await _raw_exchange(platform, data)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert any("could not be read as HTTP" in r.getMessage() for r in caplog.records if r.name == "acd.api")
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *headers = head.decode("latin-1").split("\r\n")
    assert status_line.split(" ")[1] == "400", answer[:300]
    assert any(h.lower().startswith("content-type: application/json") for h in headers), head
    error = json.loads(body)
    assert_error(400, error, 400, "malformed_request")
    assert len(error["error"]["message"]) < 400  # the client's bytes are not echoed whole
    await nothing_changed(platform)
