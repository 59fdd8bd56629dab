"""Where the outbox's pending commands live: the store's interface (`OutboxStore`) and the
embedded store in memory (`MemoryOutboxStore`); `acd.store.outbox_redis` is the Redis one. The
dispatcher that delivers them is `acd.outbox`.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from acd.model import Command
from acd.outbox_lanes import LANES, lane_of

__all__ = ["MemoryOutboxStore", "OutboxStore", "PendingCommand"]


@dataclass(slots=True)
class PendingCommand:
    command: Command
    attempts: int  # failed delivery attempts so far
    next_attempt_at: float  # unix seconds; 0.0 means "as soon as possible"
    last_error: str | None


class OutboxStore(Protocol):
    """Where pending commands live (memory now, Redis later)."""

    async def put(self, commands: Sequence[Command]) -> list[Command]:
        """Persist new commands, due at once. A command whose id is already known (pending or
        delivered) is ignored. Returns the commands actually added, in order."""
        ...

    async def due(self, now: float, limit: int, lane: str | None = None) -> list[PendingCommand]:
        """Up to `limit` commands of `lane` (`acd.outbox_lanes`) whose next attempt is at or before
        `now`, oldest first; found without reading the due commands of the other lane. `None`:
        every lane, the urgent one's first."""
        ...

    async def mark_delivered(self, command_id: str) -> None: ...

    async def reschedule(
        self,
        command_id: str,
        next_attempt_at: float,
        attempts: int,
        last_error: str | None,
        *,
        backoff: bool = False,
    ) -> None:
        """Move a pending command's next attempt (no-op for an unknown or delivered id). `backoff`:
        the wait is a backoff after a failed attempt, which `end_backoffs` may cut short; else (a
        claim before an attempt, or any other move) it is kept whatever happens."""
        ...

    async def end_backoffs(self, now: float) -> int:
        """Make due at `now` every pending command whose next attempt is a backoff later than
        `now` (the platform is back), keeping its attempts and last error; a claim is left on its
        lease (its attempt may be in flight). Returns how many were made due."""
        ...

    async def release(self, claims: Mapping[str, float], now: float) -> int:
        """Make due at `now` each command whose next attempt is still the claim given (id -> the
        time it was claimed until, as given to `reschedule`), its attempt over (a stop cut it off),
        keeping its attempts and last error; one rescheduled since, delivered, or due already is
        left as it is. Returns how many were made due."""
        ...

    async def pending_count(self) -> int: ...

    async def file_lanes(self) -> int:
        """File in their lane the commands a release before lanes wrote in the same store (a
        rolling upgrade on Redis); returns how many it moved. The memory store has none."""
        ...

    async def next_due_at(self, lanes: Collection[str] | None = None) -> float | None:
        """When the next command of `lanes` (None: of any) falls due (a time at or before now if one
        is due already); None if none is pending. It may be earlier (a command of another lane
        waiting on a claim or a backoff): the caller then finds nothing due, and asks again."""
        ...


@dataclass(slots=True)
class _Entry:
    seq: int
    command: Command
    lane: str
    attempts: int = 0
    next_attempt_at: float = 0.0
    last_error: str | None = None
    version: int = 0


