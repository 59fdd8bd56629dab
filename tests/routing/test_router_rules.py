"""The routing rules, one by one, on both routers (numba kernels and the plain-Python reference)."""

from __future__ import annotations

import math

import pytest

from acd.model import AgentState, Strategy
from acd.routing import NumbaRouter, ReferenceRouter, Router, make_router, warm_up

AVAILABLE, BUSY, WRAP_UP, PAUSED, RESERVED, LOGGED_OUT = (
    AgentState.AVAILABLE,
    AgentState.BUSY,
    AgentState.WRAP_UP,
    AgentState.PAUSED,
    AgentState.RESERVED,
    AgentState.LOGGED_OUT,
)
T0 = 1_772_442_000.0  # epoch-sized times, as in production


@pytest.fixture(scope="module", autouse=True)
def _compiled() -> None:
    warm_up()


@pytest.fixture(params=["numba", "reference"])
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


def router(kind: str, strategy: Strategy = Strategy.LONGEST_IDLE, n_skills: int = 4, widening=None) -> Router:
    return make_router(kind, n_skills=n_skills, strategy=strategy, widening=widening)


def available(r: Router, levels: dict[int, int], since: float) -> int:
    return r.add_agent(levels, site=0, state=AVAILABLE, at=since)


# ---------------------------------------------------------------------------------- eligibility


def test_make_router_builds_the_kind_asked_for() -> None:
    assert isinstance(make_router("numba", 2), NumbaRouter)
    assert isinstance(make_router("reference", 2), ReferenceRouter)
    with pytest.raises(ValueError):
        make_router("fastest", 2)


def test_agent_lacking_the_call_skill_is_not_picked(kind: str) -> None:
    r = router(kind)
    available(r, {1: 5}, T0)
    call = r.add_call(0, (), 0, 1, T0)
    assert r.pick_agent(call, T0 + 1) == -1
    holder = available(r, {0: 1}, T0 + 1)
    assert r.pick_agent(call, T0 + 2) == holder


def test_level_zero_means_lacking_the_skill(kind: str) -> None:
    r = router(kind)
    available(r, {0: 0, 1: 3}, T0)
    assert r.pick_agent(r.add_call(0, (), 0, 1, T0), T0) == -1


def test_agent_lacking_a_needed_skill_is_not_picked(kind: str) -> None:
    r = router(kind)
    only_main = available(r, {0: 5}, T0)  # idle longest, but lacks need 2
    both = available(r, {0: 1, 2: 1}, T0 + 10)
    call = r.add_call(0, (2,), 0, 1, T0)
    assert r.pick_agent(call, T0 + 20) == both
    assert r.pick_call(only_main, T0 + 20) == -1
    assert r.pick_call(both, T0 + 20) == call


def test_only_available_agents_are_picked(kind: str) -> None:
    r = router(kind)
    for state in (BUSY, WRAP_UP, PAUSED, RESERVED, LOGGED_OUT):
        r.add_agent({0: 5}, 0, state, T0)
    call = r.add_call(0, (), 0, 1, T0)
    assert r.pick_agent(call, T0 + 5) == -1
    r.set_agent_state(3, AVAILABLE, T0 + 6)  # RESERVED -> AVAILABLE
    assert r.pick_agent(call, T0 + 7) == 3
    r.set_agent_state(3, BUSY, T0 + 8)
    assert r.pick_agent(call, T0 + 9) == -1


def test_pick_call_is_minus_one_for_an_agent_not_available(kind: str) -> None:
    r = router(kind)
    agent = r.add_agent({0: 5}, 0, WRAP_UP, T0)
    r.add_call(0, (), 0, 1, T0)
    assert r.pick_call(agent, T0 + 1) == -1
    r.set_agent_state(agent, AVAILABLE, T0 + 2)
    assert r.pick_call(agent, T0 + 3) == 0


