"""`GET /v1/records` answers CSV when the `Accept` header prefers it, by its quality values."""

import pytest

from acd.api.records import wants_csv


@pytest.mark.parametrize(
    "accept",
    [
        "text/csv",
        "TEXT/CSV; charset=utf-8",
        "text/csv, */*",
        "application/x-ndjson;q=0.5, text/csv",
        "text/*",
        "text/csv;q=0.9, application/json",
    ],
)
def test_a_header_that_prefers_csv_gets_csv(accept):
    assert wants_csv(accept)


@pytest.mark.parametrize(
    "accept",
    [
        "",
        "*/*",
        "application/x-ndjson",
        "text/csv;q=0",
        "text/csv;q=0.1, application/x-ndjson",
        "text/csv;q=0.5, */*",
        "text/csv;q=nonsense",
        "text/csv;q=nan",
        "text/html",
        "text/csvx",
        "application/*, text/csv;q=0.8",
    ],
)
def test_a_header_that_does_not_prefer_csv_gets_ndjson(accept):
    assert not wants_csv(accept)
