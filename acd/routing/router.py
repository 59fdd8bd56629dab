"""The production router: numpy tables kept in step by Python, decisions by numba kernels."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from acd.model import OCCUPIED_STATES, AgentState, Strategy
from acd.routing import entries
from acd.routing.base import MAX_PRIORITY, Router, RowPool, SkillStats, Widening, next_drop
from acd.routing.table import (
    A_SITE,
    A_STATE,
    C_PREF_AGENT,
    C_SKILL,
    F_ENQUEUED_AT,
    F_PREF_UNTIL,
    T_IDLE_SINCE,
    AgentTable,
    CallTable,
    LineCounts,
    skill_mask,
    widening_array,
)

_AVAILABLE = AgentState.AVAILABLE
_OCCUPIED = frozenset(OCCUPIED_STATES)
_STATES = tuple(AgentState)


class NumbaRouter(Router):
    """Agents and waiting calls in numpy tables (`table.py`), decisions by numba kernels
    (`kernel.py`). Capacities are initial sizes; the tables double when full."""

    def __init__(
        self,
        n_skills: int,
        strategy: Strategy,
        widening: Widening | None = None,
        *,
        agent_capacity: int = 64,
        call_capacity: int = 64,
    ) -> None:
        super().__init__(n_skills, strategy, widening)
        self._agents = AgentTable(n_skills, agent_capacity)
        self._calls = CallTable(call_capacity)
        self._rows = RowPool()
        self._line = LineCounts(n_skills)  # the newest call's queue position without a scan
        self._wid = widening_array(self.widening)
        self._states: list[AgentState] = []  # mirror of the STATE column, for cheap reads
        self._masks: dict[tuple[int, tuple[int, ...]], int] = {}  # (skill, needs) -> checked mask

    def _strategy_changed(self) -> None:
        self._k = entries.entries()
        self._pick_agent, self._pick_new = self._k.picks(self._strategy_code)

    # Kernel entry points belong to the process: left out of a snapshot, found again on load.
    _PROCESS_ONLY = ("_k", "_pick_agent", "_pick_new")

    def __getstate__(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k not in self._PROCESS_ONLY}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._strategy_changed()

    # -- agents --------------------------------------------------------------------------------

    def add_agent(
        self, levels: Mapping[int, int], site: int, state: AgentState = AgentState.LOGGED_OUT, at: float = 0.0
    ) -> int:
        state = AgentState(state)
        row = self._agents.append(self._check_levels(levels), int(site), float(at))
        self._states.append(AgentState.LOGGED_OUT)
        if state is not AgentState.LOGGED_OUT:
            self.set_agent_state(row, state, at)
        return row

    def _row(self, row: int) -> int:
        if not 0 <= row < self._agents.n:
            raise ValueError(f"unknown agent row {row}")
        return row

    def set_agent_skills(self, row: int, levels: Mapping[int, int]) -> None:
        self._agents.set_levels(self._row(row), self._check_levels(levels))

    def set_agent_site(self, row: int, site: int) -> None:
        self._agents.ints[self._row(row), A_SITE] = int(site)

    def set_agent_state(self, row: int, state: AgentState, at: float) -> AgentState:
        if type(state) is not AgentState:
            state = AgentState(state)
        states = self._states
        if not 0 <= row < len(states):
            raise ValueError(f"unknown agent row {row}")
        a = self._agents
        a.n_avail = self._k.set_state(
            a.ints, a.times, a.avail, a.avail_pos, row, state._value_, float(at), a.n_avail
        )
        old, states[row] = states[row], state
        return old

    def agent_state(self, row: int) -> AgentState:
        states = self._states  # read on every agent event: the bounds checked inline
        if 0 <= row < len(states):
            return states[row]
        raise ValueError(f"unknown agent row {row}")

    def idle_since(self, row: int) -> float:
        return float(self._agents.times[self._row(row), T_IDLE_SINCE])

    def occupancy_seconds(self, row: int, now: float) -> tuple[float, float]:
        state = self._states[self._row(row)]
        _idle_since, occupied, idle, since = (float(x) for x in self._agents.times[row])
        open_s = float(now) - since
        if open_s > 0.0:
            if state in _OCCUPIED:
                occupied = occupied + open_s
            elif state is _AVAILABLE:
                idle = idle + open_s
        return occupied, idle

    def agent_count(self) -> int:
        return self._agents.n

    def agents_by_state(self) -> dict[AgentState, int]:
        counts = np.bincount(self._agents.ints[: self._agents.n, A_STATE], minlength=len(_STATES))
        return {state: int(counts[state]) for state in _STATES}

    def staffed(self, skill: int, needs: Iterable[int] = ()) -> int:
        return self._k.count_staffed(self._agents.ints, self._mask(skill, tuple(needs)), self._agents.n)

    def _mask(self, skill: int, needs: tuple[int, ...]) -> int:
        """The checked mask of a call's skills (kept: a contact centre has few combinations)."""
        mask = self._masks.get((skill, needs))
        if mask is None:
            mask = self._masks[(skill, needs)] = skill_mask(self._check_skills(skill, needs))
        return mask

    # -- waiting calls -------------------------------------------------------------------------

    def add_call(
        self,
        skill: int,
        needs: Sequence[int],
        priority: int,
        seq: int,
        enqueued_at: float,
        pref_agent: int = -1,
        pref_until: float = 0.0,
    ) -> int:
        mask = self._masks.get((skill, needs_t := tuple(needs)))
        if mask is None:
            mask = self._mask(skill, needs_t)
        if not (pref_agent == -1 and 0 <= priority <= MAX_PRIORITY):  # the common case needs no call
            self._check_rank(priority, pref_agent)
        row = self._rows.take()
        calls = self._calls
        slot = calls.add(row)
        skill, priority, seq = int(skill), int(priority), int(seq)
        self._k.put_call(
            calls.ints,
            calls.times,
            slot,
            skill,
            mask,
            priority,
            seq,
            int(pref_agent),
            row,
            float(enqueued_at),
            float(pref_until),
        )
        self._line.add(row, skill, mask, priority, seq)
        return row

    def remove_call(self, row: int) -> None:
        self._calls.slot(row)  # raises if not waiting
        self._calls.remove(row, self._k.move_call)
        self._line.remove(row)
        self._rows.give(row)

    def waiting_count(self) -> int:
        return self._calls.n

    def call_preference(self, row: int) -> tuple[int, float]:
        slot = self._calls.slot(row)
        return int(self._calls.ints[slot, C_PREF_AGENT]), float(self._calls.times[slot, F_PREF_UNTIL])

    # -- decisions -----------------------------------------------------------------------------

    def pick_agent(self, call_row: int, now: float) -> int:
        calls, agents = self._calls, self._agents
        slot = calls.slot(call_row)
        if agents.n_avail == 0:
            return -1
        return self._pick_agent(
            agents.levels,
            agents.ints,
            agents.times,
            calls.ints,
            calls.times,
            self._wid,
            agents.avail,
            slot,
            float(now),
            agents.n_avail,
        )

    def pick_new(
        self, skill: int, needs: Sequence[int], pref_agent: int, pref_until: float, now: float
    ) -> int:
        agents = self._agents
        mask = self._masks.get((skill, needs_t := tuple(needs)))  # the checked mask, inline
        if mask is None:
            mask = self._mask(skill, needs_t)
        if pref_agent != -1:
            self._check_rank(0, pref_agent)
        if agents.n_avail == 0:
            return -1
        return self._pick_new(
            agents.levels,
            agents.ints,
            agents.times,
            self._wid,
            agents.avail,
            agents.n_avail,
            int(skill),
            mask,
            int(pref_agent),
            float(pref_until),
            float(now),
        )

    def pick_call(self, agent_row: int, now: float) -> int:
        calls, agents = self._calls, self._agents
        if not 0 <= agent_row < agents.n:
            raise ValueError(f"unknown agent row {agent_row}")
        if calls.n == 0:
            return -1
        return self._k.pick_call(
            agents.levels,
            agents.ints,
            calls.ints,
            calls.times,
            self._wid,
            int(agent_row),
            float(now),
            calls.n,
        )

    def queue_position(self, call_row: int) -> int:
        calls = self._calls
        slot = calls.slot(call_row)  # raises if not waiting
        return self._line.position(call_row) or self._k.queue_position(calls.ints, slot, calls.n)

    def skill_stats(self, now: float) -> list[SkillStats]:
        agents, calls = self._agents, self._calls
        counts, oldest = self._k.skill_stats(
            agents.levels, agents.ints, calls.ints, calls.times, agents.n, calls.n
        )
        out = []
        for skill in range(self.n_skills):
            waiting, available, busy = (int(x) for x in counts[skill])
            first = float(oldest[skill])
            out.append(
                {
                    "waiting": waiting,
                    "oldest_enqueued_at": None if math.isnan(first) else first,
                    "agents_available": available,
                    "agents_busy": busy,
                    "agents_staffed": available + busy,
                }
            )
        return out

    def next_widening(self, call_row: int, now: float) -> float | None:
        calls = self._calls
        slot = calls.slot(call_row)
        skill = int(calls.ints[slot, C_SKILL])
        return next_drop(self.widening[skill], float(calls.times[slot, F_ENQUEUED_AT]), float(now))

    # -- for tests and tools -------------------------------------------------------------------

    def agent_site(self, row: int) -> int:
        return int(self._agents.ints[self._row(row), A_SITE])

    def agent_times(self, row: int) -> tuple[float, float, float, float]:
        idle_since, occupied, idle, since = (float(x) for x in self._agents.times[self._row(row)])
        return idle_since, occupied, idle, since

    def set_agent_times(
        self, row: int, idle_since: float, occupied_s: float, idle_s: float, state_since: float
    ) -> None:
        self._agents.times[self._row(row)] = (idle_since, occupied_s, idle_s, state_since)
