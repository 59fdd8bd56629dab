"""Errors that teach: a refusal or a surprising answer says why and what would have been accepted,
in the words of the request the client sent (issue 14, point 8)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.api.test_bad_input import assert_error
from tests.conftest import T0
from tests.engine.test_appointments import ap_config

SKILLS = ["impot_revenu", "paiement", "lsf"]  # small_config's, in order
SITES = ["lille", "pau"]
STATES = ["logged_out", "available", "busy", "wrap_up", "paused"]


def at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


# -- a closed line says why


async def test_a_closed_decision_outside_opening_hours_says_why_and_when_it_reopens(platform, clock):
    clock.t = at("2026-03-02T20:00:00+01:00")  # a Monday evening
    decision = await platform.offer("c1")
    assert decision["action"] == "closed"
    assert decision["reopens_at"] == "2026-03-03T08:30:00+01:00"
    assert decision["reason"].startswith("outside opening hours")
    assert "Monday to Friday 08:30-19:00" in decision["reason"]
    assert "Europe/Paris" in decision["reason"]


async def test_a_closed_decision_on_a_public_holiday_names_the_holiday(platform, clock):
    clock.t = at("2026-05-01T10:00:00+02:00")  # a Friday, Labour Day
    decision = await platform.offer("c1")
    assert decision["action"] == "closed"
    assert decision["reason"] == "public holiday: Fête du Travail"
    assert decision["reopens_at"] == "2026-05-04T08:30:00+02:00"


async def test_an_open_line_gives_no_closed_reason(platform):
    decision = await platform.offer("c1")
    assert decision["action"] != "closed"
    assert "reason" not in decision


# -- an unknown skill lists the valid ones


def assert_lists_valid_skills(body, field: str) -> None:
    assert body["error"]["code"] == "unknown_skill"
    assert body["error"]["details"]["field"] == field
    assert body["error"]["details"]["valid"] == SKILLS
    assert "valid skills: impot_revenu, paiement, lsf" in body["error"]["message"]


async def test_an_unknown_skill_in_an_offered_call_lists_the_valid_skills(platform):
    status, body = await platform.events(
        {"id": "e1", "type": "call.offered", "call_id": "c1", "caller": "+33612345678", "skill": "impots"}
    )
    assert_error(status, body, 422, "unknown_skill")
    assert_lists_valid_skills(body, "skill")
    assert "'impots'" in body["error"]["message"]


async def test_an_unknown_needed_skill_lists_the_valid_skills(platform):
    status, body = await platform.events(
        {
            "id": "e1",
            "type": "call.offered",
            "call_id": "c1",
            "caller": "+33612345678",
            "skill": "lsf",
            "needs": ["braille"],
        }
    )
    assert_error(status, body, 422, "unknown_skill")
    assert_lists_valid_skills(body, "needs")


async def test_an_unknown_skill_in_a_roster_entry_lists_the_valid_skills(platform):
    status, body = await platform.request(
        "PUT", "/v1/agents/x1", {"site": "pau", "skills": {"astrologie": 3}, "target": "sip:x1@pau"}
    )
    assert_error(status, body, 422, "unknown_skill")
    assert_lists_valid_skills(body, "skills")


async def test_an_unknown_site_in_a_roster_entry_lists_the_valid_sites(platform):
    status, body = await platform.request(
        "PUT", "/v1/agents/x1", {"site": "paris", "skills": {"lsf": 3}, "target": "sip:x1@paris"}
    )
    assert_error(status, body, 422, "unknown_site")
    assert body["error"]["details"] == {"field": "site", "valid": SITES}
    assert "valid sites: lille, pau" in body["error"]["message"]


async def test_an_unknown_skill_in_a_callback_request_lists_the_valid_skills(platform):
    status, body = await platform.request(
        "POST", "/v1/callbacks", {"number": "+33611111111", "skill": "impots"}
    )
    assert_error(status, body, 422, "unknown_skill")
    assert_lists_valid_skills(body, "skill")


async def test_an_unknown_skill_in_an_appointment_lists_the_valid_skills(make_platform):
    platform = await make_platform(config=ap_config())
    status, body = await platform.request(
        "POST",
        "/v1/appointments",
        {"number": "+33611111111", "skill": "impots", "start": "2026-03-03T10:00:00+01:00"},
    )
    assert_error(status, body, 422, "unknown_skill")
    assert_lists_valid_skills(body, "skill")


async def test_an_unknown_skill_in_the_slots_query_lists_the_valid_skills(platform):
    status, body = await platform.get("/v1/appointments/slots?skill=impots&date=2026-03-03")
    assert_error(status, body, 422, "unknown_skill")
    assert_lists_valid_skills(body, "skill")


# -- a query parameter that names nothing is refused, saying what exists


async def test_an_unknown_agent_state_filter_is_refused_with_the_valid_states(platform):
    status, body = await platform.get("/v1/agents?state=lunch")
    assert_error(status, body, 422, "invalid_query")
    assert body["error"]["details"] == {"field": "state", "valid": STATES}
    assert "lunch" in body["error"]["message"] and "paused" in body["error"]["message"]


async def test_an_unknown_site_filter_on_agents_is_refused_with_the_valid_sites(platform):
    status, body = await platform.get("/v1/agents?site=paris")
    assert_error(status, body, 422, "unknown_site")
    assert body["error"]["details"] == {"field": "site", "valid": SITES}


async def test_valid_agent_filters_still_filter(platform):
    await platform.agent("a1", "available")
    status, body = await platform.get("/v1/agents?state=available&site=lille")
    assert status == 200
    assert [a["agent_id"] for a in body["agents"]] == ["a1"]
    status, body = await platform.get("/v1/agents?state=paused")
    assert status == 200 and body["agents"] == []


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/agents?skill=lsf", "skill"),
        ("/v1/agents/a1?verbose=1", "verbose"),
        ("/v1/queues?skill=lsf", "skill"),
        ("/v1/calls/c1?x=1", "x"),
        ("/v1/overflow?mode=on", "mode"),
        ("/v1/services?dept=59", "dept"),
        ("/v1/appointments/slots?skill=lsf&date=2026-03-03&day=2026-03-03", "day"),
    ],
)
async def test_an_unknown_query_parameter_is_refused_naming_the_accepted_ones(platform, path, field):
    await platform.offer("c1")
    status, body = await platform.get(path)
    assert_error(status, body, 422, "unknown_parameter")
    assert body["error"]["details"]["field"] == field
    assert field in body["error"]["message"]


async def test_a_repeated_query_parameter_is_refused(platform):
    status, body = await platform.get("/v1/agents?state=available&state=paused")
    assert_error(status, body, 422, "invalid_query")
    assert body["error"]["details"] == {"field": "state"}


async def test_an_unknown_department_filter_on_services_is_refused(platform):
    status, body = await platform.get("/v1/services?department=99")
    assert_error(status, body, 422, "unknown_department")
    assert body["error"]["details"]["field"] == "department"
    assert body["error"]["details"]["valid"] == []  # small_config has no local services
    assert "'99'" in body["error"]["message"]


async def test_a_known_department_filter_on_services_still_filters(platform):
    status, body = await platform.get("/v1/services")
    assert status == 200
    if body["services"]:
        department = body["services"][0]["department"]
        status, one = await platform.get(f"/v1/services?department={department}")
        assert status == 200
        assert {s["department"] for s in one["services"]} == {department}


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ("date=2026-03-03", "invalid_query", "skill"),
        ("skill=impot_revenu", "invalid_query", "date"),
        ("skill=impot_revenu&date=tomorrow", "invalid_query", "date"),
        ("skill=impot_revenu&date=2026-03-03&site=paris", "unknown_site", "site"),
    ],
)
async def test_the_slots_query_names_the_parameter_at_fault(make_platform, query, code, field):
    platform = await make_platform(config=ap_config())
    status, body = await platform.get(f"/v1/appointments/slots?{query}")
    assert_error(status, body, 422, code)
    assert body["error"]["details"]["field"] == field


# -- an appointment nobody can take says why


async def test_booking_a_skill_no_site_offers_says_so_rather_than_not_a_slot(make_platform):
    platform = await make_platform(config=ap_config())  # impot_revenu places at lille and pau; no lsf
    status, body = await platform.request(
        "POST",
        "/v1/appointments",
        {"number": "+33611111111", "skill": "lsf", "start": "2026-03-03T10:00:00+01:00", "site": "pau"},
    )
    assert_error(status, body, 422, "no_appointments")
    assert body["error"]["code"] != "not_a_slot"
    assert "no site offers appointments for 'lsf'" in body["error"]["message"]
    assert "impot_revenu" in body["error"]["message"]
    assert body["error"]["details"] == {"field": "skill", "valid": ["impot_revenu"]}


async def test_booking_a_skill_at_a_site_without_its_places_says_which_sites_have_them(make_platform):
    config = ap_config(
        capacity=[
            {"site": "lille", "skill": "impot_revenu", "morning": 2, "afternoon": 1},
            {"site": "lille", "skill": "lsf", "morning": 1, "afternoon": 1},
            {"site": "pau", "skill": "impot_revenu", "morning": 1, "afternoon": 1},
        ]
    )
    platform = await make_platform(config=config)
    status, body = await platform.request(
        "POST",
        "/v1/appointments",
        {"number": "+33611111111", "skill": "lsf", "start": "2026-03-03T10:00:00+01:00", "site": "pau"},
    )
    assert_error(status, body, 422, "no_appointments")
    assert (
        body["error"]["message"] == "site 'pau' has no appointment places for 'lsf'; sites that have: lille"
    )
    assert body["error"]["details"] == {"field": "site", "valid": ["lille"]}
    status, _ = await platform.request(  # the same slot without the site is booked at lille
        "POST",
        "/v1/appointments",
        {"number": "+33611111111", "skill": "lsf", "start": "2026-03-03T10:00:00+01:00"},
    )
    assert status == 201


async def test_a_start_between_slots_says_how_slots_fall_and_where_to_list_them(make_platform):
    platform = await make_platform(config=ap_config())
    status, body = await platform.request(
        "POST",
        "/v1/appointments",
        {"number": "+33611111111", "skill": "impot_revenu", "start": "2026-03-03T10:10:00+01:00"},
    )
    assert_error(status, body, 422, "not_a_slot")
    assert "30 minutes" in body["error"]["message"]
    assert "/v1/appointments/slots?skill=impot_revenu&date=2026-03-03" in body["error"]["message"]


async def test_a_start_on_a_holiday_names_the_holiday(make_platform):
    platform = await make_platform(config=ap_config())
    status, body = await platform.request(
        "POST",
        "/v1/appointments",
        {"number": "+33611111111", "skill": "impot_revenu", "start": "2026-05-01T10:00:00+02:00"},
    )
    assert_error(status, body, 422, "outside_hours")
    assert "public holiday: Fête du Travail" in body["error"]["message"]


# -- REST errors speak of the request, not of internal events


def assert_no_internal_ids(body) -> None:
    details = body["error"]["details"]
    assert not ({"index", "id", "type"} & set(details)), details
    text = str(body)
    for internal in ("api-", "roster-", "overflow-", "callback.requested", "appointment.booked"):
        assert internal not in text, text


async def test_a_refused_callback_request_speaks_of_its_own_fields(platform):
    status, body = await platform.request("POST", "/v1/callbacks", {"number": "+33611111111", "skill": "x"})
    assert_error(status, body, 422, "unknown_skill")
    assert_no_internal_ids(body)
    assert body["error"]["details"]["field"] == "skill"


async def test_a_refused_appointment_booking_speaks_of_its_own_fields(make_platform):
    platform = await make_platform(config=ap_config())
    status, body = await platform.request(
        "POST",
        "/v1/appointments",
        {"number": "+33611111111", "skill": "impot_revenu", "start": "2026-03-02T08:00:00+01:00"},
    )
    assert_error(status, body, 422, "in_past")
    assert_no_internal_ids(body)
    assert body["error"]["details"] == {"field": "start"}


async def test_a_refused_reschedule_speaks_of_its_own_fields(make_platform):
    platform = await make_platform(config=ap_config())
    status, booked = await platform.request(
        "POST",
        "/v1/appointments",
        {"number": "+33611111111", "skill": "impot_revenu", "start": "2026-03-03T10:00:00+01:00"},
    )
    assert status == 201
    status, body = await platform.request(
        "PATCH", f"/v1/appointments/{booked['appointment_id']}", {"start": "2026-03-03T10:10:00+01:00"}
    )
    assert_error(status, body, 422, "not_a_slot")
    assert_no_internal_ids(body)
    assert body["error"]["details"] == {"field": "start"}


async def test_a_refused_cancellation_speaks_of_the_resource(make_platform):
    platform = await make_platform(config=ap_config())
    _, booked = await platform.request(
        "POST",
        "/v1/appointments",
        {"number": "+33611111111", "skill": "impot_revenu", "start": "2026-03-03T10:00:00+01:00"},
    )
    path = f"/v1/appointments/{booked['appointment_id']}"
    assert (await platform.request("DELETE", path))[0] == 200
    status, body = await platform.request("DELETE", path)
    assert_error(status, body, 409, "appointment_not_changeable")
    assert_no_internal_ids(body)


async def test_a_refused_roster_entry_speaks_of_its_own_fields(platform):
    status, body = await platform.request(
        "PUT", "/v1/agents/x1", {"site": "paris", "skills": {"lsf": 3}, "target": "sip:x1@paris"}
    )
    assert_error(status, body, 422, "unknown_site")
    assert_no_internal_ids(body)


async def test_platform_events_keep_their_own_ids_in_error_details(platform):
    """A batch's error still says which event (index, id, type): the platform sent those."""
    status, body = await platform.events(
        {"id": "ok", "type": "agent.state", "agent_id": "a1", "state": "available"},
        {"id": "bad", "type": "call.offered", "call_id": "c1", "caller": "+33612345678", "skill": "x"},
    )
    assert_error(status, body, 422, "unknown_skill")
    assert body["error"]["details"]["index"] == 1
    assert body["error"]["details"]["id"] == "bad"


