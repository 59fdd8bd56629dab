"""HTTP benchmark: signed `POST /v1/events` traffic over loopback, the real service against a bare
aiohttp handler.

    python -m benchmarks.http [--quick] [--json]

Both servers run in their own subprocess; the load generator (asyncio, with its own command endpoint
on aiohttp) runs in a third process, so neither side steals the other's event loop. Its HTTP client
is by default a lean keep-alive HTTP/1.1 client over asyncio protocols (`--client raw`): aiohttp's
client (`--client aiohttp`) costs about four times as much CPU per request as the bare handler, so
on a small machine it, not the bare handler, would set the baseline. For each server, in one run:

0. first requests: as soon as `/readyz` answers 200, a call's life is sent one request at a time
   (login, offer, answer, end, a call queued and abandoned, a pause, `GET /v1/queues`), then the
   same again: the first round shows whatever a cold path costs (ready means warm);
1. throughput: a closed loop of `--concurrency` requests in flight (32) for a fixed time, with about
   `--waiting` calls waiting (200): requests/s;
2. latency: an open loop at a fixed offered rate (`--rate`, 1,000 events/s) with about
   `--latency-waiting` calls waiting (20,000; the line is filled in batches of 500 offers before
   the phase): each request is sent on its schedule whatever the earlier ones are doing, and its
   latency runs from the *scheduled* send time (no coordinated omission): p50 / p90 / p99 / max.

The bars (reported, never asserted): service throughput >= 50 % of the bare handler's; p99 < 10 ms
at 1,000 events/s with 20,000 calls waiting, and never more than twice the bare handler's p99; no
first request after ready slower than 10 ms; no non-2xx answer at all. The exit status is non-zero
only when a server fails to start or a request fails (a 4xx means the traffic generator is wrong, a
5xx that the service is).

The traffic is the platform's side of a contact centre with its clock compressed: the shipped roster
logs in (`agent.state` available), calls are offered across the skills (`call.offered`, unique ids,
E.164 callers, some with a department, a priority or `needs: ["lsf"]`), each `connect` decision is
answered by the agent it names (`call.answered`), then ended (`call.ended` completed), and the agent
becomes available again (`agent.state`; now and then after a pause). A call the service queues is
connected later by an outbound `connect` command, which the generator receives on its own command
endpoint (`ACD_COMMAND_URL`), as the platform would; a queued caller whose patience runs out hangs up
(`call.ended` abandoned; patience grows with the line, 10 s on average for 200 waiting, so abandons
stay a trickle). A new call is offered whenever fewer than the target wait, so about that many
always wait and the agents are all busy: the line neither empties nor grows without bound.
Talk and wrap-up last as long as the follow-up waits for its turn (time is compressed to the
server's pace). One event per request, each signed on its own. The service runs with
`ACD_CLOCK_START` on a Tuesday morning in November (open, no campaign), so that no call is refused
as `closed`, whatever day the benchmark runs.

The bare handler gets the same traffic; as it returns no decisions, the generator routes the calls
itself (any idle agent with the skill), so the mix of requests is the same.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import itertools
import json
import os
import subprocess
import sys
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from benchmarks._common import (
    SECRET,
    AiohttpClient,
    EventFactory,
    RawClient,
    RosterAgent,
    ServerError,
    ServerProcess,
    acd_service,
    dumps,
    durable_redis,
    free_port,
    latency_summary,
    load_roster,
    log,
    run_metadata,
    signed,
    write_results,
)

THROUGHPUT_RATIO_BAR = 0.50
P99_BAR_MS = 10.0
P99_OVER_BARE_BAR = 2.0  # the service's p99 at most this many times the bare handler's, same run
FIRST_REQUEST_BAR_MS = 10.0  # no request right after /readyz turns 200 slower than this
PAUSE_SHARE = 0.03  # agents who take a short pause after a call instead of going available at once
PATIENCE_S = 10.0  # mean patience of a waiting caller (exponential) when 200 wait; then `call.ended`
PATIENCE_WAITING = 200  # the line PATIENCE_S is for: patience grows with it (abandons stay a trickle)
PRELOAD_BATCH = 500  # offers per request when the line is filled before a phase (the contract: <= 1000)

perf = time.perf_counter


# --------------------------------------------------------------------------------------------------
# The traffic model


@dataclass(slots=True)
class Request:
    kind: str  # login | offer | answer | end | pause | available | abandon
    body: bytes
    call_id: str | None = None
    agent_id: str | None = None
    offer: dict[str, Any] | None = None


class Traffic:
    """What the telephony platform sends, one request at a time, and what it learns from the answers.

    About `waiting` calls are kept waiting: a new call is offered whenever fewer wait (or are being
    offered), so the line neither empties nor grows without bound, whatever the speed of the
    server, and the agents are busy.

    `next_request(now)` picks the next event: the agents' logins first, then a new call if the line
    is short, then the follow-ups in order (answer a connected call, end an answered one, make an
    agent available again, or now and then pause it first, hang up a caller whose patience ran
    out); with nothing due it offers one more call anyway (an open loop must send on time; that
    happens only when the server lags), or returns None when `idle_ok`.
    `on_response` and `on_command` move the calls along. With `simulate=True` (the bare handler,
    which decides nothing) the generator plays the router itself.
    """

    def __init__(
        self,
        roster: list[RosterAgent],
        departments: list[str],
        *,
        waiting: int = 200,
        simulate: bool = False,
        seed: int | None = None,
        tag: str | None = None,
    ) -> None:
        self.events = EventFactory(departments, seed=seed, tag=tag)
        self.rng = self.events.rng
        self.simulate = simulate
        self.skills_of = {a.id: a.skills for a in roster}
        logins = [a.id for a in roster]
        self.rng.shuffle(logins)
        self.to_login: deque[str] = deque(logins)
        self.target_waiting = 1
        self.patience_s = PATIENCE_S
        self.set_target(waiting)
        self.ready: deque[tuple[str, str | None, str | None]] = deque()
        self.timed: list[tuple[float, int, str, str | None, str | None]] = []
        self._seq = itertools.count()
        self.waiting: dict[str, dict[str, Any]] = {}  # queued calls, oldest first
        self.offers_in_flight: set[str] = set()
        self.early_connects: dict[str, str] = {}  # a command overtook the offer's answer
        self.sent: Counter[str] = Counter()
        self.decisions: Counter[str] = Counter()
        self.commands: Counter[str] = Counter()
        # the bare handler's stand-in router
        self.idle: set[str] = set()
        self.idle_by_skill: dict[str, deque[str]] = defaultdict(deque)

    def set_target(self, waiting: int) -> None:
        """Keep about `waiting` calls waiting from now on; callers' patience grows with the line
        (PATIENCE_S for 200), so that abandons stay a small share of the traffic."""
        self.target_waiting = max(1, waiting)
        self.patience_s = PATIENCE_S * max(1.0, self.target_waiting / PATIENCE_WAITING)

    # -- what to send

    def next_request(self, now: float, idle_ok: bool = False) -> Request | None:
        timed = self.timed
        while timed and timed[0][0] <= now:
            _, _, kind, call_id, agent_id = heapq.heappop(timed)
            if call_id in self.waiting:  # the only timed event: a caller out of patience
                self.ready.append((kind, call_id, agent_id))
        ev = self.events
        if self.to_login:
            agent_id = self.to_login.popleft()
            return self._request("login", ev.agent_state(agent_id, "available"), agent_id=agent_id)
        if len(self.waiting) + len(self.offers_in_flight) < self.target_waiting:
            return self._offer()
        while self.ready:
            kind, call_id, agent_id = self.ready.popleft()
            if kind == "abandon":
                assert call_id is not None
                if self.waiting.pop(call_id, None) is None:
                    continue  # connected meanwhile
                return self._request("abandon", ev.ended(call_id, "abandoned"), call_id)
            assert agent_id is not None
            if kind == "answer":
                assert call_id is not None
                event = ev.answered(call_id, agent_id)
            elif kind == "end":
                assert call_id is not None
                event = ev.ended(call_id, "completed")
            elif kind == "pause":
                event = ev.agent_state(agent_id, "paused", "break")
            else:
                event = ev.agent_state(agent_id, "available")
            return self._request(kind, event, call_id, agent_id)
        return None if idle_ok else self._offer()

    def _offer(self) -> Request:
        offer = self.events.offered()
        self.offers_in_flight.add(offer["call_id"])
        return self._request("offer", offer, offer["call_id"], offer=offer)

    def _request(
        self,
        kind: str,
        event: dict[str, Any],
        call_id: str | None = None,
        agent_id: str | None = None,
        offer: dict[str, Any] | None = None,
    ) -> Request:
        self.sent[kind] += 1
        return Request(kind, dumps(event), call_id, agent_id, offer)

    # -- what comes back

    def on_response(self, req: Request, ok: bool, payload: Any, now: float) -> dict[str, Any] | None:
        """Move the call along after the answer to `req`; returns the decision of an offer."""
        kind = req.kind
        if kind == "offer":
            assert req.call_id is not None and req.offer is not None
            self.offers_in_flight.discard(req.call_id)
            decision = None
            if ok:
                decision = self._simulate_offer(req.offer) if self.simulate else _decision(payload)
            action = decision.get("action") if decision else None
            self.decisions[str(action)] += 1
            if action == "connect":
                assert decision is not None
                self.ready.append(("answer", req.call_id, decision["agent_id"]))
            elif action == "queue":
                agent_id = self.early_connects.pop(req.call_id, None)
                if agent_id is not None:
                    self.ready.append(("answer", req.call_id, agent_id))
                else:
                    self.waiting[req.call_id] = req.offer
                    patience = self.rng.expovariate(1.0 / self.patience_s)
                    heapq.heappush(
                        self.timed, (now + patience, next(self._seq), "abandon", req.call_id, None)
                    )
            else:  # overflow, closed, or a failed request: the call left the national line
                self.early_connects.pop(req.call_id, None)
            return decision
        if not ok:  # a failed follow-up ends the call's story (the run is failed anyway)
            return None
        agent_id = req.agent_id
        if kind == "answer":  # talk time: the time the follow-up waits for its turn
            self.ready.append(("end", req.call_id, agent_id))
        elif kind == "end":
            self.ready.append(("pause" if self.rng.random() < PAUSE_SHARE else "available", None, agent_id))
        elif kind == "pause":
            self.ready.append(("available", None, agent_id))
        elif kind in ("available", "login") and self.simulate:
            assert agent_id is not None
            self._simulate_available(agent_id)
        return None

    def on_command(self, command: dict[str, Any]) -> None:
        """An outbound command from the service (a queued call got an agent, or left the line)."""
        name = str(command.get("command"))
        self.commands[name] += 1
        call_id = command.get("call_id")
        if name == "connect":
            if call_id in self.waiting:
                del self.waiting[call_id]
                self.ready.append(("answer", call_id, command["agent_id"]))
            elif call_id in self.offers_in_flight:
                self.early_connects[call_id] = command["agent_id"]
            else:
                self.commands["connect_ignored"] += 1  # the caller hung up meanwhile
        elif name == "overflow":
            self.waiting.pop(call_id, None)

    # -- the stand-in router for the bare handler

    def _simulate_offer(self, offer: dict[str, Any]) -> dict[str, Any]:
        skill, needs = offer["skill"], offer.get("needs", ())
        pool = self.idle_by_skill[needs[0] if needs else skill]
        skipped = []
        found = None
        while pool:
            agent_id = pool.popleft()
            if agent_id not in self.idle:
                continue  # taken through another of its skills
            skills = self.skills_of[agent_id]
            if skill in skills and all(n in skills for n in needs):
                found = agent_id
                break
            skipped.append(agent_id)
        pool.extendleft(reversed(skipped))
        if found is None:
            return {"action": "queue", "call_id": offer["call_id"]}
        self.idle.discard(found)
        return {"action": "connect", "call_id": offer["call_id"], "agent_id": found}

    def _simulate_available(self, agent_id: str) -> None:
        skills = self.skills_of[agent_id]
        for call_id, offer in self.waiting.items():
            if offer["skill"] in skills and all(n in skills for n in offer.get("needs", ())):
                del self.waiting[call_id]
                self.commands["connect"] += 1
                self.ready.append(("answer", call_id, agent_id))
                return
        self.idle.add(agent_id)
        for skill in skills:
            self.idle_by_skill[skill].append(agent_id)


def _decision(payload: Any) -> dict[str, Any] | None:
    try:
        return payload["results"][0].get("decision")
    except (TypeError, KeyError, IndexError, AttributeError):
        return None


# --------------------------------------------------------------------------------------------------
# The load generator


@dataclass
class PhaseStats:
    requests: int = 0
    latencies: list[float] = field(default_factory=list)
    status: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)
    waiting_samples: list[int] = field(default_factory=list)  # the service's count if known
    starved: int = 0  # times a closed-loop worker found nothing to send (then it waits 1 ms)

    def record(self, req: Request, status: int, latency: float, decision: dict[str, Any] | None) -> None:
        self.requests += 1
        self.latencies.append(latency)
        self.status[_status_class(status)] += 1
        self.kinds[req.kind] += 1
        if req.kind == "offer":
            self.decisions[str(decision.get("action")) if decision else "none"] += 1


def _status_class(status: int) -> str:
    return "error" if status <= 0 else f"{status // 100}xx"


class LoadGenerator:
    """Sends `Traffic` to `base_url` and measures; optionally receives the service's commands."""

    def __init__(
        self,
        base_url: str,
        traffic: Traffic,
        secret: bytes | None,
        *,
        server_pid: int | None = None,
        service: bool = True,
        connections: int = 64,
        client: str = "raw",
    ) -> None:
        self._client: AiohttpClient | RawClient | None = None
        self.set_base_url(base_url)
        self.connections = connections
        self.client = client
        self.traffic = traffic
        self.secret = secret
        self.server_pid = server_pid
        self.service = service
        self.status_total: Counter[str] = Counter()  # every request, warm-ups and logins included
        self.failures: list[dict[str, Any]] = []  # the first few non-2xx answers, for the report
        self.bad_command_signatures = 0
        self._sink: web.AppRunner | None = None
        self._sampler: asyncio.Task[None] | None = None
        self._phase: PhaseStats | None = None
        self._service_waiting: int | None = None

    def set_base_url(self, base_url: str) -> None:
        """Where to send; before the first phase (the server may start after the command endpoint,
        to be told its URL)."""
        assert self._client is None, "the client is already connected"
        self.base_url = base_url.rstrip("/")

    def _start(self) -> None:
        if self._client is not None:
            return
        # A bounded pool: in the open loop, requests beyond it wait their turn in the client (their
        # latency still runs from the schedule), rather than opening connections without end.
        factory = RawClient if self.client == "raw" else AiohttpClient
        self._client = factory(self.base_url, self.connections)
        self._sampler = asyncio.create_task(self._sample())

    async def __aenter__(self) -> LoadGenerator:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
        if self._client is not None:
            await self._client.close()
        if self._sink is not None:
            await self._sink.cleanup()

    async def start_sink(self, port: int = 0) -> str:
        """The platform's command endpoint, for `ACD_COMMAND_URL`; returns its URL."""
        from acd.signing import SignatureError, verify

        async def handle(request: web.Request) -> web.Response:
            body = await request.read()
            if self.secret:
                try:
                    verify(
                        self.secret,
                        request.headers.get("X-ACD-Timestamp"),
                        request.headers.get("X-ACD-Signature"),
                        body,
                    )
                except SignatureError:
                    self.bad_command_signatures += 1
                    return web.Response(status=401)
            self.traffic.on_command(json.loads(body))
            return web.Response(status=204)

        app = web.Application()
        app.router.add_post("/commands", handle)
        self._sink = web.AppRunner(app, access_log=None)
        await self._sink.setup()
        site = web.TCPSite(self._sink, "127.0.0.1", port)
        await site.start()
        actual = self._sink.addresses[0][1]
        return f"http://127.0.0.1:{actual}/commands"

    async def _sample(self) -> None:
        """Samples the number of waiting calls ten times a second, for the report."""
        poll = asyncio.create_task(self._poll_queues()) if self.service else None
        try:
            while True:
                await asyncio.sleep(0.1)
                waiting = self._service_waiting if self.service else len(self.traffic.waiting)
                if self._phase is not None and waiting is not None:
                    self._phase.waiting_samples.append(waiting)
        finally:
            if poll is not None:
                poll.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poll

    async def _poll_queues(self) -> None:
        """The service's own count of waiting calls (the generator's view lags by the commands in
        flight), four times a second."""
        while True:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError, OSError, ValueError, KeyError):
                queues = await self.queues()
                if isinstance(queues, list):
                    self._service_waiting = sum(q["waiting"] for q in queues)
            await asyncio.sleep(0.25)

    async def send(self, req: Request) -> tuple[int, Any]:
        assert self._client is not None
        headers = signed(self.secret, req.body) if self.secret else {"Content-Type": "application/json"}
        try:
            status, data = await self._client.request("POST", "/v1/events", req.body, headers)
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            self._failure(req, 0, f"{type(exc).__name__}: {exc}")
            return 0, None
        payload = None
        if req.kind in ("offer", "preload") or not 200 <= status < 300:
            try:
                payload = json.loads(data)
            except ValueError:
                payload = data[:500].decode(errors="replace")
        if not 200 <= status < 300:
            self._failure(req, status, payload)
        self.status_total[_status_class(status)] += 1
        return status, payload

    def _failure(self, req: Request, status: int, detail: Any) -> None:
        if status <= 0:
            self.status_total["error"] += 1
        if len(self.failures) < 10:
            sent = req.body.decode()[:2000]
            self.failures.append({"status": status, "kind": req.kind, "body": sent, "answer": detail})

    def _handle(self, req: Request, status: int, payload: Any, now: float) -> dict[str, Any] | None:
        return self.traffic.on_response(req, 200 <= status < 300, payload, now)

    # -- phases

    async def preload(self, waiting: int) -> dict[str, Any]:
        """Fill the line to `waiting` calls before a phase: the agents' logins first, then offers in
        batches of PRELOAD_BATCH events per request (a line of 20,000 takes seconds, not the minutes
        that one offer per request at 1,000 events/s would). Not measured."""
        self._start()
        traffic = self.traffic
        traffic.set_target(waiting)
        started = perf()
        while traffic.to_login:
            req = traffic.next_request(perf())
            assert req is not None
            status, payload = await self.send(req)
            self._handle(req, status, payload, perf())
        batches = 0
        while (short := waiting - len(traffic.waiting) - len(traffic.offers_in_flight)) > 0:
            offers = [traffic._offer() for _ in range(min(PRELOAD_BATCH, short))]
            body = b"[" + b",".join(r.body for r in offers) + b"]"
            batch = Request("preload", body)
            status, payload = await self.send(batch)
            batches += 1
            ok = 200 <= status < 300
            results = payload.get("results") if ok and isinstance(payload, dict) else None
            now = perf()
            for i, req in enumerate(offers):
                one = {"results": [results[i]]} if self.service and results and i < len(results) else None
                self.traffic.on_response(req, ok, one, now)
            if not ok:
                break
        return {"waiting": len(traffic.waiting), "batches": batches, "seconds": round(perf() - started, 2)}

    async def closed_loop(self, concurrency: int, warmup_s: float, duration_s: float) -> dict[str, Any]:
        """`concurrency` requests in flight back to back; counts what completes in the window."""
        self._start()
        stats = PhaseStats()
        t_measure = perf() + warmup_s
        t_end = t_measure + duration_s

        async def worker() -> None:
            while True:
                start = perf()
                if start >= t_end:
                    return
                req = self.traffic.next_request(start, idle_ok=True)
                if req is None:  # every call waits for the service (a command) or is in flight
                    stats.starved += 1
                    await asyncio.sleep(0.001)
                    continue
                status, payload = await self.send(req)
                done = perf()
                decision = self._handle(req, status, payload, done)
                if start >= t_measure and done <= t_end:
                    stats.record(req, status, done - start, decision)

        probe = asyncio.create_task(self._probe(stats, t_measure, t_end))
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        extra = await probe
        result = self._summary("closed", stats, duration_s, extra)
        result["concurrency"] = concurrency
        result["requests_per_s"] = round(stats.requests / duration_s, 1)
        return result

    async def open_loop(self, rate: float, warmup_s: float, duration_s: float) -> dict[str, Any]:
        """Requests on a fixed schedule (`rate` per second) whatever the answers do; latency from the
        scheduled send time."""
        self._start()
        stats = PhaseStats()
        interval = 1.0 / rate
        t0 = perf() + 0.01
        t_measure = t0 + warmup_s
        n_total = round((warmup_s + duration_s) * rate)
        tasks: set[asyncio.Task[None]] = set()
        max_lag = 0.0

        async def one(req: Request, scheduled: float) -> None:
            status, payload = await self.send(req)
            done = perf()
            decision = self._handle(req, status, payload, done)
            if scheduled >= t_measure:
                stats.record(req, status, done - scheduled, decision)

        probe = asyncio.create_task(self._probe(stats, t_measure, t0 + n_total * interval))
        i = 0
        while i < n_total:
            now = perf()
            while i < n_total and t0 + i * interval <= now:
                scheduled = t0 + i * interval
                if scheduled >= t_measure:
                    max_lag = max(max_lag, now - scheduled)
                req = self.traffic.next_request(now)
                assert req is not None
                task = asyncio.create_task(one(req, scheduled))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                i += 1
            if i < n_total:
                await asyncio.sleep(max(0.0, t0 + i * interval - perf()))
        if tasks:  # the stragglers of an overloaded server: wait for them, within reason
            _, pending = await asyncio.wait(set(tasks), timeout=120)
            for task in pending:
                task.cancel()
                self.status_total["error"] += 1
                stats.status["unfinished"] += 1
        extra = await probe
        result = self._summary("open", stats, duration_s, extra)
        result["offered_rate_per_s"] = rate
        result["scheduled"] = n_total - round(warmup_s * rate)
        result["max_send_lag_ms"] = round(max_lag * 1000, 3)
        return result

    async def _probe(self, stats: PhaseStats, t_measure: float, t_end: float) -> dict[str, Any]:
        """CPU of both processes and the commands received, over the measured window."""
        try:
            import psutil
        except ImportError:  # the bench extra is missing: no CPU figures
            psutil = None
        server = psutil.Process(self.server_pid) if psutil and self.server_pid else None
        await asyncio.sleep(max(0.0, t_measure - perf()))
        self._phase = stats
        c0 = self.traffic.commands.copy()
        s0 = _cpu(server)
        g0 = time.process_time()
        b0 = _busy()
        w0 = perf()
        await asyncio.sleep(max(0.0, t_end - perf()))
        self._phase = None
        wall = perf() - w0
        generator = 100 * (time.process_time() - g0) / wall
        machine = 100 * (_busy() - b0) / wall
        extra: dict[str, Any] = {
            "generator_cpu_pct": round(generator, 1),
            "machine_cpu_pct": round(machine, 1),  # all CPUs together: up to 100 * cpu_count
            "commands": dict(self.traffic.commands - c0),
        }
        if server is not None:
            server_pct = 100 * (_cpu(server) - s0) / wall
            extra["server_cpu_pct"] = round(server_pct, 1)
            extra["other_cpu_pct"] = round(max(0.0, machine - server_pct - generator), 1)  # neither of us
            extra["server_rss_mib"] = round(server.memory_info().rss / 2**20, 1)
        return extra

    def _summary(
        self, loop: str, stats: PhaseStats, duration_s: float, extra: dict[str, Any]
    ) -> dict[str, Any]:
        samples = stats.waiting_samples
        per_request = {}  # CPU ms per request: less disturbed than rates by a busy machine
        for who in ("server", "generator"):
            pct = extra.get(f"{who}_cpu_pct")
            if pct is not None and stats.requests:
                per_request[f"{who}_cpu_ms_per_request"] = round(pct * 10 * duration_s / stats.requests, 4)
        return {
            "loop": loop,
            "duration_s": duration_s,
            "requests": stats.requests,
            "latency": latency_summary(stats.latencies),
            "status": dict(stats.status),
            "non_2xx": sum(n for k, n in stats.status.items() if k != "2xx"),
            "events": dict(stats.kinds),
            "decisions": dict(stats.decisions),
            "abandoned_per_offer": round(stats.kinds["abandon"] / max(1, stats.kinds["offer"]), 3),
            "starved": stats.starved,
            "waiting": {
                "mean": round(sum(samples) / len(samples), 1) if samples else None,
                "min": min(samples, default=None),
                "max": max(samples, default=None),
            },
            **extra,
            **per_request,
        }

    async def queues(self) -> Any:
        """`GET /v1/queues` (signed), for the report; None from the bare handler."""
        if not self.service:
            return None
        self._start()
        assert self._client is not None
        headers = signed(self.secret, b"") if self.secret else {}
        try:
            status, data = await self._client.request("GET", "/v1/queues", b"", headers)
        except (OSError, TimeoutError) as exc:  # the server is gone: say so, keep the figures
            return {"error": f"{type(exc).__name__}: {exc}"}
        if status != 200:
            return {"status": status, "body": data.decode(errors="replace")}
        return json.loads(data)["queues"]


