"""The Redis side of the durable store: the log, the snapshot, the lease and the inbox.

Only I/O lives here (keys, encoding of entries, calls of the Lua scripts of
`acd.store.redis_scripts`); what to do with them is `acd.store.redis.RedisStore`'s business.
Keys, under the deployment's prefix (`acd:` by default):

- `log`       stream: every input that changed the engine, in order. One field `d` per entry,
              `<seq> <now> <kind> <request>` then a newline and the events as JSON: `seq` the
              sequence number (1, 2, ... without gaps), `now` the engine time it was applied at,
              `kind` `a` (a batch of events) or `t` (a timer tick, no events), `request` the
              forwarded request it answers or `-`. One field, not five: reading the log back
              (recovery) costs a fifth of the parsing. A batch's entry has a second field `h`:
              its events' digests (12 bytes each, in order), which a replay remembers instead of
              serialising and hashing each event again (about a tenth of a recovery). Entries
              without it (written before it existed) replay as before; a release that does not
              know it reads `d` alone.
- `snapshot`  hash: `header` (JSON: format, versions, config fingerprint, `seq`, `id`), `data` (the
              compressed engine), `seq` and `id` (the last log entry it covers), `records` (the
              call records not yet written when it was taken, empty when none: the replay after a
              crash starts after the snapshot and could not make them again).
- `lease`     string `<instance>/<token>` with a TTL: the leader's lease.
- `fence`     counter: each new lease takes the next token. The lease's value embeds it, so
              "the lease still holds my value" is the fencing check every write script makes.
- `epoch`     string: a random id made when the store is first used; if it vanishes, Redis lost
              its data (restarted without persistence).
- `inbox`     stream: writes forwarded by followers to the leader.
- `reply:<instance>`  pub/sub channel: the leader's refusals of forwarded writes.
- `outbox:*`  the outbox (see `acd.store.outbox_redis`), written in the same script as the log.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from acd.store.outbox_redis import OutboxKeys
from acd.store.redis_scripts import ACQUIRE, APPEND, RELEASE, RENEW, RESEED, SAVE_SNAPSHOT

APPLY, TICK = "a", "t"


class Fenced(Exception):
    """A write was refused: this instance no longer holds the lease, or its engine is ahead of
    the log (Redis lost entries it had acknowledged): it must reload before it writes again."""


@dataclass(slots=True)
class LogEntry:
    id: str  # the stream id
    seq: int
    now: float
    kind: str  # APPLY | TICK
    events: bytes | None = None  # JSON list of events (APPLY)
    request: str | None = None  # the forwarded request it answers
    digests: bytes | None = None  # the events' digests (`Engine.digests_of`), None: not carried

    @classmethod
    def from_stream(cls, entry_id: bytes | str, fields: dict[bytes, bytes]) -> LogEntry:
        return cls.decode(_text(entry_id), fields[b"d"], fields.get(b"h"))

    @classmethod
    def decode(cls, entry_id: str, data: bytes, digests: bytes | None = None) -> LogEntry:
        head, _, events = data.partition(b"\n")
        seq, now, kind, request = head.split(b" ")
        return cls(
            entry_id,
            int(seq),
            float(now),
            APPLY if kind == b"a" else TICK if kind == b"t" else kind.decode(),
            events or None,
            None if request == b"-" else request.decode(),
            digests or None,
        )

    def encode(self) -> bytes:
        head = f"{self.seq} {self.now!r} {self.kind} {self.request or '-'}\n".encode()
        return head + (self.events or b"")


@dataclass(slots=True)
class Forwarded:
    """A write a follower forwarded to the leader."""

    id: str  # the inbox stream id
    request: str
    reply_to: str
    deadline: float  # wall clock: past it, the follower has given up
    events: bytes


@dataclass(slots=True)
class StoredSnapshot:
    header: bytes
    data: bytes
    seq: int
    id: str
    #: the call records unwritten when it was taken (b"" when none); None: the snapshot was made by
    #: a release from before snapshots carried records (the field is absent)
    records: bytes | None = b""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _fenced(exc: ResponseError) -> bool:
    return str(exc).startswith(("FENCED", "DIVERGED"))


class RedisLog:
    def __init__(self, client: Redis, prefix: str, *, inbox_maxlen: int = 100_000) -> None:
        self.client = client
        self.prefix = prefix
        self.outbox_keys = OutboxKeys(prefix)
        self.lease_key = f"{prefix}lease"
        self.fence_key = f"{prefix}fence"
        self.log_key = f"{prefix}log"
        self.snapshot_key = f"{prefix}snapshot"
        self.epoch_key = f"{prefix}epoch"
        self.inbox_key = f"{prefix}inbox"
        self.inbox_maxlen = inbox_maxlen
        self._append_keys = [*self.outbox_keys.all, self.lease_key, self.log_key, self.snapshot_key]
        self._acquire = client.register_script(ACQUIRE)
        self._renew = client.register_script(RENEW)
        self._release = client.register_script(RELEASE)
        self._append = client.register_script(APPEND)
        self._save_snapshot = client.register_script(SAVE_SNAPSHOT)
        self._reseed = client.register_script(RESEED)
        # The log's reads go through a second client over the same connections whose XRANGE
        # reply is turned into entries directly: redis-py's own parsing builds a dict per entry
        # first, which cost a recovery about a tenth of its time.
        self._reader = Redis(connection_pool=client.connection_pool)
        self._reader.set_response_callback("XRANGE", _entries)

    def reply_channel(self, instance: str) -> str:
        return f"{self.prefix}reply:{instance}"

    # -- the lease

    async def acquire(self, instance: str, ttl_s: float) -> str | None:
        """Take the lease if nobody holds it: returns its value (`<instance>/<token>`) or None."""
        value = await self._acquire(keys=[self.lease_key, self.fence_key], args=[instance, _ms(ttl_s)])
        return _text(value) if value else None

    async def renew(self, lease: str, ttl_s: float) -> bool:
        return bool(await self._renew(keys=[self.lease_key], args=[lease, _ms(ttl_s)]))

    async def release(self, lease: str) -> None:
        await self._release(keys=[self.lease_key], args=[lease])

    async def holder(self) -> str | None:
        value = await self.client.get(self.lease_key)
        return _text(value) if value else None

    # -- the epoch

    async def epoch(self) -> str | None:
        value = await self.client.get(self.epoch_key)
        return _text(value) if value else None

    async def create_epoch(self) -> str:
        await self.client.set(self.epoch_key, secrets.token_hex(8), nx=True)
        value = await self.client.get(self.epoch_key)
        return _text(value)

    # -- the log

    async def append(
        self, lease: str, entries: Sequence[LogEntry], commands: Sequence[tuple[str, str]]
    ) -> list[str]:
        """Append entries (and persist their commands in the outbox) if `lease` still holds;
        returns the entries' stream ids. Raises `Fenced` otherwise."""
        try:
            ids = await self._append(keys=self._append_keys, args=_append_args(lease, entries, commands))
        except ResponseError as exc:
            if _fenced(exc):
                raise Fenced(str(exc)) from None
            raise
        return [_text(i) for i in ids]

    async def append_replicated(
        self,
        lease: str,
        entries: Sequence[LogEntry],
        commands: Sequence[tuple[str, str]],
        replicas: int,
        timeout_ms: int,
    ) -> tuple[list[str], int]:
        """`append`, then `WAIT replicas timeout_ms`: returns the stream ids and how many replicas
        have the entries. Both go in one pipeline, so on one connection: WAIT counts the replicas
        that have the writes of the connection it is sent on. A WAIT that fails counts none."""
        async with self.client.pipeline(transaction=False) as pipe:
            await self._append(
                keys=self._append_keys,
                args=_append_args(lease, entries, commands),
                client=pipe,
            )
            pipe.wait(replicas, timeout_ms)
            ids, acknowledged = await pipe.execute(raise_on_error=False)
        if isinstance(ids, ResponseError) and _fenced(ids):
            raise Fenced(str(ids))
        if isinstance(ids, Exception):
            raise ids
        return [_text(i) for i in ids], acknowledged if isinstance(acknowledged, int) else 0

    async def read(self, after: str, count: int) -> list[LogEntry]:
        """Entries after stream id `after` (exclusive), oldest first."""
        return await self._reader.xrange(self.log_key, min=f"({after}", max="+", count=count)  # type: ignore[no-any-return]

    async def tail(self, after: str, count: int, block_ms: int) -> list[LogEntry]:
        """Like `read`, but waits up to `block_ms` for new entries."""
        reply = await self.client.xread({self.log_key: after}, count=count, block=block_ms)
        if not reply:
            return []
        return [LogEntry.from_stream(i, f) for i, f in reply[0][1]]

    async def length(self) -> int:
        return int(await self.client.xlen(self.log_key))

    # -- the snapshot

    async def load_snapshot(self) -> StoredSnapshot | None:
        data = await self.client.hgetall(self.snapshot_key)
        if not data:
            return None
        return StoredSnapshot(
            data[b"header"], data[b"data"], int(data[b"seq"]), _text(data[b"id"]), data.get(b"records")
        )

    async def save_snapshot(
        self, lease: str, seq: int, entry_id: str, header: bytes, data: bytes, records: bytes = b""
    ) -> bool:
        """Store a snapshot covering the log up to `entry_id` (seq `seq`) and trim what it covers;
        `records` are the call records still unwritten at that point (`RecordSink.carried`).
        False if a newer snapshot is there already; raises `Fenced` without the lease."""
        try:
            return bool(
                await self._save_snapshot(
                    keys=[self.lease_key, self.snapshot_key, self.log_key],
                    args=[lease, seq, entry_id, header, data, records],
                )
            )
        except ResponseError as exc:
            if _fenced(exc):
                raise Fenced(str(exc)) from None
            raise

    async def reseed(
        self, lease: str, seq: int, header: bytes, data: bytes, records: bytes = b""
    ) -> str | None:
        """After Redis lost its data: store this state as the base under a new epoch, unless the
        store holds a snapshot or log entries again already. Returns the new epoch, or None."""
        epoch = secrets.token_hex(8)
        try:
            done = await self._reseed(
                keys=[self.lease_key, self.epoch_key, self.snapshot_key, self.log_key],
                args=[lease, epoch, seq, header, data, records],
            )
        except ResponseError as exc:
            if _fenced(exc):
                raise Fenced(str(exc)) from None
            raise
        return epoch if done else None

    # -- forwarding

    async def forward(self, request: str, reply_to: str, deadline: float, events: bytes) -> None:
        await self.client.xadd(
            self.inbox_key,
            {"q": request, "r": reply_to, "d": repr(deadline), "e": events},
            maxlen=self.inbox_maxlen,
            approximate=True,
        )

    async def inbox(self, after: str, count: int, block_ms: int) -> list[Forwarded]:
        reply = await self.client.xread({self.inbox_key: after}, count=count, block=block_ms)
        if not reply:
            return []
        return [
            Forwarded(
                id=_text(i),
                request=f[b"q"].decode(),
                reply_to=f[b"r"].decode(),
                deadline=float(f[b"d"]),
                events=f[b"e"],
            )
            for i, f in reply[0][1]
        ]

    async def reply(self, channel: str, payload: bytes) -> None:
        await self.client.publish(channel, payload)

    async def server_time_ms(self) -> int:
        seconds, micros = await self.client.time()
        return int(seconds) * 1000 + int(micros) // 1000


def _append_args(lease: str, entries: Sequence[LogEntry], commands: Sequence[tuple[str, str]]) -> list[Any]:
    args: list[Any] = [lease, len(entries)]
    for entry in entries:
        args += [entry.encode(), entry.digests or b""]
    args.append(len(commands))
    for command_id, body in commands:
        args += [command_id, body]
    return args


def _entries(rows: list[Any] | None, **_options: Any) -> list[LogEntry]:
    """An XRANGE reply of the log (`[[id, [b"d", data, b"h", digests]], ...]`, `h` absent from
    entries written before it existed) as entries."""
    decode = LogEntry.decode
    return [
        decode(_text(entry_id), fields[1], fields[3] if len(fields) > 3 and fields[2] == b"h" else None)
        for entry_id, fields in rows or ()
    ]


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))
