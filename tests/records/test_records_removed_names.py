"""Records of a skill or a site config/ no longer has (removed since) can still be filtered,
on SQLite and on PostgreSQL: the filter names what the records of the days asked hold, not
only what config/ holds now. A name neither holds is still a 422 naming what exists."""

from __future__ import annotations

import json

from acd.api.handlers import SERVICE
from acd.records.model import Record
from tests.api.test_bad_input import assert_error
from tests.records.test_records_day import DAY, day_config

T = 1772442000.0  # 2026-03-02 10:00 in Paris


def record(call_id: str, skill: str, site: str | None) -> Record:
    return Record(call_id, "call", skill, None, site, "a1", 0, "", T, None, None, None, None, 1.0, "answered")


async def call_ids(platform, path: str) -> list[str]:
    status, payload = await platform.request("GET", path)
    assert status == 200, payload
    lines = [payload] if isinstance(payload, dict) else [json.loads(x) for x in payload.splitlines() if x]
    return [r["call_id"] for r in lines]


async def test_records_of_a_removed_skill_or_site_are_still_filtered(make_platform, clock, backend):
    platform = await make_platform(config=day_config(), **backend.settings())
    sink = platform.client.app[SERVICE].records
    await sink.db.write(
        [
            ("record", record("old1", "taxe_fonciere", "bordeaux")),  # neither in config/ now
            ("record", record("new1", "impot_revenu", "lille")),
        ]
    )
    assert await call_ids(platform, f"/v1/records?from={DAY}&to={DAY}&skill=taxe_fonciere") == ["old1"]
    assert await call_ids(platform, f"/v1/records?from={DAY}&to={DAY}&site=bordeaux") == ["old1"]
    query = f"from={DAY}&to={DAY}&by=skill&skill=taxe_fonciere"
    status, body = await platform.get(f"/v1/reports/indicators?{query}")
    assert status == 200 and [row["skill"] for row in body["rows"]] == ["taxe_fonciere"]
    assert body["rows"][0]["answered"] == 1
    # a name no record of those days holds, nor config/: refused, saying what exists
    status, body = await platform.get(f"/v1/records?from={DAY}&to={DAY}&skill=astrologie")
    assert_error(status, body, 422, "unknown_skill")
    assert "impot_revenu" in body["error"]["details"]["valid"]
    status, body = await platform.get("/v1/records?from=2026-03-03&to=2026-03-03&site=bordeaux")
    assert_error(status, body, 422, "unknown_site")
