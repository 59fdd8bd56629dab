"""`/openapi.json` says what the service accepts: the configuration's skills and sites as enums,
the date bounds, the 422 of every query, and links from each created resource to where it is read,
changed and cancelled (what schemathesis's stateful phase follows)."""

from __future__ import annotations

import re

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acd.events import E164_PATTERN, FIRST_YEAR, LAST_YEAR
from acd.phone import REFUSALS, normalize
from acd.signing import signed_headers
from tests.test_phone import CERTAIN_FORMS

SKILLS = ["impot_revenu", "paiement", "lsf"]
SITES = ["lille", "pau"]


@pytest.fixture
async def doc(platform):
    status, body = await platform.request("GET", "/openapi.json", sign=False)
    assert status == 200
    return body


def operations(doc):
    for path, methods in doc["paths"].items():
        for method, op in methods.items():
            yield method, path, op


def test_openapi_links_chain_created_resources_to_their_reads_changes_and_cancellations(doc):
    by_id = {op["operationId"]: (method, path, op) for method, path, op in operations(doc)}
    links = {
        (method, path, name): link
        for method, path, op in operations(doc)
        for response in op["responses"].values()
        for name, link in response.get("links", {}).items()
    }
    targets = {(m, p, link["operationId"]) for (m, p, _), link in links.items()}
    for want in [
        ("post", "/v1/callbacks", "get_/v1/callbacks/{callback_id}"),
        ("post", "/v1/callbacks", "delete_/v1/callbacks/{callback_id}"),
        ("post", "/v1/appointments", "get_/v1/appointments/{appointment_id}"),
        ("post", "/v1/appointments", "patch_/v1/appointments/{appointment_id}"),
        ("post", "/v1/appointments", "delete_/v1/appointments/{appointment_id}"),
        ("get", "/v1/appointments/slots", "post_/v1/appointments"),
        ("put", "/v1/agents/{agent_id}", "get_/v1/agents/{agent_id}"),
    ]:
        assert want in targets, want
    for (_, _, name), link in links.items():  # every link names a real operation and its parameters
        _, target_path, target = by_id[link["operationId"]]
        names = {p["name"] for p in target.get("parameters", [])}
        assert set(link.get("parameters", {})) <= names, name
        assert set(re.findall(r"{(\w+)}", target_path)) <= set(link.get("parameters", {})), name


async def test_links_lead_from_a_created_callback_to_the_callback(platform, doc):
    link = doc["paths"]["/v1/callbacks"]["post"]["responses"]["201"]["links"]["GetCallback"]
    status, created = await platform.request(
        "POST", "/v1/callbacks", {"number": "+33611111111", "skill": "lsf"}
    )
    assert status == 201
    pointer = link["parameters"]["callback_id"].removeprefix("$response.body#/")
    status, got = await platform.get(f"/v1/callbacks/{created[pointer]}")
    assert status == 200 and got["callback_id"] == created["callback_id"]


def test_the_configurations_skills_and_sites_are_enums_in_requests(doc):
    schemas = doc["components"]["schemas"]
    assert schemas["CallOffered"]["properties"]["skill"]["enum"] == SKILLS
    assert schemas["CallOffered"]["properties"]["needs"]["items"]["enum"] == SKILLS
    assert schemas["CallbackRequest"]["properties"]["skill"]["enum"] == SKILLS
    assert schemas["AgentUpsert"]["properties"]["site"]["enum"] == SITES
    assert schemas["AgentUpsert"]["properties"]["skills"]["propertyNames"]["enum"] == SKILLS
    [site] = [
        b for b in schemas["AppointmentRequest"]["properties"]["site"]["anyOf"] if b["type"] == "string"
    ]
    assert site["enum"] == SITES
    params = {p["name"]: p["schema"] for p in doc["paths"]["/v1/agents"]["get"]["parameters"]}
    assert params["state"]["enum"] == ["logged_out", "available", "busy", "wrap_up", "paused"]
    assert params["site"]["enum"] == SITES


def test_instants_are_documented_with_their_year_bounds(doc):
    start = doc["components"]["schemas"]["AppointmentRequest"]["properties"]["start"]
    assert start["format"] == "date-time"
    assert re.match(start["pattern"], f"{FIRST_YEAR}-01-01T00:00:00Z")
    assert re.match(start["pattern"], f"{LAST_YEAR}-12-31T00:00:00Z")
    assert not re.match(start["pattern"], "9999-12-31T00:00:00Z")
    assert not re.match(start["pattern"], "1970-01-01T00:00:00Z")


