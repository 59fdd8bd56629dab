"""The one place where a scenario becomes the engine's configuration.

Sites, skills, the calendar and the local services come from the configuration directory; the
scenario brings the agents and says which of acd's policies run (`policies`):

- absent: the default routing of the contract and nothing else: an available agent with the
  call's skill and needs takes it, the one idle the longest; waiting calls by priority then
  arrival (no priority aging); no widening, no wrap-up beyond the drawn handle time, no callbacks,
  no overflow, no appointments. An M/M/n scenario is an M/M/n queue.
- `config`: the configuration's routing, callbacks, overflow and appointments as `acd serve` runs
  them; its wrap-up is then part of the drawn handle time (the loop gives the talk the rest).
- a mapping: `config` with these overrides.

`baseline=True` builds the `--compare` baseline: one FIFO queue, the way a plain ACD works: the
default routing, arrival order (the loop drops priorities), no callbacks, no overflow, no
appointments, and the same wrap-up as the run it is compared with. Same agents, same calendar.
"""

from __future__ import annotations

from typing import Any

from acd.config import Config
from acd.engine import Engine
from acd.engine.observer import Observer
from acd.sim.scenario_model import Scenario

#: The simulator keeps the engine's memory flat: event ids are remembered only within their batch
#: (the simulator never repeats one) and ended calls are evicted at once. No watchdog: the simulated
#: platform loses no event.
SIM_ROUTING = {"idempotency_ttl_s": 1e-6, "ended_call_retention": 16, "watchdog_interval_s": 0.0}
#: Never: an EWT above this offers no callback.
NEVER_S = 1e12
#: The contract's default routing: longest idle, anyone with the skill at once, waiting calls by
#: priority then arrival (no priority aging: the configuration's is one of acd's policies).
DEFAULT_ROUTING = {
    "strategy": "longest_idle",
    "widening": {"default": [{"after_s": 0, "min_level": 1}], "by_skill": {}},
    "callback_offer_ewt_s": NEVER_S,
    "priority_aging_s": None,
}


def build_config(scenario: Scenario, base: Config, *, baseline: bool = False) -> Config:
    data: dict[str, Any] = base.model_dump(mode="python", exclude={"agents"})
    overrides = scenario.policy_overrides()
    # -- routing: the configuration's with the scenario's overrides when acd's policies run, else
    # the default routing (with no wrap-up unless the configuration's is compared against)
    policy_routing = {**data["routing"], **overrides.routing}
    if scenario.policies_on and not baseline:
        routing = policy_routing
    else:
        wrap_up = policy_routing["wrap_up_s"] if scenario.policies_on else 0.0
        routing = {**data["routing"], **DEFAULT_ROUTING, "wrap_up_s": wrap_up}
    data["routing"] = {**routing, **SIM_ROUTING}
    # -- surveys: the simulated callers take none, so none is drawn (it hashed every answered call)
    data["records"] = {**data["records"], "surveys": {"share": 0.0, "by_skill": {}}}
    # -- hours: `always` means the calendar never closes; omitted, the configuration's calendar
    if scenario.hours == "always":
        data["calendar"] = {**data["calendar"], "always_open": True}
    policies = scenario.policies_on and not baseline
    # -- overflow to local services
    if not policies:
        data["overflow"] = {**data["overflow"], "mode": "off"}
    else:
        data["overflow"] = {**data["overflow"], **overrides.overflow}
        services = data["services"]
        wanted = overrides.services
        if wanted is not None and wanted.capacity is not None:
            services["local"] = [{**s, "capacity": wanted.capacity} for s in services["local"]]
        if wanted is not None and wanted.hours == "always":
            always = {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
            services["default_hours"] = {
                **services["default_hours"],
                "week": always,
                "public_holidays": False,
            }
            services["local"] = [{**s, "hours": None} for s in services["local"]]
    # -- callbacks and appointments: the engine's settings (offers are made only when policies run)
    data["callbacks"] = {**data["callbacks"], **overrides.callbacks}
    data["appointments"] = {**data["appointments"], **overrides.appointments}
    if not policies:
        data["appointments"]["offer_above_ewt_s"] = None
    # -- agents
    if scenario.agents == "roster":
        by_site: dict[str, list[Any]] = {}
        for agent in base.agents:
            by_site.setdefault(agent.site, []).append(agent)
        keep = scenario.staffed_share
        data["agents"] = [
            a.model_dump() for agents in by_site.values() for a in agents[: max(1, round(keep * len(agents)))]
        ]
    else:
        domains = {s.id: s.sip_domain for s in base.sites}
        agents = []
        for g, group in enumerate(scenario.agents):  # type: ignore[union-attr]
            for i in range(group.count):
                agent_id = f"{group.site}-g{g}-{i:05d}"
                agents.append(
                    {
                        "id": agent_id,
                        "site": group.site,
                        "skills": dict(group.skills),
                        "target": f"sip:{agent_id}@{domains[group.site]}",
                    }
                )
        data["agents"] = agents
    return Config.model_validate(data)


def build_engine(config: Config, observer: Observer, router: str = "numba") -> Engine:
    return Engine(config, router=router, observer=observer)
