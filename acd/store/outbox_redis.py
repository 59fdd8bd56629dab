"""The outbox on Redis: the `OutboxStore` protocol of `acd.outbox`, shared by every instance.

Keys (under the deployment's prefix):

- `outbox:commands`  hash   id -> the command (JSON, immutable)
- `outbox:state`     hash   id -> `[attempts, next_attempt_at, last_error]` (JSON)
- `outbox:order`     hash   id -> its place: its lane and creation sequence number (below)
- `outbox:timeline`  zset   id scored by its next attempt (rescheduled commands)
- `outbox:ready`     zset   id scored by its place (commands due, or new)
- `outbox:seq`       string the creation counter
- `outbox:delivered` zset   id scored by the time it was delivered; pruned after `delivered_ttl_s`
- `outbox:backoff`   zset   id scored by the end of its backoff: the command waits on a backoff

As in the memory store, `due` promotes what the timeline holds up to `now` into `ready`, then serves
`ready` by place. Every operation is one Lua script, so it is atomic across instances.

Lanes (`acd.outbox_lanes`): a command's place is its creation sequence number for a deferred one
(`remind`, `survey`), that number minus 2**50 for an urgent one (any other kind): urgent commands
score below 0 in `ready`, deferred ones above, each lane in creation order, so `due(now, limit,
lane)` reads only its lane's range (`ZRANGEBYSCORE ... LIMIT`, O(log n + limit)), never the
reminders due before a connect. The lane rides in the place, so every script that moves a command
back into `ready` (`ZADD ready <its order>`), this release's or the previous one's, keeps it in its
lane. The previous release reads this outbox as before: it serves `ready` from its lowest score, so
urgent commands first, then the rest by creation. It files every command it writes at its creation
number, in the deferred lane's range: such a command is still found and delivered (nothing lost),
and `file_lanes` (the outbox's start, each time an instance takes the lead) moves the urgent ones
among them into the urgent lane. No key is added: the log's append script (which shares `PUT_LUA`)
keeps its keys, and the previous release's scripts run unchanged beside this one's.

Claims and backoffs: both are a time on the timeline. A backoff (`reschedule(..., backoff=True)`)
is also marked in `outbox:backoff` with the same time; a claim, or any other move, takes the mark
off. `end_backoffs(now)` (the platform is back) moves to `ready` each command whose mark is later
than `now` and still equal to its time on the timeline, and drops every mark. The comparison keeps
a claim out whoever made it: the previous release (before `outbox:backoff`) rescheduled without
marking, so a command it left on the timeline, claim or backoff, keeps its time and is retried then,
as it would have been; and one it claimed after this release marked its backoff has another time
than its mark. `outbox:state` keeps its shape (`[attempts, next_attempt_at, last_error]`), and
`outbox:backoff` is not among the seven keys the log's append script shares (`OutboxKeys.all`), so
the previous release reads and writes this outbox as before (a rolling update, a rollback).
`release(claims, now)` (a clean stop) makes due the commands still claimed until the times given,
the claims of the attempts the stop cut off, by the same comparison.

Commands are normally written by the log's append script, in the same transaction as the log entry
that caused them (`acd.store.outbox_lua.PUT_LUA` is shared): the leader then tells this store which
ids it persisted (`note_persisted`), and `put` reports them as added without a second round trip, so
`Outbox.submit` counts them and wakes the dispatcher as usual. The scripts are `acd.store.outbox_lua`.

Only the leader dispatches. Claiming a command (`reschedule` before a POST) is fenced by the lease
when a lease getter is given: a former leader that lost its lease cannot claim, so two instances
never both send a command. A delivered id is remembered, so a replay never sends it again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from redis.asyncio import Redis

from acd.model import Command
from acd.outbox_store import PendingCommand
from acd.store.outbox_lua import (
    _DELIVERED,
    _DUE,
    _END_BACKOFFS,
    _FILE_LANES,
    _NEXT_DUE,
    _PUT,
    _RELEASE,
    _RESCHEDULE,
    URGENT_OFFSET,
)

FENCED = "FENCED"


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


def creation_number(place: int) -> int:
    """A command's creation sequence number, from its place (`outbox:order`) in either lane."""
    return place + URGENT_OFFSET if place < 0 else place


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
        self._file_lanes = client.register_script(_FILE_LANES)
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

    async def due(self, now: float, limit: int, lane: str | None = None) -> list[PendingCommand]:
        flat = await self._due(keys=self.keys.all, args=[repr(now), limit, lane or ""])
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

    async def next_due_at(self, lanes: Collection[str] | None = None) -> float | None:
        args = [""] if lanes is None else list(lanes)
        timeline, *ready_states = await self._next_due(keys=self.keys.all, args=args)
        candidates = []
        if timeline:
            candidates.append(float(timeline))
        for state in ready_states:
            if state:
                candidates.append(float(json.loads(state)[1]))
        return min(candidates) if candidates else None

    async def file_lanes(self, batch: int = 500) -> int:
        """Move into the urgent lane the urgent commands the previous release filed (see the module
        docstring); returns how many. Reads `outbox:order` in batches (`HSCAN`), one fenced script
        a batch: O(pending commands), once each time an instance takes the lead."""
        moved, cursor = 0, 0
        while True:
            cursor, places = await self._client.hscan(self.keys.order, cursor, count=batch)
            filed = [_text(i) for i, place in places.items() if int(place) > 0]
            if filed:
                args = [self._lease_arg(), *filed]
                moved += int(await self._file_lanes(keys=[*self.keys.all, self._lease_key], args=args))
            if not cursor:
                return moved
