"""Outbox rules: commands reach the platform signed, retried until a 2xx, once per id, without ever
holding up the caller. The platform is a real aiohttp server on 127.0.0.1.

No wall-clock thresholds: tests wait on conditions with generous timeouts.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from itertools import pairwise
from typing import Any

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from acd.model import Command
from acd.outbox import Outbox, OutboxMetrics, backoff_delay, encode
from acd.outbox_store import MemoryOutboxStore
from acd.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tools.ports import free_port

SECRET = b"outbox-secret"
PATIENCE_S = 15.0

Responder = Callable[[dict[str, Any], int], Awaitable[int] | int]


async def eventually(condition: Callable[[], bool | Awaitable[bool]], timeout: float = PATIENCE_S) -> None:
    """Wait until `condition()` holds (polling; it may be async), failing after a generous timeout."""

    async def holds() -> bool:
        result = condition()
        return bool(await result if inspect.isawaitable(result) else result)

    async with asyncio.timeout(timeout):
        while not await holds():
            await asyncio.sleep(0.005)


async def pending_is(outbox: Outbox, count: int) -> None:
    """The platform records a command before its answer reaches the outbox: wait for the outbox."""
    await eventually(lambda: _equals(outbox.pending(), count))


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected


class Platform:
    """A stand-in telephony platform that records every command POSTed to it.

    `respond(body, attempt)` decides the status (default 200); `attempt` counts requests for that id.
    """

    def __init__(self, respond: Responder | None = None, port: int | None = None) -> None:
        self.respond = respond
        self.port = port if port is not None else free_port()
        self.requests: list[dict[str, Any]] = []
        self.attempts: Counter[str] = Counter()
        self.acked: list[str] = []
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/commands"

    async def start(self) -> Platform:
        app = web.Application()
        app.router.add_post("/commands", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = json.loads(raw)
        self.attempts[body["id"]] += 1
        self.requests.append({"headers": dict(request.headers), "raw": raw, "body": body})
        status = 200
        if self.respond is not None:
            outcome = self.respond(body, self.attempts[body["id"]])
            status = await outcome if asyncio.iscoroutine(outcome) else outcome
        if 200 <= status < 300:
            self.acked.append(body["id"])
        return web.json_response({"ok": 200 <= status < 300}, status=status)


def cmd(cid: str, command: str = "connect", **fields: Any) -> Command:
    return Command(
        id=cid,
        command=command,
        fields=fields or {"call_id": f"call-{cid}", "agent_id": "a1", "target": "sip:a1@x"},
    )


def make_outbox(url: str | None, **kwargs: Any) -> Outbox:
    options: dict[str, Any] = {
        "base_delay_s": 0.01,
        "max_delay_s": 0.05,
        "timeout_s": 5.0,
        "rng": random.Random(7),
    }
    options.update(kwargs)
    return Outbox(options.pop("store", MemoryOutboxStore()), url, options.pop("secret", SECRET), **options)


@pytest.fixture
async def platforms():
    started: list[Platform] = []

    async def start(respond: Responder | None = None, port: int | None = None) -> Platform:
        platform = await Platform(respond, port).start()
        started.append(platform)
        return platform

    yield start
    for platform in started:
        await platform.stop()


@pytest.fixture
async def outboxes():
    made: list[Outbox] = []

    async def start(url: str | None, **kwargs: Any) -> Outbox:
        outbox = make_outbox(url, **kwargs)
        await outbox.start()
        made.append(outbox)
        return outbox

    yield start
    for outbox in made:
        await outbox.stop(drain_timeout_s=0)


# -- delivery


async def test_commands_are_posted_signed_and_the_platform_can_verify_them(platforms, outboxes) -> None:
    platform = await platforms()
    outbox = await outboxes(platform.url)
    command = cmd("c1", call_id="call-1", agent_id="a1", target="sip:a1@lille.sip.acd.example")

    await outbox.submit([command])
    await eventually(lambda: platform.acked == ["c1"])

    request = platform.requests[0]
    headers = request["headers"]
    assert (
        request["raw"]
        == encode(command)
        == b'{"id":"c1","command":"connect","call_id":"call-1",'
        + (b'"agent_id":"a1","target":"sip:a1@lille.sip.acd.example"}')
    )
    assert headers["Content-Type"] == "application/json"
    assert headers["Idempotency-Key"] == "c1"
    verify(SECRET, headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], request["raw"])  # does not raise
    await pending_is(outbox, 0)


async def test_without_a_secret_commands_are_sent_unsigned(platforms, outboxes) -> None:
    platform = await platforms()
    outbox = await outboxes(platform.url, secret=None)
    await outbox.submit([cmd("c1")])
    await eventually(lambda: platform.acked == ["c1"])
    assert SIGNATURE_HEADER not in platform.requests[0]["headers"]
    assert platform.requests[0]["headers"]["Idempotency-Key"] == "c1"


async def test_a_platform_error_is_retried_until_a_2xx(platforms, outboxes) -> None:
    platform = await platforms(lambda body, attempt: 500 if attempt <= 2 else 200)
    outbox = await outboxes(platform.url)

    await outbox.submit([cmd("c1")])
    await eventually(lambda: platform.acked == ["c1"])

    assert platform.attempts["c1"] == 3
    await pending_is(outbox, 0)


async def test_a_platform_that_is_down_gets_the_command_once_it_is_up(platforms, outboxes) -> None:
    port = free_port()  # nothing listens here yet: connection refused
    store = MemoryOutboxStore()
    outbox = await outboxes(f"http://127.0.0.1:{port}/commands", store=store)

    await outbox.submit([cmd("c1")])
    pending: list[Any] = []

    async def failed_twice() -> bool:
        pending[:] = await store.due(float("inf"), 10)
        return bool(pending) and pending[0].attempts >= 2

    async with asyncio.timeout(PATIENCE_S):
        while not await failed_twice():
            await asyncio.sleep(0.005)
    assert pending[0].last_error  # the connection error is kept for operators

    platform = await platforms(port=port)
    await eventually(lambda: platform.acked == ["c1"])
    await pending_is(outbox, 0)


async def test_the_same_command_id_is_delivered_once(platforms, outboxes) -> None:
    platform = await platforms()
    outbox = await outboxes(platform.url)

    await outbox.submit([cmd("c1"), cmd("c1")])  # twice in one batch
    await outbox.submit([cmd("c1")])  # again while pending
    await eventually(lambda: platform.acked == ["c1"])
    await outbox.submit([cmd("c1")])  # again after delivery (e.g. a replay after restart)
    await outbox.submit([cmd("c2")])
    await outbox.stop()  # drains whatever is due, so a duplicate would have been sent by now

    assert platform.attempts == {"c1": 1, "c2": 1}


async def test_a_failing_command_does_not_hold_up_the_others(platforms, outboxes) -> None:
    platform = await platforms(lambda body, attempt: 503 if body["id"] == "bad" else 200)
    store = MemoryOutboxStore()
    outbox = await outboxes(platform.url, store=store, concurrency=2)
    good = [f"g{i}" for i in range(20)]

    await outbox.submit([cmd("bad")])
    await outbox.submit([cmd(cid) for cid in good])
    await eventually(lambda: set(good) <= set(platform.acked) and platform.attempts["bad"] >= 3)

    assert "bad" not in platform.acked
    await pending_is(outbox, 1)
    [stuck] = await store.due(float("inf"), 10)
    assert (stuck.command.id, stuck.last_error) == ("bad", "HTTP 503")


async def test_a_slow_command_does_not_hold_up_the_others(platforms, outboxes) -> None:
    release = asyncio.Event()

    async def respond(body: dict[str, Any], attempt: int) -> int:
        if body["id"] == "slow":
            await release.wait()
        return 200

    platform = await platforms(respond)
    outbox = await outboxes(platform.url, concurrency=4)

    await outbox.submit([cmd("slow"), *(cmd(f"g{i}") for i in range(10))])
    await eventually(lambda: len(platform.acked) == 10)
    assert "slow" not in platform.acked

    release.set()
    await eventually(lambda: "slow" in platform.acked)


async def test_commands_are_sent_in_creation_order_one_at_a_time(platforms, outboxes) -> None:
    platform = await platforms()
    outbox = await outboxes(platform.url, concurrency=1)
    ids = [f"c{i:02d}" for i in range(30)]
    await outbox.submit([cmd(cid) for cid in ids[:10]])
    await outbox.submit([cmd(cid) for cid in ids[10:]])
    await eventually(lambda: len(platform.acked) == 30)
    assert platform.acked == ids


async def test_submit_returns_without_waiting_for_a_slow_platform(platforms, outboxes) -> None:
    arrived = asyncio.Event()
    release = asyncio.Event()

    async def respond(body: dict[str, Any], attempt: int) -> int:
        arrived.set()
        await release.wait()
        return 200

    platform = await platforms(respond)
    outbox = await outboxes(platform.url)

    await outbox.submit([cmd("c1")])
    # submit is back while the platform has not answered (it cannot: it waits for `release`)
    assert not release.is_set() and platform.acked == []
    await asyncio.wait_for(arrived.wait(), PATIENCE_S)
    await outbox.submit([cmd("c2")])  # still returns while c1 hangs at the platform
    assert platform.acked == []

    release.set()
    await eventually(lambda: sorted(platform.acked) == ["c1", "c2"])


async def test_a_platform_that_hangs_past_the_timeout_is_retried(platforms, outboxes) -> None:
    release = asyncio.Event()

    async def respond(body: dict[str, Any], attempt: int) -> int:
        if attempt == 1:
            await release.wait()  # the first attempt never gets an answer in time
        return 200

    platform = await platforms(respond)
    outbox = await outboxes(platform.url, timeout_s=0.2)
    await outbox.submit([cmd("c1")])
    await eventually(lambda: platform.acked == ["c1"])
    assert platform.attempts["c1"] >= 2  # the first attempt timed out
    release.set()


# -- start and stop


async def test_stop_delivers_what_is_due(platforms) -> None:
    platform = await platforms()
    outbox = make_outbox(platform.url)
    await outbox.start()
    await outbox.submit([cmd(f"c{i}") for i in range(5)])  # the dispatcher has not run yet

    await outbox.stop(drain_timeout_s=PATIENCE_S)

    assert sorted(platform.acked) == [f"c{i}" for i in range(5)]
    assert await outbox.pending() == 0


async def test_stop_keeps_undelivered_commands_in_the_store(platforms) -> None:
    platform = await platforms(lambda body, attempt: 500)
    store = MemoryOutboxStore()
    outbox = make_outbox(platform.url, store=store, base_delay_s=30, max_delay_s=30)
    await outbox.start()
    await outbox.submit([cmd("c1")])

    await outbox.stop(drain_timeout_s=PATIENCE_S)  # the retry is 15-30 s away: stop does not wait for it

    assert platform.attempts["c1"] == 1
    assert await outbox.pending() == 1
    [kept] = await store.due(float("inf"), 10)
    assert (kept.command.id, kept.attempts, kept.last_error) == ("c1", 1, "HTTP 500")


async def test_a_stop_makes_the_commands_whose_attempt_it_cut_off_due_again_at_once(platforms) -> None:
    """An attempt still running when the stop ends it leaves its claim (the attempt's timeout plus a
    margin: 65 s here). Stopping cleanly, the outbox knows that attempt is over: the command is
    due again at once, for the next instance (a handover) or the next start, its attempts and
    error as they were (audit-outbox D6). Before, it waited out the claim."""
    release = asyncio.Event()

    async def respond(body: dict[str, Any], attempt: int) -> int:
        if attempt == 1:
            await release.wait()  # the first attempt hangs past the stop
        return 200

    platform = await platforms(respond)
    store = MemoryOutboxStore()
    outbox = make_outbox(platform.url, store=store, timeout_s=60.0)
    await outbox.start()
    await outbox.submit([cmd("c1")])
    await eventually(lambda: platform.attempts["c1"] == 1)
    await outbox.stop(drain_timeout_s=0.1)
    release.set()

    next_due = await store.next_due_at()
    assert next_due is not None and next_due <= time.time()
    [due] = await store.due(time.time(), 10)
    assert (due.command.id, due.attempts, due.last_error) == ("c1", 0, None)
    again = make_outbox(platform.url, store=store, timeout_s=60.0)
    await again.start()
    try:
        await pending_is(again, 0)
        assert platform.attempts["c1"] == 2
    finally:
        await again.stop()


async def test_without_a_command_url_commands_stay_pending(caplog: pytest.LogCaptureFixture) -> None:
    outbox = make_outbox(None)
    with caplog.at_level(logging.WARNING, logger="acd.outbox"):
        await outbox.start()
        await outbox.submit([cmd("c1"), cmd("c2")])
        await outbox.stop()
        await outbox.start()
    await outbox.stop()

    assert await outbox.pending() == 2
    assert [r.message for r in caplog.records].count(
        "no command URL set (ACD_COMMAND_URL): outbound commands stay pending in the outbox"
    ) == 1


async def test_commands_pending_before_start_are_delivered_after_it(platforms) -> None:
    platform = await platforms()
    outbox = make_outbox(platform.url)
    await outbox.submit([cmd("early")])
    await outbox.start()
    try:
        await eventually(lambda: platform.acked == ["early"])
    finally:
        await outbox.stop()


# -- backoff


def test_backoff_doubles_each_attempt_and_stays_within_max() -> None:
    rng = random.Random(42)
    delays = [backoff_delay(n, 0.5, 60.0, 0.5, rng) for n in range(1, 15)]
    caps = [min(60.0, 0.5 * 2 ** (n - 1)) for n in range(1, 15)]

    for delay, cap in zip(delays, caps, strict=True):
        assert cap * 0.5 <= delay <= cap <= 60.0
    assert caps[:8] == [0.5, 1, 2, 4, 8, 16, 32, 60]
    # with jitter <= 0.5 consecutive ranges do not overlap: delays never shrink while they double
    assert all(later >= earlier for earlier, later in pairwise(delays[:7]))
    assert max(delays) <= 60.0


def test_backoff_is_deterministic_for_a_seeded_rng_and_exact_without_jitter() -> None:
    first = [backoff_delay(n, 0.5, 60.0, 0.5, random.Random(1)) for n in range(1, 10)]
    again = [backoff_delay(n, 0.5, 60.0, 0.5, random.Random(1)) for n in range(1, 10)]
    assert first == again
    assert [backoff_delay(n, 0.5, 60.0, 0.0, random.Random(1)) for n in (1, 2, 3, 10, 1000)] == [
        0.5,
        1.0,
        2.0,
        60.0,
        60.0,
    ]


def test_full_jitter_spans_zero_to_the_cap() -> None:
    rng = random.Random(3)
    delays = [backoff_delay(4, 1.0, 60.0, 1.0, rng) for _ in range(2000)]
    assert 0.0 <= min(delays) < 0.5 and 7.5 < max(delays) <= 8.0


async def test_retries_are_logged_as_warnings_at_powers_of_two(platforms, outboxes, caplog) -> None:
    platform = await platforms(lambda body, attempt: 500 if attempt <= 5 else 200)
    with caplog.at_level(logging.DEBUG, logger="acd.outbox"):
        outbox = await outboxes(platform.url)
        await outbox.submit([cmd("c1")])
        await eventually(lambda: platform.acked == ["c1"])
    failures = [r for r in caplog.records if r.message.startswith("command delivery failed")]
    warned = [r.attempts for r in failures if r.levelno == logging.WARNING]
    assert warned == [1, 2, 4]
    assert all(r.command_id == "c1" and r.command == "connect" for r in failures)


# -- after an outage


class SetRandom(random.Random):
    """An rng whose draw is what the test sets: with `jitter=1`, 0.0 draws the whole backoff and a
    value near 1.0 almost none."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


