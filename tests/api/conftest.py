"""HTTP fixtures: a real aiohttp app on a loopback port, driven as the platform would drive it."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from acd.api.app import create_app
from acd.clock import ManualClock
from acd.settings import Settings
from acd.signing import signed_headers
from tests.conftest import T0, small_config

SECRET = "s3cret-for-tests"
_ids = itertools.count(1)


class Platform:
    """A test client that signs what it sends, as the telephony platform does."""

    def __init__(self, client: Any, secret: str | None, clock: ManualClock) -> None:
        self.client = client
        self.secret = secret.encode() if secret else None
        self.clock = clock

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        sign: bool = True,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        if sign and self.secret:
            hdrs.update(signed_headers(self.secret, data))
        resp = await self.client.request(method, path, data=data, headers=hdrs)
        text = await resp.text()
        try:
            payload = json.loads(text)
        except ValueError:
            payload = text
        return resp.status, payload

    async def events(self, *events: dict[str, Any]) -> tuple[int, Any]:
        body: Any = events[0] if len(events) == 1 else list(events)
        return await self.request("POST", "/v1/events", body)

    async def send(self, type_: str, **fields: Any) -> dict[str, Any]:
        status, payload = await self.events({"id": f"h{next(_ids)}", "type": type_, **fields})
        assert status == 200, payload
        return payload["results"][0]

    async def offer(self, call_id: str, skill: str = "impot_revenu", **fields: Any) -> dict[str, Any]:
        result = await self.send(
            "call.offered", call_id=call_id, caller="+33612345678", skill=skill, **fields
        )
        return result["decision"]

    async def agent(self, agent_id: str, state: str, **fields: Any) -> dict[str, Any]:
        return await self.send("agent.state", agent_id=agent_id, state=state, **fields)

    async def get(self, path: str) -> tuple[int, Any]:
        return await self.request("GET", path)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def make_platform(aiohttp_client, clock):
    async def make(secret: str | None = SECRET, config=None, **settings: Any) -> Platform:
        s = Settings(webhook_secret=secret, **settings)
        app = create_app(s, config or small_config(), registry=CollectorRegistry(), clock=clock)
        client = await aiohttp_client(app)
        return Platform(client, secret, clock)

    return make


@pytest.fixture
async def platform(make_platform) -> Platform:
    return await make_platform()