def _busy() -> float:
    """CPU seconds the whole machine spent busy (all CPUs); 0 without psutil."""
    try:
        import psutil
    except ImportError:
        return 0.0

    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0)


def _cpu(process: Any) -> float:
    if process is None:
        return 0.0
    times = process.cpu_times()
    return times.user + times.system


# --------------------------------------------------------------------------------------------------
# The generator process


async def _generate(spec: dict[str, Any]) -> dict[str, Any]:
    roster, departments = load_roster()
    service = spec["target"] != "bare"
    traffic = Traffic(
        roster, departments, waiting=spec["waiting"], simulate=not service, seed=spec.get("seed")
    )
    secret = spec["secret"].encode()
    out: dict[str, Any] = {"phases": {}}
    connections = max([64] + [p.get("concurrency", 0) for p in spec["phases"]])
    async with LoadGenerator(
        spec["url"],
        traffic,
        secret,
        server_pid=spec.get("server_pid"),
        service=service,
        connections=connections,
        client=spec.get("client", "raw"),
    ) as gen:
        if spec.get("sink_port"):
            await gen.start_sink(spec["sink_port"])
        for phase in spec["phases"]:
            log(
                f"  {spec['target']}: {phase['name']}, "
                f"{phase['warmup_s']:g} s warm-up + {phase['duration_s']:g} s measured"
            )
            waiting = phase.get("waiting", spec["waiting"])
            if waiting > len(traffic.waiting) + PRELOAD_BATCH:
                filled = await gen.preload(waiting)
                log(f"    the line filled to {filled['waiting']:,} calls in {filled['seconds']:g} s")
            traffic.set_target(waiting)
            if phase["loop"] == "closed":
                result = await gen.closed_loop(phase["concurrency"], phase["warmup_s"], phase["duration_s"])
            else:
                result = await gen.open_loop(phase["rate"], phase["warmup_s"], phase["duration_s"])
            result["queues"] = await gen.queues()
            out["phases"][phase["name"]] = result
            log(f"    {_one_line(result)}")
        await asyncio.sleep(0.3)  # let the last commands land before the totals
        out["status_total"] = dict(gen.status_total)
        out["failures"] = gen.failures
        out["sent"] = dict(traffic.sent)
        out["decisions"] = dict(traffic.decisions)
        out["commands"] = dict(traffic.commands)
        out["bad_command_signatures"] = gen.bad_command_signatures
    return out