async def backed_off(registry: CollectorRegistry, failures: int) -> None:
    """Wait until the outbox has rescheduled `failures` failed attempts on their backoff (counted,
    not read with `store.due(inf)`, which would make every command due)."""
    await eventually(
        lambda: (
            (registry.get_sample_value("acd_command_retries_total", {"command": "connect"}) or 0) >= failures
        )
    )


async def test_after_an_outage_the_first_success_has_the_commands_waiting_on_a_backoff_retried_at_once(
    platforms, outboxes, caplog
) -> None:
    """The platform down a while: the commands pending have backed off to 10 minutes (the test's
    timings; 60 s at most in service). It comes back; a command that had failed goes through:
    that is the evidence it is back, so the commands still waiting on their backoff are retried at
    once, each delivered once, instead of each waiting out its own backoff while the platform is
    healthy (audit-outbox D4: a caller with an agent reserved waited up to 60 s more)."""
    down = {"on": True}
    platform = await platforms(lambda body, attempt: 503 if down["on"] else 200)
    registry = CollectorRegistry()
    store = MemoryOutboxStore()
    rng = SetRandom(0.0)  # the whole backoff: 600 s
    outbox = await outboxes(
        platform.url,
        store=store,
        base_delay_s=600.0,
        max_delay_s=600.0,
        jitter=1.0,
        rng=rng,
        metrics=OutboxMetrics(registry),
    )
    waiting = [f"c{i}" for i in range(5)]
    await outbox.submit([cmd(cid) for cid in waiting])
    await backed_off(registry, 5)  # each failed once, its next attempt 600 s away

    rng.value = 1.0 - 1e-4  # the next backoff drawn is 0.06 s
    await outbox.submit([cmd("probe")])
    await eventually(lambda: platform.attempts["probe"] >= 1)
    down["on"] = False  # the platform is back: the probe's retry goes through
    with caplog.at_level(logging.INFO, logger="acd.outbox"):
        await eventually(lambda: set(platform.acked) == {"probe", *waiting})

    assert all(platform.attempts[cid] == 2 for cid in waiting)  # one failure, one delivery each
    await pending_is(outbox, 0)
    assert registry.get_sample_value("acd_command_backoffs_ended_total") == 5
    assert registry.get_sample_value("acd_command_backoff_seconds_count") >= 6  # each drawn, counted
    [back] = [r for r in caplog.records if "backoff" in r.getMessage() and r.levelno == logging.INFO]
    assert "5 commands" in back.getMessage()


