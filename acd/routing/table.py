"""The numba router's data: agents and waiting calls as a few numpy arrays.

The columns are packed into as few arrays as possible because numba's dispatcher type-checks each
array argument on every call (a few hundred ns apiece), and a decision must cost a few µs:

agents (row = agent row, dense from 0, capacity doubled when full)
    levels  int8    [cap, n_skills]  skill level 0..5 (0 = lacks the skill)
    ints    int64   [cap, 3]         MASK (skills held, a uint64 bit mask stored in int64), STATE, SITE
    times   float64 [cap, 4]         IDLE_SINCE, OCCUPIED_S, IDLE_S, STATE_SINCE
    avail   int64   [cap]            the AVAILABLE agent rows, dense in avail[:n_avail], any order
                                     (pick_agent scans only these; ties go to the lowest row)
    avail_pos int64 [cap]            row -> its index in avail, -1 if not AVAILABLE

waiting calls (slot = position in the table, dense: slots 0..n-1 are exactly the waiting calls;
removing a call moves the last slot into its place; the engine sees stable rows, mapped to slots)
    ints    int64   [cap, 6]         SKILL, MASK (skill | needs), PRIORITY, SEQ, PREF_AGENT, ROW
    times   float64 [cap, 2]         ENQUEUED_AT, PREF_UNTIL

Beside the tables, `LineCounts` counts the waiting calls of each skill by (mask, priority), so
that the queue position of the newest call of a skill costs a few classes, not a scan of the line.

The widening steps are one float64 array [n_skills, max_steps, 2] of (after_s, min_level), padded
with after_s = +inf (a step never reached).

Keeping the waiting calls dense means a decision scans exactly the calls that wait, however many
waited at the peak; ties never depend on slot order (seq is unique, agents are scanned by row).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

# agent int columns
A_MASK, A_STATE, A_SITE = 0, 1, 2
# agent float columns
T_IDLE_SINCE, T_OCCUPIED_S, T_IDLE_S, T_STATE_SINCE = 0, 1, 2, 3
# call int columns
C_SKILL, C_MASK, C_PRIORITY, C_SEQ, C_PREF_AGENT, C_ROW = 0, 1, 2, 3, 4, 5
# call float columns
F_ENQUEUED_AT, F_PREF_UNTIL = 0, 1

_BIT63 = 1 << 63


def skill_mask(skills: Sequence[int]) -> int:
    """The skills as a 64-bit mask, as the signed int64 holding the same bits."""
    mask = 0
    for s in skills:
        mask |= 1 << s
    return mask - (1 << 64) if mask & _BIT63 else mask


def widening_array(widening: Sequence[Sequence[tuple[float, int]]]) -> np.ndarray:
    width = max((len(steps) for steps in widening), default=1)
    out = np.empty((len(widening), width, 2), dtype=np.float64)
    out[:, :, 0] = np.inf
    for s, steps in enumerate(widening):
        for k, (after, level) in enumerate(steps):
            out[s, k] = (after, level)
        out[s, len(steps) :, 1] = steps[-1][1]
    return out


def _grow(array: np.ndarray, capacity: int, fill: float | int = 0) -> np.ndarray:
    out = np.full((capacity, *array.shape[1:]), fill, dtype=array.dtype)
    out[: len(array)] = array
    return out


class AgentTable:
    __slots__ = ("avail", "avail_pos", "capacity", "ints", "levels", "n", "n_avail", "n_skills", "times")

    def __init__(self, n_skills: int, capacity: int = 64) -> None:
        capacity = max(1, capacity)
        self.n_skills = n_skills
        self.n = 0
        self.capacity = capacity
        self.levels = np.zeros((capacity, n_skills), dtype=np.int8)
        self.ints = np.zeros((capacity, 3), dtype=np.int64)  # LOGGED_OUT is 0
        self.times = np.zeros((capacity, 4), dtype=np.float64)
        self.avail = np.zeros(capacity, dtype=np.int64)
        self.avail_pos = np.full(capacity, -1, dtype=np.int64)
        self.n_avail = 0

    def append(self, levels: dict[int, int], site: int, at: float) -> int:
        """A new agent row, LOGGED_OUT since `at`. States change through the router's kernel
        (`kernel.set_state`), which also keeps the AVAILABLE list."""
        if self.n == self.capacity:
            self.capacity *= 2
            self.levels = _grow(self.levels, self.capacity)
            self.ints = _grow(self.ints, self.capacity)
            self.times = _grow(self.times, self.capacity)
            self.avail = _grow(self.avail, self.capacity)
            self.avail_pos = _grow(self.avail_pos, self.capacity, -1)
        row = self.n
        self.n += 1
        self.set_levels(row, levels)
        self.ints[row, A_SITE] = site
        self.times[row] = (np.nan, 0.0, 0.0, at)
        return row

    def set_levels(self, row: int, levels: dict[int, int]) -> None:
        self.levels[row] = 0
        for skill, level in levels.items():
            self.levels[row, skill] = level
        self.ints[row, A_MASK] = skill_mask([s for s, level in levels.items() if level >= 1])


class CallTable:
    __slots__ = ("capacity", "ints", "n", "slot_of_row", "times")

    def __init__(self, capacity: int = 64) -> None:
        capacity = max(1, capacity)
        self.n = 0
        self.capacity = capacity
        self.ints = np.zeros((capacity, 6), dtype=np.int64)
        self.times = np.zeros((capacity, 2), dtype=np.float64)
        self.slot_of_row: list[int] = []  # -1 while the row is free

    def add(self, row: int) -> int:
        """A slot for the call of `row` (the router writes the call into it); grows when full."""
        if self.n == self.capacity:
            self.capacity *= 2
            self.ints = _grow(self.ints, self.capacity)
            self.times = _grow(self.times, self.capacity)
        slot = self.n
        self.n += 1
        if row == len(self.slot_of_row):
            self.slot_of_row.append(slot)
        else:
            self.slot_of_row[row] = slot
        return slot

    def remove(self, row: int, move: Callable[[np.ndarray, np.ndarray, int, int], int]) -> None:
        """Free the slot of `row`; the last slot moves into it (`move` copies a call between
        slots and returns its row), so slots stay dense."""
        slot = self.slot_of_row[row]
        last = self.n - 1
        if slot != last:
            self.slot_of_row[move(self.ints, self.times, last, slot)] = slot
        self.slot_of_row[row] = -1
        self.n = last

    def slot(self, row: int) -> int:
        """The slot of a waiting call's row; ValueError if the row is not waiting."""
        if 0 <= row < len(self.slot_of_row):
            slot = self.slot_of_row[row]
            if slot >= 0:
                return slot
        raise ValueError(f"call row {row} is not waiting")


