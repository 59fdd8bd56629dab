"""The outbox's Redis store as the release before lanes (main at 952b2c3) wrote it, frozen: its
keys and Lua scripts, for the tests of a rolling upgrade (an instance of that release beside one of
this release, on the same keys). Copied as it was; never edited but to keep ruff quiet.
"""

# ruff: noqa

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from redis.asyncio import Redis

from acd.model import Command
from acd.outbox_store import PendingCommand

FENCED = "FENCED"

#: Lua: add one command if its id is neither pending nor delivered. Expects the locals
#: kc, ks, ko, kr, kseq, kd (the outbox keys) in scope; returns 1 when added.
PUT_LUA = """
local function put(id, body)
  if redis.call('HEXISTS', kc, id) == 1 or redis.call('ZSCORE', kd, id) then return 0 end
  local seq = redis.call('INCR', kseq)
  redis.call('HSET', kc, id, body)
  redis.call('HSET', ks, id, '[0,0.0,null]')
  redis.call('HSET', ko, id, seq)
  redis.call('ZADD', kr, seq, id)
  return 1
end
"""

_KEYS_LUA = """
local kc, ks, ko, kt, kr, kseq, kd = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
"""

_PUT = (
    _KEYS_LUA
    + PUT_LUA
    + """
local added = {}
for i = 1, #ARGV, 2 do
  if put(ARGV[i], ARGV[i + 1]) == 1 then table.insert(added, ARGV[i]) end
end
return added
"""
)

_DUE = (
    _KEYS_LUA
    + """
local now, limit = ARGV[1], tonumber(ARGV[2])
local promote = redis.call('ZRANGEBYSCORE', kt, '-inf', now)
for _, id in ipairs(promote) do
  redis.call('ZREM', kt, id)
  redis.call('ZADD', kr, redis.call('HGET', ko, id), id)
end
if limit <= 0 then return {} end
local out = {}
for _, id in ipairs(redis.call('ZRANGE', kr, 0, limit - 1)) do
  table.insert(out, id)
  table.insert(out, redis.call('HGET', kc, id))
  table.insert(out, redis.call('HGET', ks, id))
end
return out
"""
)

# KEYS: the outbox keys, the lease, the backoff marks. ARGV: id, next_attempt_at, state JSON, lease
# value or '', '1' for a backoff.
_RESCHEDULE = (
    _KEYS_LUA
    + """
if ARGV[4] ~= '' and redis.call('GET', KEYS[8]) ~= ARGV[4] then
  return redis.error_reply('FENCED this instance no longer holds the lease')
end
local id = ARGV[1]
if redis.call('HEXISTS', kc, id) == 0 then return 0 end
redis.call('HSET', ks, id, ARGV[3])
redis.call('ZREM', kr, id)
redis.call('ZADD', kt, ARGV[2], id)
if ARGV[5] == '1' then
  redis.call('ZADD', KEYS[9], ARGV[2], id)
else
  redis.call('ZREM', KEYS[9], id)
end
return 1
"""
)

# Lua: the fence (ARGV[2], the lease value or '' to check none, against KEYS[8]), then `due_now`:
# a command on the timeline moved to ready, its state's next attempt `now` (attempts, error kept).
_DUE_NOW_LUA = """
if ARGV[2] ~= '' and redis.call('GET', KEYS[8]) ~= ARGV[2] then
  return redis.error_reply('FENCED this instance no longer holds the lease')
end
local function due_now(id, now)
  local state = cjson.decode(redis.call('HGET', ks, id))
  local err = 'null'
  if type(state[3]) == 'string' then err = cjson.encode(state[3]) end
  redis.call('HSET', ks, id, '[' .. string.format('%d', state[1]) .. ',' .. now .. ',' .. err .. ']')
  redis.call('ZREM', kt, id)
  redis.call('ZADD', kr, redis.call('HGET', ko, id), id)
end
"""

# KEYS: the outbox keys, the lease, the backoff marks. ARGV: now, lease value or ''. A mark counts
# only while the command's time on the timeline is still the mark's (see the module docstring).
_END_BACKOFFS = (
    _KEYS_LUA
    + _DUE_NOW_LUA
    + """
local kb, now = KEYS[9], ARGV[1]
local marks = redis.call('ZRANGEBYSCORE', kb, '(' .. now, '+inf', 'WITHSCORES')
redis.call('DEL', kb)
local ended = 0
for i = 1, #marks, 2 do
  local id, at = marks[i], marks[i + 1]
  local current = redis.call('ZSCORE', kt, id)
  if current and tonumber(current) == tonumber(at) then
    due_now(id, now)
    ended = ended + 1
  end
end
return ended
"""
)

# KEYS: the outbox keys, the lease, the backoff marks. ARGV: now, lease value or '', then pairs of
# id and the time it was claimed until: released only while its time on the timeline is that one.
_RELEASE = (
    _KEYS_LUA
    + _DUE_NOW_LUA
    + """
local now, released = ARGV[1], 0
for i = 3, #ARGV, 2 do
  local id, claimed_until = ARGV[i], tonumber(ARGV[i + 1])
  local current = redis.call('ZSCORE', kt, id)
  if current and tonumber(current) == claimed_until and claimed_until > tonumber(now) then
    due_now(id, now)
    redis.call('ZREM', KEYS[9], id)
    released = released + 1
  end
end
return released
"""
)