def _one_line(result: dict[str, Any]) -> str:
    lat = result["latency"]
    rate = result.get("requests_per_s") or round(result["requests"] / result["duration_s"], 1)
    return (
        f"{rate:,.0f} req/s, p50 {lat['p50_ms']:.2f} ms, p99 {lat['p99_ms']:.2f} ms, "
        f"non-2xx {result['non_2xx']}, waiting ~{result['waiting']['mean']}, "
        f"cpu server {result.get('server_cpu_pct', '-')} % / generator {result['generator_cpu_pct']} %"
    )


def _generator_main(spec_json: str) -> None:
    result = asyncio.run(_generate(json.loads(spec_json)))
    sys.stdout.write(json.dumps(result) + "\n")


# --------------------------------------------------------------------------------------------------
# The bare handler


_BARE_ANSWER = b'{"results":[{"id":"bare","status":"applied"}]}'


def _bare_main(port: int) -> None:
    """A bare aiohttp app: POST /v1/events answers a fixed small JSON and does nothing else."""

    async def events(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(body=_BARE_ANSWER, content_type="application/json")

    async def readyz(request: web.Request) -> web.Response:
        return web.Response(body=b'{"status":"ready"}', content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/events", events)
    app.router.add_get("/readyz", readyz)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# --------------------------------------------------------------------------------------------------
# Ready means warm


def first_requests(url: str, secret: bytes, rounds: int = 2) -> dict[str, Any]:
    """The latency of each request of a call's life sent right after `/readyz` turned 200, one at a
    time on one keep-alive connection, in `rounds` rounds: the first round is what a cold path
    (a kernel compiled, a module imported, a table filled on first use) would slow; the later ones
    are the same requests warm. An agent logs in, takes a call, hangs up; a second call waits and
    is abandoned; the agent pauses; then `GET /v1/queues`."""
    import http.client
    from urllib.parse import urlsplit

    roster, _ = load_roster()
    agent = next(a.id for a in roster if "impot_revenu" in a.skills)
    events = EventFactory(["59"], seed=7, tag=f"probe{os.getpid()}")
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=30)
    conn.connect()
    out: list[list[dict[str, Any]]] = []
    try:
        for _ in range(rounds):
            first, second = events.call_id(), events.call_id()
            offer = {**events.offered(first), "skill": "impot_revenu"}
            offer.pop("needs", None)
            steps: list[tuple[str, dict[str, Any] | None]] = [
                ("agent.state available", events.agent_state(agent, "available")),
                ("call.offered (connect)", offer),
                ("call.answered", events.answered(first, agent)),
                ("call.ended completed", events.ended(first)),
                ("call.offered (queue)", {**events.offered(second), "skill": "impot_revenu"}),
                ("call.ended abandoned", events.ended(second, "abandoned")),
                ("agent.state paused", events.agent_state(agent, "paused", "probe")),
                ("GET /v1/queues", None),
            ]
            timings = []
            for name, event in steps:
                if event is None:
                    headers = signed(secret, b"")
                    started = perf()
                    conn.request("GET", "/v1/queues", headers=headers)
                else:
                    body = dumps(event)
                    started = perf()
                    conn.request("POST", "/v1/events", body, signed(secret, body))
                response = conn.getresponse()
                response.read()
                timings.append(
                    {"request": name, "status": response.status, "ms": round((perf() - started) * 1000, 3)}
                )
            out.append(timings)
    finally:
        conn.close()
    cold, warm = out[0], out[-1]
    return {
        "cold": cold,
        "warm": warm,
        "cold_max_ms": max(t["ms"] for t in cold),
        "warm_max_ms": max(t["ms"] for t in warm),
        "non_2xx": sum(1 for r in out for t in r if not 200 <= t["status"] < 300),
    }


# --------------------------------------------------------------------------------------------------
# The benchmark


def _phases(args: argparse.Namespace) -> list[dict[str, Any]]:
    warmup = 1.5 if args.quick else 3.0
    duration = args.duration or (5.0 if args.quick else 25.0)
    return [
        {
            "name": "throughput",
            "loop": "closed",
            "concurrency": args.concurrency,
            "waiting": args.waiting,
            "warmup_s": warmup,
            "duration_s": duration,
        },
        {
            "name": "latency",
            "loop": "open",
            "rate": args.rate,
            "waiting": args.latency_waiting,
            "warmup_s": warmup,
            "duration_s": duration,
        },
    ]


def _cpu_ratio(svc: dict[str, Any], bare: dict[str, Any]) -> float | None:
    s = svc["phases"]["throughput"].get("server_cpu_ms_per_request")
    b = bare["phases"]["throughput"].get("server_cpu_ms_per_request")
    return round(b / s, 3) if s and b else None


class GeneratorError(RuntimeError):
    pass


def _run_target(target: str, args: argparse.Namespace, redis_url: str | None = None) -> dict[str, Any]:
    port = free_port()
    spec: dict[str, Any] = {
        "target": target,
        "url": f"http://127.0.0.1:{port}",
        "secret": SECRET,
        "waiting": args.waiting,
        "seed": args.seed,
        "client": args.client,
        "phases": _phases(args),
    }
    if target != "bare":
        sink_port = free_port()
        spec["sink_port"] = sink_port
        store = {"ACD_REDIS_URL": redis_url} if redis_url else {}
        server = acd_service(port, command_url=f"http://127.0.0.1:{sink_port}/commands", **store)
    else:
        argv = [sys.executable, "-m", "benchmarks.http", "--bare-server", str(port)]
        server = ServerProcess("bare", argv, port)
    with server:
        log(f"{target}: starting on port {port}")
        started = perf()
        server.start()
        ready_s = perf() - started
        log(f"{target}: ready in {ready_s:.1f} s (pid {server.pid})")
        first = first_requests(server.base_url, SECRET.encode())
        log(
            f"{target}: first requests after ready: max {first['cold_max_ms']:.1f} ms "
            f"(the same again: max {first['warm_max_ms']:.1f} ms)"
        )
        spec["server_pid"] = server.pid
        budget = 120 + sum(p["warmup_s"] + p["duration_s"] for p in spec["phases"])
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.http", "--generator", json.dumps(spec)],
            stdout=subprocess.PIPE,
            text=True,
            timeout=budget,
        )
        if proc.returncode != 0 or not proc.stdout.strip():
            raise GeneratorError(
                f"the load generator failed (exit {proc.returncode}) against {target}; "
                f"server log:\n{server.log_tail(20)}"
            )
        result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        result["first_requests"] = first
        result["ready_s"] = round(ready_s, 1)  # spawn to `/readyz` 200
        result["server_run_s"] = round(perf() - started, 1)  # spawn to the generator's end
        result["server_alive"] = server.alive()
        failed = sum(n for k, n in result["status_total"].items() if k != "2xx")
        if failed or not result["server_alive"]:
            result["server_log_tail"] = server.log_tail(40)
        return result


