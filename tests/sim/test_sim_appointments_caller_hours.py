"""The simulated caller books an appointment as a real one does: a slot from the listing with
its department, one it may take (POST /v1/appointments refuses a slot outside the caller's own
hours; the simulator's trusted events skip that check, so it must not ask for one)."""

from __future__ import annotations

from acd.engine.caller_hours import caller_zone
from acd.sim.loop import Simulation
from tests.sim.conftest import scenario


def test_every_appointment_the_simulated_callers_book_lies_in_their_own_hours(config) -> None:
    sc = scenario(
        calls=3000,
        hours=None,
        start="2026-11-17T09:00:00+01:00",
        policies={"appointments": {"offer_above_ewt_s": 0}},
        arrivals=[{"skill": "impot_revenu", "rate_per_min": 20}],
        agents=[{"count": 10, "skills": {"impot_revenu": 5}, "site": "lille"}],
        callers={"book_appointment": 1.0, "department_share": 1.0},
    )
    sim = Simulation(sc, config)
    sim.run()
    engine = sim.engine
    hours = engine.appointment_book.caller_hours
    booked = list(engine.appointments.values())
    overseas = [a for a in booked if caller_zone(a.department, a.number) is not None]
    assert len(booked) > 1000 and len(overseas) > 20
    outside = [a.id for a in overseas if not hours.fits(caller_zone(a.department, a.number), a.start, a.end)]
    assert outside == []
