"""Outbound commands reach a real HTTP receiver, signed, when a queued call gets an agent."""

from __future__ import annotations

import asyncio
import json

from aiohttp import web
from aiohttp.test_utils import TestServer

from acd.signing import verify
from tests.api.conftest import SECRET


class Receiver:
    """The telephony platform's command endpoint."""

    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[dict] = []
        self.fail_first = fail_first
        self.arrived = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        verify(
            SECRET.encode(),
            request.headers.get("X-ACD-Timestamp"),
            request.headers.get("X-ACD-Signature"),
            body,
        )
        if self.fail_first > 0:
            self.fail_first -= 1
            return web.Response(status=503)
        self.received.append(json.loads(body))
        self.arrived.set()
        return web.Response(status=204)

    async def wait_for(self, n: int) -> list[dict]:
        async with asyncio.timeout(20):
            while len(self.received) < n:
                self.arrived.clear()
                await self.arrived.wait()
        return self.received


async def start_receiver(receiver: Receiver) -> TestServer:
    app = web.Application()
    app.router.add_post("/commands", receiver.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def test_a_queued_call_is_connected_by_a_signed_command_when_an_agent_frees_up(make_platform):
    receiver = Receiver()
    server = await start_receiver(receiver)
    try:
        platform = await make_platform(command_url=str(server.make_url("/commands")))
        assert (await platform.offer("c1"))["action"] == "queue"
        await platform.agent("a1", "available")
        [command] = await receiver.wait_for(1)
        assert command["command"] == "connect"
        assert {k: command[k] for k in ("call_id", "agent_id", "target")} == {
            "call_id": "c1",
            "agent_id": "a1",
            "target": "sip:a1@lille.sip.acd.example",
        }
        assert command["id"]
    finally:
        await server.close()


async def test_a_platform_that_fails_gets_the_command_again_until_it_takes_it(make_platform):
    receiver = Receiver(fail_first=2)
    server = await start_receiver(receiver)
    try:
        platform = await make_platform(command_url=str(server.make_url("/commands")))
        await platform.offer("c1")
        status, _ = await platform.events(
            {"id": "av", "type": "agent.state", "agent_id": "a1", "state": "available"}
        )
        assert status == 200  # the platform being down never fails the request
        [command] = await receiver.wait_for(1)
        assert command["call_id"] == "c1"
    finally:
        await server.close()


async def test_commands_wait_in_the_outbox_while_the_platform_is_unreachable(make_platform, unused_tcp_port):
    platform = await make_platform(command_url=f"http://127.0.0.1:{unused_tcp_port}/commands")
    await platform.offer("c1")
    status, _ = await platform.events(
        {"id": "av", "type": "agent.state", "agent_id": "a1", "state": "available"}
    )
    assert status == 200
    _, text = await platform.request("GET", "/metrics", sign=False)
    assert "acd_outbox_pending 1.0" in text
