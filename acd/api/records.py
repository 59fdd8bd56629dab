"""`GET /v1/records` (NDJSON, or CSV with `Accept: text/csv`, streamed page by page) and
`GET /v1/reports/indicators` (the published indicators), over the records database."""

from __future__ import annotations

import csv
import io
import json
import logging
from datetime import date
from typing import Any

from aiohttp import web

from acd.api.errors import ApiError
from acd.api.handlers import SERVICE
from acd.api.inputs import one_of, read_query
from acd.api.schemas import calendar_date
from acd.records import queries

log = logging.getLogger("acd.records")

#: The years a records query may name (records are kept far less long: any day between is an answer).
FIRST_YEAR, LAST_YEAR = 1970, 9000
#: The widest range one request may ask for (a year and a bit, the retention).
MAX_DAYS = 800


#: The parameters each route takes; any other, or one given twice, is refused (as every GET is).
RECORDS_QUERY = ("from", "to", "skill", "site")
INDICATORS_QUERY = ("from", "to", "by", "skill", "site")


def _day(request: web.Request, name: str) -> date:
    raw = request.query.get(name)
    if not raw:
        raise ApiError(422, "invalid_query", f"{name} is required (YYYY-MM-DD)", {"field": name})
    try:
        day = calendar_date(raw)
    except ValueError:
        raise ApiError(
            422, "invalid_query", f"{name} must be YYYY-MM-DD, not {raw[:32]!r}", {"field": name}
        ) from None
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        message = f"{name} must fall in the years {FIRST_YEAR} to {LAST_YEAR}, not {raw!r}"
        raise ApiError(422, "invalid_query", message, {"field": name})
    return day


async def _range_and_filters(
    request: web.Request, allowed: tuple[str, ...]
) -> tuple[date, date, str | None, str | None]:
    read_query(request, allowed)
    start, end = _day(request, "from"), _day(request, "to")
    if end < start:
        raise ApiError(422, "invalid_query", "to must not be before from", {"field": "to"})
    if (end - start).days > MAX_DAYS:
        raise ApiError(422, "invalid_query", f"at most {MAX_DAYS} days per request", {"field": "to"})
    service = request.app[SERVICE]
    known = service.engine.queries
    skill, site = request.query.get("skill"), request.query.get("site")
    for value, valid, column in ((skill, known.skills, "skill"), (site, known.sites, "site")):
        if value is None or value in valid:
            continue
        # a name with a control character (NUL, which PostgreSQL refuses in text), a lone
        # surrogate or another unprintable one names no skill or site: refused before any query
        if not value.isprintable() or not await _in_records(service, column, value, start, end):
            one_of(value, valid, column, f"unknown_{column}", column)
    return start, end, skill, site


async def _in_records(service: Any, column: str, value: str, start: date, end: date) -> bool:
    """Whether a record of the days asked names that skill or site: one config/ no longer has
    (removed since) still filters the records it left. Within the days asked, as the query
    itself reads them (`local_day` leads an index)."""
    db = service.records.db
    sql = f"SELECT 1 FROM call_records WHERE local_day BETWEEN ? AND ? AND {column} = ? LIMIT 1"
    try:
        rows = await db.fetch(sql, [db.day(start), db.day(end), value])
    except Exception as exc:
        raise _unavailable(exc) from None
    return bool(rows)


def wants_csv(accept: str) -> bool:
    """Whether an `Accept` header asks for CSV rather than NDJSON (the default), by its quality
    values (RFC 9110 12.5.1): each of the two types takes the q of the most specific range that
    matches it (`text/csv` before `text/*` before `*/*`); CSV when its q is above 0 and above
    NDJSON's, or equal to it and matched by a more specific range (`text/csv, */*`). A header
    that accepts neither gets NDJSON: the default, as with no header."""
    best: dict[str, tuple[int, float]] = {}  # type -> (specificity, q) of its most specific range
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        media = media.lower()
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        if q != q:  # NaN
            q = 0.0
        for offered in (_CSV, _NDJSON):
            kind = offered.split("/")[0]
            specificity = 3 if media == offered else 2 if media == f"{kind}/*" else 1 if media == "*/*" else 0
            if specificity and specificity > best.get(offered, (0, 0.0))[0]:
                best[offered] = (specificity, q)
    csv_spec, csv_q = best.get(_CSV, (0, 0.0))
    nd_spec, nd_q = best.get(_NDJSON, (0, 0.0))
    return csv_q > 0 and (csv_q > nd_q or (csv_q == nd_q and csv_spec > nd_spec))


_CSV, _NDJSON = "text/csv", "application/x-ndjson"


async def get_indicators(request: web.Request) -> web.Response:
    start, end, skill, site = await _range_and_filters(request, INDICATORS_QUERY)
    by = request.query.get("by")
    if by is not None and by not in queries.BY:
        raise ApiError(422, "invalid_query", f"by must be one of {', '.join(queries.BY)}", {"field": "by"})
    service = request.app[SERVICE]
    try:
        rows = await queries.indicators(
            service.records.db,
            start,
            end,
            by=by,
            skill=skill,
            site=site,
            service_level_s=service.config.records.service_level_s,
        )
    except Exception as exc:
        raise _unavailable(exc) from None
    return web.json_response({"rows": rows})


async def get_records(request: web.Request) -> web.StreamResponse:
    start, end, skill, site = await _range_and_filters(request, RECORDS_QUERY)
    as_csv = wants_csv(request.headers.get("Accept", ""))
    db = request.app[SERVICE].records.db
    pages = queries.records(db, start, end, skill=skill, site=site)
    try:  # a database error becomes a clean 503 before anything is sent
        first = await anext(pages, None)
    except Exception as exc:
        raise _unavailable(exc) from None
    response = web.StreamResponse(
        headers={"Content-Type": "text/csv; charset=utf-8" if as_csv else "application/x-ndjson"}
    )
    await response.prepare(request)
    if request.method == "HEAD":  # headers only: rows would be read as the next answer
        await pages.aclose()
        return response
    if as_csv:
        await response.write(_csv_line(queries.FIELDS))
    page = first
    while page is not None:
        if as_csv:
            chunk = b"".join(_csv_line(queries.csv_row(r)) for r in page)
        else:
            chunk = b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in page)
        await response.write(chunk)
        page = await anext(pages, None)
    await response.write_eof()
    return response


def _unavailable(exc: Exception) -> ApiError:
    log.warning("records: query failed (%s)", exc)
    return ApiError(503, "records_unavailable", "the records database does not answer; retry later", None)


def _csv_line(values: Any) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue().encode()


def add_records_routes(app: web.Application) -> None:
    app.router.add_get("/v1/records", get_records)
    app.router.add_get("/v1/reports/indicators", get_indicators)
