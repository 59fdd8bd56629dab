"""Connections to Redis: a plain URL or the master the sentinels name, never retrying by itself."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

if TYPE_CHECKING:
    from acd.settings import Settings

SOCKET_TIMEOUTS = {"socket_timeout": 5.0, "socket_connect_timeout": 2.0}
#: What an unreachable Redis raises.
REDIS_DOWN = (RedisError, OSError, TimeoutError)


def connect(url: str) -> Redis:
    """A client that never retries by itself: a write retried after a lost answer could be
    applied twice; the store decides what to retry."""
    return Redis.from_url(url, retry=Retry(NoBackoff(), 0), **SOCKET_TIMEOUTS)


def connect_sentinel(settings: Settings) -> tuple[Redis, Sentinel]:
    """A client of the master the sentinels name, the same as `connect`'s otherwise. It asks the
    sentinels for the master's address whenever it opens a connection, and a connection to a
    master demoted by a failover fails (READONLY) and is dropped: the store's reconnection after
    any Redis error (`drop_connections`) then finds the new master by itself."""
    sentinel = Sentinel(
        settings.sentinel_addresses,
        sentinel_kwargs={**SOCKET_TIMEOUTS, "password": settings.redis_sentinel_password},
    )
    assert settings.redis_sentinel_master is not None
    client = sentinel.master_for(
        settings.redis_sentinel_master,
        db=settings.redis_db,
        password=settings.redis_password,
        retry=Retry(NoBackoff(), 0),
        **SOCKET_TIMEOUTS,
    )
    return client, sentinel


def connect_settings(settings: Settings) -> tuple[Redis, Sentinel | None]:
    """The client the settings name: through the sentinels, or the URL."""
    if settings.redis_sentinels:
        return connect_sentinel(settings)
    assert settings.redis_url is not None
    return connect(settings.redis_url), None


async def drop_connections(client: Redis) -> None:
    """Close every pooled connection: after Redis restarted, a connection kept from before
    fails on its next command, and the client retries nothing by itself."""
    with contextlib.suppress(Exception):
        await client.connection_pool.disconnect()


async def close(client: Redis, sentinel: Sentinel | None) -> None:
    await client.aclose()
    for server in sentinel.sentinels if sentinel is not None else ():
        await server.aclose()
