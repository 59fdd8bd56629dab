"""The supervisors' wallboard: `/wallboard` (a static page) and `/wallboard/events` (server-sent events).

One sampler per app reads the engine's state, renders a compact JSON snapshot and pushes it to
every open page only when it changed, at most every `MIN_INTERVAL_S`. It wakes on any write request
(the app's `on_response_prepare` signal) and, for changes no request causes (the end of a wrap-up,
a callback falling due), checks once every `IDLE_CHECK_S`. It runs only while a page is open. A page
holds one connection and never polls; it ticks the longest wait locally from `oldest_since`.

The answer rate of the day is answered / offered since local midnight (the calendar's zone, on the
service clock), as the records' indicators define them (docs/records.md: closed-hours calls and
short abandons left out of `offered`, a call counted on the day it was offered): the engine counts
the day's figures as part of its state (`engine.queries.today`), so a follower's board shows what
the leader's does, and a restart keeps them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from acd.api.handlers import SERVICE
from acd.service import Service

log = logging.getLogger("acd.wallboard")

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
#: The answer-rate target shown on the board (the alert rules use the same 85 %).
TARGET = 0.85
MIN_INTERVAL_S = 0.25
IDLE_CHECK_S = 1.0
KEEPALIVE_S = 15.0
MAX_SUBSCRIBERS = 200
_STATES = ("available", "busy", "wrap_up", "paused")
_DAY_FIELDS = ("offered", "answered", "abandoned", "short_abandoned", "closed")


def _rate(answered: float, offered: float) -> float | None:
    return round(answered / offered, 4) if offered else None


def snapshot(service: Service) -> dict[str, Any]:
    """The wallboard's state: per skill and overall. `now` is the only field that moves by itself."""
    queries, now = service.engine.queries, service.clock.now()
    day, counts = queries.today(now)
    everyone, agents = queries.staffing()
    on_hold = queries.on_hold()
    names = queries.skill_names()
    skills = []
    for q in queries.queues(now):
        skill = q["skill"]
        line = on_hold.get(skill)
        today = {f: counts[f].get(skill, 0) for f in _DAY_FIELDS}
        skills.append(
            {
                "skill": skill,
                "name": names.get(skill, skill),
                "waiting": line.callers if line else 0,
                "callbacks_waiting": line.later if line else 0,
                "oldest_since": line.oldest_at if line else None,
                "ewt_s": q["ewt_s"],
                "agents": {s: agents[skill][s] for s in _STATES} | {"staffed": q["agents_staffed"]},
                "today": today | {"answer_rate": _rate(today["answered"], today["offered"])},
            }
        )
    total = {f: int(sum(counts[f].values())) for f in _DAY_FIELDS}
    status = queries.overflow(now)
    return {
        "now": round(now, 3),
        "day": day,
        "target": TARGET,
        "line_open": queries.line_open(now),
        "overflow": {"mode": status["mode"], "active": bool(status["active"]), "reason": status["reason"]},
        "skills": skills,
        "total": {
            "waiting": sum(line.callers for line in on_hold.values()),
            "callbacks_waiting": sum(line.later for line in on_hold.values()),
            "agents": {s: everyone[s] for s in _STATES},
            "today": total
            | {
                "overflowed": sum(counts["overflowed"].values()),
                "answer_rate": _rate(total["answered"], total["offered"]),
            },
        },
    }


class WallboardHub:
    """One sampler for all open pages; each page gets the latest snapshot only (slow pages skip)."""

    def __init__(self, service: Service) -> None:
        self._service = service
        self._subscribers: set[asyncio.Queue[bytes | None]] = set()
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_key: str | None = None
        self._last: bytes | None = None
        self._closed = False

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def poke(self) -> None:
        """Something may have changed: sample soon (coalesced)."""
        self._dirty.set()

    def _sample(self) -> bool:
        """Read the state; True when it changed (then it is pushed to every page). The message
        kept is always of now: a page sets its clock from `now` and ticks the longest waits from
        it, so one that connects in a quiet spell must not get the instant of the last change."""
        state = snapshot(self._service)
        key = json.dumps({k: v for k, v in state.items() if k != "now"}, sort_keys=True)
        changed = key != self._last_key or self._last is None
        self._last_key = key
        self._last = b"event: state\ndata: " + json.dumps(state, separators=(",", ":")).encode() + b"\n\n"
        return changed

    def subscribe(self) -> asyncio.Queue[bytes | None]:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=1)
        self._sample()
        assert self._last is not None
        queue.put_nowait(self._last)
        self._subscribers.add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="acd-wallboard")
        return queue

    def unsubscribe(self, queue: asyncio.Queue[bytes | None]) -> None:
        self._subscribers.discard(queue)

    @staticmethod
    def _offer(queue: asyncio.Queue[bytes | None], message: bytes | None) -> None:
        with contextlib.suppress(asyncio.QueueEmpty):
            if queue.full():
                queue.get_nowait()  # an unread older snapshot is stale: keep only the latest
        queue.put_nowait(message)

    async def _run(self) -> None:
        while self._subscribers and not self._closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), IDLE_CHECK_S)
            self._dirty.clear()
            try:
                changed = self._sample()
            except Exception:  # the board must never take the service down
                log.exception("wallboard snapshot failed")
                changed = False
            if changed:
                for queue in list(self._subscribers):
                    self._offer(queue, self._last)
            await asyncio.sleep(MIN_INTERVAL_S)

    async def close(self) -> None:
        self._closed = True
        for queue in list(self._subscribers):
            self._offer(queue, None)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


HUB = web.AppKey("wallboard_hub", WallboardHub)


async def page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(
        STATIC_DIR / "wallboard.html",
        headers={
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:",
            "Cache-Control": "no-cache",
        },
    )


async def events(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    if hub.subscribers >= MAX_SUBSCRIBERS:
        raise web.HTTPServiceUnavailable(reason="too many wallboards open")
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # no proxy buffering (nginx)
        }
    )
    await response.prepare(request)
    if request.method == "HEAD":  # headers only: a stream's bytes would be read as the next answer
        return response
    queue = hub.subscribe()
    try:
        await response.write(b"retry: 2000\n\n")
        while True:
            try:
                message = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            if message is None:  # the service is shutting down
                break
            await response.write(message)
    except ConnectionError:  # the page went away
        pass
    finally:
        hub.unsubscribe(queue)
    return response


def add_wallboard_routes(app: web.Application) -> None:
    """Register `/wallboard`, `/wallboard/events` and `/wallboard/static/*` on an app built by
    `create_app` (the service must already be in `app[SERVICE]`)."""
    hub = WallboardHub(app[SERVICE])
    app[HUB] = hub
    app.router.add_get("/wallboard", page)
    app.router.add_get("/wallboard/events", events)
    app.router.add_static("/wallboard/static", STATIC_DIR)

    async def on_write(request: web.Request, response: web.StreamResponse) -> None:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            hub.poke()

    async def on_shutdown(app: web.Application) -> None:
        await hub.close()  # end the event streams so a graceful shutdown does not wait on them

    app.on_response_prepare.append(on_write)
    app.on_shutdown.append(on_shutdown)
