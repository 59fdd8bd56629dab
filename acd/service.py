"""The running service around the engine: the clock, the store, the timer loop and the outbox.

Every write goes through one path, `apply_events`, to the store: in memory (the default) the batch
is applied to the engine at once (engine calls never await, so each batch is applied atomically);
with Redis it is logged durably before it is acknowledged, and with several instances only the
leader applies it (see `acd.store.redis`). The service hands the resulting commands to the outbox
and re-arms the timer loop, which runs on the instance in charge (`store.leading`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from acd.aio import Background, cancel_and_wait, still_running
from acd.clock import Clock
from acd.config import AgentConfig, Config
from acd.engine import Agent, Engine, EventResult, check_configured
from acd.events import RosterAgent
from acd.metrics import EngineCollector, Metrics
from acd.model import Command
from acd.outbox import Outbox, OutboxMetrics
from acd.outbox_store import MemoryOutboxStore, OutboxStore
from acd.records.db import open_db
from acd.records.model import line_date
from acd.records.sink import FanOut, RecordMetrics, RecordSink
from acd.settings import Settings
from acd.store import Store, StoreContext, StoreUnavailable
from acd.store.memory import MemoryStore

log = logging.getLogger("acd.service")


class Service:
    def __init__(
        self,
        settings: Settings,
        config: Config,
        *,
        registry: CollectorRegistry | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.config = config
        self._skills = [s.id for s in config.skills]
        self._sites = [s.id for s in config.sites]
        self.registry = registry if registry is not None else CollectorRegistry()
        self.clock = clock if clock is not None else Clock(settings.clock_start)
        self.metrics = Metrics(self.registry)
        self.records = RecordSink(
            open_db(settings.records_url, settings.data_dir),
            RecordMetrics(self.registry),
            leading=lambda: self.store.leading,
            site_of=self._site_of,
            max_queue=settings.records_queue_max,
            retention_days=config.records.retention_days,
            purge_every_s=settings.records_purge_interval_s,
            # the service's day, as the records' dates are (ACD_CLOCK_START shifts both)
            today=lambda: line_date(self.clock.now()),
            # the memory state has no snapshot to carry what is queued at a stop: a spool does
            spool=None if settings.redis_enabled else Path(settings.data_dir) / "records-spool.json",
        )
        #: What observes the engine while this instance is in charge (metrics and records), and
        #: while it keeps a replica (records only: they are written if it takes over).
        self.observer = FanOut(self.metrics, self.records)
        self.replica_observer = self.records
        context = StoreContext(
            settings=settings,
            config=config,
            registry=self.registry,
            clock=self.clock,
            new_engine=lambda: Engine(config, router=settings.router),
            observer=self.observer,
            replica_observer=self.replica_observer,
            on_role=self._on_role,
            on_commands=self._on_commands,
            records=self.records,
        )
        outbox_store: OutboxStore
        if settings.redis_enabled:
            from acd.store.redis import RedisStore

            redis_store = RedisStore(context)
            self.store: Store = redis_store
            outbox_store = redis_store.outbox_store
        else:
            self.store = MemoryStore(context)
            outbox_store = MemoryOutboxStore()
        self.registry.register(EngineCollector(lambda: self.store.engine, self.clock.now))
        self.outbox = Outbox(
            outbox_store,
            str(settings.command_url) if settings.command_url else None,
            settings.secret,
            metrics=OutboxMetrics(self.registry),
            # asked before each attempt: a connect whose assignment is over is dropped, not sent
            superseded=lambda command: self.engine.queries.command_superseded(command),
            durable=settings.redis_enabled,
            timeout_s=settings.command_timeout_s,
            urgent_reserve=settings.command_urgent_reserve,
        )
        self._handing_on = Background(log, "handing commands to the outbox")
        self._wake = asyncio.Event()
        self._timer_due = math.inf  # the instant the timer loop sleeps until (inf: no timer)
        self._timer_task: asyncio.Task[None] | None = None
        self._crashed = False

    @property
    def engine(self) -> Engine:
        """The engine as it is now (the Redis store replaces it when it reloads)."""
        return self.store.engine

    def _site_of(self, agent_id: str) -> str | None:
        return self.engine.queries.agent_site(agent_id)

    async def start(self) -> None:
        await self.records.start()
        try:
            await self.store.start()  # reports the role it takes (`_on_role`)
        except BaseException:  # nothing left running: the app's cleanup_ctx never stops a failed start
            await self.records.stop()
            raise
        self._timer_task = asyncio.create_task(self._timer_loop(), name="acd-timers")

    async def stop(self) -> None:
        if self._crashed:
            return
        await cancel_and_wait(self._timer_task)
        await self.outbox.stop()
        await self.store.stop()
        await cancel_and_wait(*self._handing_on.tasks)
        await self.records.stop()

    async def crash(self) -> None:
        """Die without a goodbye, as a killed process would (the seam of the crash tests and the
        recovery benchmark): the timers and the store stop at once, the store's lease is forgotten
        rather than released, no final snapshot, nothing flushed; `stop()` does nothing after."""
        self._crashed = True
        await cancel_and_wait(self._timer_task, *self._handing_on.tasks)
        crash = getattr(self.store, "crash", None)
        if crash is not None:
            await crash()

    async def _on_role(self, leading: bool) -> None:
        """The store took the lead or left it: the outbox runs on the instance in charge, and the
        timer loop re-reads its next wake-up."""
        self._wake.set()
        if leading:
            await self.outbox.start()
        else:
            await self.outbox.stop(drain_timeout_s=0.2)

    def _on_commands(self, commands: list[Command]) -> None:
        """Writes forwarded by followers were applied here: their commands (persisted already)
        go to the outbox, and the next timer may have moved."""
        if commands:
            self._handing_on.spawn(self.outbox.submit(commands))
        self._wake.set()

    async def ready(self) -> bool:
        return await self.store.ready()

    def wake(self) -> None:
        """Re-read the next timer (it may have moved, or this instance's role changed)."""
        self._wake.set()

    # -- writes

    async def apply_events(self, events: Sequence[Any]) -> list[EventResult]:
        started = time.perf_counter()
        try:
            results, commands = await self.store.apply(list(events))
        except StoreUnavailable:  # a batch wrong by config/ alone is bad input all the same: its 4xx
            check_configured(events, self._skills, self._sites)
            raise
        per_event = (time.perf_counter() - started) / max(1, len(events))
        observe, counts = self.metrics.decision_latency.observe, self.metrics.event_counts
        for event, result in zip(events, results, strict=True):
            observe(per_event)
            counts(event.type, "ignored" if result.ignored else result.status).inc()
        await self._after(commands)
        return results

    async def upsert_agent(self, spec: AgentConfig) -> tuple[Agent, bool]:
        event = RosterAgent(
            id=f"roster-{uuid.uuid4().hex}",
            agent_id=spec.id,
            site=spec.site,
            skills=spec.skills,
            target=spec.target,
        )
        [result] = await self.apply_events([event])
        return self.engine.agents[spec.id], bool(getattr(result.decision, "created", False))

    async def _after(self, commands: list[Command]) -> None:
        if commands:
            if self.store.commands_persisted:  # stored with the log: the outbox only counts and wakes
                self._handing_on.spawn(self.outbox.submit(commands))
            else:
                await self.outbox.submit(commands)
        self._timer_moved()

    def _timer_moved(self) -> None:
        """After a write: wake the timer loop only when the next timer now comes before the
        instant it sleeps until. A wake-up is a task switch, a timeout armed and cancelled, the
        next timer read again (about 24 us here, several per cent of a request); a timer that
        moved later needs none: the loop, woken early, reads the next one again and sleeps on."""
        if not self.store.leading:
            return  # a follower fires no timers; taking the lead wakes the loop (`_on_role`)
        wake_at = self.engine.next_wakeup()
        if wake_at is not None and wake_at < self._timer_due:
            self._wake.set()

    # -- timers

    async def _timer_loop(self) -> None:
        while True:
            still_running()
            wake_at = self.engine.next_wakeup() if self.store.leading else None
            self._wake.clear()
            self._timer_due = math.inf if wake_at is None else wake_at
            delay = None if wake_at is None else max(0.0, wake_at - self.clock.now())
            if delay is None or delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):  # not wait_for: on 3.11 it can swallow a cancel
                        await self._wake.wait()
                continue
            try:
                commands = await self.store.tick(self.clock.now())
                if commands:
                    await self.outbox.submit(commands)
            except Exception:  # a timer must never kill the loop
                log.exception("timer processing failed")
                await asyncio.sleep(0.1)
