"""The supervisor's overflow switch and the local services, through HTTP."""

from __future__ import annotations

import re

import pytest

from acd.api.schemas import OverflowStatus, ServiceList
from acd.events import DEPARTMENT_PATTERN
from tests.api.test_bad_input import assert_error
from tests.engine.test_overflow import config_with_services

#: every department a call's `department` may name (acd.events.DEPARTMENT_PATTERN) has its service;
#: "20", Corsica's code before 1976 that the pattern lets through, names none (the call stays on
#: the national line, as one with no department)
EVERY_DEPARTMENT = [
    code
    for code in [f"{n:02d}" for n in range(0, 100)] + ["2A", "2B"] + [f"{n}" for n in range(970, 980)]
    if re.fullmatch(DEPARTMENT_PATTERN, code) and code != "20"
]


async def test_overflow_starts_in_auto_and_says_why(make_platform):
    platform = await make_platform(config=config_with_services())
    status, body = await platform.get("/v1/overflow")
    assert status == 200
    OverflowStatus.model_validate(body)
    assert (body["mode"], body["active"]) == ("auto", False)
    assert body["reason"]


async def test_overflow_says_which_callers_it_sends(make_platform):
    """Active, auto overflow may send nobody: the national line keeps the callers it would answer
    (config/overflow.yaml, patience_share). `sends` says so, for the supervisor who sees it
    active and its offices idle; with patience_share 0, every caller over the threshold."""
    platform = await make_platform(config=config_with_services(overflow={"patience_share": 1.5}))
    _, body = await platform.get("/v1/overflow")
    assert "would lose" in body["sends"] and "1.5 times its callers' mean patience" in body["sends"]
    assert "over 300 s" in body["sends"]
    alone = await make_platform(config=config_with_services())  # patience_share 0
    _, body = await alone.get("/v1/overflow")
    assert body["sends"] == "every caller expected to wait over 300 s"
    _, body = await alone.request("PUT", "/v1/overflow", {"mode": "on"})
    assert "sends" not in body


async def test_the_supervisor_switch_forces_overflow_on_then_off(make_platform):
    platform = await make_platform(config=config_with_services())
    status, body = await platform.request("PUT", "/v1/overflow", {"mode": "on"})
    assert status == 200
    assert (body["mode"], body["active"]) == ("on", True)
    assert (await platform.offer("c1", department="59"))["action"] == "overflow"
    _, body = await platform.request("PUT", "/v1/overflow", {"mode": "off"})
    assert (body["mode"], body["active"]) == ("off", False)
    assert (await platform.offer("c2", department="59"))["action"] == "queue"
    assert (await platform.get("/v1/overflow"))[1]["mode"] == "off"


@pytest.mark.parametrize("body", [{"mode": "sometimes"}, {"mode": None}, {}, {"mode": "on", "extra": 1}, [1]])
async def test_a_bad_overflow_mode_is_refused_and_changes_nothing(make_platform, body):
    platform = await make_platform(config=config_with_services())
    status, err = await platform.request("PUT", "/v1/overflow", body)
    assert_error(status, err, 422, "invalid_overflow")
    assert (await platform.get("/v1/overflow"))[1]["mode"] == "auto"


async def test_a_malformed_overflow_body_is_a_400(make_platform):
    platform = await make_platform(config=config_with_services())
    status, err = await platform.request("PUT", "/v1/overflow", raw=b"{mode: on")
    assert_error(status, err, 400, "malformed_json")


async def test_services_show_capacity_load_and_whether_they_take_calls(make_platform):
    platform = await make_platform(config=config_with_services(capacity=1, overflow={"mode": "on"}))
    await platform.offer("c1", department="59")
    status, body = await platform.get("/v1/services")
    assert status == 200
    ServiceList.model_validate(body)
    services = {s["department"]: s for s in body["services"]}
    assert services["59"]["load"] == 1
    assert services["59"]["skills"] is None  # every skill
    assert services["59"]["active"] is False  # full
    assert services["67"]["active"] is True
    assert services["67"]["target"] == "sip:accueil@sip-67.example"
    _, one = await platform.get("/v1/services?department=67")
    assert [s["service"] for s in one["services"]] == ["sip-67"]


async def test_every_department_has_a_local_service_in_the_shipped_config(make_platform, shipped_config):
    platform = await make_platform(config=shipped_config)
    _, body = await platform.get("/v1/services")
    departments = sorted(s["department"] for s in body["services"])
    assert departments == sorted(EVERY_DEPARTMENT)
    assert len(departments) == 102  # Saint-Pierre-et-Miquelon (975) among the overseas
    zones = {s["department"]: s["timezone"] for s in body["services"]}
    assert zones["974"] == "Indian/Reunion" and zones["59"] == "Europe/Paris"
    # no local office has a sign-language interpreter: lsf calls stay on the national line
    assert {tuple(s["skills"]) for s in body["services"]} == {
        ("espace_particulier", "impot_revenu", "paiement", "prelevement_source")
    }


async def test_overflow_metrics_count_by_department(make_platform):
    platform = await make_platform(config=config_with_services(overflow={"mode": "on"}))
    await platform.offer("c1", department="59")
    _, text = await platform.request("GET", "/metrics", sign=False)
    assert 'acd_calls_overflowed_total{department="59"} 1.0' in text
    assert "acd_overflow_active 1.0" in text
    assert 'acd_local_service_load{department="59"} 1.0' in text
    assert 'acd_local_service_capacity{department="59"} 2.0' in text


async def test_closed_calls_are_counted(make_platform, clock):
    clock.t = 1772874000.0  # Saturday 2026-03-07 10:00 Paris
    platform = await make_platform(config=config_with_services())
    decision = await platform.offer("c1")
    assert decision["action"] == "closed"
    _, text = await platform.request("GET", "/metrics", sign=False)
    assert 'acd_calls_closed_total{skill="impot_revenu"} 1.0' in text


async def test_turning_overflow_on_sends_the_waiting_callers_to_their_services(make_platform):
    """A caller waiting when the supervisor turns overflow on is moved with an `overflow` command
    (it is a call no agent can take now, CONTRACT.md), before the callers who come after it."""
    from acd.api.handlers import SERVICE

    platform = await make_platform(config=config_with_services(overflow={"mode": "off"}))
    assert (await platform.offer("c1", department="59"))["action"] == "queue"
    status, _ = await platform.request("PUT", "/v1/overflow", {"mode": "on"})
    assert status == 200
    _, call = await platform.get("/v1/calls/c1")
    assert call["status"] == "overflowed"
    outbox = platform.client.app[SERVICE].outbox.store._entries.values()  # no command URL: all wait
    assert [(e.command.command, e.command.fields["call_id"]) for e in outbox] == [("overflow", "c1")]
    _, services = await platform.get("/v1/services?department=59")
    assert services["services"][0]["load"] == 1
