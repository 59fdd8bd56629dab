"""Routing decisions as numba kernels over the arrays of `table.py`.

Plain arrays and scalars in, indices out; no Python objects inside. The rules are those of
`reference.py` (the plain-Python twin), written so that both compute the same floats in the same
order: no fastmath, the same additions and divisions, ties to the lowest agent row.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from acd.routing.table import (
    A_MASK,
    A_STATE,
    C_MASK,
    C_PREF_AGENT,
    C_PRIORITY,
    C_ROW,
    C_SEQ,
    C_SKILL,
    F_ENQUEUED_AT,
    F_PREF_UNTIL,
    T_IDLE_S,
    T_IDLE_SINCE,
    T_OCCUPIED_S,
    T_STATE_SINCE,
)

# AgentState / Strategy codes as plain ints (numba freezes module globals as constants)
AVAILABLE, BUSY, WRAP_UP, RESERVED = 1, 2, 3, 5
LONGEST_IDLE, SKILL_LEVEL, LEAST_OCCUPIED, FEWEST_SKILLS = 0, 1, 2, 3


@njit(cache=True, inline="always")
def _min_level(wid, skill, enqueued_at, now):
    """Level of the last widening step reached (`enqueued_at + after_s <= now`)."""
    level = wid[skill, 0, 1]
    for k in range(1, wid.shape[1]):
        if enqueued_at + wid[skill, k, 0] <= now:
            level = wid[skill, k, 1]
        else:
            break
    return level


@njit(cache=True, inline="always")
def _pick_for(lv, ai, af, wid, avail, n_avail, skill, mask, enqueued_at, pref, pref_until, now, strategy):
    """The agent row `strategy` chooses for a call of `skill` needing the skills of `mask`,
    waiting since `enqueued_at` (preferring `pref` until `pref_until`), or -1. Inlined into one
    kernel per strategy, so the strategy is a constant there."""
    need = _min_level(wid, skill, enqueued_at, now)
    if pref >= 0:
        # the preferred agent, free now and eligible, before any other; while the call waits for
        # it (`pref_until`), nobody else
        if ai[pref, A_STATE] == AVAILABLE and (ai[pref, A_MASK] & mask) == mask and lv[pref, skill] >= need:
            return pref
        if now < pref_until:
            return -1
    best = -1
    best_key = 0.0
    best_idle = 0.0
    for k in range(n_avail):  # the AVAILABLE agents, in no particular order
        a = avail[k]
        if (ai[a, A_MASK] & mask) != mask:
            continue
        level = lv[a, skill]
        if level < need:
            continue
        idle_since = af[a, T_IDLE_SINCE]
        if strategy == SKILL_LEVEL:
            key = -float(level)
        elif strategy == FEWEST_SKILLS:
            held = ai[a, A_MASK]
            count = 0
            while held:
                held &= held - 1
                count += 1
            key = float(count * 8 - level)  # levels are 1-5: the count first, then the level
        elif strategy == LEAST_OCCUPIED:
            occupied = af[a, T_OCCUPIED_S]
            idle = af[a, T_IDLE_S]
            open_s = now - af[a, T_STATE_SINCE]
            if open_s > 0.0:
                idle = idle + open_s
            total = occupied + idle
            key = occupied / total if total > 0.0 else 0.0
        else:
            key = 0.0
        if (
            best < 0
            or key < best_key
            or (key == best_key and (idle_since < best_idle or (idle_since == best_idle and a < best)))
        ):
            best = a
            best_key = key
            best_idle = idle_since
    return best


@njit(cache=True, inline="always")
def _pick_agent(lv, ai, af, ci, cf, wid, avail, slot, now, n_avail, strategy):
    """`_pick_for` the waiting call in `slot`."""
    return _pick_for(
        lv,
        ai,
        af,
        wid,
        avail,
        n_avail,
        ci[slot, C_SKILL],
        ci[slot, C_MASK],
        cf[slot, F_ENQUEUED_AT],
        ci[slot, C_PREF_AGENT],
        cf[slot, F_PREF_UNTIL],
        now,
        strategy,
    )


@njit(cache=True)
def pick_agent_longest_idle(lv, ai, af, ci, cf, wid, avail, slot, now, n_avail):
    return _pick_agent(lv, ai, af, ci, cf, wid, avail, slot, now, n_avail, LONGEST_IDLE)


@njit(cache=True)
def pick_agent_skill_level(lv, ai, af, ci, cf, wid, avail, slot, now, n_avail):
    return _pick_agent(lv, ai, af, ci, cf, wid, avail, slot, now, n_avail, SKILL_LEVEL)


@njit(cache=True)
def pick_agent_least_occupied(lv, ai, af, ci, cf, wid, avail, slot, now, n_avail):
    return _pick_agent(lv, ai, af, ci, cf, wid, avail, slot, now, n_avail, LEAST_OCCUPIED)


@njit(cache=True)
def pick_agent_fewest_skills(lv, ai, af, ci, cf, wid, avail, slot, now, n_avail):
    return _pick_agent(lv, ai, af, ci, cf, wid, avail, slot, now, n_avail, FEWEST_SKILLS)


# A call just offered, not in the table yet (it joins the line only if nobody can take it now).
@njit(cache=True)
def pick_new_longest_idle(lv, ai, af, wid, avail, n_avail, skill, mask, pref, pref_until, now):
    return _pick_for(lv, ai, af, wid, avail, n_avail, skill, mask, now, pref, pref_until, now, LONGEST_IDLE)


@njit(cache=True)
def pick_new_skill_level(lv, ai, af, wid, avail, n_avail, skill, mask, pref, pref_until, now):
    return _pick_for(lv, ai, af, wid, avail, n_avail, skill, mask, now, pref, pref_until, now, SKILL_LEVEL)


@njit(cache=True)
def pick_new_least_occupied(lv, ai, af, wid, avail, n_avail, skill, mask, pref, pref_until, now):
    return _pick_for(lv, ai, af, wid, avail, n_avail, skill, mask, now, pref, pref_until, now, LEAST_OCCUPIED)


@njit(cache=True)
def pick_new_fewest_skills(lv, ai, af, wid, avail, n_avail, skill, mask, pref, pref_until, now):
    return _pick_for(lv, ai, af, wid, avail, n_avail, skill, mask, now, pref, pref_until, now, FEWEST_SKILLS)


#: pick_agent / pick_new kernels by Strategy code
PICK_AGENT = (
    pick_agent_longest_idle,
    pick_agent_skill_level,
    pick_agent_least_occupied,
    pick_agent_fewest_skills,
)
PICK_NEW = (pick_new_longest_idle, pick_new_skill_level, pick_new_least_occupied, pick_new_fewest_skills)


@njit(cache=True)
def pick_call(lv, ai, ci, cf, wid, agent, now, n_calls):
    """The row of the waiting call `agent` takes next (highest priority, then lowest seq), or -1."""
    if ai[agent, A_STATE] != AVAILABLE:
        return -1
    held = ai[agent, A_MASK]
    best = -1
    best_priority = -1
    best_seq = 0
    for s in range(n_calls):
        priority = ci[s, C_PRIORITY]
        if priority < best_priority:
            continue
        seq = ci[s, C_SEQ]
        if priority == best_priority and seq > best_seq:
            continue
        mask = ci[s, C_MASK]
        if (held & mask) != mask:
            continue
        pref = ci[s, C_PREF_AGENT]
        if pref >= 0 and pref != agent and now < cf[s, F_PREF_UNTIL]:
            continue
        skill = ci[s, C_SKILL]
        if lv[agent, skill] < _min_level(wid, skill, cf[s, F_ENQUEUED_AT], now):
            continue
        best = s
        best_priority = priority
        best_seq = seq
    return ci[best, C_ROW] if best >= 0 else -1


@njit(cache=True)
def queue_position(ci, slot, n_calls):
    """1 + the calls of the same skill served before the one in `slot` that it competes with: those
    whose skills (skill and needs) it holds all of. A call needing an interpreter ahead of a call
    without needs waits for other agents and is not ahead of it; every call is ahead of one with
    needs whose skills it needs no more than."""
    skill = ci[slot, C_SKILL]
    priority = ci[slot, C_PRIORITY]
    seq = ci[slot, C_SEQ]
    mask = ci[slot, C_MASK]
    ahead = 0
    for s in range(n_calls):
        if (
            ci[s, C_SKILL] == skill
            and (ci[s, C_MASK] & ~mask) == 0
            and (ci[s, C_PRIORITY] > priority or (ci[s, C_PRIORITY] == priority and ci[s, C_SEQ] < seq))
        ):
            ahead += 1
    return ahead + 1


@njit(cache=True)
def count_staffed(ai, mask, n_agents):
    """Agents AVAILABLE / BUSY / WRAP_UP / RESERVED holding every skill of `mask`."""
    count = 0
    for a in range(n_agents):
        state = ai[a, A_STATE]
        staffed = state in (AVAILABLE, BUSY, WRAP_UP, RESERVED)
        if staffed and (ai[a, A_MASK] & mask) == mask:
            count += 1
    return count


@njit(cache=True)
def skill_stats(lv, ai, ci, cf, n_agents, n_calls):
    """Per skill: counts [waiting, available, busy] (int64 [S, 3]) and oldest enqueued_at (nan)."""
    n_skills = lv.shape[1]
    counts = np.zeros((n_skills, 3), dtype=np.int64)
    oldest = np.full(n_skills, np.nan)
    for s in range(n_calls):
        skill = ci[s, C_SKILL]
        counts[skill, 0] += 1
        at = cf[s, F_ENQUEUED_AT]
        if not at >= oldest[skill]:  # nan (none yet) or earlier
            oldest[skill] = at
    for a in range(n_agents):
        state = ai[a, A_STATE]
        column = 1 if state == AVAILABLE else 2 if state in (BUSY, WRAP_UP, RESERVED) else 0
        if column:
            for skill in range(n_skills):
                if lv[a, skill] >= 1:
                    counts[skill, column] += 1
    return counts, oldest


@njit(cache=True)
def set_state(ai, af, avail, avail_pos, row, state, at, n_avail):
    """An agent enters `state` at `at`: the open segment counts as occupied or idle time and a new
    one starts (`at` never runs before the segment's start), entering AVAILABLE sets idle_since,
    and the dense list of AVAILABLE rows follows. Returns the new number of AVAILABLE agents."""
    old = ai[row, A_STATE]
    since = af[row, T_STATE_SINCE]
    if at < since:
        at = since
    if old in (BUSY, WRAP_UP, RESERVED):
        af[row, T_OCCUPIED_S] += at - since
    elif old == AVAILABLE:
        af[row, T_IDLE_S] += at - since
    af[row, T_STATE_SINCE] = at
    if state == AVAILABLE and old != AVAILABLE:
        af[row, T_IDLE_SINCE] = at
    ai[row, A_STATE] = state
    pos = avail_pos[row]
    if state == AVAILABLE:
        if pos < 0:
            avail[n_avail] = row
            avail_pos[row] = n_avail
            n_avail += 1
    elif pos >= 0:
        n_avail -= 1
        last = avail[n_avail]
        avail[pos] = last
        avail_pos[last] = pos
        avail_pos[row] = -1
    return n_avail


@njit(cache=True)
def put_call(ci, cf, slot, skill, mask, priority, seq, pref, row, enqueued_at, pref_until):
    """Write a waiting call into `slot` of the call table."""
    ci[slot, C_SKILL] = skill
    ci[slot, C_MASK] = mask
    ci[slot, C_PRIORITY] = priority
    ci[slot, C_SEQ] = seq
    ci[slot, C_PREF_AGENT] = pref
    ci[slot, C_ROW] = row
    cf[slot, F_ENQUEUED_AT] = enqueued_at
    cf[slot, F_PREF_UNTIL] = pref_until


@njit(cache=True)
def move_call(ci, cf, src, dst):
    """Copy the call in slot `src` to slot `dst`; returns its row."""
    for j in range(ci.shape[1]):
        ci[dst, j] = ci[src, j]
    for j in range(cf.shape[1]):
        cf[dst, j] = cf[src, j]
    return ci[dst, C_ROW]
