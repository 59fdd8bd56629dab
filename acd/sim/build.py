"""The one place where a scenario becomes the engine's configuration.

Sites, skills, the calendar and the local services come from the configuration directory; the
scenario brings the agents, its routing overrides and its policies. Every engine feature a
scenario can switch (hours, overflow, callbacks, appointments) is wired here and nowhere else.

`baseline=True` builds the `--compare` baseline: a FIFO single queue, the way a plain ACD works:
longest-idle agent, no priorities (the loop drops them), no timed widening, no callbacks offered,
no overflow to local services, no appointments. Same agents, same calendar.
"""

from __future__ import annotations

from typing import Any

from acd.config import Config
from acd.engine import Engine
from acd.engine.observer import Observer
from acd.sim.scenario import Scenario, engine_settings

#: The simulator keeps the engine's memory flat: event ids are remembered only within their batch
#: (the simulator never repeats one) and ended calls are evicted at once. No watchdog: the simulated
#: platform loses no event.
SIM_ROUTING = {"idempotency_ttl_s": 1e-6, "ended_call_retention": 16, "watchdog_interval_s": 0.0}
#: Never: an EWT above this offers no callback (scenarios without a callback policy).
NEVER_S = 1e12


def build_config(scenario: Scenario, base: Config, *, baseline: bool = False) -> Config:
    data: dict[str, Any] = base.model_dump(mode="python", exclude={"agents"})
    # -- routing: the configuration's, the scenario's overrides, the simulator's memory settings
    routing = {**data["routing"], **scenario.routing, **SIM_ROUTING}
    callback_policy = scenario.callbacks if not baseline else None
    routing["callback_offer_ewt_s"] = callback_policy.offer_above_ewt_s if callback_policy else NEVER_S
    if baseline:
        routing["strategy"] = "longest_idle"
        routing["widening"] = {"default": [{"after_s": 0, "min_level": 1}], "by_skill": {}}
    data["routing"] = routing
    # -- hours: `always` means the calendar never closes; omitted, the configuration's calendar
    if scenario.hours == "always":
        data["calendar"] = {**data["calendar"], "always_open": True}
    # -- overflow to local services
    overflow_over, callbacks_over = engine_settings(scenario)
    if scenario.overflow is None or baseline:
        data["overflow"] = {**data["overflow"], "mode": "off"}
    else:
        data["overflow"] = {**data["overflow"], **overflow_over}
        policy = scenario.overflow
        services = data["services"]
        if policy.capacity is not None:
            services["local"] = [{**s, "capacity": policy.capacity} for s in services["local"]]
        if policy.hours == "always":
            always = {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
            services["default_hours"] = {
                **services["default_hours"],
                "week": always,
                "public_holidays": False,
            }
            services["local"] = [{**s, "hours": None} for s in services["local"]]
    # -- callbacks: the engine's retry settings
    if callbacks_over:
        data["callbacks"] = {**data["callbacks"], **callbacks_over}
    # -- appointments: slots and capacities are the configuration's (config/appointments.yaml)
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