def test_every_operation_under_v1_documents_its_400_and_422(doc):
    """Every path under /v1 refuses a query parameter it does not take with a 422, whatever the
    method (tests/api/test_query_strings.py), and a body it does not take, or one that is not
    JSON, with a 400 (tests/api/test_bodiless.py)."""
    for method, path, op in operations(doc):
        if path.startswith("/v1/"):
            assert {"400", "422"} <= set(op["responses"]), (method, path)


def test_every_operation_with_a_json_body_documents_its_413_and_415(doc):
    """A body declared as anything but JSON is a 415 (tests/api/test_content_type.py), one over the
    size limit a 413 (tests/api/test_declared_size.py)."""
    with_body = [(m, p) for m, p, op in operations(doc) if "requestBody" in op]
    assert len(with_body) == 6
    for method, path, op in operations(doc):
        if "requestBody" in op:
            assert {"413", "415"} <= set(op["responses"]), (method, path)


async def test_a_roster_id_the_roster_refuses_is_a_422_not_a_server_error(platform, doc):
    """Found by the stateful run: `a:b` is a valid path id but not a roster id (a 500 before)."""
    status, body = await platform.request(
        "PUT", "/v1/agents/a:b", {"site": "pau", "skills": {"lsf": 3}, "target": "sip:ab@pau"}
    )
    assert status == 422, body
    assert body["error"]["code"] == "invalid_agent"
    assert body["error"]["details"] == {"field": "agent_id"}
    [param] = doc["paths"]["/v1/agents/{agent_id}"]["put"]["parameters"]
    assert not re.match(param["schema"]["pattern"], "a:b")


def test_every_reason_the_engine_ignores_an_event_for_is_documented() -> None:
    """A client reads `ignored`: each reason the engine can give is named in the API's schema
    and in docs/operations.md (a reason added without them fails here)."""
    from pathlib import Path

    from acd.api.schemas import EventResultView

    root = Path(__file__).resolve().parents[2]
    source = "\n".join(p.read_text() for p in (root / "acd" / "engine").glob("*.py"))
    reasons = set(re.findall(r'_ignore\("([a-z_]+)"\)', source))  # the agent machine's table
    reasons |= set(re.findall(r'Transition\([^)]*\), "([a-z_]+)"\)', source))
    for call in re.finditer(r"Ignored\(([^)]*)\)", source):  # the handlers' (a word, or one of two)
        reasons |= set(re.findall(r'"([a-z_]+)"', call.group(1)))
    assert {
        "call_ended",
        "stale",
        "restates_state",
        "answered_by_another_agent",
        "callback_scheduled",
    } <= reasons
    schema = EventResultView.model_fields["ignored"].description or ""
    operations = (root / "docs" / "operations.md").read_text()
    assert sorted(r for r in reasons if r not in schema) == []
    assert sorted(r for r in reasons if f"`{r}`" not in operations) == []


# -- what the document says of numbers, methods and an unreachable store (outside audit, api D6)

#: The forms a number is taken in (tests/test_phone.py), the overseas ones and others with
#: separators a person types or pastes (a no-break space, a narrow one, a slash, a tab).
NUMBER_FORMS = [raw for raw, _ in CERTAIN_FORMS] + [
    "+262 692 12 34 56",
    "+508 41 23 45",
    "+687 28 12 34",
    "0800 12 34 56",
    "06\u00a012\u00a034\u00a056\u00a078",
    "06\u202f12\u202f34\u202f56\u202f78",
    "06/12/34/56/78",
    "\t06 12 34 56 78 ",
    "(+33) 6 12 34 56 78",
    "tel:0612345678",
    "sips:+33612345678@trunk.example",
]
NUMBER_FIELDS = [
    ("CallbackRequest", "number"),
    ("AppointmentRequest", "number"),
    ("CallbackAccepted", "number"),
]


def number_schema(doc, model: str, field: str) -> dict:
    prop = doc["components"]["schemas"][model]["properties"][field]
    [branch] = [b for b in prop.get("anyOf", [prop]) if b.get("type") == "string"]
    return branch


@pytest.mark.parametrize("raw", NUMBER_FORMS)
async def test_every_form_of_a_number_the_service_takes_is_written_in_the_published_form(platform, doc, raw):
    """The document publishes the contract's form (E.164) as the pattern and names the others in
    its description: each form the service takes becomes a number of the published form."""
    status, body = await platform.request("POST", "/v1/callbacks", {"number": raw, "skill": "paiement"})
    assert status in (200, 201), body  # the service takes it ...
    for model, field in NUMBER_FIELDS:  # ... as the number the document's pattern describes
        jsonschema.validate(normalize(raw), number_schema(doc, model, field))