async def test_a_fresh_command_delivered_does_not_cut_short_the_backoff_of_one_the_platform_fails(
    platforms, outboxes
) -> None:
    """Only a command that had failed and now goes through says the platform is back: a command
    the platform fails on its own (a 5xx for that one) keeps its backoff while fresh commands are
    delivered, instead of being sent again after each of them."""
    platform = await platforms(lambda body, attempt: 500 if body["id"] == "bad" else 200)
    registry = CollectorRegistry()
    outbox = await outboxes(
        platform.url,
        base_delay_s=600.0,
        max_delay_s=600.0,
        jitter=1.0,
        rng=SetRandom(0.0),
        metrics=OutboxMetrics(registry),
    )
    await outbox.submit([cmd("bad")])
    await backed_off(registry, 1)
    for i in range(10):
        await outbox.submit([cmd(f"g{i}")])
        await eventually(lambda i=i: f"g{i}" in platform.acked)
    await pending_is(outbox, 1)
    assert platform.attempts["bad"] == 1


async def test_an_outbox_taking_over_ends_the_backoffs_an_earlier_one_left_at_its_first_recovery(
    platforms, outboxes
) -> None:
    """A restart or a takeover over a store whose commands wait on backoffs an earlier outbox drew
    (the same store: Redis in service): the first of them delivered, one that had failed, has the
    others retried at once too."""
    down = {"on": True}
    platform = await platforms(lambda body, attempt: 503 if down["on"] else 200)
    store = MemoryOutboxStore()
    registry = CollectorRegistry()
    rng = SetRandom(0.0)
    timings: dict[str, Any] = {"base_delay_s": 600.0, "max_delay_s": 600.0, "jitter": 1.0, "rng": rng}
    earlier = await outboxes(platform.url, store=store, metrics=OutboxMetrics(registry), **timings)
    await earlier.submit([cmd("c1"), cmd("c2")])
    await backed_off(registry, 2)
    rng.value = 1.0 - 1e-4
    await earlier.submit([cmd("probe")])
    await backed_off(registry, 3)
    await earlier.stop(drain_timeout_s=0)

    down["on"] = False
    await outboxes(platform.url, store=store, **timings)
    await eventually(lambda: set(platform.acked) == {"probe", "c1", "c2"})
    assert (platform.attempts["c1"], platform.attempts["c2"]) == (2, 2)


