"""A seeded, bounded fault-injection run on one instance: 50 agents and a few hundred calls, driven
through HTTP by a model of an untidy telephony platform (tests/fault/model.py): duplicated, late,
reordered, redundant and lost webhooks, agents pausing and logging out mid-call, ring-outs, and a
periodic `platform.sync`; in one run, callers with a department and overflow to their local services.
The commands acd sends go to a loopback sink; the platform obeys them.

Checked along the way and at the end (the contract's "One command per intent", "Calls own their
agents" and "Reconciliation"): one connect (decision or command) per assignment, never a second
command id for one; an assignment ends only through its call's events; never an agent holding two
calls; an agent who asked for a pause or a logout (and acd was told) never rung; no call acd ends
that the platform holds; no 5xx; every call in a definite state; after a final complete sync, no
agent busy or reserved without a call the platform holds, none stuck in wrap-up, none available
whom the platform reports away.

A failure prints the seed, each kind of violation with its first occurrence and every event about
its call and agent, and the last requests; `ACD_FAULT_SEEDS=<seed> pytest
tests/fault/test_one_instance.py` replays it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from acd.api.app import create_app
from acd.api.handlers import SERVICE
from acd.clock import ManualClock
from acd.config import Config
from acd.settings import Settings
from acd.signing import signed_headers
from tests.conftest import T0, small_config
from tests.fault.conftest import seeds
from tests.fault.model import SKILLS, Faults, UntidyPlatform
from tests.fault.outbound import OutboundFaults

SECRET = "fault-secret"
CALLS = 200
WRAP_UP_S = 30


def fifty_agents() -> dict[str, tuple[str, ...]]:
    return {f"f{n:02d}": SKILLS if n % 2 else SKILLS[:1] for n in range(1, 51)}


DEPARTMENTS = ("59", "67")


def fault_config(
    agents: dict[str, tuple[str, ...]], *, overflow: bool = False, outbound: OutboundFaults | None = None
) -> Config:
    routing: dict[str, Any] = {"wrap_up_s": WRAP_UP_S}
    if outbound is not None:  # queued callers are offered a callback after a short expected wait
        routing["callback_offer_ewt_s"] = 30
    base = small_config(**routing).model_dump()
    if outbound is not None:
        # Callbacks and appointments on the scale of a run (a quarter of an hour from 10:00 on a
        # Monday): retries within a minute or two, five-minute slots, reminders two minutes ahead
        # (appointments are booked up to seven minutes ahead: OutboundFaults.soon_s),
        # and a caller who waited two minutes offered a callback (`offer_callback`).
        base["callbacks"] = {"retry_delays_s": [40, 80], "max_attempts": 3, "max_share": 0.3}
        base["appointments"] = {
            "slot_minutes": 5,
            "reminder_lead_s": outbound.reminder_lead_s,
            "retry_delays_s": [40, 40],
            "capacity": [
                {"site": "lille", "skill": "impot_revenu", "morning": 2, "afternoon": 2},
                {"site": "pau", "skill": "impot_revenu", "morning": 1, "afternoon": 1},
            ],
        }
        base["overflow"] = {"mode": "auto", "max_wait_s": 120}
    if overflow:  # the supervisor's switch on: every call no agent can take now goes to its service
        always = {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
        base["services"] = {
            "default_hours": {"week": always},
            "local": [
                {"id": f"sip-{d}", "department": d, "name": d, "target": f"sip:accueil@{d}.x", "capacity": 4}
                for d in DEPARTMENTS
            ],
        }
        base["overflow"] = {"mode": "on"}
    base["agents"] = [
        {
            "id": a,
            "site": "lille" if n % 2 else "pau",
            "skills": {s: 3 for s in skills},
            "target": f"sip:{a}@lille.sip.acd.example",
        }
        for n, (a, skills) in enumerate(agents.items())
    ]
    return Config.model_validate(base)


class OneInstance:
    """The app in this process on a loopback port, its clock moved by hand, its commands to `sink`."""

    def __init__(self, client: Any, clock: ManualClock, sink: Any) -> None:
        self.client, self.clock, self.sink = client, clock, sink
        self.taken = 0  # commands of the sink already handed to the platform

    @property
    def service(self) -> Any:
        return self.client.app[SERVICE]

    async def post(self, events: list[dict[str, Any]]) -> tuple[int, Any]:
        data = json.dumps(events[0] if len(events) == 1 else events).encode()
        headers = {"Content-Type": "application/json", **signed_headers(SECRET.encode(), data)}
        resp = await self.client.post("/v1/events", data=data, headers=headers)
        body = await resp.json(content_type=None)
        if len(events) == 1 and resp.status == 200:
            body = {"results": body["results"]}
        return resp.status, body

    async def get(self, path: str) -> tuple[int, Any]:
        headers = signed_headers(SECRET.encode(), b"")
        resp = await self.client.get(path, headers=headers)
        return resp.status, await resp.json(content_type=None)

    async def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        data = b"" if body is None else json.dumps(body).encode()
        headers = {
            "Content-Type": "application/json",
            **signed_headers(SECRET.encode(), data),
            **(headers or {}),
        }
        resp = await self.client.request(method, path, data=data, headers=headers)
        return resp.status, await resp.json(content_type=None)

    async def quiet(self) -> list[dict[str, Any]]:
        """Wait until the timers due are fired and every command is delivered; the new ones."""
        engine_now = self.clock.now
        async with asyncio.timeout(30):
            while True:
                self.service.wake()
                await asyncio.sleep(0)
                at = self.service.engine.next_wakeup()
                if (at is None or at > engine_now()) and await self.service.outbox.store.pending_count() == 0:
                    break
                await asyncio.sleep(0.001)
        new = self.sink.received[self.taken :]
        self.taken = len(self.sink.received)
        return new


async def drive(platform: UntidyPlatform, app: OneInstance) -> None:
    async def take_commands() -> None:
        for command in await app.quiet():
            platform.on_command(command)
        await platform.settle()

    async def post(batch: list[dict[str, Any]]) -> None:
        await platform.deliver(batch)
        await take_commands()

    async def deliver_everything() -> None:
        for _ in range(5):  # ring-outs the platform posted for calls it could not ring
            for batch in platform.due_batches(everything=True):
                await post(batch)

    async def end_every_dial() -> None:
        """Every dial in progress gets its outcome, every result arrives (a lost one posted
        again by the operator), until acd dials nobody."""
        out = platform.out
        for _ in range(20):
            if out is None or not (out.dialing or out.reposts or platform.outgoing):
                return
            out.resolve_all()
            await deliver_everything()
            await out.repost_due(everything=True)
            await deliver_everything()

    events = platform.log_in_everyone()
    for i in range(0, len(events), 25):
        await post(events[i : i + 25])
    tail = 0
    limit = platform.max_calls * 8
    while tail < 80 and platform.step_no < limit:  # bounded: it stops by itself
        platform.step_no += 1
        app.clock.advance(platform.rng.choice((0.5, 1.0, 1.5, 2.0, 3.0)))
        for command in await app.quiet():  # ends of wrap-up take waiting calls
            platform.on_command(command)
        platform.post_no += 1  # what was told before the timers fired counts as told
        for offer in platform.happen() + platform.happen():  # two happenings a step
            await post([offer])
        if platform.out is not None:  # requests, bookings, cancellations through the REST API
            await platform.out.step()
            await take_commands()
        platform.maybe_sync()
        for batch in platform.due_batches():
            await post(batch)
        if platform.step_no % 40 == 0:
            await platform.check_state()
        if platform.finished:
            tail += 1

    # The end: everything still on the wire arrives, then a complete, timely sync.
    platform.step_no += 1
    await deliver_everything()
    await end_every_dial()
    app.clock.advance(1)
    sync = platform.sync_event()
    held = set(sync["calls"])
    status, answer = await platform.deliver([sync])
    if status != 200:
        platform.violation("final_sync_refused", f"{status} {json.dumps(answer)[:300]}")
    for command in await app.quiet():
        platform.on_command(command)
    app.clock.advance(WRAP_UP_S + 1)  # wrap-ups the sync began are over
    for command in await app.quiet():
        platform.on_command(command)
    await end_every_dial()  # dials the end of a wrap-up began, and retries come due
    held |= {c.id for c in platform.calls_in("ringing", "talking", "waiting")}
    await platform.check_state(final=True, held=held)


async def run(
    seed: int,
    aiohttp_client: Any,
    sink: Any,
    faults: Faults | None = None,
    *,
    overflow: bool = False,
    outbound: OutboundFaults | None = None,
    agents: dict[str, tuple[str, ...]] | None = None,
    calls: int = CALLS,
) -> UntidyPlatform:
    agents = agents or fifty_agents()
    clock = ManualClock(T0)
    app = create_app(
        Settings(webhook_secret=SECRET, command_url=sink.url),
        fault_config(agents, overflow=overflow, outbound=outbound),
        registry=CollectorRegistry(),
        clock=clock,
    )
    instance = OneInstance(await aiohttp_client(app), clock, sink)
    platform = UntidyPlatform(
        seed,
        agents,
        calls=calls,
        post=instance.post,
        get=instance.get,
        now=clock.now,
        faults=faults,
        departments=DEPARTMENTS if overflow else (),
        request=instance.request,
        outbound=outbound,
    )
    await drive(platform, instance)
    return platform


@pytest.mark.parametrize("seed", seeds((1, 2, 3, 32)))  # 32: see test_findings.py
async def test_untidy_platform_never_rings_an_agent_twice_nor_leaves_one_stuck(
    seed: int, aiohttp_client, sink
) -> None:
    platform = await run(seed, aiohttp_client, sink)
    assert not platform.violations, platform.report()
    assert len(platform.acked_calls) == CALLS


# The control: a tidy platform (every webhook once, in order, on time; repeats of the same id only,
# no restatements, no pause during a call) goes through the same checks. The checks themselves
# must raise nothing here, or they are wrong.
TIDY = Faults(
    dup=0.1,
    late=0,
    shuffle=0,
    lose_ended=0,
    lose_answered=0,
    lose_state=0,
    restate=0,
    sync_late=0,
    ring_restate=0,
    mid_call_requests=False,
    available_after_ring_end=0,
)


@pytest.mark.parametrize("seed", seeds((11,)))
async def test_a_tidy_platform_passes_the_same_checks(seed: int, aiohttp_client, sink) -> None:
    platform = await run(seed, aiohttp_client, sink, TIDY)
    assert not platform.violations, platform.report()


# Harsher: a fifth of the webhooks late by up to a minute, a sixth lost, batches mostly shuffled,
# many restatements, a sync every 15 steps of which 40% arrive late. Seeds 107 and 203 are kept
# because they found the faults of tests/fault/test_findings.py.
VERY_UNTIDY = Faults(
    dup=0.15,
    late=0.2,
    late_steps=(1, 60),
    shuffle=0.6,
    lose_ended=0.15,
    lose_answered=0.15,
    lose_state=0.1,
    restate=0.3,
    sync_every=15,
    sync_late=0.4,
    ring_restate=0.3,
)


@pytest.mark.parametrize("seed", seeds((107, 203)))
async def test_a_very_untidy_platform_never_rings_an_agent_twice_nor_leaves_one_stuck(
    seed: int, aiohttp_client, sink
) -> None:
    platform = await run(seed, aiohttp_client, sink, VERY_UNTIDY)
    assert not platform.violations, platform.report()
    assert len(platform.acked_calls) == CALLS


@pytest.mark.parametrize("seed", seeds((5, 6)))
async def test_an_untidy_platform_with_overflow_leaves_no_local_service_place_taken(
    seed: int, aiohttp_client, sink
) -> None:
    """Callers with a department, the supervisor's switch on: a call no agent can take now goes to
    its local service, the platform bridges it there and posts its end, lost like any other. At
    the end, after the complete sync, each service holds exactly what the platform still bridges
    to it, and the other checks hold as without overflow."""
    platform = await run(seed, aiohttp_client, sink, VERY_UNTIDY, overflow=True)
    assert not platform.violations, platform.report()
    overflowed = [line for line in platform.story if ": overflow " in line]
    assert overflowed, "no call was overflowed: the run does not test what it says"


@pytest.mark.parametrize(
    ("seed", "faults"),
    [(seed, None) for seed in seeds((21, 22, 23, 111))]  # 111: see test_callbacks.py
    # 334, 426: see test_callbacks.py; 122: a dial decided by a timer due before the write that
    # brought a sync saying its agent paused (the model's `sync_post`)
    + [(seed, VERY_UNTIDY) for seed in seeds((122, 201, 334, 426))],
    ids=lambda v: "very_untidy" if v is VERY_UNTIDY else ("untidy" if v is None else str(v)),
)
async def test_an_untidy_platform_dialling_callbacks_and_appointments_dials_each_attempt_once(
    seed: int, faults: Faults | None, aiohttp_client, sink
) -> None:
    """The platform also plays outbound contacts (tests/fault/outbound.py): callers taking the
    callback they are offered and hanging up, callbacks requested and cancelled, appointments
    booked, moved and cancelled; on each `originate` it rings the reserved agent and dials, and
    posts the outcome (duplicated, late, reordered, lost and posted again by the operator), an
    answer sometimes with a `call.answered` for the dial's call; or the agent lets the dial ring
    out (or cannot be rung), which it says with a `call.unanswered` and no result. Twenty agents,
    so that callers wait and are offered callbacks; one seed with the very untidy network. Besides
    the checks of the other runs: one originate per dial, nobody dialled again after talking, an
    agent on a dial never given another call, a contact's attempts never above its dials not rung
    out, and at the end every contact over or waiting for its due time, its attempts the dials
    that reached the caller's side."""
    agents = {f"f{n:02d}": SKILLS if n % 2 else SKILLS[:1] for n in range(1, 21)}
    platform = await run(
        seed, aiohttp_client, sink, faults, outbound=OutboundFaults(), agents=agents, calls=300
    )
    assert not platform.violations, platform.report()
    out = platform.out
    assert out is not None
    summary = out.summary()
    print(f"seed {seed}: {summary}")
    assert summary.get("virtual_hold") and summary.get("requested") and summary.get("appointment"), summary
    assert summary["originates"] >= 10 and summary["answered"] >= 3, summary
    assert summary["rung_out"] >= 3, summary  # dials rung out, dialled again without an attempt
    assert summary["originates_appointment"] >= 1, summary  # appointments were dialled too
    # results naming their dial, and late results of an earlier dial while the next one went on
    assert summary["named_results"] >= 10 and summary["stale_results"] >= 5, summary
    # creations with an Idempotency-Key, some posted again; a key's reuse with another body, of each kind
    repeated = sum(summary.get(f"keyed_{how}", 0) for how in ("lost", "after", "together"))
    assert repeated >= 2 and summary["idempotency_conflicts"] == 2, summary
    assert summary["reminders_due"] >= 2, summary  # bookings made before their reminder's time