def test_t0_is_a_monday_in_opening_hours():  # the premise of the tests above
    assert datetime.fromtimestamp(T0, UTC).weekday() == 0


# -- found trying the service as a new user would


async def test_an_unknown_event_type_lists_the_valid_types(platform):
    status, body = await platform.events({"id": "e1", "type": "call.teleported", "call_id": "c1"})
    assert_error(status, body, 422, "unknown_event_type")
    assert "'call.teleported'" in body["error"]["message"]
    for valid in ("call.offered", "agent.state", "survey.result"):
        assert valid in body["error"]["message"]


async def test_an_event_without_a_type_says_what_an_event_and_the_body_look_like(platform):
    """A client's first try, wrapping its batch in an object: no `type` to route it by. The answer
    names the field and the valid types, and what the body is (an event or an array of them)."""
    for body in ({"events": [{"id": "e1", "type": "call.offered"}]}, {"id": "e1", "call_id": "c1"}):
        status, answer = await platform.events(body)
        assert_error(status, answer, 422, "invalid_event")
        message = answer["error"]["message"]
        assert "`type`" in message and "call.offered" in message and "agent.state" in message, message
        assert "JSON array" in message, message


async def test_a_phone_number_not_in_e164_says_what_e164_looks_like(platform):
    status, body = await platform.request("POST", "/v1/callbacks", {"number": "06 12", "skill": "lsf"})
    assert_error(status, body, 422, "invalid_callback")
    assert "number" in body["error"]["message"]
    assert "an E.164 number, such as +33142000000" in body["error"]["message"]


