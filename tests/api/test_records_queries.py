"""`GET /v1/records` and `GET /v1/reports/indicators` read their query as every other GET does
(acd/api/inputs.py `read_query`): a parameter they do not take, or one given twice, is a 422 naming
it, never silently ignored; a date is YYYY-MM-DD and nothing else. A misspelt filter
(`skil=paiement`) otherwise answers with every record, a question the client did not ask."""

from __future__ import annotations

import pytest

from tests.api.test_bad_input import assert_error

DAY = "2026-03-02"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (f"/v1/records?from={DAY}&to={DAY}&skil=paiement", "skil"),
        (f"/v1/records?from={DAY}&to={DAY}&by=day", "by"),
        (f"/v1/reports/indicators?from={DAY}&to={DAY}&sites=lille", "sites"),
    ],
)
async def test_an_unknown_records_query_parameter_is_refused_naming_it(platform, path, field):
    status, body = await platform.get(path)
    assert_error(status, body, 422, "unknown_parameter")
    assert body["error"]["details"]["field"] == field
    assert field in body["error"]["message"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (f"/v1/records?from={DAY}&to={DAY}&from=2026-03-01", "from"),
        (f"/v1/reports/indicators?from={DAY}&to={DAY}&by=day&by=hour", "by"),
    ],
)
async def test_a_repeated_records_query_parameter_is_refused(platform, path, field):
    status, body = await platform.get(path)
    assert_error(status, body, 422, "invalid_query")
    assert body["error"]["details"]["field"] == field


async def test_the_records_queries_still_answer_a_well_formed_query(platform):
    status, _ = await platform.request("GET", f"/v1/records?from={DAY}&to={DAY}&skill=lsf&site=lille")
    assert status == 200
    status, body = await platform.get(f"/v1/reports/indicators?from={DAY}&to={DAY}&by=skill&site=lille")
    assert status == 200 and "rows" in body


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/records?from={day}&to=2026-03-02", "from"),
        ("/v1/reports/indicators?from=2026-03-02&to={day}", "to"),
        ("/v1/appointments/slots?skill=lsf&date={day}", "date"),
    ],
)
async def test_an_iso_week_date_is_not_yyyy_mm_dd_and_is_refused(platform, path, field):
    # 2026-W10-1 has ten characters and is a date to date.fromisoformat (Monday 2 March 2026)
    status, body = await platform.get(path.format(day="2026-W10-1"))
    assert_error(status, body, 422, "invalid_query")
    assert body["error"]["details"]["field"] == field


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/records?from=9999-01-01&to=9999-01-02", "from"),
        ("/v1/reports/indicators?from=2026-03-02&to=9999-12-31", "to"),
        ("/v1/reports/indicators?from=0001-01-01&to=2026-03-02", "from"),
    ],
)
async def test_a_well_formed_date_out_of_range_says_the_range_not_the_format(platform, path, field):
    """9999-01-01 is YYYY-MM-DD: the refusal says which years a query may name."""
    status, body = await platform.get(path)
    assert_error(status, body, 422, "invalid_query")
    assert body["error"]["details"]["field"] == field
    assert "must be YYYY-MM-DD" not in body["error"]["message"]
    assert "1970" in body["error"]["message"] and "9000" in body["error"]["message"]


@pytest.mark.parametrize(
    ("query", "field", "code", "valid"),
    [
        ("skill=" + "x" * 6000, "skill", "unknown_skill", ["impot_revenu", "paiement", "lsf"]),
        ("site=" + "x" * 6000, "site", "unknown_site", ["lille", "pau"]),
        ("site=lile", "site", "unknown_site", ["lille", "pau"]),
    ],
)
@pytest.mark.parametrize("path", ["/v1/records", "/v1/reports/indicators"])
async def test_an_unknown_records_filter_lists_the_valid_ones_echoing_it_short(
    platform, path, query, field, code, valid
):
    """As every filter of a GET does (GET /v1/agents?site=): the valid values, the given one cut."""
    status, body = await platform.get(f"{path}?from={DAY}&to={DAY}&{query}")
    assert_error(status, body, 422, code)
    assert body["error"]["details"] == {"field": field, "valid": valid}
    assert len(body["error"]["message"]) < 400
    assert all(v in body["error"]["message"] for v in valid)
