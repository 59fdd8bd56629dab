"""Methods: each path answers the methods it takes; any other is a 405 JSON error whose `Allow`
header (and message) lists them. HEAD answers as GET does, headers only, and leaves the connection
usable for the next request. OPTIONS is not served (no CORS): a 405 like any other method."""

from __future__ import annotations

import asyncio

import pytest

from acd.api.handlers import SERVICE
from acd.signing import signed_headers
from tests.api.test_bad_input import assert_error

#: Every path of the contract (and the wallboard's), with the methods it takes.
PATHS = {
    "/v1/events": {"POST"},
    "/v1/agents": {"GET", "HEAD"},
    "/v1/agents/a1": {"GET", "HEAD", "PUT"},
    "/v1/queues": {"GET", "HEAD"},
    "/v1/calls/c1": {"GET", "HEAD"},
    "/v1/callbacks": {"POST"},
    "/v1/callbacks/cb1": {"GET", "HEAD", "DELETE"},
    "/v1/appointments/slots": {"GET", "HEAD"},
    "/v1/appointments": {"POST"},
    "/v1/appointments/ap1": {"GET", "HEAD", "DELETE", "PATCH"},
    "/v1/overflow": {"GET", "HEAD", "PUT"},
    "/v1/services": {"GET", "HEAD"},
    "/v1/records": {"GET", "HEAD"},
    "/v1/reports/indicators": {"GET", "HEAD"},
    "/metrics": {"GET", "HEAD"},
    "/healthz": {"GET", "HEAD"},
    "/readyz": {"GET", "HEAD"},
    "/openapi.json": {"GET", "HEAD"},
    "/wallboard": {"GET", "HEAD"},
    "/wallboard/events": {"GET", "HEAD"},
}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")


@pytest.mark.parametrize("path", PATHS)
async def test_a_method_a_path_does_not_take_is_a_405_json_error_naming_those_it_does(platform, path):
    for method in METHODS:
        if method in PATHS[path]:
            continue
        data, headers = b"", {}
        if platform.secret:  # under /v1 the signature is checked first
            headers = signed_headers(platform.secret, data)
        resp = await platform.client.request(method, path, data=data, headers=headers)
        body = await resp.json(content_type=None)
        assert_error(resp.status, body, 405, "method_not_allowed")
        assert set(resp.headers["Allow"].split(",")) == PATHS[path], (method, path)
        assert resp.headers["Allow"] in body["error"]["message"]


async def _exchange(platform, request: bytes, until: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes to the app's port and read until `until` has come (or fail after `timeout`)."""
    server = platform.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(request)
        await writer.drain()
        received = b""
        async with asyncio.timeout(timeout):
            while until not in received:
                chunk = await reader.read(65536)
                assert chunk, f"the connection closed after {received!r}"
                received += chunk
        return received
    finally:
        writer.close()


@pytest.mark.parametrize("path", [p for p, methods in PATHS.items() if "HEAD" in methods])
async def test_head_answers_headers_only_and_the_connection_serves_the_next_request(make_platform, path):
    platform = await make_platform(secret=None)
    pipelined = (
        f"HEAD {path} HTTP/1.1\r\nHost: acd\r\n\r\nGET /healthz HTTP/1.1\r\nHost: acd\r\n\r\n".encode()
    )
    received = await _exchange(platform, pipelined, b'{"status":"ok"}')
    head, rest = received.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 "), head
    assert rest.startswith(b"HTTP/1.1 200"), f"HEAD {path} sent a body: {rest[:80]!r}"


@pytest.mark.parametrize("accept", ["text/csv", "application/x-ndjson"])
async def test_head_of_the_records_sends_no_rows(make_platform, accept):
    """The records stream (CSV's header line, then rows) is a GET's; HEAD answers its headers."""
    platform = await make_platform(secret=None)
    await platform.agent("a1", "available")
    await platform.offer("c1")
    await platform.send("call.answered", call_id="c1", agent_id="a1")
    await platform.send("call.ended", call_id="c1", reason="completed")
    await platform.client.app[SERVICE].records.flush()
    path = "/v1/records?from=2026-03-02&to=2026-03-02"
    status, rows = await platform.request("GET", path, headers={"Accept": accept})
    assert status == 200 and "c1" in str(rows)
    pipelined = (
        f"HEAD {path} HTTP/1.1\r\nHost: acd\r\nAccept: {accept}\r\n\r\n"
        "GET /healthz HTTP/1.1\r\nHost: acd\r\n\r\n"
    ).encode()
    received = await _exchange(platform, pipelined, b'{"status":"ok"}')
    head, rest = received.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200"), head
    assert rest.startswith(b"HTTP/1.1 200"), f"HEAD sent rows: {rest[:80]!r}"