def test_the_document_names_the_numbers_refused_and_why(doc):
    for model, field in NUMBER_FIELDS:
        schema = number_schema(doc, model, field)
        assert schema["pattern"] == E164_PATTERN, model  # the contract's form ...
        text = schema["description"]
        assert "French form" in text and "sip:" in text, model  # ... and the others taken
        for code in REFUSALS:
            assert code in text, (model, code)
        for rejected in ["anonymous", "06 12 34 56 78\x00", "06 12 34 56 78 x", ""]:
            with pytest.raises(jsonschema.ValidationError):
                jsonschema.validate(rejected, schema)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.text(alphabet="0123456789 +.-()/\t\u00a0\u2003\x1c\x85x:@;", max_size=24)
    | st.builds(
        lambda s, r: s + r, st.sampled_from(["sip:", "tel:", " SIPS:", "tel:\x1c"]), st.text(max_size=20)
    )
)
def test_a_number_the_service_takes_is_written_in_the_published_form(doc, raw):
    """Whatever a request's `number` the service takes, it keeps it in the published form (the
    pattern, jsonschema's reading of it)."""
    from pydantic import ValidationError

    from acd.api.schemas import CallbackRequest
    from acd.events import EDGE

    try:
        taken = CallbackRequest.model_validate({"number": raw, "skill": "paiement"}, context=EDGE)
    except ValidationError:
        return
    jsonschema.validate(taken.number, number_schema(doc, "CallbackRequest", "number"))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.from_regex(E164_PATTERN, fullmatch=True))
def test_a_number_of_the_published_form_is_taken_or_refused_for_a_reason_the_document_names(doc, raw):
    """The other way: a number the published pattern takes is taken, or refused only for one of
    the French plan's rules the description names (REFUSALS), never as a malformed number."""
    from pydantic import ValidationError

    from acd.api.schemas import CallbackRequest
    from acd.events import EDGE

    try:
        CallbackRequest.model_validate({"number": raw, "skill": "paiement"}, context=EDGE)
    except ValidationError as exc:
        assert {e["type"] for e in exc.errors()} <= set(REFUSALS), (raw, exc.errors())


async def test_every_path_documents_the_405_of_the_methods_it_does_not_take(platform, doc):
    """Every operation lists the 405 its path answers to any other method, with the `Allow`
    header; and the methods the document gives a path are those the service's `Allow` lists."""
    for method, path, op in operations(doc):
        answer = op["responses"].get("405")
        assert answer is not None, (method, path)
        assert "Allow" in answer["headers"], (method, path)
    for path, methods in doc["paths"].items():
        concrete = re.sub(r"{\w+}", "x1", path)
        other = next(m for m in ("TRACE", "PATCH", "DELETE") if m.lower() not in methods)
        headers = signed_headers(platform.secret, b"")  # under /v1 the signature is checked first
        resp = await platform.client.request(other, concrete, data=b"", headers=headers)
        assert resp.status == 405, (path, await resp.text())
        allowed = set(resp.headers["Allow"].split(",")) - {"HEAD"}
        assert allowed == {m.upper() for m in methods}, path


WRITES = [
    (
        "POST",
        "/v1/events",
        {"id": "e1", "type": "call.offered", "call_id": "c1", "caller": "+33612345678", "skill": "paiement"},
    ),
    ("PUT", "/v1/agents/a9", {"site": "lille", "skills": {"lsf": 1}, "target": "sip:a9@lille.example"}),
    ("POST", "/v1/callbacks", {"number": "+33611111111", "skill": "paiement"}),
    ("DELETE", "/v1/callbacks/{callback_id}", None),
    ("PUT", "/v1/overflow", {"mode": "on"}),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
async def test_every_write_documents_the_503_of_an_unreachable_store(platform, doc, method, path, body):
    """A write the store cannot make durable (Redis down, a lost lease) is a 503 store_unavailable,
    nothing acknowledged (tests/store/test_durability.py): the document lists it."""
    from acd.api.handlers import SERVICE
    from acd.store import StoreUnavailable

    status, created = await platform.request(
        "POST", "/v1/callbacks", {"number": "+33622222222", "skill": "lsf"}
    )
    assert status == 201
    service = platform.client.app[SERVICE]

    async def unreachable(events):
        raise StoreUnavailable("the store does not answer")

    service.store.apply = unreachable
    status, err = await platform.request(method, path.format(callback_id=created["callback_id"]), body)
    assert status == 503 and err["error"]["code"] == "store_unavailable", err
    template = path.replace("a9", "{agent_id}")
    assert "503" in doc["paths"][template][method.lower()]["responses"], (method, path)


def test_every_write_of_the_document_lists_its_503(doc):
    for method, path, op in operations(doc):
        if method in ("post", "put", "patch", "delete"):
            assert "503" in op["responses"], (method, path)
