"""The Kamailio adapter without Kamailio: its form posts and relayed commands, on one instance in
memory and on two instances sharing Redis (a stand-in for Kamailio's `xhttp` endpoint records what
the adapter relays). The real thing, Kamailio and sipp, is tests/e2e/test_kamailio_sipp.py."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from acd.adapters.kamailio import add_kamailio_routes, call_id_of
from acd.api.app import create_app
from acd.api.handlers import SERVICE
from acd.clock import ManualClock
from acd.settings import Settings
from tests.conftest import T0, small_config

REDIS_BASE = os.environ.get("ACD_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
DB = 14
ODD_CALL_ID = "a3f9 10.0.0.7 {weird}@pbx"  # not a contract identifier: acd knows it by a digest


class FakeKamailio:
    """Kamailio's command endpoint: records each relayed command, answers `status`."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 200
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> FakeKamailio:
        async def handle(request: web.Request) -> web.Response:
            self.received.append(json.loads(await request.read()))
            return web.json_response({"status": "ok"}, status=self.status)

        app = web.Application()
        app.router.add_post("/acd/command", handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/acd/command"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


class Instance:
    def __init__(self, client: TestClient) -> None:
        self.client = client

    @property
    def service(self) -> Any:
        return self.client.app[SERVICE]

    async def kam(self, what: str, **form: str) -> tuple[int, Any]:
        """A form post from Kamailio's script."""
        resp = await self.client.post(f"/adapters/kamailio/{what}", data=form)
        return resp.status, await resp.json()

    async def command(self, command: dict[str, Any]) -> tuple[int, Any]:
        """The outbox's POST of a command to the adapter."""
        resp = await self.client.post("/adapters/kamailio/commands", data=json.dumps(command).encode())
        return resp.status, await resp.json()

    async def event(self, **event: Any) -> dict[str, Any]:
        resp = await self.client.post("/v1/events", json=event)
        body = await resp.json()
        assert resp.status == 200, body
        return body["results"][0]  # type: ignore[no-any-return]

    async def get(self, path: str) -> Any:
        resp = await self.client.get(path)
        assert resp.status == 200, await resp.text()
        return await resp.json()


@pytest.fixture
async def kamailio() -> Any:
    fake = await FakeKamailio().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def instances(kamailio: FakeKamailio) -> Any:
    made: list[Instance] = []

    async def make(n: int = 1, **settings: Any) -> list[Instance]:
        out = []
        for _ in range(n):
            app = create_app(
                Settings(kamailio_url=kamailio.url, **settings),
                small_config(max_no_answer=1),  # a ring-out pauses its agent at once
                registry=CollectorRegistry(),
                clock=ManualClock(T0),
                extensions=[add_kamailio_routes],
            )
            client = TestClient(TestServer(app))
            await client.start_server()
            made.append(Instance(client))
            out.append(made[-1])
        return out

    yield make
    for instance in made:
        await instance.client.close()


@pytest.fixture
def redis_url() -> Any:
    url = f"{REDIS_BASE}/{DB}"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {REDIS_BASE}: {exc}")
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


async def _offer(instance: Instance, sip_call_id: str) -> dict[str, Any]:
    status, decision = await instance.kam("offered", call_id=sip_call_id, caller="+33612345678", skill="lsf")
    assert status == 200, decision
    return decision  # type: ignore[no-any-return]


async def _available(instance: Instance, agent_id: str, n: int) -> None:
    await instance.event(id=f"av-{agent_id}-{n}", type="agent.state", agent_id=agent_id, state="available")


# ------------------------------------------------------------------ one instance, in memory


async def test_ring_no_answer_posts_call_unanswered_and_holds_the_caller(instances) -> None:
    [acd] = await instances()
    await _available(acd, "a4", 1)  # the only agent with lsf
    assert (await _offer(acd, "c1@pbx"))["agent_id"] == "a4"
    status, answer = await acd.kam("failed", call_id="c1@pbx", code="408")
    assert status == 200, answer
    assert answer["action"] == "hold" and answer["agent_id"] == "a4"
    assert answer["result"]["status"] == "applied"
    call = await acd.get("/v1/calls/c1@pbx")
    assert call["status"] == "queued" and call["end_reason"] is None  # back in line, not ended
    assert {"action": "requeue", "why": "no_answer"}.items() <= call["history"][-1].items()
    agent = await acd.get("/v1/agents/a4")
    assert agent["state"] == "paused"  # rona_pause: not busy, not offered the call again at once
    # the same failure posted again (a retry, or through another instance): the same event
    status, again = await acd.kam("failed", call_id="c1@pbx", code="408")
    assert again["action"] == "hold" and again["result"]["status"] == "duplicate"


async def test_a_priority_header_reaches_the_call_as_an_integer(instances) -> None:
    """Kamailio posts a form: its X-Priority arrives as text, and the event's priority is an
    integer (a string is refused on `POST /v1/events`); text that is no number is a 422."""
    [acd] = await instances()
    status, decision = await acd.kam(
        "offered", call_id="p1@pbx", caller="+33612345678", skill="lsf", priority="7"
    )
    assert status == 200 and decision["action"] == "queue", decision
    assert (await acd.get("/v1/calls/p1@pbx"))["priority"] == 7
    status, error = await acd.kam(
        "offered", call_id="p2@pbx", caller="+33612345678", skill="lsf", priority="high"
    )
    assert status == 422 and error["error"]["code"] == "invalid_event", error


async def test_dials_out_and_reminders_are_not_relayed_to_kamailio(instances, kamailio) -> None:
    """`originate` names its dial's call id since 2026-12-03: it must still not be taken for a
    call's command and relayed (Kamailio's script places no outbound leg)."""
    [acd] = await instances()
    for command in (
        {
            "id": "c9.originate.2",
            "command": "originate",
            "callback_id": "cb-c9",
            "call_id": "c9",
            "number": "+33612345678",
            "agent_id": "a4",
            "target": "sip:a4@x",
        },
        {
            "id": "ap1.remind.1",
            "command": "remind",
            "appointment_id": "ap1",
            "number": "+33612345678",
            "start": "2026-03-03T10:00:00+01:00",
        },
    ):
        status, answer = await acd.command(command)
        assert status == 200 and answer == {"status": "ignored", "id": command["id"]}
    assert kamailio.received == []


async def test_the_callers_cancel_while_ringing_is_abandoned_not_unanswered(instances) -> None:
    [acd] = await instances()
    await _available(acd, "a4", 1)
    await _offer(acd, "c2@pbx")
    status, _ = await acd.kam("ended", call_id="c2@pbx", reason="abandoned")  # Kamailio's CANCEL route
    assert status == 200
    # a failure posted all the same (a script that does not check t_is_canceled) changes nothing
    status, answer = await acd.kam("failed", call_id="c2@pbx", code="487")
    assert answer["action"] == "end"
    call = await acd.get("/v1/calls/c2@pbx")
    assert call["status"] == "ended" and call["end_reason"] == "abandoned"
    assert not any(h.get("why") == "no_answer" for h in call["history"])
    assert (await acd.get("/v1/agents/a4"))["state"] == "available"  # released, not paused


async def test_a_failure_with_no_agent_ringing_ends_the_call_failed(instances) -> None:
    [acd] = await instances()
    assert (await _offer(acd, "c3@pbx"))["action"] == "queue"
    status, answer = await acd.kam("failed", call_id="c3@pbx", code="500")
    assert status == 200 and answer["action"] == "end"
    assert (await acd.get("/v1/calls/c3@pbx"))["end_reason"] == "failed"


async def test_a_connect_superseded_by_a_ring_out_is_never_relayed(instances, kamailio) -> None:
    [acd] = await instances()
    await _available(acd, "a4", 1)
    await _offer(acd, ODD_CALL_ID)
    call_id = call_id_of(ODD_CALL_ID)
    await acd.kam("failed", call_id=ODD_CALL_ID, code="486")  # a4 rang out: paused, call queued
    late = {
        "id": "late-connect",
        "command": "connect",
        "call_id": call_id,
        "agent_id": "a4",
        "target": "sip:x",
    }
    status, answer = await acd.command(late)  # a connect to a4 the engine has moved past
    assert status == 200 and answer["status"] == "superseded"
    assert kamailio.received == []
    # the call's next assignment is relayed, under the SIP Call-ID Kamailio holds the call by
    await acd.event(id="back", type="agent.state", agent_id="a4", state="available")
    assert (await acd.get(f"/v1/calls/{call_id}"))["status"] == "connecting"
    fresh = {
        "id": "c.connect.9",
        "command": "connect",
        "call_id": call_id,
        "agent_id": "a4",
        "target": "sip:x",
    }
    status, answer = await acd.command(fresh)
    assert status == 200 and answer["status"] == "relayed"
    assert [c["sip_call_id"] for c in kamailio.received] == [ODD_CALL_ID]


async def test_a_connect_for_a_call_kamailio_does_not_hold_yet_is_retried(instances, kamailio) -> None:
    [acd] = await instances()
    await _offer(acd, "c4@pbx")  # queued
    await _available(acd, "a4", 1)  # connects it: a command
    kamailio.status = 404  # not held yet (the 182 is still on its way)
    command = {
        "id": "c.connect.1",
        "command": "connect",
        "call_id": "c4@pbx",
        "agent_id": "a4",
        "target": "sip:x",
    }
    status, answer = await acd.command(command)
    assert status == 503 and answer["error"]["code"] == "not_held"
    await acd.kam("ended", call_id="c4@pbx", reason="abandoned")
    status, answer = await acd.command(command)  # ended meanwhile: acknowledged, not retried for ever
    assert status == 200 and answer["status"] == "gone"


async def test_event_ids_fit_the_contract_for_the_longest_call_id(instances) -> None:
    [acd] = await instances()
    long_id = "x" * 120 + "@pbx.example"  # 132 characters: a digest; 128: kept, with a digest event id
    for sip_call_id in (long_id, long_id[:128]):
        await _offer(acd, sip_call_id)
        status, answer = await acd.kam("ended", call_id=sip_call_id, reason="abandoned")
        assert status == 200, answer
        assert answer["status"] == "applied"
    assert (await acd.get(f"/v1/calls/{long_id[:128]}"))["end_reason"] == "abandoned"


# ------------------------------------------------------------------ two instances on Redis


async def _leader(instances: list[Instance]) -> Instance:
    async with asyncio.timeout(30):
        while True:
            leaders = [i for i in instances if i.service.store.leading]
            if len(leaders) == 1 and all(
                str(i.service.store.role) in ("leader", "follower") for i in instances
            ):
                return leaders[0]
            await asyncio.sleep(0.02)


async def test_behind_two_instances_either_one_finds_the_call(instances, kamailio, redis_url) -> None:
    a, b = await instances(2, redis_url=redis_url, redis_lease_ttl_s=1.0, redis_prefix="kam-test:")
    leader = await _leader([a, b])
    follower = b if leader is a else a
    call_id = call_id_of(ODD_CALL_ID)
    await _available(follower, "a4", 1)
    # offered through one, answered and hung up through the other
    assert (await _offer(follower, ODD_CALL_ID))["agent_id"] == "a4"
    status, answer = await leader.kam("answered", call_id=ODD_CALL_ID)  # no agent_id: from the map
    assert status == 200 and answer["status"] == "applied", answer
    status, answer = await leader.kam("ended", call_id=ODD_CALL_ID)
    assert status == 200 and answer["status"] == "applied", answer
    for instance in (a, b):
        async with asyncio.timeout(10):
            while (await instance.get(f"/v1/calls/{call_id}"))["status"] != "ended":
                await asyncio.sleep(0.02)
        assert (await instance.get(f"/v1/calls/{call_id}"))["end_reason"] == "completed"
    # the map is in Redis, under the store's prefix, with a TTL
    raw = redis.Redis.from_url(redis_url)
    key = f"kam-test:kamailio:call:{call_id}"
    assert raw.hget(key, "sip") == ODD_CALL_ID.encode()
    assert 0 < raw.pttl(key) <= 86400 * 1000
    raw.close()

    # a queued call offered through the follower, connected by the leader's command: relayed
    # under its SIP Call-ID; then it rings out, posted through the follower: call.unanswered
    second = "second call@pbx"
    await _offer(follower, second)
    await leader.event(id="a4-back", type="agent.state", agent_id="a4", state="available")
    call_id = call_id_of(second)
    command = {
        "id": "c.connect.7",
        "command": "connect",
        "call_id": call_id,
        "agent_id": "a4",
        "target": "sip:x",
    }
    status, answer = await leader.command(command)
    assert status == 200 and answer["status"] == "relayed", answer
    assert kamailio.received[-1]["sip_call_id"] == second
    # the same connect sent to the follower, whose replica may lag: never dropped, retried (503)
    # once the call has moved on (here: it rings out below), while the leader says superseded
    status, answer = await follower.kam("failed", call_id=second, code="408")
    stale = {**command, "id": "c.connect.8"}
    status, answer_f = await follower.command(stale)
    assert status == 503 and answer_f["error"]["code"] == "not_current", answer_f
    status, answer_l = await leader.command(stale)
    assert status == 200 and answer_l["status"] == "superseded", answer_l
    assert answer["action"] == "hold" and answer["agent_id"] == "a4", answer
    for instance in (a, b):
        async with asyncio.timeout(10):
            while (await instance.get("/v1/agents/a4"))["state"] != "paused":
                await asyncio.sleep(0.02)
        assert (await instance.get(f"/v1/calls/{call_id}"))["status"] == "queued"
