"""The published indicators and the records' export: the same SQL on SQLite and PostgreSQL, over the
views of `migrations/*/0002_views.sql` (docs/records.md gives the definitions)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from typing import Any

from acd.records.db import RecordsDB, as_date
from acd.records.model import COLUMNS, LINE_TZ, WAIT_ROUNDING_S, wire_time

BY = ("day", "hour", "skill", "site")
#: The fields of a record in `GET /v1/records` and the export, in order.
FIELDS = tuple(c for c in COLUMNS if c not in ("offered_ts", "local_day", "local_hour"))
_KEYS = {"day": ("day",), "hour": ("day", "hour", "fold"), "skill": ("skill",), "site": ("site",)}


def repeated_hours(start: date, end: date) -> list[tuple[float, float]]:
    """The hours the line's clock goes through twice in the range (local dates), as the instants
    `[from, to)` of their second time: on the autumn night, 02:00-03:00 winter time (+01:00) after
    02:00-03:00 summer time (+02:00). The spring night skips an hour, which no record can have."""
    out = []
    day = start
    while day <= end:
        midnight = datetime.combine(day, time.min, LINE_TZ)
        if midnight.utcoffset() != datetime.combine(day + timedelta(days=1), time.min, LINE_TZ).utcoffset():
            for hour in range(24):
                first = datetime.combine(day, time(hour), LINE_TZ)
                second = first.replace(fold=1)
                if first.utcoffset() != second.utcoffset():  # a local hour that happens twice
                    out.append((second.timestamp(), second.timestamp() + 3600.0))
        day += timedelta(days=1)
    return out


def _fold(start: date, end: date) -> tuple[str, list[Any]]:
    """The column that tells the second time of a repeated hour (1) from the first (0), and its
    parameters (`repeated_hours`), compared on the offer's instant (`offered_ts`)."""
    windows = repeated_hours(start, end)
    if not windows:
        return "0", []
    cond = " OR ".join("(offered_ts >= ? AND offered_ts < ?)" for _ in windows)
    return f"CASE WHEN {cond} THEN 1 ELSE 0 END", [t for window in windows for t in window]


def hour_start(day: date, hour: int, fold: int) -> str:
    """The first instant of a local hour, RFC 3339 with its offset (the key of a row by hour)."""
    return datetime.combine(day, time(hour), LINE_TZ).replace(fold=fold).isoformat()


def _filters(
    db: RecordsDB, start: date, end: date, skill: str | None, site: str | None, prefix: str = ""
) -> tuple[str, list[Any]]:
    where = [f"{prefix}day BETWEEN ? AND ?"]
    params: list[Any] = [db.day(start), db.day(end)]
    if skill is not None:
        where.append(f"{prefix}skill = ?")
        params.append(skill)
    if site is not None:
        where.append(f"{prefix}site = ?")
        params.append(site)
    return " AND ".join(where), params


