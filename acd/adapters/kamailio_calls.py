"""The Kamailio adapter's call map: what the adapter remembers of each call (its SIP Call-ID, the agent
or local service it was sent to, and whether it ended). Behind several acd instances, Kamailio's
requests and the outbox's commands reach any instance, so the map must be seen by all of them. With
the Redis store it lives in Redis (one hash per call, `<ACD_REDIS_PREFIX>kamailio:call:<call_id>`,
expiring `ACD_KAMAILIO_CALL_TTL_S` after its last write, through the store's own client: same
server, database, password and Sentinel); in memory otherwise (one instance). It is written before
the request that depends on it is answered (the SIP Call-ID before `call.offered` is applied, the
agent before the decision or the command reaches Kamailio), so whichever instance gets the next
request finds it. Where it has nothing (an entry expired or lost), the engine's replica, which every
instance keeps, supplies the call's agent.

Why Redis rather than Kamailio's dialog variables (`$dlg_var`, sent back on each request): the
adapter needs the map on requests that do not come from Kamailio at all. acd's `connect` command
for a queued call, sent by whichever instance leads, must name the SIP Call-ID Kamailio holds the
call under, and must know whether the call has ended meanwhile; dialog variables only travel with
SIP messages. They would also need the `dialog` module (with a database to survive a Kamailio
restart) and make the shipped script the keeper of acd's state, where a change of script silently
loses it. Redis is already the deployment's shared, persistent state; the map costs one round
trip on loopback per SIP event.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Protocol

from aiohttp import web
from redis.exceptions import RedisError

from acd.api.errors import ApiError
from acd.api.handlers import SERVICE

#: Calls remembered by the in-memory map (one instance, no Redis).
MAX_CALLS = 100_000


class CallMap(Protocol):
    """Per call: `sip` (the SIP Call-ID), `agent` and `assignment` (the agent it rings and the
    decision or command that sent it there), `service` (the local service it overflowed to),
    `ended` (the reason). An empty string is a field cleared."""

    async def get(self, call_id: str) -> dict[str, str]: ...

    async def put(self, call_id: str, **fields: str) -> None: ...


class MemoryCallMap:
    """One instance: the map in this process, the oldest calls forgotten past `MAX_CALLS`."""

    def __init__(self, limit: int = MAX_CALLS) -> None:
        self._calls: OrderedDict[str, dict[str, str]] = OrderedDict()
        self._limit = limit

    async def get(self, call_id: str) -> dict[str, str]:
        return dict(self._calls.get(call_id, {}))

    async def put(self, call_id: str, **fields: str) -> None:
        self._calls.setdefault(call_id, {}).update(fields)
        self._calls.move_to_end(call_id)
        while len(self._calls) > self._limit:
            self._calls.popitem(last=False)


class RedisCallMap:
    """Several instances: one hash per call under the store's prefix, expiring `ttl_s` after its
    last write (longer than any call: a caller is held 30 min at most, then talks)."""

    def __init__(self, client: Any, prefix: str, ttl_s: float) -> None:
        self._client = client
        self._prefix = prefix
        self._ttl_ms = round(ttl_s * 1000)

    def key(self, call_id: str) -> str:
        return f"{self._prefix}kamailio:call:{call_id}"

    async def get(self, call_id: str) -> dict[str, str]:
        try:
            raw = await self._client.hgetall(self.key(call_id))
        except (RedisError, OSError, TimeoutError) as exc:
            raise _unavailable(exc) from None
        return {_text(k): _text(v) for k, v in raw.items()}

    async def put(self, call_id: str, **fields: str) -> None:
        key = self.key(call_id)
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.hset(key, mapping=fields)
                pipe.pexpire(key, self._ttl_ms)
                await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            raise _unavailable(exc) from None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _unavailable(exc: BaseException) -> ApiError:
    return ApiError(503, "store_unavailable", f"the Kamailio adapter's call map is unreachable: {exc}")


def call_map_for(app: web.Application) -> CallMap:
    """Redis (the store's client and prefix) when the service runs on Redis, memory otherwise."""
    service = app[SERVICE]
    settings = service.settings
    client = getattr(service.store, "client", None)
    if settings.redis_enabled and client is not None:
        return RedisCallMap(client, settings.redis_prefix, settings.kamailio_call_ttl_s)
    return MemoryCallMap()
