"""Property tests: the numba router and the plain-Python reference take the same decisions on any
floor, and the decisions obey the rules (checked here from first principles, not via either router)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from acd.model import OCCUPIED_STATES, AgentState, Strategy
from acd.routing import NumbaRouter, ReferenceRouter, Router, warm_up

T0 = 1_772_442_000.0
AVAILABLE = AgentState.AVAILABLE


@pytest.fixture(scope="module", autouse=True)
def _compiled() -> None:
    warm_up()


# Times are drawn from a coarse grid as often as not, so that ties (equal idle_since, equal
# occupancy, a call exactly at a widening step or at its pref_until) really happen.
def durations(max_value: float = 120.0) -> st.SearchStrategy[float]:
    return st.one_of(
        st.sampled_from([0.0, 0.5, 1.0, 10.0, 30.0, 60.0, 90.0]),
        st.floats(0.0, max_value, allow_nan=False, allow_infinity=False),
    )


# AVAILABLE as often as the rest together: decisions need available agents to choose among
states = st.sampled_from([AVAILABLE] * 5 + [s for s in AgentState if s is not AVAILABLE])


def skill_levels(skills: st.SearchStrategy[int]) -> st.SearchStrategy[dict[int, int]]:
    return st.dictionaries(skills, st.integers(0, 5), max_size=3)


@st.composite
def widening_steps(draw: st.DrawFn) -> list[tuple[float, int]]:
    steps = [(0.0, draw(st.integers(0, 5)))]
    steps += draw(st.lists(st.tuples(durations(), st.integers(0, 5)), max_size=3))
    return steps


@dataclass
class Floor:
    n_skills: int
    active: list[int]  # the skills in play (few, so that agents and calls meet)
    strategy: Strategy
    widening: list[list[tuple[float, int]] | None]
    # per agent: levels, the time it was added, its states: (state, seconds before the next)
    agents: list[tuple[dict[int, int], float, list[tuple[AgentState, float]]]]
    order: list[int]  # the order in which agents' same-instant changes are applied
    calls: list[tuple[int, list[int], int, int, float, int, float]] = field(default_factory=list)
    now: float = T0


@st.composite
def floors(draw: st.DrawFn) -> Floor:
    n_skills = draw(st.sampled_from([1, 3, 8, 64]))
    active = draw(st.lists(st.integers(0, n_skills - 1), min_size=1, max_size=4, unique=True))
    widening = [draw(st.none() | widening_steps()) if s in active else None for s in range(n_skills)]
    agents = []
    for _ in range(draw(st.integers(0, 12))):
        levels = {s: draw(st.integers(0, 5)) for s in active if draw(st.integers(0, 3))}
        history = draw(st.lists(st.tuples(states, durations(300.0)), min_size=1, max_size=6))
        # the current state began `open_s` before now (often just before: short open segments)
        open_s = draw(durations(60.0))
        history[-1] = (history[-1][0], open_s)
        agents.append((levels, T0 - sum(dwell for _, dwell in history), history))
    order = draw(st.permutations(range(len(agents))))
    floor = Floor(n_skills, active, draw(st.sampled_from(list(Strategy))), widening, agents, order)
    seqs = draw(st.permutations(range(20)))
    for i in range(draw(st.integers(0, 10))):
        skill = draw(st.sampled_from(active))
        needs = draw(st.lists(st.sampled_from(active), max_size=2))
        waited = draw(durations(200.0))
        pref, until = -1, 0.0
        if agents and draw(st.booleans()):
            pref = draw(st.integers(0, len(agents) - 1))
            until = floor.now + draw(st.sampled_from([-30.0, -1.0, 0.0, 1.0, 30.0]))
        floor.calls.append((skill, needs, draw(st.integers(0, 3)), seqs[i], floor.now - waited, pref, until))
    return floor


def build(floor: Floor) -> tuple[NumbaRouter, ReferenceRouter]:
    pair = (
        NumbaRouter(floor.n_skills, floor.strategy, floor.widening, agent_capacity=2, call_capacity=2),
        ReferenceRouter(floor.n_skills, floor.strategy, floor.widening),
    )
    changes = []  # (at, tie-break, step, agent, state), applied in time order as the engine would
    for agent, (_, start, history) in enumerate(floor.agents):
        t = start
        for step in range(1, len(history)):
            t += history[step - 1][1]
            changes.append((t, floor.order[agent], step, agent, history[step][0]))
    changes.sort()
    for r in pair:
        for levels, start, history in floor.agents:
            r.add_agent(levels, 0, history[0][0], start)
        for at, _, _, agent, state in changes:
            r.set_agent_state(agent, state, at)
        for call in floor.calls:
            r.add_call(*call)
    return pair


def same(a: float | None, b: float | None) -> bool:
    return a == b or (a is not None and b is not None and math.isnan(a) and math.isnan(b))


def assert_alike(numba: Router, ref: Router, now: float, call_rows: list[int]) -> None:
    """Every decision and figure the two routers give agree exactly."""
    assert numba.waiting_count() == ref.waiting_count() == len(call_rows)
    for row in call_rows:
        assert numba.pick_agent(row, now) == ref.pick_agent(row, now), ("pick_agent", row)
        assert numba.queue_position(row) == ref.queue_position(row), ("queue_position", row)
        assert numba.next_widening(row, now) == ref.next_widening(row, now), ("next_widening", row)
    assert numba.agent_count() == ref.agent_count()
    for agent in range(ref.agent_count()):
        assert numba.pick_call(agent, now) == ref.pick_call(agent, now), ("pick_call", agent)
        assert numba.agent_state(agent) is ref.agent_state(agent)
        assert same(numba.idle_since(agent), ref.idle_since(agent))
        assert numba.occupancy(agent, now) == ref.occupancy(agent, now)
    assert numba.skill_stats(now) == ref.skill_stats(now)
    assert numba.agents_by_state() == ref.agents_by_state()
    for skill in range(min(numba.n_skills, 4)):
        for needs in ((), (0,), (numba.n_skills - 1,)):
            assert numba.staffed(skill, needs) == ref.staffed(skill, needs)


SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(floors())
def test_both_routers_decide_alike_on_any_floor(floor: Floor) -> None:
    numba, ref = build(floor)
    assert_alike(numba, ref, floor.now, list(range(len(floor.calls))))


def min_level(steps: list[tuple[float, int]] | None, enqueued_at: float, now: float) -> int:
    level = 1
    for after, step_level in sorted(steps or [(0.0, 1)], key=lambda s: s[0]):
        if enqueued_at + after <= now:
            level = step_level
    return level


def next_drop(floor: Floor, call: int) -> float | None:
    """The first step instant after now at which the call's min level is below the level just before."""
    skill, enqueued_at = floor.calls[call][0], floor.calls[call][4]
    steps = floor.widening[skill] or [(0.0, 1)]
    for at in sorted({enqueued_at + after for after, _ in steps}):
        if at <= floor.now:
            continue
        before = min_level([s for s in steps if enqueued_at + s[0] < at], enqueued_at, at)
        if min_level(steps, enqueued_at, at) < before:
            return at
    return None


