"""Outbound commands: persisted in an outbox, delivered to the platform by a dispatcher.

`Outbox.submit` only persists the commands and wakes the dispatcher; it never waits for delivery,
so event handling is never held up by the platform. The dispatcher POSTs each command (signed, with
`Idempotency-Key: <id>`) to the command URL and retries with exponential backoff until a 2xx; it
never gives up on a command: a 4xx (the platform refusing it) is retried too, as the contract says
(the platform may be fixed meanwhile), but counted apart (`acd_command_failures_total{cause}`) and
logged as an error. Only its supersession (a connect or originate whose assignment is over) drops a
command undelivered. Commands are idempotent by id: one already pending or delivered is ignored.

Claiming a command: before a delivery attempt the dispatcher reschedules the command to "now + lease"
(the attempt's timeout plus a margin). If the process dies mid-attempt, the command simply falls due
again when the lease expires (a visibility timeout, as in SQS); the platform deduplicates by id.
This keeps the store's interface small, and it is what a shared Redis store needs anyway. A clean
stop knows the attempts it cuts off are over: it releases their claims (`OutboxStore.release`), so
the next instance (a handover) or the next start retries them at once, not after the lease.

Backoff: after the n-th failed attempt (n = 1, 2, ...) the next attempt waits
`cap = min(max_delay_s, base_delay_s * 2**(n-1))`, shortened by a random share of at most `jitter`:
a delay drawn uniformly in `[cap * (1 - jitter), cap]`. `jitter=1` is "full jitter" (AWS), `jitter=0`
none. With the default 0.5 the ranges of consecutive attempts do not overlap, so delays never shrink
while they double, yet a crowd of commands failing together spreads over half the interval.

After an outage the commands pending have backed off to tens of seconds each. A command that had
failed and is now delivered is the evidence the platform is back: the commands still waiting on a
backoff are then made due at once (`OutboxStore.end_backoffs`), and sent as any due command, oldest
first in its lane, never more than `concurrency` at a time. A claimed command is left on its lease
(its attempt may be in flight, here or in another instance): the store tells a backoff from a claim.
A fresh command delivered is no such evidence: a command the platform fails on its own (a 5xx for
that one) keeps its backoff while the others go through. The drain runs once per recovery: a failure arms it
(so does the start: a takeover finds the backoffs of the instance before), the drain disarms it.
Where the pending commands live is `acd.outbox_store` (memory) or `acd.store.outbox_redis`.

Lanes (`acd.outbox_lanes`): connect, overflow, originate, offer_callback (and unknown kinds) are
urgent, remind and survey deferred. The dispatcher takes due commands lane by lane, urgent first
(`OutboxStore.due(now, limit, lane)`, oldest first within a lane), and the deferred lane never
holds more than `concurrency - urgent_reserve` slots: a connect never waits behind reminders the
platform is slow to acknowledge. Claims, backoffs, the drain and a stop's release work per lane.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable, Sequence

from acd.aio import still_running
from acd.httpclient import HttpClient
from acd.model import Command
from acd.outbox_backoff import backoff_delay, failure_cause, log_failure
from acd.outbox_lanes import LANES, Slots
from acd.outbox_metrics import OutboxMetrics
from acd.outbox_store import OutboxStore, PendingCommand
from acd.signing import signed_headers

log = logging.getLogger("acd.outbox")

LOST_NAMED = 100  # at most this many ids in the log line of commands lost at a stop


#: `json.dumps(..., separators=(",", ":"))` builds this encoder anew on every call (about 6 us of
#: a command's 15 us here); the same encoder, made once, writes the same bytes.
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def encode(command: Command) -> bytes:
    """The exact bytes POSTed (and signed): compact JSON of the wire form."""
    return _COMPACT.encode(command.to_wire()).encode()


class Outbox:
    def __init__(
        self,
        store: OutboxStore,
        url: str | None,
        secret: bytes | None,
        *,
        metrics: OutboxMetrics | None = None,
        base_delay_s: float = 0.5,
        max_delay_s: float = 60.0,
        jitter: float = 0.5,
        concurrency: int = 16,
        urgent_reserve: int | None = None,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        superseded: Callable[[Command], bool] | None = None,
        durable: bool = True,
    ) -> None:
        if not 0.0 <= jitter <= 1.0:
            raise ValueError("jitter must be within [0, 1]")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._slots = Slots(concurrency, urgent_reserve, metrics.inflight if metrics else None)
        self.store = store
        self.url = url
        self._secret = secret
        self._metrics = metrics
        self._base = base_delay_s
        self._max = max_delay_s
        self._jitter = jitter
        self._timeout_s = timeout_s
        self._lease_s = timeout_s + 5.0  # a claimed command falls due again after this (crash safety)
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._superseded = superseded
        self._durable = durable  # the store outlives the process (Redis); the memory store does not
        self._client: HttpClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._claimed_until: dict[str, float] = {}  # each attempt in flight: the claim it took
        self._submitted_at: dict[str, float] = {}  # for the submit-to-2xx histogram (this process only)
        self._wake = asyncio.Event()
        self._draining = False
        self._drained = asyncio.Event()
        self._warned_no_url = False
        self._backoffs_to_end = False  # a failure since the last drain: the next recovery drains

    # -- public

    async def submit(self, commands: Sequence[Command]) -> None:
        """Persist the commands and wake the dispatcher; returns without waiting for delivery."""
        if not commands:
            return
        added = await self.store.put(commands)
        now = self._clock()
        for command in added:
            self._submitted_at[command.id] = now
            if self._metrics is not None:
                self._metrics.submitted_of(command.command).inc()
        await self._update_pending()
        self._wake.set()

    async def start(self) -> None:
        if self._task is not None:
            return
        if not self.url:
            if self._warned_no_url:
                return
            self._warned_no_url = True
            log.warning("no command URL set (ACD_COMMAND_URL): outbound commands stay pending in the outbox")
            await self._update_pending()
            return
        await self._update_pending()  # what an earlier instance left counts from the start
        self._client = HttpClient(self.url, timeout_s=self._timeout_s, keep_idle=self._slots.concurrency)
        self._draining = False
        self._drained.clear()
        self._backoffs_to_end = True  # the store may hold backoffs drawn before this start
        self._task = asyncio.create_task(self._dispatch(), name="acd-outbox")

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Deliver what is due within `drain_timeout_s`, then stop. Anything undelivered stays in
        the store (a command cut off mid-attempt falls due again when its lease expires)."""
        task, self._task = self._task, None
        if task is not None:
            self._draining = True
            self._wake.set()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(drain_timeout_s):  # not wait_for: see `acd.aio`
                    await self._drained.wait()
            task.cancel()
            inflight = list(self._inflight.values())
            claims = dict(self._claimed_until)  # of the attempts about to be cut off
            for t in inflight:
                t.cancel()
            await asyncio.gather(task, *inflight, return_exceptions=True)
            self._inflight.clear()
            self._claimed_until.clear()
            self._slots.clear()
            await self._release(claims)
        if self._client is not None:
            await self._client.close()
            self._client = None
        if not self._durable:
            await self._say_what_is_lost()

    async def _file_lanes(self) -> None:
        """Taking the lead: file in their lane the commands a release before lanes wrote (Redis,
        a rolling upgrade). Failing, they are delivered all the same, in the deferred lane."""
        try:
            if filed := await self.store.file_lanes():
                log.info("%d urgent commands an earlier release wrote moved to the urgent lane", filed)
        except Exception as exc:
            log.warning("could not file the commands of an earlier release in their lane: %s", exc)

    async def _release(self, claims: dict[str, float]) -> None:
        """The attempts the stop cut off are over: their commands are due again now (the store
        leaves one rescheduled or delivered meanwhile). A POST cut off may still reach the platform,
        which deduplicates by id, as after a lapsed claim."""
        if not claims:
            return
        try:
            released = await self.store.release(claims, self._clock())
        except Exception as exc:  # their claims lapse, as before
            if "FENCED" not in str(exc):  # else no longer the leader: nothing to hand over
                log.warning("could not release the claims of the attempts cut off: %s", exc)
            return
        if released:
            log.info("%d commands whose attempt the stop cut off are due again now", released)

    async def _say_what_is_lost(self) -> None:
        """The memory store dies with the process: name the commands the platform never got."""
        try:
            lost = [p.command for p in await self.store.due(float("inf"), LOST_NAMED)]
            count = await self.store.pending_count()
        except Exception:
            return
        if count:
            log.error(
                "%d commands undelivered are lost: the memory store keeps nothing across a restart "
                "(ACD_REDIS_URL keeps them for the next instance)",
                count,
                extra={"command_ids": [c.id for c in lost], "commands": [c.command for c in lost]},
            )

    async def pending(self) -> int:
        return await self.store.pending_count()

    # -- the dispatcher

    async def _dispatch(self) -> None:
        await self._file_lanes()
        while True:
            still_running()
            self._wake.clear()
            try:
                timeout = await self._dispatch_once()
            except Exception:  # the store failed: keep the dispatcher alive, try again shortly
                log.exception("outbox dispatcher failed; retrying")
                timeout = 1.0
            if timeout == 0.0:
                await asyncio.sleep(0)  # something is due that we could not start: yield, then look again
                continue
            if timeout is None and self._draining and not self._inflight:
                self._drained.set()  # nothing due and nothing in flight: the drain is complete
                # stay alive (stop() cancels us); the wait below returns on the next wake
            still_running()  # a cancel swallowed in the store's I/O must not become a long sleep
            with contextlib.suppress(TimeoutError):
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the cancel of stop()
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    async def _dispatch_once(self) -> float | None:
        """Start the due deliveries that fit, the urgent lane's first (`acd.outbox_lanes`); return
        how long to sleep (None: until woken)."""
        now = self._clock()
        for lane in LANES:
            room = self._slots.room(lane)
            if room <= 0:
                continue
            for pending in await self.store.due(now, room + self._slots.held(lane), lane):
                if room == 0:
                    break
                cid = pending.command.id
                if cid in self._inflight:  # its lease ran out while the attempt still runs
                    continue
                if self._is_superseded(pending.command):
                    await self._drop(pending.command)
                    continue
                claimed_until = now + self._lease_s
                await self.store.reschedule(cid, claimed_until, pending.attempts, pending.last_error)
                task = asyncio.create_task(self._deliver(pending), name=f"acd-outbox-{cid}")
                self._inflight[cid] = task
                self._claimed_until[cid] = claimed_until
                self._slots.take(cid, lane)
                task.add_done_callback(lambda _t, cid=cid: self._finished(cid))
                room -= 1
        lanes = self._slots.open()
        if not lanes:
            return None  # a finishing delivery wakes us
        next_due = await self.store.next_due_at(lanes)
        if next_due is None:
            return None
        if next_due > now:  # on the timeline at `now`: look again when it falls due (it may have)
            return None if self._draining else max(next_due - self._clock(), 0.001)  # draining: due now only
        # Due now but not started: only a command still in flight past its lease can be here.
        return None if self._inflight else 0.0

    def _is_superseded(self, command: Command) -> bool:
        """The engine's word (`superseded`): a command whose assignment is over is not sent. A
        failing question never holds a command back: it is sent (the platform deduplicates)."""
        if self._superseded is None:
            return False
        try:
            return self._superseded(command)
        except Exception:
            log.exception("could not tell whether a command is superseded; delivering it")
            return False

    async def _drop(self, command: Command) -> None:
        await self.store.mark_delivered(command.id)
        self._submitted_at.pop(command.id, None)
        if self._metrics is not None:
            self._metrics.superseded.labels(command.command).inc()
        await self._update_pending()
        log.info(
            "command superseded before its delivery: not sent",
            extra={"command_id": command.id, "command": command.command},
        )

    def _finished(self, command_id: str) -> None:
        self._inflight.pop(command_id, None)
        self._claimed_until.pop(command_id, None)
        self._slots.give_back(command_id)
        self._wake.set()

    async def _deliver(self, pending: PendingCommand) -> None:
        command = pending.command
        extra = {"command_id": command.id, "command": command.command}
        status: int | None = None
        try:
            status = await self._post(command)
        except Exception as exc:  # connection refused, timeout, DNS, ...: all retried
            error = f"{type(exc).__name__}: {exc}".rstrip(": ")
        else:
            if 200 <= status < 300:
                await self._delivered(command, extra)
                if pending.attempts > 0 and self._backoffs_to_end:  # it had failed: the platform is back
                    await self._end_backoffs()
                return
            error = f"HTTP {status}"
        await self._failed(pending, error, extra, failure_cause(status))

    async def _post(self, command: Command) -> int:
        assert self._client is not None
        body = encode(command)
        headers = {"Content-Type": "application/json", "Idempotency-Key": command.id}
        if self._secret:
            headers.update(signed_headers(self._secret, body))  # the wall clock, as the contract says
        return await self._client.post(body, headers)  # acd/httpclient.py: lean, keep-alive

    async def _delivered(self, command: Command, extra: dict[str, str]) -> None:
        try:
            await self.store.mark_delivered(command.id)
        except Exception as exc:  # sent again when its claim expires; the platform deduplicates
            if "FENCED" in str(exc):  # no longer the leader: the leader sends it again
                log.info(
                    "command delivered by an instance no longer leading: left to the leader", extra=extra
                )
            else:
                log.exception("could not mark command delivered", extra=extra)
            return
        submitted_at = self._submitted_at.pop(command.id, None)
        if self._metrics is not None:
            self._metrics.delivered_of(command.command).inc()
            if submitted_at is not None:
                self._metrics.delivery.observe(max(0.0, self._clock() - submitted_at))
        await self._update_pending()
        log.debug("command delivered", extra=extra)

    async def _end_backoffs(self) -> None:
        """Make due now the commands waiting on a backoff (see the module docstring)."""
        self._backoffs_to_end = False  # before the await: one drain, whichever delivery came first
        try:
            ended = await self.store.end_backoffs(self._clock())
        except Exception as exc:  # they keep their backoff; the next recovery tries again
            self._backoffs_to_end = True
            if "FENCED" not in str(exc):  # else no longer the leader: the leader drains
                log.exception("could not retry the commands waiting on a backoff")
            return
        if ended:
            if self._metrics is not None:
                self._metrics.backoffs_ended.inc(ended)
            log.info(
                "the platform is back (a command that had failed was delivered): "
                "%d commands waiting on a backoff retried now",
                ended,
                extra={"commands_retried": ended},
            )
            self._wake.set()

    async def _failed(
        self, pending: PendingCommand, error: str, extra: dict[str, str], cause: str = "network"
    ) -> None:
        attempts = pending.attempts + 1
        delay = backoff_delay(attempts, self._base, self._max, self._jitter, self._rng)
        self._backoffs_to_end = True
        try:
            await self.store.reschedule(
                pending.command.id, self._clock() + delay, attempts, error, backoff=True
            )
        except Exception:  # left on its lease: it falls due again when that expires
            log.exception("could not reschedule command", extra=extra)
        if self._metrics is not None:
            self._metrics.retries.labels(pending.command.command).inc()
            self._metrics.failures.labels(pending.command.command, cause).inc()
            self._metrics.backoff.observe(delay)
            await self._update_pending()  # another instance may have submitted meanwhile
        log_failure(log, attempts, error, delay, cause, extra)

    async def _update_pending(self) -> None:
        if self._metrics is not None:
            with contextlib.suppress(Exception):
                self._metrics.pending.set(await self.store.pending_count())
