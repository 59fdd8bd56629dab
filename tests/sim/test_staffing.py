"""Staffing by hour (`staffing.per_hour`): the share of the scenario's agents on duty, as it says."""

from __future__ import annotations

from collections import Counter

from acd.sim.loop import Simulation
from acd.sim.report import report
from tests.sim.conftest import scenario

ALL_DAY = {h: 0.5 for h in range(24)}


def test_half_the_agents_on_duty_is_half_of_each_group_not_the_site_s_first_half(config) -> None:
    """Two groups at one site, half on duty all day: half of each group. The site's first half
    used to be taken, which is the whole of the first group and none of the second: the second
    skill's callers were never answered."""
    sc = scenario(
        calls=600,
        arrivals=[
            {"skill": "impot_revenu", "rate_per_min": 2},
            {"skill": "paiement", "rate_per_min": 2},
        ],
        agents=[
            {"count": 10, "skills": {"impot_revenu": 3}, "site": "lille"},
            {"count": 10, "skills": {"paiement": 3}, "site": "lille"},
        ],
        patience={"dist": "exponential", "mean_s": 120},
        staffing={"per_hour": ALL_DAY},
    )
    sim = Simulation(sc, config)
    rep = report(sim.run())
    skills = Counter(next(iter(sim.engine.agents[a].skills)) for a in sim.shifts.on_duty)
    assert skills == {"impot_revenu": 5, "paiement": 5}
    assert rep["by_skill"]["paiement"]["answered"] > 0


def test_the_share_is_of_all_the_agents_so_small_sites_do_not_round_it_away(config) -> None:
    """One agent at each of four sites, 40 % on duty: two agents (1.6 rounded), not each site's
    0.4 rounded to none (nobody answered any call)."""
    sites = ("lille", "lens", "pau", "lyon")
    sc = scenario(
        calls=300,
        arrivals=[{"skill": "impot_revenu", "rate_per_min": 0.5}],
        agents=[{"count": 1, "skills": {"impot_revenu": 3}, "site": s} for s in sites],
        patience={"dist": "exponential", "mean_s": 120},
        staffing={"per_hour": {h: 0.4 for h in range(24)}},
    )
    sim = Simulation(sc, config)
    rep = report(sim.run())
    assert len(sim.shifts.on_duty) == 2
    assert rep["answered"] > 0


def test_each_site_keeps_its_share_within_one_agent(config) -> None:
    sizes = {"lille": 7, "lens": 3, "pau": 5, "lyon": 1}
    sc = scenario(
        calls=50,
        agents=[{"count": n, "skills": {"impot_revenu": 3}, "site": s} for s, n in sizes.items()],
        staffing={"per_hour": {h: 0.7 for h in range(24)}},
    )
    sim = Simulation(sc, config)
    sim.run()
    on_duty = Counter(sim.engine.agents[a].site for a in sim.shifts.on_duty)
    assert sum(on_duty.values()) == round(0.7 * 16)  # 11.2: 11
    for site, n in sizes.items():
        assert abs(on_duty[site] - 0.7 * n) < 1