# -- the store


async def test_store_returns_due_commands_oldest_first_and_holds_back_rescheduled_ones() -> None:
    store = MemoryOutboxStore()
    added = await store.put([cmd("a"), cmd("b"), cmd("c"), cmd("a")])
    assert [c.id for c in added] == ["a", "b", "c"]

    await store.reschedule("a", 100.0, 1, "HTTP 500")
    assert [p.command.id for p in await store.due(50.0, 10)] == ["b", "c"]
    assert [p.command.id for p in await store.due(50.0, 1)] == ["b"]
    assert await store.next_due_at() == 0.0
    assert [p.command.id for p in await store.due(100.0, 10)] == ["a", "b", "c"]  # creation order

    await store.mark_delivered("b")
    await store.mark_delivered("c")
    assert await store.next_due_at() == 100.0
    assert await store.pending_count() == 1


async def test_store_ignores_a_delivered_id_and_forgets_only_the_oldest() -> None:
    store = MemoryOutboxStore(remember_delivered=2)
    await store.put([cmd("a"), cmd("b"), cmd("c")])
    for cid in ("a", "b", "c"):
        await store.mark_delivered(cid)
    assert await store.put([cmd("b"), cmd("c")]) == []
    assert [c.id for c in await store.put([cmd("a")])] == ["a"]  # beyond the memory of 2