def test_skill_changes_take_effect_at_once(kind: str) -> None:
    r = router(kind)
    agent = available(r, {1: 3}, T0)
    call = r.add_call(0, (), 0, 1, T0)
    assert r.pick_agent(call, T0) == -1
    r.set_agent_skills(agent, {0: 2})
    assert r.pick_agent(call, T0) == agent
    r.set_agent_skills(agent, {1: 3})  # skills left out are dropped
    assert r.pick_agent(call, T0) == -1
    assert [s["agents_available"] for s in r.skill_stats(T0)] == [0, 1, 0, 0]


def test_the_64th_skill_fits_the_skill_mask(kind: str) -> None:
    r = router(kind, n_skills=64)
    without = available(r, {63: 5}, T0)
    agent = available(r, {0: 1, 63: 2}, T0 + 1)
    call = r.add_call(63, (0,), 0, 1, T0)
    assert r.pick_agent(call, T0 + 2) == agent
    assert r.pick_call(without, T0 + 2) == -1
    assert r.staffed(63, (0,)) == 1
    assert r.staffed(63) == 2


# ---------------------------------------------------------------------------------- widening

EXPERTS_FIRST = [[(0.0, 4), (30.0, 2), (90.0, 1)]]


def test_widening_lowers_the_min_level_with_waiting_time(kind: str) -> None:
    r = router(kind, n_skills=1, widening=EXPERTS_FIRST)
    novice = available(r, {0: 1}, T0 - 300)  # idle longest
    confirmed = available(r, {0: 2}, T0 - 200)
    expert = available(r, {0: 4}, T0 - 100)
    call = r.add_call(0, (), 0, 1, T0)
    assert r.pick_agent(call, T0 + 29.9) == expert
    r.set_agent_state(expert, BUSY, T0 + 1)
    assert r.pick_agent(call, T0 + 29.9) == -1
    assert r.pick_agent(call, T0 + 30) == confirmed
    assert r.pick_agent(call, T0 + 89.9) == confirmed
    assert r.pick_agent(call, T0 + 90) == novice
    assert r.pick_call(novice, T0 + 89.9) == -1
    assert r.pick_call(novice, T0 + 90) == call


def test_next_widening_names_each_drop_then_none(kind: str) -> None:
    r = router(kind, n_skills=1, widening=EXPERTS_FIRST)
    enqueued = T0 + 0.1
    call = r.add_call(0, (), 0, 1, enqueued)
    assert r.next_widening(call, enqueued) == enqueued + 30.0
    assert r.next_widening(call, enqueued + 30.0) == enqueued + 90.0
    assert r.next_widening(call, enqueued + 90.0) is None


def test_a_step_applies_at_the_instant_next_widening_returns(kind: str) -> None:
    r = router(kind, n_skills=1, widening=EXPERTS_FIRST)
    agent = available(r, {0: 2}, 0.0)
    enqueued = 100.7  # (100.7 + 30) - 100.7 < 30: a rule on now - enqueued_at would miss the step
    call = r.add_call(0, (), 0, 1, enqueued)
    wake = r.next_widening(call, enqueued)
    assert wake is not None
    assert wake - enqueued < 30.0
    assert r.pick_agent(call, wake) == agent


def test_next_widening_skips_steps_that_do_not_lower_the_level(kind: str) -> None:
    r = router(kind, n_skills=1, widening=[[(0.0, 3), (20.0, 3), (40.0, 4), (60.0, 2)]])
    call = r.add_call(0, (), 0, 1, T0)
    assert r.next_widening(call, T0) == T0 + 60.0
    assert r.next_widening(call, T0 + 60.0) is None


def test_widening_steps_are_sorted_and_the_last_of_equal_steps_counts(kind: str) -> None:
    r = router(kind, n_skills=1, widening=[[(30.0, 2), (0.0, 5), (30.0, 1)]])
    agent = available(r, {0: 1}, T0)
    call = r.add_call(0, (), 0, 1, T0)
    assert r.pick_agent(call, T0 + 29) == -1
    assert r.pick_agent(call, T0 + 30) == agent


