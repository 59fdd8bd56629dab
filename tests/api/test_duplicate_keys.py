"""A JSON object that names a key twice is refused (400 duplicate_key) and changes nothing. RFC 8259
leaves its meaning undefined ("the behavior of software that receives such an object is
unpredictable"), and I-JSON (RFC 7493) forbids it: acd's parser took the last value, a gateway or a
log reader may take the first, so `{"type": "agent.state", ..., "type": "call.offered"}` or two
`id`s (the idempotency key) would be one event to acd and another to them."""

from __future__ import annotations

import pytest

from acd.api.handlers import SERVICE
from acd.engine.state import dump
from tests.api.test_bad_input import assert_error

OFFER = b'"type":"call.offered","call_id":"c1","caller":"+33612345678","skill":"impot_revenu"'


@pytest.mark.parametrize(
    ("method", "path", "raw", "key"),
    [
        ("POST", "/v1/events", b'{"id":"e1","id":"e2",' + OFFER + b"}", "id"),
        ("POST", "/v1/events", b'{"id":"e1","type":"agent.state",' + OFFER + b"}", "type"),
        ("POST", "/v1/events", b'[{"id":"e1",' + OFFER + b',"skill":"paiement"}]', "skill"),
        (
            "POST",
            "/v1/events",
            b'{"id":"s1","type":"platform.sync","calls":[],"agents":{"a1":"paused","a1":"available"}}',
            "a1",
        ),
        ("PUT", "/v1/overflow", b'{"mode":"on","mode":"off"}', "mode"),
        (
            "PUT",
            "/v1/agents/a9",
            b'{"site":"lille","skills":{"lsf":1,"lsf":5},"target":"sip:a9@x","site":"pau"}',
            "lsf",  # the first met
        ),
        ("POST", "/v1/callbacks", b'{"number":"+33611111111","skill":"lsf","number":"+3362"}', "number"),
    ],
)
async def test_an_object_naming_a_key_twice_is_refused_and_changes_nothing(platform, method, path, raw, key):
    before = dump(platform.client.app[SERVICE].engine)
    status, err = await platform.request(method, path, raw=raw)
    assert_error(status, err, 400, "duplicate_key")
    assert err["error"]["details"] == {"key": key}
    assert repr(key) in err["error"]["message"]
    assert dump(platform.client.app[SERVICE].engine) == before


async def test_the_same_key_in_two_objects_is_no_duplicate(platform):
    status, body = await platform.events(
        {"id": "e1", "type": "agent.state", "agent_id": "a1", "state": "available"},
        {"id": "e2", "type": "agent.state", "agent_id": "a2", "state": "available"},
    )
    assert status == 200, body
    assert [r["status"] for r in body["results"]] == ["applied", "applied"]


async def test_a_key_twice_in_a_string_value_is_no_duplicate(platform):
    raw = b'{"id":"e1","type":"agent.state","agent_id":"a1","state":"paused","reason":"\\"id\\":1,\\"id\\":"}'
    status, body = await platform.request("POST", "/v1/events", raw=raw)
    assert status == 200, body


async def test_a_long_duplicated_key_is_echoed_short(platform):
    key = "k" * 10_000
    raw = b'{"id":"e1","type":"agent.state","%s":1,"%s":2}' % (key.encode(), key.encode())
    status, err = await platform.request("POST", "/v1/events", raw=raw)
    assert_error(status, err, 400, "duplicate_key")
    assert len(err["error"]["message"]) < 500 and len(str(err["error"]["details"])) < 500