async def test_store_ends_backoffs_but_never_a_claim() -> None:
    """`end_backoffs(now)` makes due now every command whose next attempt is a backoff, and leaves
    a claim (an attempt in flight) on its lease: sending it again would be a second attempt while
    the first may still succeed."""
    store = MemoryOutboxStore()
    await store.put([cmd("claimed"), cmd("b1"), cmd("moved"), cmd("b2"), cmd("due"), cmd("gone")])
    await store.reschedule("claimed", 110.0, 2, "HTTP 503")  # a claim: `backoff` not said
    await store.reschedule("b1", 130.0, 1, "HTTP 503", backoff=True)
    await store.reschedule("moved", 120.0, 1, "HTTP 503", backoff=True)
    await store.reschedule("moved", 115.0, 1, "HTTP 503")  # claimed since: no longer a backoff
    await store.reschedule("b2", 125.0, 4, "HTTP 500", backoff=True)
    await store.reschedule("due", 40.0, 1, "HTTP 503", backoff=True)  # over already
    await store.reschedule("gone", 140.0, 1, "HTTP 503", backoff=True)
    await store.mark_delivered("gone")

    assert await store.end_backoffs(50.0) == 2
    due = await store.due(50.0, 10)
    assert [p.command.id for p in due] == ["b1", "b2", "due"]  # creation order
    assert [(p.attempts, p.next_attempt_at, p.last_error) for p in due[:2]] == [
        (1, 50.0, "HTTP 503"),
        (4, 50.0, "HTTP 500"),
    ]
    assert await store.pending_count() == 5
    for p in due:
        await store.mark_delivered(p.command.id)
    assert await store.next_due_at() == 110.0  # the claims still wait on their lease
    assert await store.end_backoffs(60.0) == 0
    assert [p.command.id for p in await store.due(115.0, 10)] == ["claimed", "moved"]