def test_a_skill_without_steps_takes_anyone_with_the_skill(kind: str) -> None:
    r = router(kind, n_skills=3, widening=[[(0.0, 5)], None, []])
    agent = available(r, {0: 1, 1: 1, 2: 1}, T0)
    for skill, expected in ((0, -1), (1, agent), (2, agent)):
        call = r.add_call(skill, (), 0, skill, T0)
        assert r.pick_agent(call, T0) == expected
        assert r.next_widening(call, T0) is None


@pytest.mark.parametrize(
    "bad",
    [[[(5.0, 3)]], [[(0.0, 6)]], [[(0.0, 1), (-1.0, 1)]], [[(0.0, 1), (math.inf, 1)]], [[(0.0, 1)]] * 3],
)
def test_invalid_widening_is_refused(kind: str, bad) -> None:
    with pytest.raises(ValueError):
        router(kind, n_skills=2, widening=bad)


# ---------------------------------------------------------------------------------- preference


def test_preferred_agent_gets_the_call_before_others_idle_longer(kind: str) -> None:
    r = router(kind)
    available(r, {0: 5}, T0 - 500)
    preferred = available(r, {0: 1}, T0 - 1)
    call = r.add_call(0, (), 0, 1, T0, pref_agent=preferred, pref_until=T0 + 60)
    assert r.pick_agent(call, T0) == preferred


def test_busy_preferred_agent_holds_the_call_until_pref_until(kind: str) -> None:
    r = router(kind)
    other = available(r, {0: 5}, T0 - 500)
    preferred = r.add_agent({0: 5}, 0, BUSY, T0 - 10)
    call = r.add_call(0, (), 0, 1, T0, pref_agent=preferred, pref_until=T0 + 60)
    assert r.pick_agent(call, T0 + 59.9) == -1
    assert r.pick_call(other, T0 + 59.9) == -1
    assert r.pick_agent(call, T0 + 60) == other
    assert r.pick_call(other, T0 + 60) == call


def test_preferred_agent_must_still_be_eligible(kind: str) -> None:
    r = router(kind, n_skills=2)
    preferred = available(r, {1: 5}, T0)  # lacks the call's skill
    call = r.add_call(0, (), 0, 1, T0, pref_agent=preferred, pref_until=T0 + 60)
    assert r.pick_agent(call, T0) == -1
    assert r.pick_call(preferred, T0) == -1


def test_a_call_preferring_an_agent_keeps_its_place_in_that_agents_line(kind: str) -> None:
    r = router(kind)
    preferred = r.add_agent({0: 5}, 0, BUSY, T0)
    r.add_call(0, (), 0, 1, T0)
    mine = r.add_call(0, (), 0, 2, T0 + 1, pref_agent=preferred, pref_until=T0 + 60)
    r.set_agent_state(preferred, AVAILABLE, T0 + 2)
    # priority then arrival decides among the calls it is eligible for: the older call comes first
    assert r.pick_call(preferred, T0 + 2) == 0
    r.remove_call(0)
    assert r.pick_call(preferred, T0 + 2) == mine


# ---------------------------------------------------------------------------------- strategies


def test_longest_idle_agent_gets_the_call(kind: str) -> None:
    r = router(kind, Strategy.LONGEST_IDLE)
    available(r, {0: 5}, T0 - 10)
    longest = available(r, {0: 1}, T0 - 30)
    available(r, {0: 3}, T0 - 20)
    assert r.pick_agent(r.add_call(0, (), 0, 1, T0), T0) == longest


def test_skill_level_strategy_takes_the_highest_level_then_the_longest_idle(kind: str) -> None:
    r = router(kind, Strategy.SKILL_LEVEL)
    available(r, {0: 3}, T0 - 100)
    available(r, {0: 5}, T0 - 10)
    best = available(r, {0: 5}, T0 - 20)
    call = r.add_call(0, (), 0, 1, T0)
    assert r.pick_agent(call, T0) == best


