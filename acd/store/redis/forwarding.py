"""Forwarded writes, both ends.

The follower's end: a write sent to a follower goes to the `inbox` stream with a request id, the
follower's reply channel and a deadline, and waits. The leader applies it like its own and logs
the request id with the entry; the follower answers with the results its own replica computed
when it applied that entry (the same: the engine is deterministic), so the handler's follow-up
reads see the write. A refused write comes back on the reply channel (pub/sub). No answer within
`ACD_REDIS_FORWARD_TIMEOUT_S`: 503. With `ACD_REDIS_MIN_REPLICAS`, the follower answers only once
both have come: its replica's results and the leader's word (`{"ok": [...]}` on the channel) that
the Redis replicas have the entry.

The leader's end: `serve_inbox` queues the forwarded writes still within their deadline and not
logged already (`logged`: the request ids met in the log lately), and `refuse` sends a refusal
back to its follower.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from acd.aio import Background, still_running
from acd.engine import EngineError, EventResult
from acd.events import AnyEvent
from acd.settings import Settings
from acd.store import StoreUnavailable
from acd.store.redis_log import RedisLog

log = logging.getLogger("acd.store")

EVENTS: TypeAdapter[list[Any]] = TypeAdapter(list[AnyEvent])
REMEMBERED = 100_000  # request ids kept to recognise a forwarded write logged already


@dataclass(slots=True)
class Request:
    """A forwarded write as the leader queues it."""

    id: str
    reply_to: str
    deadline: float  # wall clock: past it, the follower has given up
    raw: bytes  # the events as JSON, as forwarded


class Forwarding:
    def __init__(
        self, client: Redis, log: RedisLog, settings: Settings, instance_id: str, background: Background
    ) -> None:
        self._client = client
        self._log = log
        self._settings = settings
        self._background = background
        self.reply_channel = log.reply_channel(instance_id)
        self._waiting: dict[str, asyncio.Future[list[EventResult]]] = {}
        # With ACD_REDIS_MIN_REPLICAS, a forwarded write is answered once both have come: the
        # results this replica computed and the leader's word that the replicas have the entry.
        self._replayed: dict[str, list[EventResult]] = {}
        self._confirmed: set[str] = set()
        self._recent: OrderedDict[str, None] = OrderedDict()  # request ids seen in the log

    # -- the follower's end

    async def forward(self, events: list[Any]) -> list[EventResult]:
        request = uuid.uuid4().hex
        future: asyncio.Future[list[EventResult]] = asyncio.get_running_loop().create_future()
        self._waiting[request] = future
        timeout = self._settings.redis_forward_timeout_s
        try:
            async with asyncio.timeout(timeout):
                await self._log.forward(
                    request, self.reply_channel, time.time() + timeout, EVENTS.dump_json(events)
                )
                results = await future
            if len(results) != len(events):  # this replica could not apply the leader's entry
                raise StoreUnavailable(
                    "the leader applied the write, but this instance's copy of the state could not "
                    "apply it: retry it (the event ids make a retry safe)"
                )
            return results
        except TimeoutError:
            raise StoreUnavailable(
                f"the leader did not apply the write within {timeout:g} s; it may still be applied: "
                "retry it (the event ids make a retry safe)"
            ) from None
        except (RedisError, OSError) as exc:
            raise StoreUnavailable(f"the state store is unreachable: {exc}") from None
        finally:
            self._waiting.pop(request, None)
            self._replayed.pop(request, None)
            self._confirmed.discard(request)

    def answer(self, request: str, results: list[EventResult], *, confirmed: bool = False) -> None:
        """A forwarded write's results, as this replica computed them. With
        ACD_REDIS_MIN_REPLICAS the leader must also have confirmed that the replicas have it."""
        future = self._waiting.get(request)
        if future is None or future.done():
            return
        if confirmed or not self._settings.redis_min_replicas or request in self._confirmed:
            future.set_result(results)
        else:
            self._replayed[request] = results

    def fail(self, request: str, error: Exception) -> bool:
        """Fail this instance's own forwarded write (it took the lease meanwhile); False if it is
        not one of ours."""
        future = self._waiting.get(request)
        if future is None:
            return False
        if not future.done():
            future.set_exception(error)
        return True

    def fail_all(self, error: Exception) -> None:
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(error)

    async def listen(self) -> None:
        """The leader's refusals and confirmations of this instance's forwarded writes."""
        while True:
            still_running()
            pubsub = self._client.pubsub()
            try:
                await pubsub.subscribe(self.reply_channel)
                while True:
                    still_running()
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._on_reply(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("redis store: reply channel: %s", exc)
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    def _on_reply(self, data: bytes) -> None:
        try:
            reply = json.loads(data)
            if "ok" in reply:
                self._on_confirmed(reply["ok"])
                return
            error = reply["error"]
            future = self._waiting.get(reply["q"])
        except (ValueError, KeyError, TypeError):
            return
        if future is not None and not future.done():
            future.set_exception(
                EngineError(error["status"], error["code"], error["message"], error.get("details"))
            )

    def _on_confirmed(self, requests: list[str]) -> None:
        """The leader's word that the replicas have these forwarded writes."""
        for request in requests:
            future = self._waiting.get(request)
            if future is None or future.done():
                continue
            if request in self._replayed:
                future.set_result(self._replayed.pop(request))
            else:  # the word came before this replica applied the entry
                self._confirmed.add(request)

    # -- the log's memory of forwarded writes

    def remember(self, request: str) -> None:
        self._recent[request] = None
        if len(self._recent) > REMEMBERED:
            self._recent.popitem(last=False)

    def logged(self, request: str) -> bool:
        return request in self._recent

    # -- the leader's end

    async def serve_inbox(self, queue: Callable[[list[Any], Request], None]) -> None:
        """Queue the writes followers forwarded (those still within their deadline)."""
        horizon_ms = round(self._settings.redis_forward_timeout_s * 1000)
        after = f"{max(0, await self._log.server_time_ms() - horizon_ms)}-0"
        while True:
            still_running()
            for item in await self._log.inbox(after, 500, block_ms=1000):
                after = item.id
                if item.request in self._recent or time.time() > item.deadline:
                    continue
                try:
                    events = EVENTS.validate_json(item.events)
                except ValidationError as exc:
                    self.refuse(item.reply_to, item.request, EngineError(422, "invalid_event", str(exc)))
                    continue
                queue(events, Request(item.request, item.reply_to, item.deadline, item.events))

    def refuse(self, channel: str, request: str, error: EngineError) -> None:
        body = {
            "status": error.status,
            "code": error.code,
            "message": error.message,
            "details": error.details,
        }
        payload = json.dumps({"q": request, "error": body}, default=str).encode()
        self._background.spawn(self._log.reply(channel, payload))

    def confirm(self, channel: str, requests: list[str]) -> None:
        """Tell a follower the replicas have these writes of its (ACD_REDIS_MIN_REPLICAS)."""
        self._background.spawn(self._log.reply(channel, json.dumps({"ok": requests}).encode()))
