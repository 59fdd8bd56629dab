"""The scenario's policies and hours, played through the engine: callbacks, overflow, the
calendar, appointments, the FIFO baseline, and reproducible random streams."""

from __future__ import annotations

from datetime import datetime

import pytest

from acd.sim.compare import compare
from acd.sim.loop import Simulation
from acd.sim.report import report
from acd.sim.stats import Stats
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
    sc = scenario(
        **OVERLOAD,
        policies={"routing": {"callback_offer_ewt_s": 60, "wrap_up_s": 0}},
        callers={"accept_callback": 1.0, "answer_callback": 1.0},
    )
    rep = run(config, sc)
    assert rep["callbacks"]["offered"] > 0
    assert rep["callbacks"]["accepted"] == rep["callbacks"]["offered"]
    assert rep["callbacks"]["answered"] > 0 and rep["callbacks_answered"] > 0
    assert rep["unresolved"] == 0
    assert rep["answered"] + rep["abandoned"] + rep["other"] == rep["offered"]


def test_unanswered_callbacks_are_retried_by_the_engine(config) -> None:
    sc = scenario(
        **OVERLOAD,
        policies={
            "routing": {"callback_offer_ewt_s": 60, "wrap_up_s": 0},
            "callbacks": {"retry_delays_s": [30, 30]},
        },
        callers={"accept_callback": 1.0, "answer_callback": 0.5},
    )
    rep = run(config, sc)
    assert rep["callbacks"]["retried"] > 0
    assert rep["callbacks"]["failed"] > 0  # three misses in a row happen at one in eight


def test_overflow_on_sends_waiting_calls_to_local_services(config) -> None:
    policies = {"overflow": {"mode": "on"}, "services": {"capacity": 3, "hours": "always"}}
    sim = Simulation(scenario(**OVERLOAD, policies=policies, callers={"department_share": 1.0}), config)
    rep = report(sim.run())
    services = sim.engine.overflow.services.values()
    assert rep["overflowed"] > 0
    assert sum(s.taken for s in services) == rep["overflowed"]
    assert all(s.load == 0 for s in services)  # every overflowed call ended at its service


def test_overflow_respects_the_services_capacity(config) -> None:
    policies = {"overflow": {"mode": "on"}, "services": {"capacity": 0, "hours": "always"}}
    rep = run(config, scenario(**OVERLOAD, policies=policies, callers={"department_share": 1.0}))
    assert rep["overflowed"] == 0


def test_the_calendar_closes_the_line_outside_opening_hours(config) -> None:
    evening = {"start": "2026-03-03T19:30:00+01:00", "calls": None, "duration_s": 1800}
    rep = run(config, scenario(**evening, hours=None))
    # counted apart: no call offered while the line was open
    assert rep["closed"] == rep["arrivals"] > 0 and rep["offered"] == 0 and rep["answered"] == 0


def test_hours_always_means_the_line_never_closes(config) -> None:
    evening = {"start": "2026-03-03T19:30:00+01:00", "calls": None, "duration_s": 1800}
    rep = run(config, scenario(**evening, hours="always"))
    assert rep["closed"] == 0 and rep["answered"] > 0


def test_long_wait_callers_book_appointments_that_the_engine_dials(config) -> None:
    sc = scenario(
        **{**OVERLOAD, "calls": 400},
        hours=None,
        start="2026-03-03T09:00:00+01:00",
        policies={"appointments": {"offer_above_ewt_s": 60}, "routing": {"callback_offer_ewt_s": 1e9}},
        callers={"book_appointment": 1.0, "answer_callback": 1.0},
    )
    rep = run(config, sc)
    assert rep["appointments"]["booked"] > 0
    assert rep["appointments"]["done"] == rep["appointments"]["booked"]
    # A caller whose appointment an agent took reached an agent: answered through it, as through
    # a callback (before, counted `other`: booking appointments lowered the answer rate below
    # FIFO's for a skill whose callers book many; /work/notes/audit-sim.md, D1).
    booked_measured = rep["appointments_answered"]
    assert booked_measured > 0 and rep["answered"] >= booked_measured
    assert rep["answered"] + rep["abandoned"] + rep["other"] + rep["unresolved"] == rep["offered"]
    assert rep["by_skill"]["impot_revenu"]["appointments_answered"] == booked_measured


def test_an_appointment_not_kept_settles_its_call_as_other(config) -> None:
    sc = scenario(
        **{**OVERLOAD, "calls": 400},
        hours=None,
        start="2026-03-03T09:00:00+01:00",
        policies={
            "appointments": {"offer_above_ewt_s": 60, "retry_delays_s": []},
            "routing": {"callback_offer_ewt_s": 1e9},
        },
        callers={"book_appointment": 1.0, "answer_callback": 0.0},
    )
    rep = run(config, sc)
    assert rep["appointments"]["booked"] > 0 and rep["appointments_answered"] == 0
    assert rep["other"] >= rep["appointments"]["no_show"] > 0
    assert rep["answered"] + rep["abandoned"] + rep["other"] + rep["unresolved"] == rep["offered"]


