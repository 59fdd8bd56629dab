"""The scenario's policies and hours, played through the engine: callbacks, overflow, the
calendar, appointments, the FIFO baseline, and reproducible random streams."""

from __future__ import annotations

from acd.sim.compare import compare
from acd.sim.loop import Simulation
from acd.sim.report import report
from tests.sim.conftest import run, scenario

OVERLOAD = {
    "arrivals": [{"skill": "impot_revenu", "rate_per_min": 12}],
    "agents": [{"count": 8, "skills": {"impot_revenu": 5}, "site": "lille"}],
    "patience": {"dist": "exponential", "mean_s": 900},
    "calls": 1500,
}
CONTRACT = (
    "offered",
    "answered",
    "abandoned",
    "p_wait",
    "p_abandon",
    "mean_wait_s",
    "asa_s",
    "service_level",
    "occupancy",
)


def test_the_report_has_the_contract_fields_overall_and_by_skill(config) -> None:
    rep = run(config, scenario(calls=500))
    for key in (*CONTRACT, "wall_s", "by_skill"):
        assert key in rep
    for key in CONTRACT:
        assert key in rep["by_skill"]["impot_revenu"]


def test_the_same_seed_reproduces_a_run_exactly_and_another_seed_does_not(config) -> None:
    sc = scenario(calls=1500, patience={"dist": "exponential", "mean_s": 60})
    one, two = run(config, sc), run(config, sc)
    other = run(config, sc.model_copy(update={"seed": 2}))
    for rep in (one, two, other):
        rep.pop("wall_s")
    assert one == two
    assert one != other


def test_callers_accept_callbacks_above_the_ewt_threshold_and_are_called_back(config) -> None:
    sc = scenario(**OVERLOAD, callbacks={"offer_above_ewt_s": 60, "acceptance": 1.0, "answer_share": 1.0})
    rep = run(config, sc)
    assert rep["callbacks"]["offered"] > 0
    assert rep["callbacks"]["accepted"] == rep["callbacks"]["offered"]
    assert rep["callbacks"]["answered"] > 0 and rep["callbacks_answered"] > 0
    assert rep["unresolved"] == 0
    assert rep["answered"] + rep["abandoned"] + rep["other"] == rep["offered"]


def test_unanswered_callbacks_are_retried_by_the_engine(config) -> None:
    sc = scenario(
        **OVERLOAD,
        callbacks={
            "offer_above_ewt_s": 60,
            "acceptance": 1.0,
            "answer_share": 0.5,
            "retry_delays_s": [30, 30],
        },
    )
    rep = run(config, sc)
    assert rep["callbacks"]["retried"] > 0
    assert rep["callbacks"]["failed"] > 0  # three misses in a row happen at one in eight


def test_overflow_on_sends_waiting_calls_to_local_services(config) -> None:
    policy = {"mode": "on", "department_share": 1.0, "capacity": 3, "hours": "always"}
    sim = Simulation(scenario(**OVERLOAD, overflow=policy), config)
    rep = report(sim.run())
    services = sim.engine.overflow.services.values()
    assert rep["overflowed"] > 0
    assert sum(s.taken for s in services) == rep["overflowed"]
    assert all(s.load == 0 for s in services)  # every overflowed call ended at its service


def test_overflow_respects_the_services_capacity(config) -> None:
    policy = {"mode": "on", "department_share": 1.0, "capacity": 0, "hours": "always"}
    rep = run(config, scenario(**OVERLOAD, overflow=policy))
    assert rep["overflowed"] == 0


def test_the_calendar_closes_the_line_outside_opening_hours(config) -> None:
    evening = {"start": "2026-03-03T19:30:00+01:00", "calls": None, "duration_s": 1800}
    rep = run(config, scenario(**evening, hours=None))
    assert rep["offered"] > 0 and rep["closed"] == rep["offered"] and rep["answered"] == 0


def test_hours_always_means_the_line_never_closes(config) -> None:
    evening = {"start": "2026-03-03T19:30:00+01:00", "calls": None, "duration_s": 1800}
    rep = run(config, scenario(**evening, hours="always"))
    assert rep["closed"] == 0 and rep["answered"] > 0


def test_long_wait_callers_book_appointments_that_the_engine_dials(config) -> None:
    sc = scenario(
        **{**OVERLOAD, "calls": 400},
        hours=None,
        start="2026-03-03T09:00:00+01:00",
        appointments={"share": 1.0, "offer_above_ewt_s": 60, "answer_share": 1.0, "horizon_days": 2},
    )
    rep = run(config, sc)
    assert rep["appointments"]["booked"] > 0
    assert rep["appointments"]["done"] == rep["appointments"]["booked"]


def test_compare_plays_the_same_callers_with_and_without_the_policies(config) -> None:
    sc = scenario(**OVERLOAD, callbacks={"offer_above_ewt_s": 60, "acceptance": 0.5})
    result = compare(sc, config)
    base, acd = result["baseline"], result["acd"]
    assert base["offered"] == acd["offered"]
    assert base["callbacks"]["offered"] == 0 and acd["callbacks"]["offered"] > 0
    assert base["policies"].startswith("baseline")


def test_the_reference_router_gives_the_same_run_as_the_numba_router(config) -> None:
    sc = scenario(calls=1500, patience={"dist": "exponential", "mean_s": 60})
    numba, reference = run(config, sc), run(config, sc, router="reference")
    for rep in (numba, reference):
        rep.pop("wall_s")
        rep.pop("router")
    assert numba == reference


def test_a_decision_the_simulator_does_not_know_is_counted_and_not_answered(config, monkeypatch) -> None:
    from acd.engine.core import Engine

    offered = Engine._handlers["call.offered"]

    def voicemail_for_c3(engine, event, t, now, commands):
        if event.call_id != "c3":
            return offered(engine, event, t, now, commands)
        engine.calendar.is_open = lambda t: False  # the engine refuses it; the platform hears "voicemail"
        try:
            decision = offered(engine, event, t, now, commands)
        finally:
            del engine.calendar.is_open
        return {**decision, "action": "voicemail"}

    monkeypatch.setitem(Engine._handlers, "call.offered", voicemail_for_c3)
    rep = run(config, scenario(calls=300))
    assert rep["unknown_actions"] == {"voicemail": 1}
    assert rep["answered"] == rep["offered"] - 1


def test_a_ring_time_delays_every_answer(config) -> None:
    rep = run(config, scenario(calls=500, ring_s=5))
    assert rep["answered"] == rep["offered"]
    assert rep["p_wait"] == 1.0 and rep["asa_s"] >= 5.0