def test_least_occupied_strategy_takes_the_lowest_occupancy_then_the_longest_idle(kind: str) -> None:
    r = router(kind, Strategy.LEAST_OCCUPIED)
    worked = available(r, {0: 1}, T0 - 100)  # 50 s busy then idle: occupancy 50 / (50 + 50) at T0
    r.set_agent_state(worked, BUSY, T0 - 100)
    r.set_agent_state(worked, AVAILABLE, T0 - 50)
    fresh_a = available(r, {0: 1}, T0 - 30)  # never worked: occupancy 0
    fresh_b = available(r, {0: 1}, T0 - 40)
    call = r.add_call(0, (), 0, 1, T0)
    assert r.occupancy(worked, T0) == 0.5
    assert r.pick_agent(call, T0) == fresh_b
    r.set_agent_state(fresh_b, BUSY, T0)
    r.set_agent_state(fresh_a, BUSY, T0)
    assert r.pick_agent(call, T0 + 1) == worked


def test_least_occupied_counts_the_open_available_segment(kind: str) -> None:
    r = router(kind, Strategy.LEAST_OCCUPIED)
    fresh_idle = available(r, {0: 1}, T0 - 25)
    r.set_agent_state(fresh_idle, BUSY, T0 - 15)  # 10 idle, 10 busy
    r.set_agent_state(fresh_idle, AVAILABLE, T0 - 5)  # + 5 idle so far: 10 / 25 = 0.4
    other = available(r, {0: 1}, T0 - 40)
    r.set_agent_state(other, BUSY, T0 - 29)  # 11 idle
    r.set_agent_state(other, PAUSED, T0 - 20)  # 9 busy, then the pause counts for nothing
    r.set_agent_state(other, AVAILABLE, T0)  # 9 / 20 = 0.45
    call = r.add_call(0, (), 0, 1, T0)
    assert (r.occupancy(fresh_idle, T0), r.occupancy(other, T0)) == (0.4, 0.45)
    assert r.pick_agent(call, T0) == fresh_idle


@pytest.mark.parametrize("strategy", list(Strategy))
def test_exact_ties_go_to_the_lowest_agent_row(kind: str, strategy: Strategy) -> None:
    r = router(kind, strategy)
    r.add_agent({0: 4}, 0, BUSY, T0)
    rows = [available(r, {0: 4}, T0 - 10) for _ in range(4)]
    r.set_agent_state(rows[0], BUSY, T0 - 5)  # the lowest tied row leaves: the next lowest wins
    call = r.add_call(0, (), 0, 1, T0)
    assert r.pick_agent(call, T0) == rows[1]
    r.set_agent_state(rows[0], AVAILABLE, T0 - 4)  # back, idle since later (and it worked 1 s)
    assert r.pick_agent(call, T0) == rows[1]
    r.set_agent_state(rows[1], BUSY, T0 - 3)
    assert r.pick_agent(call, T0) == rows[2]


def test_strategy_can_change_at_run_time(kind: str) -> None:
    r = router(kind, Strategy.LONGEST_IDLE)
    longest = available(r, {0: 1}, T0 - 30)
    expert = available(r, {0: 5}, T0 - 10)
    call = r.add_call(0, (), 0, 1, T0)
    assert r.pick_agent(call, T0) == longest
    r.strategy = Strategy.SKILL_LEVEL
    assert r.strategy is Strategy.SKILL_LEVEL
    assert r.pick_agent(call, T0) == expert
    r.set_strategy(Strategy.LONGEST_IDLE)
    assert r.pick_agent(call, T0) == longest


# ---------------------------------------------------------------------------------- queue order


def test_pick_call_serves_the_highest_priority_then_the_earliest_arrival(kind: str) -> None:
    r = router(kind)
    agent = available(r, {0: 1, 1: 1}, T0)
    first_low = r.add_call(0, (), 0, 10, T0 - 100)
    late_high = r.add_call(1, (), 7, 30, T0 - 1)
    early_high = r.add_call(0, (), 7, 20, T0 - 2)
    assert r.pick_call(agent, T0) == early_high
    r.remove_call(early_high)
    assert r.pick_call(agent, T0) == late_high
    r.remove_call(late_high)
    assert r.pick_call(agent, T0) == first_low