def test_compare_plays_the_same_callers_with_and_without_the_policies(config) -> None:
    sc = scenario(
        **OVERLOAD, policies={"routing": {"callback_offer_ewt_s": 60}}, callers={"accept_callback": 0.5}
    )
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
    from acd.model import ClosedDecision

    offered = Engine._handlers["call.offered"]

    def voicemail_for_c3(engine, event, t, now, commands):
        if event.call_id != "c3":
            return offered(engine, event, t, now, commands)
        engine.calendar.is_open = lambda t: False  # the engine refuses it; the platform hears "voicemail"
        try:
            decision = offered(engine, event, t, now, commands)
        finally:
            del engine.calendar.is_open
        return Voicemail(decision.call_id, decision.reopens_at, decision.reason)

    class Voicemail(ClosedDecision):
        __slots__ = ()
        action = "voicemail"

    monkeypatch.setitem(Engine._handlers, "call.offered", voicemail_for_c3)
    rep = run(config, scenario(calls=300))
    assert rep["unknown_actions"] == {"voicemail": 1}
    assert rep["closed"] == 1  # the engine's account: it refused the call
    assert rep["answered"] == rep["offered"] == rep["arrivals"] - 1


def test_a_ring_time_delays_every_answer(config) -> None:
    rep = run(config, scenario(calls=500, ring_s=5))
    assert rep["answered"] == rep["offered"]
    assert rep["p_wait"] == 1.0 and rep["asa_s"] >= 5.0


# -- a scenario means what it says


def test_without_policies_the_handle_time_is_the_handle_time(config) -> None:
    """No policies: no wrap-up is added to the drawn handle time (the configuration's 30 s would
    otherwise make an M/M/n queue something else)."""
    rep = run(config, scenario(calls=3000))
    sim = Simulation(scenario(calls=3000), config)
    assert sim.config.routing.wrap_up_s == 0
    assert sim.config.routing.strategy == "longest_idle"
    assert rep["answered"] == rep["offered"]


def test_without_policies_waiting_calls_are_served_by_priority_then_arrival(config) -> None:
    """No policies: the contract's default routing, strict priority then arrival. The shipped
    configuration's priority aging (a priority worth 60 s of waiting each) is one of acd's
    policies: it let low-priority calls that had waited nine minutes go before fresh priority-9
    calls, so the priority-9 callers of an overloaded line waited minutes."""
    sc = scenario(
        calls=3000,
        arrivals=[
            {"skill": "impot_revenu", "rate_per_min": 6, "priority": 9},
            {"skill": "paiement", "rate_per_min": 5},
        ],
        agents=[{"count": 10, "skills": {"impot_revenu": 5, "paiement": 5}, "site": "lille"}],
    )
    assert Simulation(sc, config).config.routing.priority_aging_s is None
    rep = run(config, sc)
    # The priority-9 calls (6 Erlangs on 10 agents kept busy by the others) wait only for the next
    # agent to free: 6 s / (1 - 0.6) = 15 s on average; with the aging they waited 845 s
    assert rep["by_skill"]["impot_revenu"]["asa_s"] < 30
    assert rep["by_skill"]["paiement"]["asa_s"] > 600


def test_policies_config_runs_the_configuration_and_its_wrap_up_is_part_of_the_handle_time(config) -> None:
    """With `policies: config` the configuration's wrap-up runs, taken out of the drawn handle
    time: a constant 60 s handle time keeps an agent 60 s, talk and wrap-up together."""
    constant = {"dist": "constant", "mean_s": 60}
    plain = run(config, scenario(calls=2000, handle_time=constant))
    policies = run(config, scenario(calls=2000, handle_time=constant, policies="config"))
    assert Simulation(scenario(calls=10, policies="config"), config).config.routing.wrap_up_s == 30
    assert abs(policies["occupancy"] - plain["occupancy"]) < 0.02
    assert policies["policies"] == "config" and plain["policies"] == "default routing"


def test_with_policies_a_handle_time_shorter_than_the_wrap_up_is_still_the_handle_time(config) -> None:
    """`handle_time` is the time an agent gives a call, wrap-up included. With the configuration's
    30 s wrap-up, a drawn handle time under 30 s used to keep the agent the whole wrap-up: an
    exponential 60 s handle time became 30 + 60 e^-0.5 = 66.4 s on average (occupancy +11 %).
    The agent is free once the drawn time is over, so the occupancy is that of the plain run."""
    exponential = {"calls": 6000, "arrivals": [{"skill": "impot_revenu", "rate_per_min": 4}]}
    plain = run(config, scenario(**exponential))
    policies = run(config, scenario(**exponential, policies="config"))
    assert plain["occupancy"] == pytest.approx(0.4, abs=0.02)
    assert policies["occupancy"] == pytest.approx(plain["occupancy"], abs=0.005)


