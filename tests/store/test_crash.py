"""kill -9 of a real `acd serve` process under load, then a restart (or a takeover): every
acknowledged call still waits in its place, callbacks and appointments are there, and an event id
seen before the crash is still a duplicate. The shipped configuration, a real Redis."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import defaultdict
from typing import Any

import aiohttp

from tests.store.conftest import ServeProcess, eventually

DB = 15
SKILLS = ("impot_revenu", "prelevement_source", "paiement", "espace_particulier")
AGENTS_LOGGED_IN = 12


class Load:
    """Concurrent offers (no department: they all stay on the national line), recording every
    acknowledged one with its decision."""

    def __init__(self, urls: list[str], session: aiohttp.ClientSession) -> None:
        self.urls = urls
        self.session = session
        self.acked: dict[str, dict[str, Any]] = {}  # call id -> {"body": ..., "decision": ...}
        self.failed = 0
        self._ids = itertools.count(1)
        self._rng = random.Random(7)
        self.stop = False

    def offer(self) -> dict[str, Any]:
        n = next(self._ids)
        return {
            "id": f"crash-e{n}",
            "type": "call.offered",
            "call_id": f"crash-c{n}",
            "caller": f"+3361{self._rng.randrange(10**7):07d}",
            "skill": self._rng.choice(SKILLS),
        }

    async def post(self, url: str, body: Any) -> tuple[int, Any]:
        async with self.session.post(f"{url}/v1/events", json=body) as response:
            return response.status, await response.json(content_type=None)

    async def worker(self, n: int) -> None:
        while not self.stop:
            url = self.urls[n % len(self.urls)]
            body = self.offer()
            try:
                status, answer = await self.post(url, body)
            except (TimeoutError, aiohttp.ClientError):
                self.failed += 1
                await asyncio.sleep(0.01)
                continue
            if status == 200:
                self.acked[body["call_id"]] = {"body": body, "decision": answer["results"][0]["decision"]}
            else:
                self.failed += 1

    async def run_until(self, acked: int, workers: int = 12) -> list[asyncio.Task[None]]:
        tasks = [asyncio.create_task(self.worker(n)) for n in range(workers)]
        await eventually(lambda: len(self.acked) >= acked, timeout=60)
        return tasks


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with session.get(url) as response:
        return response.status, await response.json(content_type=None)


async def wait_ready(session: aiohttp.ClientSession, process: ServeProcess, timeout: float = 60) -> None:
    async def ready() -> bool:
        assert process.proc is not None and process.proc.poll() is None, process.log_tail()
        try:
            status, _ = await get(session, f"{process.base_url}/readyz")
        except aiohttp.ClientError:
            return False
        return status == 200

    await eventually(ready, timeout=timeout, every=0.05)


def env(redis_url: str) -> dict[str, str]:
    return {"ACD_REDIS_URL": redis_url, "ACD_REDIS_LEASE_TTL_S": "1", "ACD_REDIS_SNAPSHOT_EVERY": "200"}


async def log_in_agents(load: Load, url: str) -> None:
    from benchmarks._common import load_roster

    roster, _ = load_roster()
    for n, agent in enumerate(roster[:AGENTS_LOGGED_IN]):
        status, _ = await load.post(
            url, {"id": f"login-{n}", "type": "agent.state", "agent_id": agent.id, "state": "available"}
        )
        assert status == 200


async def check_every_acknowledged_call(session: aiohttp.ClientSession, url: str, load: Load) -> None:
    """Each acknowledged call is there; the queued ones wait in the same order among themselves."""
    queued: dict[str, list[tuple[int, int, str]]] = defaultdict(list)  # skill -> (position then, now, id)
    for call_id, record in load.acked.items():
        status, call = await get(session, f"{url}/v1/calls/{call_id}")
        assert status == 200, f"acknowledged call {call_id} lost"
        decision = record["decision"]
        if decision["action"] == "queue":
            assert call["status"] == "queued", call
            queued[call["skill"]].append((decision["position"], call["position"], call_id))
        else:
            assert decision["action"] == "connect" and call["agent_id"] == decision["agent_id"]
    assert sum(len(v) for v in queued.values()) > 0
    for calls in queued.values():  # nobody left the line: arrival order is the order of positions
        by_then = [c for _, _, c in sorted(calls)]
        by_now = [c for _, _, c in sorted(calls, key=lambda c: c[1])]
        assert by_then == by_now


async def check_duplicates(session: aiohttp.ClientSession, url: str, load: Load) -> None:
    for record in random.Random(3).sample(list(load.acked.values()), 20):
        status, answer = await load.post(url, record["body"])
        assert status == 200
        [result] = answer["results"]
        assert result["status"] == "duplicate" and result["decision"] == record["decision"]


async def test_kill_9_under_load_then_a_restart_loses_nothing_acknowledged(serve, redis_url) -> None:
    first = serve(env(redis_url))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        await wait_ready(session, first)
        load = Load([first.base_url], session)
        await log_in_agents(load, first.base_url)
        async with session.post(
            f"{first.base_url}/v1/callbacks", json={"number": "+33611111111", "skill": "lsf"}
        ) as response:
            assert response.status == 201
            callback = await response.json()
        async with session.post(
            f"{first.base_url}/v1/appointments",
            json={"number": "+33622222222", "skill": "impot_revenu", "start": "2026-11-18T10:00:00+01:00"},
        ) as response:
            assert response.status == 201, await response.text()
            appointment = await response.json()

        tasks = await load.run_until(acked=600)
        first.kill9()  # requests in flight
        load.stop = True
        await asyncio.gather(*tasks)

        second = serve(env(redis_url))
        await wait_ready(session, second)
        await check_every_acknowledged_call(session, second.base_url, load)
        status, body = await get(session, f"{second.base_url}/v1/callbacks/{callback['callback_id']}")
        assert status == 200 and body["status"] == callback["status"]
        status, body = await get(
            session, f"{second.base_url}/v1/appointments/{appointment['appointment_id']}"
        )
        assert status == 200 and body["status"] == "booked"
        await check_duplicates(session, second.base_url, load)


async def test_kill_9_of_the_leader_under_load_a_follower_takes_over(serve, redis_url) -> None:
    """The follower applies writes once the dead leader's lease lapses (1 s here). How long that
    takes is printed, not asserted (a shared machine's wall clock proves nothing): the deadline
    below only stops a test that would hang."""
    leader = serve(env(redis_url))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        await wait_ready(session, leader)
        follower = serve(env(redis_url))
        await wait_ready(session, follower)
        load = Load([leader.base_url, follower.base_url], session)
        await log_in_agents(load, follower.base_url)
        tasks = await load.run_until(acked=400)
        leader.kill9()
        died = time.monotonic()
        load.urls = [follower.base_url]

        async def follower_applies_writes() -> bool:
            status, _ = await load.post(follower.base_url, load.offer())
            return status == 200

        await eventually(follower_applies_writes, timeout=30, every=0.05)
        print(f"the follower took over {time.monotonic() - died:.2f} s after the kill (lease 1 s)")
        load.stop = True
        await asyncio.gather(*tasks)
        await check_every_acknowledged_call(session, follower.base_url, load)
        await check_duplicates(session, follower.base_url, load)