async def test_a_time_without_an_offset_says_to_add_one(platform):
    status, body = await platform.request(
        "POST",
        "/v1/callbacks",
        {"number": "+33611111111", "skill": "lsf", "not_before": "2026-03-02T10:00:00"},
    )
    assert_error(status, body, 422, "invalid_callback")
    assert "add the offset: 2026-03-02T10:00:00+01:00" in body["error"]["message"]


async def test_a_department_that_is_no_insee_code_says_what_one_looks_like(platform):
    status, body = await platform.request(
        "POST", "/v1/callbacks", {"number": "+33611111111", "skill": "lsf", "department": "99"}
    )
    assert_error(status, body, 422, "invalid_callback")
    assert "an INSEE department code, such as 59, 2A or 971" in body["error"]["message"]


async def test_an_unknown_path_points_to_the_api_description(platform):
    status, body = await platform.get("/v1/agent")
    assert_error(status, body, 404, "not_found")
    assert (
        body["error"]["message"] == "no such path: GET /v1/agent (the API is described at GET /openapi.json)"
    )


async def test_a_method_a_path_does_not_take_says_which_it_takes(platform):
    status, body = await platform.request("POST", "/v1/agents", {})
    assert_error(status, body, 405, "method_not_allowed")
    assert body["error"]["message"] == "POST /v1/agents: method not allowed; this path takes GET,HEAD"