def test_the_baseline_keeps_the_wrap_up_of_the_run_it_is_compared_with(config) -> None:
    sim = Simulation(scenario(calls=10, policies="config"), config, baseline=True)
    assert sim.config.routing.wrap_up_s == 30
    assert sim.config.routing.strategy == "longest_idle"
    assert sim.config.overflow.mode == "off"
    assert sim.config.appointments.offer_above_ewt_s is None


def test_callers_who_hang_up_call_again_and_are_counted_once(config) -> None:
    sc = scenario(
        **{**OVERLOAD, "patience": {"dist": "exponential", "mean_s": 60}},
        callers={"redial": {"share": 1.0, "delay": {"dist": "constant", "mean_s": 120}}},
    )
    rep = run(config, sc)
    assert rep["redials"] > 0
    assert rep["offered"] == rep["unique_callers"] + rep["redials"]
    none = run(config, sc.model_copy(update={"callers": sc.callers.model_copy(update={"redial": None})}))
    assert none["redials"] == 0 and none["unique_callers"] == none["offered"]


def test_staffing_by_hour_logs_agents_out_and_in_and_they_finish_their_calls(config) -> None:
    day = {
        "start": "2026-03-03T11:00:00+01:00",
        "calls": None,
        "duration_s": 3 * 3600,
        "arrivals": [{"skill": "impot_revenu", "rate_per_min": 6}],
        "agents": [{"count": 10, "skills": {"impot_revenu": 5}, "site": "lille"}],
        "staffing": {"per_hour": {12: 0.5}},
    }
    sim = Simulation(scenario(**day), config)
    rep = report(sim.run())
    full = run(config, scenario(**{**day, "staffing": None}))
    assert rep["answered"] == rep["offered"]  # nobody abandons (no patience): all answered
    assert rep["mean_wait_s"] > full["mean_wait_s"]  # half the agents at lunch: longer waits
    assert sim.platform.leaving == set()  # every agent going off duty left once its call ended


def test_an_agent_going_off_duty_finishes_its_call_and_takes_no_other(config, monkeypatch) -> None:
    """Nobody on duty from 12:00 to 13:00 on a line that always has callers waiting: each agent
    finishes the call it has at 12:00 and then leaves. The logout used to be sent after the
    call's end, so the agent, free for an instant, took the next waiting call first and left
    only after it (each of the ten took one more call between 12:00 and 12:02)."""
    answered: list[float] = []
    hook = Stats.call_answered

    def spy(self, call, agent, wait_s):
        answered.append(call.answered_at)
        return hook(self, call, agent, wait_s)

    monkeypatch.setattr(Stats, "call_answered", spy)
    day = {
        "start": "2026-03-03T11:00:00+01:00",
        "calls": None,
        "duration_s": 3 * 3600,
        "arrivals": [{"skill": "impot_revenu", "rate_per_min": 12}],
        "agents": [{"count": 10, "skills": {"impot_revenu": 5}, "site": "lille"}],
        "staffing": {"per_hour": {12: 0.0}},
    }
    noon, one = (datetime.fromisoformat(f"2026-03-03T{h}:00:00+01:00").timestamp() for h in (12, 13))
    for policies in (None, "config"):  # no wrap-up, and the configuration's 30 s
        answered.clear()
        sim = Simulation(scenario(**day, policies=policies), config)
        sim.run()
        assert answered and not [t for t in answered if noon <= t < one]
        assert sim.platform.leaving == set()


def test_compare_runs_the_configuration_when_the_scenario_names_no_policies(config) -> None:
    result = compare(scenario(calls=300), config)
    assert result["acd"]["policies"] == "config"
    assert result["baseline"]["policies"].startswith("baseline")


def test_callers_who_take_a_window_are_called_back_at_its_time(config) -> None:
    windows = [{"start": "14:00", "end": "15:00", "capacity": 50}]
    sc = scenario(
        **{**OVERLOAD, "calls": 600},
        hours=None,
        start="2026-03-03T10:00:00+01:00",
        policies={"routing": {"callback_offer_ewt_s": 60}, "callbacks": {"windows": windows}},
        callers={"accept_callback": 1.0, "take_window": 1.0, "answer_callback": 1.0},
    )
    sim = Simulation(sc, config)
    rep = report(sim.run())
    booked_per_day = sim.engine.callback_book.window_booked  # (local date, window) -> callbacks booked
    assert max(booked_per_day.values()) <= 50  # each day's window holds 50 at most
    assert booked_per_day[("2026-03-03", 0)] == 50  # today's filled first, in order
    dialled = [cb for cb in sim.engine.callbacks.values() if cb.requested and cb.first_dial_at is not None]
    assert dialled  # (windows of later days than the run's last are still scheduled at its end)
    for cb in dialled:  # never before the window's start
        start = datetime.fromisoformat(next(h["window"] for _, h in cb.history if "window" in h))
        assert cb.first_dial_at >= start.timestamp()
    assert rep["callbacks"]["answered"] >= 50