def eligible(floor: Floor, r: Router, agent: int, call: int) -> bool:
    skill, needs, _, _, enqueued_at, pref, until = floor.calls[call]
    levels = floor.agents[agent][0]
    if r.agent_state(agent) is not AVAILABLE:
        return False
    if pref >= 0 and floor.now < until and agent != pref:
        return False
    if any(levels.get(s, 0) < 1 for s in (skill, *needs)):
        return False
    return levels[skill] >= min_level(floor.widening[skill], enqueued_at, floor.now)


@SETTINGS
@given(floors())
def test_decisions_follow_the_rules(floor: Floor) -> None:
    """An independent check of both routers: the chosen agent / call is eligible and nothing
    eligible ranks ahead of it, and -1 means nothing is eligible."""
    for r in build(floor):
        now = floor.now

        def agent_rank(a: int, call: int, r: Router = r, now: float = now) -> tuple[float, ...]:
            level = floor.agents[a][0][floor.calls[call][0]]
            first = {
                Strategy.LONGEST_IDLE: 0.0,
                Strategy.SKILL_LEVEL: -level,
                Strategy.LEAST_OCCUPIED: r.occupancy(a, now),
                Strategy.FEWEST_SKILLS: sum(v >= 1 for v in floor.agents[a][0].values()) * 8 - level,
            }[floor.strategy]
            return (first, r.idle_since(a), a)

        for call in range(len(floor.calls)):
            candidates = [a for a in range(len(floor.agents)) if eligible(floor, r, a, call)]
            expected = min(candidates, key=lambda a, c=call: agent_rank(a, c), default=-1)
            pref = floor.calls[call][5]
            if pref >= 0 and pref in candidates:  # the preferred agent, free and eligible, first
                expected = pref
            assert r.pick_agent(call, now) == expected
            # ahead: the calls of its skill served first that it competes with (it holds every
            # skill they need; one needing an interpreter is not ahead of a call without needs)
            mine = {floor.calls[call][0], *floor.calls[call][1]}
            ahead = [
                c
                for c in floor.calls
                if c[0] == floor.calls[call][0]
                and {c[0], *c[1]} <= mine
                and (c[2], -c[3]) > (floor.calls[call][2], -floor.calls[call][3])
            ]
            assert r.queue_position(call) == 1 + len(ahead)
            assert r.next_widening(call, now) == next_drop(floor, call)
        for agent in range(len(floor.agents)):
            candidates = [c for c in range(len(floor.calls)) if eligible(floor, r, agent, c)]
            expected = max(candidates, key=lambda c: (floor.calls[c][2], -floor.calls[c][3]), default=-1)
            assert r.pick_call(agent, now) == expected


