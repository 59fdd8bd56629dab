"""Hardening, in process: request body size limit, structured access logs with the event and call
ids (and never the caller's number), request ids."""

from __future__ import annotations

import json
import logging

import pytest
from prometheus_client import CollectorRegistry

from acd.api.app import create_app
from acd.logs import JsonFormatter
from acd.settings import Settings
from tests.conftest import small_config


class JsonLines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def access_log():
    handler = JsonLines()
    logger = logging.getLogger("acd.access")
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler.lines
    logger.removeHandler(handler)
    logger.setLevel(old)


async def client_for(aiohttp_client, **settings):
    app = create_app(Settings(**settings), small_config(), registry=CollectorRegistry())
    return await aiohttp_client(app)


async def test_a_body_over_the_limit_gets_a_json_413_and_changes_nothing(aiohttp_client):
    client = await client_for(aiohttp_client, max_body_bytes=4096)
    events = [
        {
            "id": f"e{i}",
            "type": "call.offered",
            "call_id": f"c{i}",
            "caller": "+33612345678",
            "skill": "paiement",
        }
        for i in range(100)
    ]
    resp = await client.post(
        "/v1/events", data=json.dumps(events), headers={"Content-Type": "application/json"}
    )
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "body_too_large"
    queues = await (await client.get("/v1/queues")).json()
    assert all(q["waiting"] == 0 for q in queues["queues"])


async def test_each_request_is_one_json_log_line_with_event_and_call_ids(aiohttp_client, access_log):
    client = await client_for(aiohttp_client)
    batch = [
        {"id": "ev-1", "type": "agent.state", "agent_id": "a1", "state": "available"},
        {
            "id": "ev-2",
            "type": "call.offered",
            "call_id": "call-1",
            "caller": "+33699999999",
            "skill": "impot_revenu",
        },
        {"id": "ev-3", "type": "call.answered", "call_id": "call-1", "agent_id": "a1"},
    ]
    resp = await client.post("/v1/events", json=batch, headers={"X-Request-Id": "platform-42"})
    assert resp.status == 200
    assert resp.headers["X-Request-Id"] == "platform-42"
    [line] = [r for r in access_log if r["path"] == "/v1/events"]
    assert line["level"] == "info" and line["logger"] == "acd.access"
    assert (line["method"], line["status"], line["request_id"]) == ("POST", 200, "platform-42")
    assert line["event_ids"] == ["ev-1", "ev-2", "ev-3"]
    assert line["call_ids"] == ["call-1"]
    assert line["events"] == 3 and line["duration_ms"] >= 0
    assert "+33699999999" not in json.dumps(line)  # callers' numbers stay out of the logs


async def test_refused_requests_are_logged_with_their_status_and_ids(aiohttp_client, access_log):
    client = await client_for(aiohttp_client)
    bad = {
        "id": "ev-9",
        "type": "call.offered",
        "call_id": "call-9",
        "caller": "+33612345678",
        "skill": "nope",
    }
    resp = await client.post("/v1/events", json=bad)
    assert resp.status == 422
    resp = await client.post("/v1/events", data=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status == 400
    lines = [r for r in access_log if r["path"] == "/v1/events"]
    assert [r["status"] for r in lines] == [422, 400]
    assert lines[0]["event_ids"] == ["ev-9"] and lines[0]["call_ids"] == ["call-9"]
    assert "event_ids" not in lines[1]
    assert len(resp.headers["X-Request-Id"]) == 32  # one is made when the client gave none


async def test_probes_and_scrapes_log_at_debug_only(aiohttp_client, access_log):
    client = await client_for(aiohttp_client)
    for path in ("/healthz", "/readyz", "/metrics", "/wallboard"):
        assert (await client.get(path)).status == 200
    assert {r["level"] for r in access_log} == {"debug"}
    resp = await client.get("/v1/nowhere")
    assert resp.status == 404
    assert access_log[-1]["level"] == "info" and access_log[-1]["status"] == 404