def test_pick_call_uses_seq_not_enqueue_time_for_arrival_order(kind: str) -> None:
    r = router(kind)
    agent = available(r, {0: 1}, T0)
    r.add_call(0, (), 0, 9, T0 - 100)
    requeued = r.add_call(0, (), 0, 3, T0 - 1)  # back in line, keeping its place
    assert r.pick_call(agent, T0) == requeued


def test_pick_call_skips_calls_the_agent_is_not_eligible_for(kind: str) -> None:
    r = router(kind, n_skills=3, widening=[[(0.0, 3)]])
    agent = available(r, {0: 2, 1: 1}, T0)
    r.add_call(2, (), 9, 1, T0)  # skill it lacks
    r.add_call(0, (), 9, 2, T0)  # level too low
    r.add_call(1, (2,), 9, 3, T0)  # a need it lacks
    ok = r.add_call(1, (), 0, 4, T0)
    assert r.pick_call(agent, T0) == ok


def test_queue_position_counts_same_skill_calls_ranked_ahead(kind: str) -> None:
    r = router(kind)
    a = r.add_call(0, (), 0, 1, T0)
    b = r.add_call(0, (), 0, 2, T0)
    r.add_call(1, (), 9, 3, T0)  # another skill: not counted
    c = r.add_call(0, (), 5, 4, T0)  # priority jumps the queue
    assert [r.queue_position(x) for x in (c, a, b)] == [1, 2, 3]
    r.remove_call(c)
    assert [r.queue_position(x) for x in (a, b)] == [1, 2]


def test_queue_position_of_calls_requeued_with_their_own_seq(kind: str) -> None:
    """A call back in line after a ring-out keeps its seq: behind the calls it was behind, ahead of
    those after it, even in the row the newest call left (the numba router counts the newest call's
    place, and must not take a requeued call for it)."""
    r = router(kind, n_skills=2)
    a = r.add_call(0, (), 0, 1, T0)
    b = r.add_call(0, (1,), 0, 2, T0)  # needs skill 1: not ahead of a call without needs
    c = r.add_call(0, (), 0, 3, T0)
    assert [r.queue_position(x) for x in (a, b, c)] == [1, 2, 2]
    r.remove_call(c)  # the newest leaves
    r.remove_call(a)
    a = r.add_call(0, (), 0, 1, T0)  # requeued: first again
    back = r.add_call(0, (1,), 0, 0, T0)  # requeued into the row c left, with the oldest seq
    assert back == c
    assert [r.queue_position(x) for x in (a, b, back)] == [1, 3, 1]
    c = r.add_call(0, (1,), 1, 3, T0)  # c comes back, its seq the highest ever added: newest again
    d = r.add_call(0, (1,), 0, 4, T0)
    assert [r.queue_position(x) for x in (a, b, back, c, d)] == [1, 4, 2, 1, 5]
    r.remove_call(b)
    assert [r.queue_position(x) for x in (a, back, c, d)] == [1, 2, 1, 4]


# ---------------------------------------------------------------------------------- occupancy


def test_occupancy_counts_busy_wrap_up_and_reserved_against_available_time(kind: str) -> None:
    r = router(kind)
    agent = available(r, {0: 1}, 0.0)
    r.set_agent_state(agent, RESERVED, 10.0)  # 10 idle
    r.set_agent_state(agent, BUSY, 15.0)  # 5 occupied
    r.set_agent_state(agent, WRAP_UP, 40.0)  # 25
    r.set_agent_state(agent, AVAILABLE, 50.0)  # 10 -> 40 occupied, 10 idle
    assert r.occupancy(agent, 50.0) == 40.0 / 50.0
    assert r.occupancy(agent, 60.0) == 40.0 / 60.0  # the open available segment counts
    r.set_agent_state(agent, BUSY, 60.0)
    assert r.occupancy(agent, 80.0) == 60.0 / 80.0  # the open busy segment counts


