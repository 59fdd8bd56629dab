"""The routing rules in plain Python over plain objects: what a plain-Python ACD would do.

It is the yardstick for the numba router: property tests check that both make the same decisions,
and the benchmarks compare their speed. Nothing here uses numpy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from acd.model import OCCUPIED_STATES, STAFFED_STATES, AgentState, Strategy
from acd.routing.base import Router, RowPool, SkillStats, Step, Widening, next_drop

_AVAILABLE = AgentState.AVAILABLE
_OCCUPIED = frozenset(OCCUPIED_STATES)
_STAFFED = frozenset(STAFFED_STATES)


@dataclass(slots=True)
class _Agent:
    levels: dict[int, int]  # only the skills held (level >= 1)
    site: int
    state: AgentState
    idle_since: float  # last time it became AVAILABLE (nan: never)
    occupied_s: float  # closed BUSY / WRAP_UP / RESERVED time
    idle_s: float  # closed AVAILABLE time
    state_since: float  # start of the open segment

    def occupancy_seconds(self, now: float) -> tuple[float, float]:
        occupied, idle = self.occupied_s, self.idle_s
        open_s = now - self.state_since
        if open_s > 0.0:
            if self.state in _OCCUPIED:
                occupied = occupied + open_s
            elif self.state is _AVAILABLE:
                idle = idle + open_s
        return occupied, idle

    def occupancy(self, now: float) -> float:
        occupied, idle = self.occupancy_seconds(now)
        total = occupied + idle
        return occupied / total if total > 0.0 else 0.0


@dataclass(slots=True)
class _Call:
    skill: int
    skills: tuple[int, ...]  # skill, then needs
    priority: int
    seq: int
    enqueued_at: float
    pref_agent: int
    pref_until: float


def _min_level(steps: list[Step], enqueued_at: float, now: float) -> int:
    """Level of the last step reached: a step applies from `enqueued_at + after_s` on."""
    level = steps[0][1]
    for after, step_level in steps:
        if enqueued_at + after <= now:
            level = step_level
        else:
            break
    return level


class ReferenceRouter(Router):
    def __init__(self, n_skills: int, strategy: Strategy, widening: Widening | None = None) -> None:
        super().__init__(n_skills, strategy, widening)
        self._agents: list[_Agent] = []
        self._calls: dict[int, _Call] = {}
        self._rows = RowPool()

    # -- agents --------------------------------------------------------------------------------

    def add_agent(
        self, levels: Mapping[int, int], site: int, state: AgentState = AgentState.LOGGED_OUT, at: float = 0.0
    ) -> int:
        state, at = AgentState(state), float(at)
        held = {s: lv for s, lv in self._check_levels(levels).items() if lv >= 1}
        idle_since = at if state is _AVAILABLE else math.nan
        self._agents.append(_Agent(held, int(site), state, idle_since, 0.0, 0.0, at))
        return len(self._agents) - 1

    def _agent(self, row: int) -> _Agent:
        if not 0 <= row < len(self._agents):
            raise ValueError(f"unknown agent row {row}")
        return self._agents[row]

    def set_agent_skills(self, row: int, levels: Mapping[int, int]) -> None:
        agent = self._agent(row)
        agent.levels = {s: lv for s, lv in self._check_levels(levels).items() if lv >= 1}

    def set_agent_site(self, row: int, site: int) -> None:
        self._agent(row).site = int(site)

    def set_agent_state(self, row: int, state: AgentState, at: float) -> AgentState:
        agent, state = self._agent(row), AgentState(state)
        old = agent.state
        at = max(float(at), agent.state_since)
        if agent.state in _OCCUPIED:
            agent.occupied_s = agent.occupied_s + (at - agent.state_since)
        elif agent.state is _AVAILABLE:
            agent.idle_s = agent.idle_s + (at - agent.state_since)
        agent.state_since = at
        if state is _AVAILABLE and agent.state is not _AVAILABLE:
            agent.idle_since = at
        agent.state = state
        return old

    def agent_state(self, row: int) -> AgentState:
        return self._agent(row).state

    def idle_since(self, row: int) -> float:
        return self._agent(row).idle_since

    def occupancy_seconds(self, row: int, now: float) -> tuple[float, float]:
        return self._agent(row).occupancy_seconds(float(now))

    def agent_site(self, row: int) -> int:
        return self._agent(row).site

    def agent_times(self, row: int) -> tuple[float, float, float, float]:
        agent = self._agent(row)
        return agent.idle_since, agent.occupied_s, agent.idle_s, agent.state_since

    def set_agent_times(
        self, row: int, idle_since: float, occupied_s: float, idle_s: float, state_since: float
    ) -> None:
        agent = self._agent(row)
        agent.idle_since, agent.occupied_s, agent.idle_s = float(idle_since), float(occupied_s), float(idle_s)
        agent.state_since = float(state_since)

    def agent_count(self) -> int:
        return len(self._agents)

    def agents_by_state(self) -> dict[AgentState, int]:
        counts = dict.fromkeys(AgentState, 0)
        for agent in self._agents:
            counts[agent.state] += 1
        return counts

    def staffed(self, skill: int, needs: Iterable[int] = ()) -> int:
        skills = self._check_call(skill, needs, 0, -1)
        return sum(
            1 for agent in self._agents if agent.state in _STAFFED and all(s in agent.levels for s in skills)
        )

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
        skills = self._check_call(skill, needs, priority, pref_agent)
        row = self._rows.take()
        self._calls[row] = _Call(
            skills[0], skills, int(priority), int(seq), float(enqueued_at), int(pref_agent), float(pref_until)
        )
        return row

    def _call(self, row: int) -> _Call:
        call = self._calls.get(row)
        if call is None:
            raise ValueError(f"call row {row} is not waiting")
        return call

    def remove_call(self, row: int) -> None:
        self._call(row)
        del self._calls[row]
        self._rows.give(row)

    def waiting_count(self) -> int:
        return len(self._calls)

    def call_preference(self, row: int) -> tuple[int, float]:
        call = self._call(row)
        return call.pref_agent, call.pref_until

    # -- decisions -----------------------------------------------------------------------------

    def _eligible(self, agent: _Agent, row: int, call: _Call, now: float) -> bool:
        if agent.state is not _AVAILABLE:
            return False
        if call.pref_agent >= 0 and now < call.pref_until and row != call.pref_agent:
            return False
        if any(s not in agent.levels for s in call.skills):
            return False
        return agent.levels[call.skill] >= _min_level(self.widening[call.skill], call.enqueued_at, now)

    def pick_agent(self, call_row: int, now: float) -> int:
        return self._pick_for(self._call(call_row), float(now))

    def pick_new(
        self, skill: int, needs: Sequence[int], pref_agent: int, pref_until: float, now: float
    ) -> int:
        skills = self._check_call(skill, needs, 0, pref_agent)
        now = float(now)
        return self._pick_for(_Call(skills[0], skills, 0, 0, now, int(pref_agent), float(pref_until)), now)

    def _pick_for(self, call: _Call, now: float) -> int:
        pref = call.pref_agent
        if pref >= 0 and self._eligible(self._agents[pref], pref, call, now):
            return pref  # the preferred agent, free now and eligible, before any other
        strategy = self._strategy
        best, best_key = -1, None
        for row, agent in enumerate(self._agents):
            if not self._eligible(agent, row, call, now):
                continue
            if strategy is Strategy.SKILL_LEVEL:
                key = (-agent.levels[call.skill], agent.idle_since)
            elif strategy is Strategy.LEAST_OCCUPIED:
                key = (agent.occupancy(now), agent.idle_since)
            elif strategy is Strategy.FEWEST_SKILLS:
                key = (len(agent.levels), -agent.levels[call.skill], agent.idle_since)
            else:
                key = (agent.idle_since,)
            if best_key is None or key < best_key:  # strict: on a tie the lower row stays
                best, best_key = row, key
        return best

    def pick_call(self, agent_row: int, now: float) -> int:
        agent, now = self._agent(agent_row), float(now)
        best, best_key = -1, None
        for row, call in self._calls.items():
            if not self._eligible(agent, agent_row, call, now):
                continue
            key = (call.priority, -call.seq)
            if best_key is None or key > best_key:
                best, best_key = row, key
        return best

    def queue_position(self, call_row: int) -> int:
        call = self._call(call_row)
        ahead = sum(
            1
            for other in self._calls.values()
            if other.skill == call.skill
            and set(other.skills) <= set(call.skills)  # a call it competes with (kernel.queue_position)
            and (other.priority > call.priority or (other.priority == call.priority and other.seq < call.seq))
        )
        return ahead + 1

    def skill_stats(self, now: float) -> list[SkillStats]:
        out: list[SkillStats] = [
            {
                "waiting": 0,
                "oldest_enqueued_at": None,
                "agents_available": 0,
                "agents_busy": 0,
                "agents_staffed": 0,
            }
            for _ in range(self.n_skills)
        ]
        for call in self._calls.values():
            stats = out[call.skill]
            stats["waiting"] += 1
            oldest = stats["oldest_enqueued_at"]
            if oldest is None or call.enqueued_at < oldest:
                stats["oldest_enqueued_at"] = call.enqueued_at
        for agent in self._agents:
            if agent.state not in _STAFFED:
                continue
            column = "agents_available" if agent.state is _AVAILABLE else "agents_busy"
            for skill in agent.levels:
                out[skill][column] += 1
                out[skill]["agents_staffed"] += 1
        return out

    def next_widening(self, call_row: int, now: float) -> float | None:
        call = self._call(call_row)
        return next_drop(self.widening[call.skill], call.enqueued_at, float(now))
