"""What every router does: the interface the engine calls, and the rule data both routers share.

The rules (eligibility, timed widening, the three strategies, queue order, occupancy) are written
twice, once as numba kernels over arrays (`router.NumbaRouter`) and once in plain Python
(`reference.ReferenceRouter`); property tests check that both decide alike. What is shared here
is only bookkeeping: argument checks, the normalised widening steps and the call-row free list.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from typing import Any

from acd.model import AgentState, Strategy

MAX_SKILLS = 64  # a call's required skills fit one 64-bit mask
MAX_LEVEL = 5
MAX_PRIORITY = 9

#: One timed-widening step: from `after_s` seconds of waiting on, agents need `min_level`.
Step = tuple[float, int]
Widening = Sequence[Sequence[Step] | None]

DEFAULT_STEPS: tuple[Step, ...] = ((0.0, 1),)

#: Per skill, what `skill_stats` reports (see `Router.skill_stats`).
SkillStats = dict[str, Any]


def normalize_widening(n_skills: int, widening: Widening | None) -> list[list[Step]]:
    """Validated steps per skill: sorted by `after_s` (stably), the first at 0, levels 0..5.

    Several steps at the same `after_s` collapse into the last one listed, which is the one the
    rule "the last step with after_s <= waiting time" would apply anyway. A skill with no steps
    gets `[(0.0, 1)]` (anyone with the skill, at once).
    """
    given = list(widening or [])
    if len(given) > n_skills:
        raise ValueError(f"widening lists {len(given)} skills, the router has {n_skills}")
    out: list[list[Step]] = []
    for skill in range(n_skills):
        raw = given[skill] if skill < len(given) else None
        steps = [(float(after), int(level)) for after, level in (raw or DEFAULT_STEPS)]
        steps.sort(key=lambda step: step[0])
        for after, level in steps:
            if not math.isfinite(after) or after < 0:
                raise ValueError(f"skill {skill}: widening after_s must be finite and >= 0, got {after}")
            if not 0 <= level <= MAX_LEVEL:
                raise ValueError(f"skill {skill}: widening min_level must be in 0..{MAX_LEVEL}, got {level}")
        if steps[0][0] != 0.0:
            raise ValueError(f"skill {skill}: the first widening step must be at after_s 0")
        merged: list[Step] = []
        for step in steps:
            if merged and merged[-1][0] == step[0]:
                merged[-1] = step
            else:
                merged.append(step)
        out.append(merged)
    return out


def next_drop(steps: Sequence[Step], enqueued_at: float, now: float) -> float | None:
    """The first instant after `now` at which the min level of a call enqueued at `enqueued_at`
    goes down (a step whose level is below the step before it), or None.

    A step applies from the instant `enqueued_at + after_s` on (both routers compare
    `enqueued_at + after_s <= now`, so a timer set at the returned instant always sees the step).
    """
    for i in range(1, len(steps)):
        at = enqueued_at + steps[i][0]
        if at > now and steps[i][1] < steps[i - 1][1]:
            return at
    return None


def widens(steps: Sequence[Step]) -> bool:
    """Whether the min level ever goes down along `steps` (so `next_drop` can find an instant)."""
    return any(later[1] < earlier[1] for earlier, later in pairwise(steps))


class RowPool:
    """Waiting-call rows: a removed row is reused, the most recently freed first (both routers use
    this pool, so the same operations give the same rows)."""

    __slots__ = ("_free", "size")

    def __init__(self) -> None:
        self._free: list[int] = []
        self.size = 0  # rows ever handed out

    def take(self) -> int:
        if self._free:
            return self._free.pop()
        self.size += 1
        return self.size - 1

    def give(self, row: int) -> None:
        self._free.append(row)


class Router(ABC):
    """Skill-based routing over integer rows: agents (dense from 0, never reused) and waiting calls
    (reused after removal). Times are float seconds passed in by the caller."""

    def __init__(self, n_skills: int, strategy: Strategy, widening: Widening | None = None) -> None:
        if not 0 <= n_skills <= MAX_SKILLS:
            raise ValueError(f"n_skills must be in 0..{MAX_SKILLS}, got {n_skills}")
        self.n_skills = n_skills
        self.widening = normalize_widening(n_skills, widening)
        #: per skill: whether a waiting call's min level ever drops (a widening timer is due)
        self.widens = [widens(steps) for steps in self.widening]
        self.strategy = strategy

    # -- strategy ------------------------------------------------------------------------------

    @property
    def strategy(self) -> Strategy:
        return self._strategy

    @strategy.setter
    def strategy(self, value: Strategy | int) -> None:
        self._strategy = Strategy(value)
        self._strategy_code = int(self._strategy)
        self._strategy_changed()

    def _strategy_changed(self) -> None:  # noqa: B027 (optional hook, not abstract)
        """Hook for a router that keeps something per strategy."""

    def set_strategy(self, strategy: Strategy | int) -> None:
        self.strategy = strategy

    # -- shared argument checks ----------------------------------------------------------------

    def _check_levels(self, levels: Mapping[int, int]) -> dict[int, int]:
        out = {}
        for skill, level in levels.items():
            s, lv = int(skill), int(level)
            if not 0 <= s < self.n_skills:
                raise ValueError(f"unknown skill index {skill} (the router has {self.n_skills})")
            if not 0 <= lv <= MAX_LEVEL:
                raise ValueError(f"skill level must be in 0..{MAX_LEVEL}, got {level}")
            out[s] = lv
        return out

    def _check_call(
        self, skill: int, needs: Iterable[int], priority: int, pref_agent: int
    ) -> tuple[int, ...]:
        """The call's skills (its skill, then its needs), every argument checked."""
        skills = self._check_skills(skill, needs)
        self._check_rank(priority, pref_agent)
        return skills

    def _check_skills(self, skill: int, needs: Iterable[int]) -> tuple[int, ...]:
        skills = (int(skill), *(int(n) for n in needs))
        for s in skills:
            if not 0 <= s < self.n_skills:
                raise ValueError(f"unknown skill index {s} (the router has {self.n_skills})")
        return skills

    def _check_rank(self, priority: int, pref_agent: int) -> None:
        if not 0 <= priority <= MAX_PRIORITY:
            raise ValueError(f"priority must be in 0..{MAX_PRIORITY}, got {priority}")
        if not -1 <= pref_agent < self.agent_count():
            raise ValueError(f"unknown preferred agent row {pref_agent}")

    # -- agents --------------------------------------------------------------------------------

    @abstractmethod
    def add_agent(
        self, levels: Mapping[int, int], site: int, state: AgentState = AgentState.LOGGED_OUT, at: float = 0.0
    ) -> int:
        """A new agent row (dense from 0). An agent added AVAILABLE is idle since `at`."""

    @abstractmethod
    def set_agent_skills(self, row: int, levels: Mapping[int, int]) -> None:
        """Replace the agent's skill levels (a skill left out is level 0: lacking)."""

    @abstractmethod
    def set_agent_site(self, row: int, site: int) -> None: ...

    @abstractmethod
    def set_agent_state(self, row: int, state: AgentState, at: float) -> AgentState:
        """Close the open occupancy segment at `at` (never before it opened) and enter `state`.
        Entering AVAILABLE from another state sets idle_since = `at`. Returns the state left."""

    @abstractmethod
    def agent_state(self, row: int) -> AgentState: ...

    @abstractmethod
    def idle_since(self, row: int) -> float:
        """When the agent last became AVAILABLE (nan if it never was)."""

    @abstractmethod
    def occupancy_seconds(self, row: int, now: float) -> tuple[float, float]:
        """(occupied, available) seconds since the agent was added, the open segment counted up
        to `now`. BUSY, WRAP_UP, RESERVED are occupied; LOGGED_OUT, PAUSED count for neither."""

    def occupancy(self, row: int, now: float) -> float:
        """occupied / (occupied + available) time, the open segment counted up to `now`; 0.0 if
        both are 0."""
        occupied, idle = self.occupancy_seconds(row, now)
        total = occupied + idle
        return occupied / total if total > 0.0 else 0.0

    @abstractmethod
    def agent_site(self, row: int) -> int: ...

    @abstractmethod
    def agent_times(self, row: int) -> tuple[float, float, float, float]:
        """The agent's clock as kept: (idle_since, occupied_s, idle_s, state_since), the closed
        occupied and available seconds and the start of the open segment (for the engine's state)."""

    @abstractmethod
    def set_agent_times(
        self, row: int, idle_since: float, occupied_s: float, idle_s: float, state_since: float
    ) -> None:
        """Put back a clock read by `agent_times` (an engine rebuilt from its state)."""

    @abstractmethod
    def agent_count(self) -> int: ...

    @abstractmethod
    def agents_by_state(self) -> dict[AgentState, int]: ...

    @abstractmethod
    def staffed(self, skill: int, needs: Iterable[int] = ()) -> int:
        """Agents AVAILABLE, BUSY, WRAP_UP or RESERVED holding `skill` and every one of `needs`."""

    # -- waiting calls -------------------------------------------------------------------------

    @abstractmethod
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
        """A waiting call; returns its row (a row freed by `remove_call` may come back)."""

    @abstractmethod
    def remove_call(self, row: int) -> None: ...

    @abstractmethod
    def waiting_count(self) -> int: ...

    @abstractmethod
    def call_preference(self, row: int) -> tuple[int, float]:
        """The preferred agent's row a waiting call holds (-1: none) and until when."""

    # -- decisions -----------------------------------------------------------------------------

    @abstractmethod
    def pick_agent(self, call_row: int, now: float) -> int:
        """The eligible AVAILABLE agent the strategy chooses for the call, or -1."""

    @abstractmethod
    def pick_new(
        self, skill: int, needs: Sequence[int], pref_agent: int, pref_until: float, now: float
    ) -> int:
        """The agent `pick_agent` would choose for a call offered at `now` (so enqueued at `now`)
        that is not waiting yet: a call somebody can take at once never joins the line."""

    @abstractmethod
    def pick_call(self, agent_row: int, now: float) -> int:
        """The waiting call the agent is eligible for with the highest priority, then the lowest
        seq, or -1 (also -1 if the agent is not AVAILABLE)."""

    @abstractmethod
    def queue_position(self, call_row: int) -> int:
        """1 + the waiting calls of the same skill ranked ahead (higher priority, or the same and a
        lower seq) that it competes with: those whose skills (skill and needs) it holds all of.
        Exact for every call (the numba router counts the newest call's place, scans for others)."""

    @abstractmethod
    def skill_stats(self, now: float) -> list[SkillStats]:
        """Per skill index, a dict: waiting, oldest_enqueued_at (None if none waits),
        agents_available, agents_busy (BUSY/WRAP_UP/RESERVED), agents_staffed (both)."""

    @abstractmethod
    def next_widening(self, call_row: int, now: float) -> float | None:
        """The next instant after `now` the call's min level goes down, or None."""