async def indicators(
    db: RecordsDB,
    start: date,
    end: date,
    *,
    by: str | None,
    service_level_s: float,
    skill: str | None = None,
    site: str | None = None,
) -> list[dict[str, Any]]:
    keys = _KEYS[by] if by else ()
    fold, fold_params = _fold(start, end) if "fold" in keys else ("0", [])
    select_keys = "".join(f"{fold if k == 'fold' else k}, " for k in keys)
    # by position: the fold's column is an expression with parameters
    group = f" GROUP BY {', '.join(str(i + 1) for i in range(len(keys)))}" if keys else ""
    where, params = _filters(db, start, end, skill, site)
    calls = await db.fetch(
        f"SELECT {select_keys}"
        "COALESCE(SUM(offered), 0), COALESCE(SUM(answered), 0), COALESCE(SUM(abandoned), 0), "
        "COALESCE(SUM(short_abandoned), 0), COALESCE(SUM(overflowed), 0), "
        "COALESCE(SUM(answered_by_callback), 0), "
        "COALESCE(SUM(CASE WHEN answered_live = 1 AND wait_s < ? THEN 1 ELSE 0 END), 0), "
        "SUM(CASE WHEN answered_live = 1 THEN wait_s END), COALESCE(SUM(answered_live), 0), COUNT(*) "
        f"FROM call_outcomes WHERE {where}{group}",
        # within the threshold as the records publish it
        [*fold_params, service_level_s + WAIT_ROUNDING_S, *params],
    )
    surveys = await db.fetch(
        f"SELECT {select_keys}COUNT(*), SUM(survey_score), "
        "SUM(CASE WHEN survey_score >= 4 THEN 1 ELSE 0 END) "
        f"FROM survey_scores WHERE {where}{group}",
        [*fold_params, *params],
    )
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}

    def key_of(values: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(
            as_date(v) if k == "day" else (int(v) if k in ("hour", "fold") else v)
            for k, v in zip(keys, values, strict=True)
        )

    def key_fields(key: tuple[Any, ...]) -> dict[str, Any]:
        fields = dict(zip(keys, key, strict=True))
        if "fold" in fields:  # by hour: the hour's first instant tells the autumn night's two 02:xx apart
            fold = fields.pop("fold")
            fields["hour_start"] = hour_start(date.fromisoformat(fields["day"]), fields["hour"], fold)
        return fields

    def row(key: tuple[Any, ...]) -> dict[str, Any]:
        if key not in rows:
            rows[key] = {
                **key_fields(key),
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
        return rows[key]

    for values in calls:
        n = len(keys)
        offered, answered, abandoned, short, overflowed, by_cb, within, wait_sum, live, count = values[n:]
        if not count:
            continue  # the total over a range without calls
        r = row(key_of(values[:n]))
        offered = int(offered)
        r.update(
            offered=offered,
            answered=int(answered),
            abandoned=int(abandoned),
            short_abandoned=int(short),
            overflowed=int(overflowed),
            callbacks_answered=int(by_cb),
            answer_rate=round(int(answered) / offered, 4) if offered else None,
            service_level=round(int(within) / offered, 4) if offered else None,
            asa_s=round(float(wait_sum) / int(live), 1) if int(live) and wait_sum is not None else None,
        )
    for values in surveys:
        n = len(keys)
        count, total, satisfied = values[n:]
        if not count:
            continue
        r = row(key_of(values[:n]))
        r["satisfaction"] = {
            "n": int(count),
            "mean": round(float(total) / int(count), 2),
            "satisfied_share": round(int(satisfied) / int(count), 4),
        }
    if not keys:
        row(())  # without `by`, one total row, over a range without calls too (zeros, rates null)
    return [rows[k] for k in sorted(rows, key=lambda k: tuple((v is None, v) for v in k))]


async def records(
    db: RecordsDB,
    start: date,
    end: date,
    *,
    skill: str | None = None,
    site: str | None = None,
    page: int = 1000,
) -> AsyncIterator[list[dict[str, Any]]]:
    """The records offered in the range (local dates), oldest first, a page at a time (keyset
    pagination on the ordering index: a year never sits in memory)."""
    # The range as instants (local midnights), so each page is a seek on the ordering index.
    first = datetime.combine(start, time.min, LINE_TZ).timestamp()
    after_last = datetime.combine(end + timedelta(days=1), time.min, LINE_TZ).timestamp()
    where = ["offered_ts < ?"]
    params: list[Any] = [after_last]
    if skill is not None:
        where.append("skill = ?")
        params.append(skill)
    if site is not None:
        where.append("site = ?")
        params.append(site)
    cols = ", ".join((*FIELDS, "offered_ts"))
    after: tuple[Any, ...] | None = None
    while True:
        cond = " AND ".join(where)
        args = list(params)
        if after is None:
            cond += " AND offered_ts >= ?"
            args.append(first)
        else:
            cond += (
                " AND offered_ts >= ?"
                " AND (offered_ts > ? OR (offered_ts = ? AND (call_id > ? OR (call_id = ? AND kind > ?))))"
            )
            args += [after[0], after[0], after[0], after[1], after[1], after[2]]
        order = f"ORDER BY offered_ts, call_id, kind LIMIT {int(page)}"
        rows = await db.fetch(f"SELECT {cols} FROM call_records WHERE {cond} {order}", args)
        if not rows:
            return
        out = []
        for values in rows:
            record = dict(zip(FIELDS, values[:-1], strict=True))
            for name in ("offered_at", "queued_at", "connected_at", "answered_at", "ended_at"):
                record[name] = wire_time(record[name])
            record["needs"] = [n for n in (record["needs"] or "").split(",") if n]
            if record["wait_s"] is not None:
                record["wait_s"] = round(float(record["wait_s"]), 3)
            out.append(record)
        yield out
        last = rows[-1]
        after = (last[-1], last[0], last[1])
        if len(rows) < page:
            return


#: What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection").
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def csv_row(record: dict[str, Any]) -> list[Any]:
    """A record's CSV cells in `FIELDS` order: lists comma-joined, None empty, and a text that a
    spreadsheet would take for a formula (a caller-chosen id starting with `+`, `-` or `@`) behind a
    `'`, which it shows as text. Numbers stay numbers."""
    out: list[Any] = []
    for name in FIELDS:
        value = record[name]
        if isinstance(value, list):
            value = ",".join(value)
        if value is None:
            value = ""
        elif isinstance(value, str) and value.startswith(_FORMULA):
            value = "'" + value
        out.append(value)
    return out


async def purge(db: RecordsDB, before: date) -> int:
    """Delete the records offered before `before` (local date); returns how many."""
    return await db.execute("DELETE FROM call_records WHERE local_day < ?", [db.day(before)])