def test_occupancy_ignores_paused_and_logged_out_time(kind: str) -> None:
    r = router(kind)
    agent = r.add_agent({0: 1}, 0, LOGGED_OUT, 0.0)
    r.set_agent_state(agent, AVAILABLE, 100.0)
    r.set_agent_state(agent, BUSY, 110.0)
    r.set_agent_state(agent, PAUSED, 120.0)
    assert r.occupancy(agent, 500.0) == 0.5
    r.set_agent_state(agent, LOGGED_OUT, 600.0)
    assert r.occupancy(agent, 900.0) == 0.5


def test_occupancy_is_zero_without_any_counted_time(kind: str) -> None:
    r = router(kind)
    agent = r.add_agent({0: 1}, 0, PAUSED, T0)
    assert r.occupancy(agent, T0 + 100) == 0.0
    fresh = available(r, {0: 1}, T0)
    assert r.occupancy(fresh, T0) == 0.0


def test_idle_since_is_set_on_entering_available_only(kind: str) -> None:
    r = router(kind)
    agent = r.add_agent({0: 1}, 0, LOGGED_OUT, T0)
    assert math.isnan(r.idle_since(agent))
    r.set_agent_state(agent, AVAILABLE, T0 + 5)
    r.set_agent_state(agent, AVAILABLE, T0 + 9)  # a repeat does not cost it its place
    assert r.idle_since(agent) == T0 + 5
    r.set_agent_state(agent, BUSY, T0 + 10)
    r.set_agent_state(agent, AVAILABLE, T0 + 20)
    assert r.idle_since(agent) == T0 + 20
    assert r.agent_state(agent) is AVAILABLE


def test_a_state_change_dated_in_the_past_never_runs_time_backwards(kind: str) -> None:
    r = router(kind)
    agent = available(r, {0: 1}, 100.0)
    r.set_agent_state(agent, BUSY, 50.0)  # treated as at 100: no negative idle time
    assert r.occupancy(agent, 100.0) == 0.0
    assert r.occupancy(agent, 110.0) == 1.0


# ---------------------------------------------------------------------------------- figures


def test_skill_stats_count_waiting_calls_and_agents_per_skill(kind: str) -> None:
    r = router(kind, n_skills=3)
    r.add_agent({0: 2, 1: 1}, 0, AVAILABLE, T0)
    r.add_agent({0: 1}, 0, BUSY, T0)
    r.add_agent({0: 1, 2: 3}, 0, WRAP_UP, T0)
    r.add_agent({0: 1}, 0, RESERVED, T0)
    r.add_agent({0: 5, 1: 5}, 0, PAUSED, T0)
    r.add_agent({1: 5}, 0, LOGGED_OUT, T0)
    r.add_call(0, (1,), 0, 1, T0 + 7)
    r.add_call(0, (), 3, 2, T0 + 3)
    r.add_call(1, (), 0, 3, T0 + 5)
    stats = r.skill_stats(T0 + 10)
    assert stats == [
        {
            "waiting": 2,
            "oldest_enqueued_at": T0 + 3,
            "agents_available": 1,
            "agents_busy": 3,
            "agents_staffed": 4,
        },
        {
            "waiting": 1,
            "oldest_enqueued_at": T0 + 5,
            "agents_available": 1,
            "agents_busy": 0,
            "agents_staffed": 1,
        },
        {
            "waiting": 0,
            "oldest_enqueued_at": None,
            "agents_available": 0,
            "agents_busy": 1,
            "agents_staffed": 1,
        },
    ]


def test_staffed_counts_working_agents_with_the_skill_and_every_need(kind: str) -> None:
    r = router(kind, n_skills=3)
    r.add_agent({0: 1, 1: 1}, 0, AVAILABLE, T0)
    r.add_agent({0: 1, 1: 2}, 0, BUSY, T0)
    r.add_agent({0: 1}, 0, WRAP_UP, T0)
    r.add_agent({0: 1, 1: 1}, 0, PAUSED, T0)
    assert r.staffed(0) == 3
    assert r.staffed(0, (1,)) == 2
    assert r.staffed(0, [1, 2]) == 0


