"""Indicators without `by` are one total row, a range without calls too (offered 0, rates null),
with the keys of a total over calls; with `by`, keys without calls have no row."""

from __future__ import annotations

from acd.api.handlers import SERVICE
from tests.records.test_records_day import DAY, day_config
from tests.records.test_records_outage import calls


async def test_a_range_without_calls_gives_one_total_row_of_zeros(make_platform, clock, backend):
    platform = await make_platform(config=day_config(), **backend.settings())
    await platform.agent("a1", "available")
    await calls(platform, clock, range(0, 2))
    await platform.client.app[SERVICE].records.flush()
    status, body = await platform.get(f"/v1/reports/indicators?from={DAY}&to={DAY}")
    assert status == 200
    [busy] = body["rows"]
    assert busy["offered"] == 2
    for query in ("from=2030-01-01&to=2030-01-01", f"from={DAY}&to={DAY}&site=pau"):
        status, body = await platform.get(f"/v1/reports/indicators?{query}")
        assert status == 200, body
        assert body == {
            "rows": [
                {
                    "offered": 0,
                    "answered": 0,
                    "abandoned": 0,
                    "short_abandoned": 0,
                    "overflowed": 0,
                    "callbacks_answered": 0,
                    "answer_rate": None,
                    "service_level": None,
                    "asa_s": None,
                    "satisfaction": {"n": 0, "mean": None, "satisfied_share": None},
                }
            ]
        }, query
        assert body["rows"][0].keys() == busy.keys()
    status, body = await platform.get("/v1/reports/indicators?from=2030-01-01&to=2030-01-02&by=day")
    assert (status, body) == (200, {"rows": []})