@SETTINGS
@given(floors())
def test_occupancy_matches_the_state_history(floor: Floor) -> None:
    for r in build(floor):
        for agent, (_, start, history) in enumerate(floor.agents):
            occupied = idle = 0.0
            t = start
            for i, (state, dwell) in enumerate(history):  # the times exactly as build() makes them
                end = t + dwell if i + 1 < len(history) else max(floor.now, t)
                span = end - t
                if state in OCCUPIED_STATES:
                    occupied += span
                elif state is AVAILABLE:
                    idle += span
                t = end
            expected = occupied / (occupied + idle) if occupied + idle > 0 else 0.0
            assert r.occupancy(agent, floor.now) == pytest.approx(expected, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.lists(st.tuples(durations(), durations()), min_size=1, max_size=3), durations(20.0)),
        min_size=2,
        max_size=8,
    )
)
def test_least_occupied_picks_the_lowest_occupancy_from_any_history(agents) -> None:
    """Agents alternating available / busy, all available now, the current segment often short.
    (Small clock values here, so that sub-ms durations are not lost to rounding.)"""
    now = 1000.0
    for r in (NumbaRouter(1, Strategy.LEAST_OCCUPIED), ReferenceRouter(1, Strategy.LEAST_OCCUPIED)):
        expected_occupancy = []
        for shifts, open_s in agents:
            t = now - open_s - sum(idle + busy for idle, busy in shifts)
            row = r.add_agent({0: 1}, 0, AVAILABLE, t)
            idle_s = busy_s = 0.0  # the spans as the clock values make them
            for idle, busy in shifts:
                start, t = t, t + idle
                idle_s += t - start
                r.set_agent_state(row, AgentState.BUSY, t)
                start, t = t, t + busy
                busy_s += t - start
                r.set_agent_state(row, AVAILABLE, t)
            total = busy_s + idle_s + max(0.0, now - t)
            expected_occupancy.append(busy_s / total if total else 0.0)
        for row, occupancy in enumerate(expected_occupancy):
            assert r.occupancy(row, now) == pytest.approx(occupancy, abs=1e-6)
        call = r.add_call(0, (), 0, 1, now)
        rank = {row: (r.occupancy(row, now), r.idle_since(row), row) for row in range(len(agents))}
        assert r.pick_agent(call, now) == min(rank, key=rank.__getitem__)