_DELIVERED = (
    _KEYS_LUA
    + """
if ARGV[4] ~= '' and redis.call('GET', KEYS[8]) ~= ARGV[4] then
  return redis.error_reply('FENCED this instance no longer holds the lease')
end
local id = ARGV[1]
if redis.call('HDEL', kc, id) == 0 then return 0 end
redis.call('HDEL', ks, id)
redis.call('HDEL', ko, id)
redis.call('ZREM', kt, id)
redis.call('ZREM', kr, id)
redis.call('ZREM', KEYS[9], id)
redis.call('ZADD', kd, ARGV[2], id)
redis.call('ZREMRANGEBYSCORE', kd, '-inf', '(' .. ARGV[3])
return 1
"""
)

_NEXT_DUE = (
    _KEYS_LUA
    + """
local out = {false, false}
local t = redis.call('ZRANGE', kt, 0, 0, 'WITHSCORES')
if #t > 0 then out[1] = t[2] end
local r = redis.call('ZRANGE', kr, 0, 0)
if #r > 0 then out[2] = redis.call('HGET', ks, r[1]) end
return out
"""
)


class OutboxKeys:
    def __init__(self, prefix: str) -> None:
        names = ("commands", "state", "order", "timeline", "ready", "seq", "delivered")
        #: the seven keys every script gets first (`_KEYS_LUA`), the log's append script too
        self.all: list[str] = [f"{prefix}outbox:{name}" for name in names]
        self.commands, self.state, self.order, self.timeline, self.ready, self.seq, self.delivered = self.all
        self.backoff = f"{prefix}outbox:backoff"  # after `all` where a script needs it


def encode_command(command: Command) -> str:
    return json.dumps(
        {"id": command.id, "command": command.command, "fields": command.fields, "at": command.created_at},
        separators=(",", ":"),
    )


def decode_command(raw: bytes | str) -> Command:
    data = json.loads(raw)
    return Command(id=data["id"], command=data["command"], fields=data["fields"], created_at=data["at"])


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisOutboxStore:
    def __init__(
        self,
        client: Redis,
        prefix: str,
        *,
        lease: Callable[[], str | None] | None = None,
        delivered_ttl_s: float = 7 * 86400.0,
        lease_key: str | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        import time

        self.keys = OutboxKeys(prefix)
        self._client = client
        self._lease = lease
        self._lease_key = lease_key or f"{prefix}lease"
        self._ttl = delivered_ttl_s
        self._clock = clock or time.time
        self._persisted: set[str] = set()
        self._put = client.register_script(_PUT)
        self._due = client.register_script(_DUE)
        self._reschedule = client.register_script(_RESCHEDULE)
        self._delivered = client.register_script(_DELIVERED)
        self._next_due = client.register_script(_NEXT_DUE)
        self._end_backoffs = client.register_script(_END_BACKOFFS)
        self._release = client.register_script(_RELEASE)
        self._fenced_keys = [*self.keys.all, self._lease_key, self.keys.backoff]

    def note_persisted(self, commands: Sequence[Command]) -> None:
        """These commands were written with their log entry: `put` reports them without a write."""
        self._persisted.update(c.id for c in commands)

    async def put(self, commands: Sequence[Command]) -> list[Command]:
        noted = {c.id for c in commands} & self._persisted
        self._persisted -= noted
        args: list[str] = []
        for command in commands:
            if command.id not in noted:
                args += [command.id, encode_command(command)]
        added = {_text(i) for i in await self._put(keys=self.keys.all, args=args)} if args else set()
        out, seen = [], set()
        for command in commands:
            if (command.id in noted or command.id in added) and command.id not in seen:
                seen.add(command.id)
                out.append(command)
        return out

    async def due(self, now: float, limit: int) -> list[PendingCommand]:
        flat = await self._due(keys=self.keys.all, args=[repr(now), limit])
        out = []
        for i in range(0, len(flat), 3):
            attempts, next_at, error = json.loads(flat[i + 2])
            out.append(PendingCommand(decode_command(flat[i + 1]), attempts, next_at, error))
        return out

    async def mark_delivered(self, command_id: str) -> None:
        """Fenced as a claim is: an instance that lost the lease writes nothing (its delivery, if
        it went through, is sent again by the leader under the same id)."""
        now = self._clock()
        await self._delivered(
            keys=self._fenced_keys, args=[command_id, repr(now), repr(now - self._ttl), self._lease_arg()]
        )

    async def reschedule(
        self,
        command_id: str,
        next_attempt_at: float,
        attempts: int,
        last_error: str | None,
        *,
        backoff: bool = False,
    ) -> None:
        state = json.dumps([attempts, next_attempt_at, last_error])
        await self._reschedule(
            keys=self._fenced_keys,
            args=[command_id, repr(next_attempt_at), state, self._lease_arg(), "1" if backoff else ""],
        )

    async def end_backoffs(self, now: float) -> int:
        """Fenced too: only the lease holder makes commands due."""
        return int(await self._end_backoffs(keys=self._fenced_keys, args=[repr(now), self._lease_arg()]))

    async def release(self, claims: Mapping[str, float], now: float) -> int:
        """Fenced: an instance that lost the lease releases nothing (its claims lapse)."""
        if not claims:
            return 0
        args = [repr(now), self._lease_arg()]
        for command_id, claimed_until in claims.items():
            args += [command_id, repr(claimed_until)]
        return int(await self._release(keys=self._fenced_keys, args=args))

    def _lease_arg(self) -> str:
        """The lease value the fenced scripts check ('-' if it holds none), '' to check none."""
        return (self._lease() or "-") if self._lease is not None else ""

    async def pending_count(self) -> int:
        return int(await self._client.hlen(self.keys.commands))

    async def next_due_at(self) -> float | None:
        timeline, ready_state = await self._next_due(keys=self.keys.all, args=[])
        candidates = []
        if timeline:
            candidates.append(float(timeline))
        if ready_state:
            candidates.append(float(json.loads(ready_state)[1]))
        return min(candidates) if candidates else None
