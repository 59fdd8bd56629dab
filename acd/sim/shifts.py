"""Staffing by hour (`staffing.per_hour`), as the simulator plays it: at each local hour the share
of each site's agents on duty is logged in (with the scenario's groups of agents, that share of
each group: `spread_groups`); an agent going off duty finishes its call first (it is logged out
when its call ends, by the loop, or when its unanswered dial is released, by the platform)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from acd.sim.events import AgentStateChanged
from acd.sim.platform import Platform
from acd.sim.scenario_model import Staffing


def apportion(sizes: list[int], share: float) -> list[int]:
    """How many of each site's agents are on duty: `share` of all of them (rounded half up), each
    site its share rounded down, and the agents left over to the sites with the largest
    remainders (ties: the site met first). Each site keeps its share within one agent, and small
    sites no longer round it away: four sites of one agent at 40 % have two on duty, not none."""
    total = math.floor(share * sum(sizes) + 0.5)
    counts = [math.floor(share * n) for n in sizes]
    by_remainder = sorted(range(len(sizes)), key=lambda i: (-(share * sizes[i] - counts[i]), i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def spread_groups(agents: list[Any]) -> list[Any]:
    """A site's agents in an order whose every prefix holds each group (agents with the same
    skills and levels) in its share: taking the first half takes half of each group. Each agent
    is placed at the middle of its slot within its group ((rank + 1/2) / group size); ties go to
    the group met first."""
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for agent in agents:
        groups.setdefault(tuple(sorted(agent.skills.items())), []).append(agent)
    placed = [
        ((rank + 0.5) / len(members), g, rank, agent)
        for g, members in enumerate(groups.values())
        for rank, agent in enumerate(members)
    ]
    return [agent for *_, agent in sorted(placed, key=lambda p: p[:3])]


class Shifts:
    """Who is on duty, hour by hour; the logins and logouts go through `platform`."""

    def __init__(
        self, engine: Any, staffing: Staffing | None, platform: Platform, *, spread: bool = False
    ) -> None:
        self.zone = engine.calendar.zone
        self.staffing = staffing
        self.platform = platform
        self.on_duty: set[str] = set()
        by_site: dict[str, list[Any]] = {}
        for agent in engine.agents.values():
            by_site.setdefault(agent.site, []).append(agent)
        self.by_site = {
            site: [a.id for a in (spread_groups(agents) if spread else agents)]
            for site, agents in by_site.items()
        }

    def next_hour(self, now: float) -> float:
        local = datetime.fromtimestamp(now, self.zone)
        top = local.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        return top.timestamp()

    def staff(self, now: float) -> None:
        """Log in and out to the staffing of the local hour: the first `share` of each site's
        agents on duty; one with a call leaves when the call ends."""
        staffing, platform = self.staffing, self.platform
        hour = datetime.fromtimestamp(now, self.zone).hour
        share = staffing.share(hour) if staffing is not None else 1.0
        wanted: set[str] = set()
        counts = apportion([len(agents) for agents in self.by_site.values()], share)
        for agents, count in zip(self.by_site.values(), counts, strict=True):
            wanted.update(agents[:count])
        events = []
        for agent_id in sorted(self.on_duty - wanted):
            if agent_id in platform.agent_call:
                platform.leaving.add(agent_id)
            else:
                events.append(AgentStateChanged(f"e{platform.eid()}", agent_id, "logged_out"))
        for agent_id in sorted(wanted - self.on_duty):
            if agent_id in platform.leaving:
                platform.leaving.discard(agent_id)  # it never left
            else:
                events.append(AgentStateChanged(f"e{platform.eid()}", agent_id, "available"))
        self.on_duty = wanted
        if events:
            platform.apply(events, now)