# ---------------------------------------------------------------------------------- operations


class BothRouters(RuleBasedStateMachine):
    """Random operations applied to both routers, compared after each step."""

    @initialize(
        n_skills=st.sampled_from([2, 5, 64]),
        strategy=st.sampled_from(list(Strategy)),
        widening=st.lists(st.none() | widening_steps(), max_size=2),
    )
    def open_floor(self, n_skills: int, strategy: Strategy, widening) -> None:
        self.now = T0
        self.seq = 0
        self.waiting: list[int] = []
        self.queued: dict[int, tuple] = {}  # row -> the add_call arguments of the call waiting there
        self.skills = st.sampled_from([0, 1, n_skills - 1])
        # capacity 1: every table grows many times along the way
        self.numba = NumbaRouter(n_skills, strategy, widening, agent_capacity=1, call_capacity=1)
        self.ref = ReferenceRouter(n_skills, strategy, widening)

    def apply(self, method: str, *args) -> object:
        got, expected = getattr(self.numba, method)(*args), getattr(self.ref, method)(*args)
        assert got == expected, (method, args)
        return expected

    def agent(self, data: st.DataObject) -> int:
        return data.draw(st.integers(0, self.ref.agent_count() - 1))

    @rule(data=st.data(), state=states)
    def add_agent(self, data: st.DataObject, state: AgentState) -> None:
        levels = data.draw(skill_levels(self.skills))
        self.apply("add_agent", levels, data.draw(st.integers(0, 3)), state, self.now)

    @precondition(lambda self: self.ref.agent_count() > 0)
    @rule(data=st.data(), state=states)
    def many_change_at_once(self, data: st.DataObject, state: AgentState) -> None:
        """Several agents change state at the same instant, in any order (ties of idle_since)."""
        agents = data.draw(st.lists(st.integers(0, self.ref.agent_count() - 1), min_size=1, unique=True))
        for agent in agents:
            self.apply("set_agent_state", agent, state, self.now)

    @rule(dt=durations(60.0))
    def time_passes(self, dt: float) -> None:
        self.now += dt

    @precondition(lambda self: self.ref.agent_count() > 0)
    @rule(data=st.data(), state=states, back=st.sampled_from([0.0, 0.0, 5.0]))
    def change_state(self, data: st.DataObject, state: AgentState, back: float) -> None:
        self.apply("set_agent_state", self.agent(data), state, self.now - back)

    @precondition(lambda self: self.ref.agent_count() > 0)
    @rule(data=st.data())
    def change_skills_and_site(self, data: st.DataObject) -> None:
        agent = self.agent(data)
        self.apply("set_agent_skills", agent, data.draw(skill_levels(self.skills)))
        self.apply("set_agent_site", agent, data.draw(st.integers(0, 3)))
        self.apply("agent_site", agent)

    @rule(data=st.data(), priority=st.integers(0, 2), waited=durations(100.0))
    def add_call(self, data: st.DataObject, priority: int, waited: float) -> None:
        pref, until = -1, 0.0
        if self.ref.agent_count() and data.draw(st.booleans()):
            pref = self.agent(data)
            until = self.now + data.draw(st.sampled_from([0.0, 10.0, 60.0]))
        skill = data.draw(self.skills)
        needs = data.draw(st.lists(self.skills, max_size=2))
        self.seq += 1
        call = (skill, needs, priority, self.seq, self.now - waited, pref, until)
        row = self.apply("add_call", *call)
        self.waiting.append(row)
        self.queued[row] = call
        # the newest call of its skill: the numba router answers from its counts, without a scan
        assert self.numba._line.position(row) == self.ref.queue_position(row) >= 1

    @precondition(lambda self: self.waiting)
    @rule(data=st.data(), same_priority=st.booleans())
    def call_requeued(self, data: st.DataObject, same_priority: bool) -> None:
        """What the engine does after a ring-out: the call leaves the line and comes back with its
        own seq (an older one than the newest's, or the newest's own), at its priority or another."""
        row = data.draw(st.sampled_from(self.waiting))
        skill, needs, priority, seq, enqueued_at, pref, until = self.queued[row]
        self.apply("remove_call", row)
        self.waiting.remove(row)
        if not same_priority:
            priority = data.draw(st.integers(0, 2))
        call = (skill, needs, priority, seq, enqueued_at, pref, until)
        row = self.apply("add_call", *call)
        self.waiting.append(row)
        self.queued[row] = call

    @precondition(lambda self: self.waiting)
    @rule(data=st.data())
    def remove_call(self, data: st.DataObject) -> None:
        row = data.draw(st.sampled_from(self.waiting))
        self.apply("remove_call", row)
        self.waiting.remove(row)

    @precondition(lambda self: self.ref.agent_count() > 0)
    @rule(data=st.data())
    def agent_takes_its_next_call(self, data: st.DataObject) -> None:
        """What the engine does when an agent frees itself."""
        agent = self.agent(data)
        row = self.apply("pick_call", agent, self.now)
        if row >= 0:
            self.apply("remove_call", row)
            self.waiting.remove(row)
            self.apply("set_agent_state", agent, AgentState.RESERVED, self.now)

    @precondition(lambda self: self.waiting)
    @rule(data=st.data())
    def call_takes_its_agent(self, data: st.DataObject) -> None:
        """What the engine does when a call arrives or widens."""
        row = data.draw(st.sampled_from(self.waiting))
        agent = self.apply("pick_agent", row, self.now)
        if agent >= 0:
            self.apply("remove_call", row)
            self.waiting.remove(row)
            self.apply("set_agent_state", agent, AgentState.RESERVED, self.now)

    @rule(data=st.data())
    def a_call_is_offered(self, data: st.DataObject) -> None:
        """What the engine does with a new call: the agent it gets at once, without queueing,
        is the one it would get waiting in line since now (and, taken, it never waits)."""
        pref, until = -1, 0.0
        if self.ref.agent_count() and data.draw(st.booleans()):
            pref = self.agent(data)
            until = self.now + data.draw(st.sampled_from([0.0, 10.0, 60.0]))
        skill = data.draw(self.skills)
        needs = data.draw(st.lists(self.skills, max_size=2))
        agent = self.apply("pick_new", skill, needs, pref, until, self.now)
        self.seq += 1
        call = (skill, needs, 0, self.seq, self.now, pref, until)
        row = self.apply("add_call", *call)
        assert self.apply("pick_agent", row, self.now) == agent
        if agent >= 0:
            self.apply("remove_call", row)
            self.apply("set_agent_state", agent, AgentState.RESERVED, self.now)
        else:
            self.waiting.append(row)
            self.queued[row] = call
            assert self.numba._line.position(row) == self.ref.queue_position(row) >= 1

    @rule(strategy=st.sampled_from(list(Strategy)))
    def change_strategy(self, strategy: Strategy) -> None:
        self.numba.strategy = self.ref.strategy = strategy

    @invariant()
    def decide_alike(self) -> None:
        assert_alike(self.numba, self.ref, self.now, self.waiting)


BothRouters.TestCase.settings = settings(
    max_examples=100, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_both_routers_stay_alike_through_any_sequence_of_operations = BothRouters.TestCase