def test_agents_by_state_counts_every_state(kind: str) -> None:
    r = router(kind)
    for state in (AVAILABLE, AVAILABLE, BUSY, PAUSED):
        r.add_agent({0: 1}, 0, state, T0)
    counts = r.agents_by_state()
    assert counts[AVAILABLE] == 2 and counts[BUSY] == 1 and counts[PAUSED] == 1
    assert counts[LOGGED_OUT] == counts[WRAP_UP] == counts[RESERVED] == 0


# ---------------------------------------------------------------------------------- rows


def test_agent_rows_grow_past_the_initial_capacity(kind: str) -> None:
    r = router(kind, n_skills=2)
    rows = [r.add_agent({0: 1 + i % 5}, i % 3, AVAILABLE, T0 + i) for i in range(300)]
    assert rows == list(range(300))
    call = r.add_call(0, (), 0, 1, T0)
    assert r.pick_agent(call, T0 + 400) == 0
    r.strategy = Strategy.SKILL_LEVEL
    assert r.pick_agent(call, T0 + 400) == 4  # the first level-5 agent
    assert r.agent_site(299) == 299 % 3
    assert r.agent_count() == 300


def test_waiting_calls_grow_past_the_initial_capacity(kind: str) -> None:
    r = router(kind)
    agent = available(r, {0: 1}, T0)
    rows = [r.add_call(0, (), i % 10, 1000 - i, T0) for i in range(500)]
    assert rows == list(range(500))
    assert r.waiting_count() == 500
    assert r.pick_call(agent, T0) == 499  # priority 9, the lowest seq among them
    assert r.queue_position(499) == 1
    assert r.queue_position(0) == 500  # priority 0, the highest seq: behind every other


def test_call_rows_are_reused_after_removal(kind: str) -> None:
    r = router(kind)
    agent = available(r, {0: 1, 1: 1}, T0)
    rows = [r.add_call(0, (), 0, seq, T0) for seq in range(4)]
    r.remove_call(rows[1])
    assert r.waiting_count() == 3
    reused = r.add_call(1, (), 5, 10, T0)
    assert reused == rows[1]
    assert r.pick_call(agent, T0) == reused
    assert r.queue_position(reused) == 1
    assert r.queue_position(rows[3]) == 3
    with pytest.raises(ValueError):
        r.remove_call(99)


def test_a_removed_call_is_no_longer_routed_or_counted(kind: str) -> None:
    r = router(kind)
    agent = available(r, {0: 1}, T0)
    call = r.add_call(0, (), 0, 1, T0)
    r.remove_call(call)
    assert r.pick_call(agent, T0) == -1
    assert r.skill_stats(T0)[0]["waiting"] == 0
    for ask in (r.pick_agent, r.next_widening):
        with pytest.raises(ValueError):
            ask(call, T0)
    with pytest.raises(ValueError):
        r.queue_position(call)
    with pytest.raises(ValueError):
        r.remove_call(call)


def test_bad_arguments_are_refused(kind: str) -> None:
    r = router(kind, n_skills=2)
    with pytest.raises(ValueError):
        r.add_agent({2: 1}, 0)
    with pytest.raises(ValueError):
        r.add_agent({0: 6}, 0)
    agent = r.add_agent({0: 1}, 0)
    for bad_call in ((2, ()), (0, (5,))):
        with pytest.raises(ValueError):
            r.add_call(*bad_call, 0, 1, T0)
    with pytest.raises(ValueError):
        r.add_call(0, (), 10, 1, T0)
    with pytest.raises(ValueError):
        r.add_call(0, (), 0, 1, T0, pref_agent=agent + 1, pref_until=T0 + 1)
    with pytest.raises(ValueError):
        r.pick_call(agent + 1, T0)
    with pytest.raises(ValueError):
        r.pick_call(-1, T0)
    with pytest.raises(ValueError):
        r.set_agent_state(7, AVAILABLE, T0)
    with pytest.raises(ValueError):
        make_router(kind, n_skills=65)