class LineCounts:
    """Per skill, the waiting calls counted by class (mask, priority), and the newest call: the one
    holding the highest seq ever added to the skill, alone (-1 once it left, or on a tie).

    The newest call's queue position is the sum of the counts of the classes it competes with
    (mask within its own) at its priority or above: every other call of its skill has a lower seq,
    so all those at its priority are ahead of it, and the sum counts the call itself (the 1 of the
    position). Any other call gets 0 here and the kernel scans the line (`kernel.queue_position`):
    a call requeued keeps its seq, and under priority aging the seq is the aged order, so a new
    call of a higher priority is not the newest. A call just queued usually is."""

    __slots__ = ("by_class", "newest", "of_row", "top")

    def __init__(self, n_skills: int) -> None:
        self.by_class: list[dict[tuple[int, int], int]] = [{} for _ in range(n_skills)]
        self.newest = [-1] * n_skills  # row
        self.top: list[int | None] = [None] * n_skills  # the highest seq ever added
        self.of_row: list[tuple[int, tuple[int, int]]] = []  # row -> (skill, (mask, priority))

    def add(self, row: int, skill: int, mask: int, priority: int, seq: int) -> None:
        key = (mask, priority)
        counts = self.by_class[skill]
        counts[key] = counts.get(key, 0) + 1
        if row == len(self.of_row):
            self.of_row.append((skill, key))
        else:
            self.of_row[row] = (skill, key)
        top = self.top[skill]
        if top is None or seq > top:
            self.top[skill] = seq
            self.newest[skill] = row
        elif seq == top:
            self.newest[skill] = -1

    def remove(self, row: int) -> None:
        skill, key = self.of_row[row]
        counts = self.by_class[skill]
        left = counts[key] - 1
        if left:
            counts[key] = left
        else:
            del counts[key]  # the sum in `position` walks the classes that wait only
        if self.newest[skill] == row:
            self.newest[skill] = -1

    def position(self, row: int) -> int:
        """The queue position of the waiting call of `row` if it is the newest of its skill, else 0."""
        skill, (mask, priority) = self.of_row[row]
        if self.newest[skill] != row:
            return 0
        position = 0
        for (other_mask, other_priority), n in self.by_class[skill].items():
            if other_priority >= priority and other_mask & ~mask == 0:
                position += n
        return position