async def test_store_ends_a_backoff_once() -> None:
    store = MemoryOutboxStore()
    await store.put([cmd("a")])
    await store.reschedule("a", 100.0, 1, "HTTP 503", backoff=True)
    assert await store.end_backoffs(10.0) == 1
    assert await store.end_backoffs(20.0) == 0  # due since 10.0: nothing left to end
    assert [p.next_attempt_at for p in await store.due(20.0, 10)] == [10.0]


async def test_store_releases_a_claim_only_while_it_is_the_one_given() -> None:
    """`release({id: claimed_until}, now)`: each command still claimed until that time is due now;
    one rescheduled since (a backoff, another claim), delivered, or due already is left as it is."""
    store = MemoryOutboxStore()
    await store.put([cmd("a"), cmd("backed"), cmd("reclaimed"), cmd("gone"), cmd("lapsed")])
    for cid in ("a", "backed", "reclaimed", "gone"):
        await store.reschedule(cid, 110.0, 2, "HTTP 503")  # claimed until 110
    await store.reschedule("backed", 130.0, 3, "HTTP 503", backoff=True)
    await store.reschedule("reclaimed", 115.0, 2, "HTTP 503")
    await store.mark_delivered("gone")
    await store.reschedule("lapsed", 40.0, 1, "HTTP 503")  # its claim ran out: due already

    claims = {cid: 110.0 for cid in ("a", "backed", "reclaimed", "gone", "unknown")}
    assert await store.release({**claims, "lapsed": 40.0}, 50.0) == 1
    due = await store.due(50.0, 10)
    assert [(p.command.id, p.attempts, p.next_attempt_at, p.last_error) for p in due] == [
        ("a", 2, 50.0, "HTTP 503"),
        ("lapsed", 1, 40.0, "HTTP 503"),
    ]
    assert await store.end_backoffs(60.0) == 1  # "backed" is still a backoff


