"""A request whose Content-Length declares a body over the limit (ACD_MAX_BODY_BYTES) is answered
413 body_too_large at once, from its headers, before a byte of the body is read: a client that
declares 100 GB and sends nothing, or sends it slowly, no longer holds the connection open waiting
for a body acd would refuse anyway. With a secret, the signature cannot be checked without the
body: the size comes first."""

from __future__ import annotations

import asyncio
import json

import pytest


async def _ask(platform, head: str) -> tuple[bytes, bytes]:
    server = platform.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        writer.write(head.encode())
        await writer.drain()
        async with asyncio.timeout(5):
            status = await reader.readuntil(b"\r\n\r\n")
            length = int(
                next(h for h in status.split(b"\r\n") if h.lower().startswith(b"content-length:")).split(
                    b":"
                )[1]
            )
            body = await reader.readexactly(length)
        return status, body
    finally:
        writer.close()


@pytest.mark.parametrize(
    "path", ["/v1/events", "/v1/callbacks", "/v1/agents/a1", "/v1/overflow", "/v1/queues"]
)
@pytest.mark.parametrize("secret", [None, "s3cret-for-tests"])
async def test_a_declared_body_over_the_limit_is_a_413_before_it_is_sent(make_platform, path, secret):
    platform = await make_platform(secret=secret, max_body_bytes=4096)
    method = "GET" if path == "/v1/queues" else "PUT" if path in ("/v1/agents/a1", "/v1/overflow") else "POST"
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: acd\r\nContent-Type: application/json\r\n"
        "Content-Length: 99999999999\r\n\r\n"
    )
    status, body = await _ask(platform, head)
    assert status.startswith(b"HTTP/1.1 413"), status
    error = json.loads(body)["error"]
    assert error["code"] == "body_too_large"
    assert "4096" in error["message"]


async def test_a_body_within_the_limit_is_read(make_platform):
    platform = await make_platform(max_body_bytes=4096)
    status, _ = await platform.request("PUT", "/v1/overflow", {"mode": "on"})
    assert status == 200


@pytest.mark.parametrize("secret", [None, "s3cret-for-tests"])
async def test_a_body_that_does_not_come_is_a_408_and_changes_nothing(make_platform, secret):
    """A client that declares a small body and sends part of it, or none, no longer holds its
    connection for good (aiohttp sets no time limit on a body): 408 `body_timeout` once
    `ACD_BODY_TIMEOUT_S` has passed, the connection closed, nothing applied."""
    platform = await make_platform(secret=secret, body_timeout_s=0.3)
    body = b'{"id": "e1", "type": "agent.state", "agent_id": "a1", "state": "available"}'
    head = (
        "POST /v1/events HTTP/1.1\r\nHost: acd\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    status, answer = await _ask(platform, head + body[:20].decode())
    assert status.startswith(b"HTTP/1.1 408"), status
    assert b"connection: close" in status.lower()
    assert json.loads(answer)["error"]["code"] == "body_timeout"
    _, agents = await platform.request("GET", "/v1/agents/a1")
    assert agents["state"] != "available"
