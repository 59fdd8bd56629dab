"""The records as CSV (`GET /v1/records` with `Accept: text/csv`, `acd records export --format
csv`) open safely in a spreadsheet: a cell the caller's platform chose (a call's, an agent's id)
that starts with `+`, `-` or `@` (ids may: acd.events.IDENT_PATTERN) would be read as a formula
(CSV injection); it gets a leading `'`, as OWASP advises. Separators inside a cell (the `needs`
list's commas) are quoted. NDJSON gives every value as it is."""

from __future__ import annotations

import csv
import io
import json

from acd.api.handlers import SERVICE
from acd.records import cli
from acd.records.db import open_db
from tests.records.test_records_day import DAY, day_config

ODD = ("-1+2", "+33612345678", "@A1")


async def _odd_calls(platform, clock) -> None:
    p = platform
    skills = {"impot_revenu": 3, "lsf": 2, "paiement": 1}
    agent = {"site": "lille", "skills": skills, "target": "sip:a9@x"}
    status, body = await p.request("PUT", "/v1/agents/-a9", agent)
    assert status in (200, 201), body
    for call_id in ODD:
        await p.agent("-a9", "available")
        assert (await p.offer(call_id, needs=["lsf", "paiement"]))["action"] == "connect"
        clock.advance(5)
        await p.send("call.answered", call_id=call_id, agent_id="-a9")
        clock.advance(30)
        await p.send("call.ended", call_id=call_id, reason="completed")
    await p.client.app[SERVICE].records.flush()


async def test_csv_cells_that_a_spreadsheet_would_read_as_formulas_are_neutralised(
    make_platform, clock, backend, tmp_path
):
    platform = await make_platform(config=day_config(), **backend.settings())
    await _odd_calls(platform, clock)
    status, text = await platform.request(
        "GET", f"/v1/records?from={DAY}&to={DAY}", headers={"Accept": "text/csv"}
    )
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(r["call_id"], r["agent_id"], r["needs"]) for r in rows] == [
        (f"'{c}", "'-a9", "lsf,paiement") for c in ODD
    ]
    assert all(not r["wait_s"].startswith("'") for r in rows)  # numbers stay numbers: 5.0
    # the command line's export writes the same CSV
    out = io.StringIO()
    await cli.export(open_db(backend.url, tmp_path), *(2 * [_day()]), out, "csv")
    assert out.getvalue() == text
    # NDJSON: the values as they are
    status, text = await platform.request("GET", f"/v1/records?from={DAY}&to={DAY}")
    assert [json.loads(line)["call_id"] for line in text.splitlines()] == list(ODD)


def _day():
    from datetime import date

    return date.fromisoformat(DAY)