async def test_store_stays_compact_under_many_reschedules() -> None:
    store = MemoryOutboxStore()
    await store.put([cmd("a")])
    for i in range(10_000):
        await store.reschedule("a", float(i), i, "x")
    assert len(store._timeline) + len(store._ready) < 2_000
    [due] = await store.due(1e9, 10)
    assert (due.attempts, due.next_attempt_at) == (9_999, 9_999.0)


# -- metrics


async def test_metrics_count_submitted_delivered_retries_and_pending(platforms, outboxes) -> None:
    registry = CollectorRegistry()
    platform = await platforms(lambda body, attempt: 500 if body["id"] == "o1" and attempt <= 2 else 200)
    outbox = await outboxes(platform.url, metrics=OutboxMetrics(registry))

    def sample(name: str, **labels: str) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    await outbox.submit(
        [cmd("c1"), cmd("c2"), cmd("o1", "originate", callback_id="cb1", number="+33600000000")]
    )
    await outbox.submit([cmd("c1")])  # a duplicate is not counted again
    await eventually(lambda: len(platform.acked) == 3)
    await eventually(lambda: sample("acd_outbox_pending") == 0)

    assert sample("acd_commands_submitted_total", command="connect") == 2
    assert sample("acd_commands_submitted_total", command="originate") == 1
    assert sample("acd_commands_delivered_total", command="connect") == 2
    assert sample("acd_commands_delivered_total", command="originate") == 1
    assert sample("acd_command_retries_total", command="originate") == 2
    assert sample("acd_command_retries_total", command="connect") == 0
    assert sample("acd_command_delivery_seconds_count") == 3


async def test_pending_gauge_counts_commands_waiting_without_a_url() -> None:
    registry = CollectorRegistry()
    outbox = make_outbox(None, metrics=OutboxMetrics(registry))
    await outbox.start()
    await outbox.submit([cmd("c1"), cmd("c2")])
    assert registry.get_sample_value("acd_outbox_pending") == 2
    await outbox.stop()


async def test_pending_gauge_counts_commands_left_by_an_earlier_instance_while_the_platform_is_down() -> None:
    """An instance that starts (a restart, a failover) over a store holding commands an earlier
    one did not deliver, the platform still down: the gauge says they wait from the start and
    while their retries fail. Before, it read 0 until a command was submitted, delivered or
    dropped, so ACDOutboxBacklog could not fire (seen from outside: audit-outbox D1)."""
    store = MemoryOutboxStore()
    await store.put([cmd("c1"), cmd("c2")])
    registry = CollectorRegistry()
    outbox = make_outbox(
        f"http://127.0.0.1:{free_port()}/commands", store=store, metrics=OutboxMetrics(registry)
    )
    await outbox.start()
    try:
        await eventually(lambda: registry.get_sample_value("acd_outbox_pending") == 2)
        await eventually(
            lambda: (registry.get_sample_value("acd_command_retries_total", {"command": "connect"}) or 0) >= 4
        )
        assert registry.get_sample_value("acd_outbox_pending") == 2
    finally:
        await outbox.stop()