def _fmt(value: Any, spec: str = ",.0f") -> str:
    if value is None:
        return "-"
    return format(value, spec)


def _report(results: dict[str, Any]) -> str:
    svc, bare = results["service"], results["bare"]
    st, bt = svc["phases"]["throughput"], bare["phases"]["throughput"]
    sl, bl = svc["phases"]["latency"], bare["phases"]["latency"]
    summary = results["summary"]

    def row(label: str, service: str, baseline: str, ratio: str = "") -> str:
        return f"{label:40}{service:>14}{baseline:>14}{ratio:>14}"

    def cpu(phase: dict[str, Any]) -> str:
        return (
            f"{_fmt(phase.get('server_cpu_pct'), '.0f')}/{_fmt(phase['generator_cpu_pct'], '.0f')}"
            f"/{_fmt(phase.get('other_cpu_pct'), '.0f')}"
        )

    def lat(phase: dict[str, Any], key: str) -> str:
        return f"{phase['latency'][key]:.2f}"

    lines = [
        "",
        f"HTTP benchmark: signed POST /v1/events over loopback, one event per request "
        f"({results['meta']['cpu_count']} CPUs, Python {results['meta']['python']})",
        "",
        row("", "service", "bare", "service/bare"),
        row(
            f"throughput, {st['concurrency']} in flight (req/s)",
            _fmt(st["requests_per_s"]),
            _fmt(bt["requests_per_s"]),
            f"{summary['throughput_ratio']:.0%}",
        ),
        row(
            "  latency p50 / p99 (ms)",
            f"{lat(st, 'p50_ms')} / {lat(st, 'p99_ms')}",
            f"{lat(bt, 'p50_ms')} / {lat(bt, 'p99_ms')}",
        ),
        row("  CPU % server/generator/others", cpu(st), cpu(bt)),
        row(
            "  server CPU per request (ms)",
            _fmt(st.get("server_cpu_ms_per_request"), ".3f"),
            _fmt(bt.get("server_cpu_ms_per_request"), ".3f"),
            _fmt(summary["cpu_per_request_ratio"], ".0%"),
        ),
        row(f"open loop at {sl['offered_rate_per_s']:g} events/s", "", ""),
    ]
    for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms"):
        lines.append(row(f"  latency {key[:-3]} (ms)", lat(sl, key), lat(bl, key)))
    lines += [
        row("  requests measured", f"{sl['requests']:,}", f"{bl['requests']:,}"),
        row("  CPU % server/generator/others", cpu(sl), cpu(bl)),
        row(
            "non-2xx or failed requests (whole run)",
            str(summary["failed_service"]),
            str(summary["failed_bare"]),
        ),
        row("calls waiting (mean, latency phase)", _fmt(sl["waiting"]["mean"]), _fmt(bl["waiting"]["mean"])),
        row(
            "first requests after ready, max (ms)",
            _fmt(svc["first_requests"]["cold_max_ms"], ".2f"),
            _fmt(bare["first_requests"]["cold_max_ms"], ".2f"),
        ),
        row(
            "  the same requests again, max (ms)",
            _fmt(svc["first_requests"]["warm_max_ms"], ".2f"),
            _fmt(bare["first_requests"]["warm_max_ms"], ".2f"),
        ),
        "",
        f"service decisions (whole run): {json.dumps(svc['decisions'])}",
        f"service commands received: {json.dumps(svc['commands'])}",
        f"requests sent to the service: {json.dumps(svc['sent'])}",
        "",
        "bars:",
        f"  throughput service/bare >= {THROUGHPUT_RATIO_BAR:.0%}: "
        f"{_met(summary['throughput_bar_met'])} ({summary['throughput_ratio']:.0%})",
        f"  p99 at {sl['offered_rate_per_s']:g} events/s < {P99_BAR_MS:g} ms: "
        f"{_met(summary['p99_bar_met'])} ({sl['latency']['p99_ms']:.2f} ms, "
        f"{summary['latency_waiting']:,} calls waiting)",
        f"  p99 at most {P99_OVER_BARE_BAR:g}x the bare handler's: {_met(summary['p99_over_bare_bar_met'])} "
        f"({summary['p99_over_bare']:g}x)",
        f"  first requests after ready < {FIRST_REQUEST_BAR_MS:g} ms: "
        f"{_met(summary['ready_means_warm_met'])} ({summary['first_request_max_ms']:.2f} ms)",
        f"  no non-2xx: {_met(summary['no_errors'])}",
        "",
        "service/bare from CPU per request (what the throughput ratio would be with a CPU each): "
        f"{_fmt(summary['cpu_per_request_ratio'], '.0%')}",
    ]
    redis_run = results.get("service_redis")
    if redis_run is not None:
        rt, rl = redis_run["phases"]["throughput"], redis_run["phases"]["latency"]
        lines += [
            "",
            "the service on Redis (its own redis-server: appendonly yes, appendfsync always), same traffic:",
            f"  throughput, {rt['concurrency']} in flight: {_fmt(rt['requests_per_s'])} req/s "
            f"({summary['redis_throughput_ratio']:.0%} of the bare handler's)",
            f"  open loop at {rl['offered_rate_per_s']:g} events/s: p50 {lat(rl, 'p50_ms')} ms, "
            f"p99 {lat(rl, 'p99_ms')} ms, max {lat(rl, 'max_ms')} ms",
            f"  non-2xx or failed requests (whole run): {summary['failed_redis']}",
        ]
    if max(bt["generator_cpu_pct"], st["generator_cpu_pct"]) > 90:
        lines.append(
            "note: the generator used a whole CPU in a throughput phase: that figure is bounded by the "
            "client, not the server."
        )
    others = max(p.get("other_cpu_pct") or 0.0 for p in (st, bt, sl, bl))
    if others > 20:
        lines.append(
            f"note: other processes used up to {others:.0f} % CPU during the measures (of "
            f"{100 * (results['meta']['cpu_count'] or 1)} %): the figures are disturbed."
        )
    return "\n".join(lines)


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds per phase (CI)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight, throughput phase")
    parser.add_argument("--rate", type=float, default=1000.0, help="offered events/s, latency phase")
    parser.add_argument("--duration", type=float, default=None, help="seconds measured per phase")
    parser.add_argument(
        "--waiting", type=int, default=200, help="calls kept waiting (target), throughput phase"
    )
    parser.add_argument(
        "--latency-waiting",
        type=int,
        default=None,
        help="calls kept waiting (target), latency phase (default 20,000; --quick: 2,000); the line "
        "is filled in batches before the phase",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--client",
        choices=("aiohttp", "raw"),
        default="raw",
        help="the generator's HTTP client: a lean keep-alive one over asyncio (default: a quarter of "
        "the CPU per request, so the generator does not cap the bare handler), or aiohttp's",
    )
    parser.add_argument(
        "--no-redis",
        action="store_true",
        help="skip the service on Redis (its own redis-server, appendonly yes, appendfsync always)",
    )
    parser.add_argument("--generator", help=argparse.SUPPRESS)
    parser.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.latency_waiting is None:
        args.latency_waiting = 2_000 if args.quick else 20_000
    if args.generator:
        _generator_main(args.generator)
        return 0
    if args.bare_server:
        _bare_main(args.bare_server)
        return 0

    results: dict[str, Any] = {"meta": run_metadata(), "settings": {**vars(args), "phases": _phases(args)}}
    results["settings"].pop("generator")
    results["settings"].pop("bare_server")
    try:
        results["service"] = _run_target("service", args)
        if not args.no_redis:
            with durable_redis() as url:
                results["service_redis"] = _run_target("service-redis", args, url)
        results["bare"] = _run_target("bare", args)
    except (ServerError, GeneratorError, subprocess.TimeoutExpired) as exc:
        log(f"error: {exc}")
        results["error"] = str(exc)
        write_results("http", results, quick=args.quick)
        return 2
    svc, bare = results["service"], results["bare"]
    failed_service = sum(n for k, n in svc["status_total"].items() if k != "2xx")
    failed_bare = sum(n for k, n in bare["status_total"].items() if k != "2xx")
    redis_run = results.get("service_redis")
    failed_redis = sum(n for k, n in redis_run["status_total"].items() if k != "2xx") if redis_run else 0
    service_rps = svc["phases"]["throughput"]["requests_per_s"]
    ratio = service_rps / max(1e-9, bare["phases"]["throughput"]["requests_per_s"])
    p99 = svc["phases"]["latency"]["latency"]["p99_ms"]
    bare_p99 = bare["phases"]["latency"]["latency"]["p99_ms"]
    first = svc["first_requests"]
    results["summary"] = {
        "service_rps": svc["phases"]["throughput"]["requests_per_s"],
        "bare_rps": bare["phases"]["throughput"]["requests_per_s"],
        "throughput_ratio": round(ratio, 3),
        "throughput_bar_met": ratio >= THROUGHPUT_RATIO_BAR,
        # bare CPU per request / service CPU per request, throughput phase: what the ratio would be
        # with a whole CPU each; less sensitive to other load on the machine than the rates
        "cpu_per_request_ratio": _cpu_ratio(svc, bare),
        "latency_p50_ms": svc["phases"]["latency"]["latency"]["p50_ms"],
        "latency_p99_ms": p99,
        "p99_bar_met": p99 < P99_BAR_MS,
        "latency_waiting": args.latency_waiting,
        "bare_latency_p99_ms": bare_p99,
        "p99_over_bare": round(p99 / max(1e-9, bare_p99), 2),
        "p99_over_bare_bar_met": p99 <= P99_OVER_BARE_BAR * bare_p99,
        "first_request_max_ms": first["cold_max_ms"],
        "first_request_warm_max_ms": first["warm_max_ms"],
        "ready_means_warm_met": first["cold_max_ms"] < FIRST_REQUEST_BAR_MS,
        "failed_service": failed_service,
        "failed_bare": failed_bare,
        "failed_redis": failed_redis,
        "no_errors": failed_service == 0
        and failed_bare == 0
        and first["non_2xx"] == 0
        and failed_redis == 0
        and svc["server_alive"]
        and (redis_run is None or redis_run["server_alive"]),
    }
    if redis_run is not None:
        redis_rps = redis_run["phases"]["throughput"]["requests_per_s"]
        bare_rps = bare["phases"]["throughput"]["requests_per_s"]
        results["summary"].update(
            {
                "redis_rps": redis_rps,
                "redis_throughput_ratio": round(redis_rps / max(1e-9, bare_rps), 3),
                "redis_latency_p50_ms": redis_run["phases"]["latency"]["latency"]["p50_ms"],
                "redis_latency_p99_ms": redis_run["phases"]["latency"]["latency"]["p99_ms"],
                "redis_persistence": "appendonly yes, appendfsync always",
            }
        )
    path = write_results("http", results, quick=args.quick)
    if args.json:
        print(json.dumps(results))
    else:
        print(_report(results))
    log(f"results written to {os.path.relpath(path)}")
    for target in ("service", "service_redis", "bare"):
        if target not in results:
            continue
        for failure in results[target]["failures"][:3]:
            log(f"{target}: failed request: {json.dumps(failure)[:600]}")
        if "server_log_tail" in results[target]:
            log(f"{target}: server log tail:\n{results[target]['server_log_tail']}")
    return 0 if results["summary"]["no_errors"] else 1


if __name__ == "__main__":
    sys.exit(main())
