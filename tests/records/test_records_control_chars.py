"""A `skill` or `site` filter with a NUL byte or another control character names nothing that can
exist (skill and site names are printable): 422, on both backends, and the value never reaches the
database (PostgreSQL refuses NUL in text, which answered 503 "records_unavailable")."""

from __future__ import annotations

import pytest

from acd.api.handlers import SERVICE
from tests.records.test_records_day import DAY, day_config

VALUES = ["%00", "impot_revenu%00", "lille%00", "%00x", "a%01b", "%7F", "%C2%85", "%ED%A0%80"]


@pytest.mark.parametrize("path", ["/v1/records", "/v1/reports/indicators"])
@pytest.mark.parametrize("field", ["skill", "site"])
async def test_a_control_character_in_a_filter_is_a_422(make_platform, backend, path, field):
    platform = await make_platform(config=day_config(), **backend.settings())
    db = platform.client.app[SERVICE].records.db
    fetch, sent = db.fetch, []

    async def spied(sql, params=()):
        sent.append(list(params))
        return await fetch(sql, params)

    db.fetch = spied
    for raw in VALUES:
        status, body = await platform.get(f"{path}?from={DAY}&to={DAY}&{field}={raw}")
        assert status == 422, (raw, body)
        assert body["error"]["code"] == f"unknown_{field}", (raw, body)
        assert body["error"]["details"]["field"] == field
    assert not [p for p in sent if not all(str(v).isprintable() for v in p)]  # no query took one