async def test_a_command_superseded_before_its_delivery_is_dropped_not_sent(platforms) -> None:
    """A `connect` still undelivered when its assignment is over (the platform was down, the call
    rang out and went to another agent meanwhile) would ring an agent for a call acd moved on,
    after the newer command: the outbox asks `superseded` before each attempt and drops such a
    command (counted, logged) instead of sending it."""
    port = free_port()
    registry = CollectorRegistry()
    gone = {"c1"}
    outbox = make_outbox(
        f"http://127.0.0.1:{port}/commands",
        metrics=OutboxMetrics(registry),
        superseded=lambda command: command.id in gone,
    )
    await outbox.start()
    try:
        await outbox.submit([cmd("c1"), cmd("c2")])  # the platform is down: both wait
        platform = await platforms(port=port)
        await eventually(lambda: platform.acked == ["c2"])
        await pending_is(outbox, 0)
        assert platform.attempts["c1"] == 0
        assert registry.get_sample_value("acd_commands_superseded_total", {"command": "connect"}) == 1
    finally:
        await outbox.stop(drain_timeout_s=0)


async def test_a_stop_that_loses_undelivered_commands_says_which(platforms, caplog) -> None:
    """With the memory store (not durable) the commands still pending when the process stops are
    lost with it: an error names them, so the operator knows what the platform never got. Before,
    they went silently."""
    platform = await platforms(lambda body, attempt: 500)
    outbox = make_outbox(platform.url, base_delay_s=30, max_delay_s=30, durable=False)
    await outbox.start()
    await outbox.submit([cmd("c1"), cmd("c2", "survey", call_id="x", number="+33600000000")])
    await eventually(lambda: platform.attempts["c2"] == 1)
    with caplog.at_level(logging.WARNING, logger="acd.outbox"):
        await outbox.stop(drain_timeout_s=0.1)
    [lost] = [r for r in caplog.records if "lost" in r.getMessage()]
    assert lost.levelno == logging.ERROR and lost.command_ids == ["c1", "c2"]
    assert "2 commands" in lost.getMessage()


async def test_a_durable_store_keeps_them_and_says_nothing_of_a_loss(platforms, caplog) -> None:
    platform = await platforms(lambda body, attempt: 500)
    outbox = make_outbox(platform.url, base_delay_s=30, max_delay_s=30)
    await outbox.start()
    await outbox.submit([cmd("c1")])
    await eventually(lambda: platform.attempts["c1"] == 1)
    with caplog.at_level(logging.WARNING, logger="acd.outbox"):
        await outbox.stop(drain_timeout_s=0.1)
    assert not [r for r in caplog.records if "lost" in r.getMessage()]


async def test_a_refusal_is_retried_as_the_contract_says_but_counted_and_logged_as_an_error(
    platforms, outboxes, caplog
) -> None:
    """A 4xx (the platform refuses the command) is retried until a 2xx like any failure (the
    contract), but told apart from an outage: `acd_command_failures_total{cause="refused"}` and an
    error, where a 5xx counts as `server` and stays a warning; every backoff drawn is observed in
    `acd_command_backoff_seconds`, within the maximum. Before, a refusal read like a 5xx."""
    registry = CollectorRegistry()
    answers = {1: 400, 2: 503, 3: 429}
    platform = await platforms(lambda body, attempt: answers.get(attempt, 200))
    with caplog.at_level(logging.DEBUG, logger="acd.outbox"):
        outbox = await outboxes(platform.url, metrics=OutboxMetrics(registry))
        await outbox.submit([cmd("c1")])
        await eventually(lambda: platform.acked == ["c1"])

    def failures(cause: str) -> float | None:
        return registry.get_sample_value("acd_command_failures_total", {"command": "connect", "cause": cause})

    assert (failures("refused"), failures("server"), failures("throttled")) == (1.0, 1.0, 1.0)
    assert registry.get_sample_value("acd_command_backoff_seconds_count") == 3.0
    assert registry.get_sample_value("acd_command_backoff_seconds_sum") <= 3 * 0.05
    [refused] = [r for r in caplog.records if "HTTP 400" in r.getMessage()]
    assert refused.levelno == logging.ERROR and "refused" in refused.getMessage()
    [server] = [r for r in caplog.records if "HTTP 503" in r.getMessage()]
    assert server.levelno == logging.WARNING