class MemoryOutboxStore:
    """The embedded store. Pending commands sit in heaps with lazy deletion: `_timeline` by next
    attempt time, and per lane `_ready[lane]` (already due) by creation order, so `due` costs
    O(k log n) whatever the other lane holds.
    `_backoffs` holds the ids whose next attempt is a backoff (`reschedule(..., backoff=True)`).
    Delivered ids are remembered (the last `remember_delivered`) so a replayed command is ignored."""

    def __init__(self, remember_delivered: int = 100_000) -> None:
        self._entries: dict[str, _Entry] = {}
        self._backoffs: set[str] = set()
        self._timeline: list[tuple[float, int, int, str]] = []  # (next_attempt_at, seq, version, id)
        #: per lane: (seq, version, id)
        self._ready: dict[str, list[tuple[int, int, str]]] = {lane: [] for lane in LANES}
        self._delivered: OrderedDict[str, None] = OrderedDict()
        self._remember = remember_delivered
        self._seq = 0

    async def put(self, commands: Sequence[Command]) -> list[Command]:
        added = []
        for command in commands:
            if command.id in self._entries or command.id in self._delivered:
                continue
            self._seq += 1
            entry = _Entry(self._seq, command, lane_of(command.command))
            self._entries[command.id] = entry
            heapq.heappush(self._ready[entry.lane], (entry.seq, entry.version, command.id))
            added.append(command)
        return added

    async def due(self, now: float, limit: int, lane: str | None = None) -> list[PendingCommand]:
        self._promote(now)
        out: list[PendingCommand] = []
        for one in LANES if lane is None else (lane,):
            ready = self._ready[one]
            taken: list[tuple[int, int, str]] = []
            while ready and len(out) + len(taken) < limit:
                item = heapq.heappop(ready)
                if self._live(item[2], item[1]):
                    taken.append(item)
            for item in taken:
                heapq.heappush(ready, item)
            out += [self._pending(self._entries[cid]) for _, _, cid in taken]
        return out

    async def mark_delivered(self, command_id: str) -> None:
        if self._entries.pop(command_id, None) is None:
            return
        self._backoffs.discard(command_id)
        self._delivered[command_id] = None
        while len(self._delivered) > self._remember:
            self._delivered.popitem(last=False)
        self._compact()

    async def reschedule(
        self,
        command_id: str,
        next_attempt_at: float,
        attempts: int,
        last_error: str | None,
        *,
        backoff: bool = False,
    ) -> None:
        entry = self._entries.get(command_id)
        if entry is None:
            return
        entry.version += 1
        entry.next_attempt_at = next_attempt_at
        entry.attempts = attempts
        entry.last_error = last_error
        heapq.heappush(self._timeline, (next_attempt_at, entry.seq, entry.version, command_id))
        if backoff:
            self._backoffs.add(command_id)
        else:
            self._backoffs.discard(command_id)
        self._compact()

    async def end_backoffs(self, now: float) -> int:
        ended = 0
        for command_id in self._backoffs:
            entry = self._entries[command_id]  # delivered ones leave the set
            if entry.next_attempt_at > now:
                self._due_now(entry, now)
                ended += 1
        self._backoffs.clear()  # each one is due now, or was already
        self._compact()
        return ended

    async def release(self, claims: Mapping[str, float], now: float) -> int:
        released = 0
        for command_id, claimed_until in claims.items():
            entry = self._entries.get(command_id)
            if entry is not None and entry.next_attempt_at == claimed_until > now:
                self._backoffs.discard(command_id)
                self._due_now(entry, now)
                released += 1
        self._compact()
        return released

    async def pending_count(self) -> int:
        return len(self._entries)

    async def file_lanes(self) -> int:
        return 0  # every command was filed in its lane when put

    async def next_due_at(self, lanes: Collection[str] | None = None) -> float | None:
        while self._timeline and not self._live(self._timeline[0][3], self._timeline[0][2]):
            heapq.heappop(self._timeline)
        candidates = [self._timeline[0][0]] if self._timeline else []  # of any lane, as on Redis
        for lane in LANES if lanes is None else lanes:
            ready = self._ready[lane]
            while ready and not self._live(ready[0][2], ready[0][1]):
                heapq.heappop(ready)
            if ready:
                candidates.append(self._entries[ready[0][2]].next_attempt_at)
        return min(candidates) if candidates else None

    # -- internals

    def _due_now(self, entry: _Entry, now: float) -> None:
        entry.version += 1
        entry.next_attempt_at = now
        heapq.heappush(self._ready[entry.lane], (entry.seq, entry.version, entry.command.id))

    def _live(self, command_id: str, version: int) -> bool:
        entry = self._entries.get(command_id)
        return entry is not None and entry.version == version

    def _promote(self, now: float) -> None:
        while self._timeline and self._timeline[0][0] <= now:
            _, seq, version, cid = heapq.heappop(self._timeline)
            if self._live(cid, version):
                heapq.heappush(self._ready[self._entries[cid].lane], (seq, version, cid))

    def _compact(self) -> None:
        # Stale heap items are dropped lazily; rebuild when they outnumber the live ones.
        held = len(self._timeline) + sum(len(ready) for ready in self._ready.values())
        if held > 2 * len(self._entries) + 1024:
            self._timeline = [t for t in self._timeline if self._live(t[3], t[2])]
            heapq.heapify(self._timeline)
            for lane, ready in self._ready.items():
                self._ready[lane] = [r for r in ready if self._live(r[2], r[1])]
                heapq.heapify(self._ready[lane])

    @staticmethod
    def _pending(entry: _Entry) -> PendingCommand:
        return PendingCommand(entry.command, entry.attempts, entry.next_attempt_at, entry.last_error)
