"""`acd records export --from --to [--format ndjson|csv] [--skill] [--site] [--output FILE]` and
`acd records purge`: the records database, from the command line (archives, retention)."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import sys
from datetime import date, timedelta
from typing import Any, TextIO


def _day(text: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD, not {text!r}") from None


def register(sub: Any) -> None:
    p = sub.add_parser("records", help="the call records database: export, purge (docs/records.md)")
    commands = p.add_subparsers(dest="records_command", required=True)
    e = commands.add_parser(
        "export",
        help="write the records offered between two local dates (inclusive), oldest first",
        description="Stream the call records (ACD_RECORDS_URL, or the SQLite file in ACD_DATA_DIR) "
        "as NDJSON or CSV, page by page: a year of records never sits in memory.",
    )
    e.add_argument("--from", dest="start", type=_day, required=True, help="first local date, YYYY-MM-DD")
    e.add_argument("--to", dest="end", type=_day, required=True, help="last local date, YYYY-MM-DD")
    e.add_argument("--format", choices=("ndjson", "csv"), default="ndjson")
    e.add_argument("--skill")
    e.add_argument("--site")
    e.add_argument("--output", "-o", help="write to this file (default: standard output)")
    e.set_defaults(func=export_command)
    g = commands.add_parser("purge", help="delete the records older than config/records.yaml's retention")
    g.set_defaults(func=purge_command)


def _db():
    from acd.cli import _settings
    from acd.records.db import open_db

    settings = _settings()
    return settings, open_db(settings.records_url, settings.data_dir)


async def export(db: Any, start: date, end: date, out: TextIO, fmt: str, **filters: Any) -> int:
    from acd.records import queries

    await db.open()
    n = 0
    try:
        writer = csv.writer(out, lineterminator="\n") if fmt == "csv" else None
        if writer is not None:
            writer.writerow(queries.FIELDS)
        async for page in queries.records(db, start, end, **filters):
            for record in page:
                if writer is not None:
                    writer.writerow(queries.csv_row(record))
                else:
                    out.write(json.dumps(record, separators=(",", ":")) + "\n")
            n += len(page)
    finally:
        await db.close()
    return n


def export_command(args: argparse.Namespace) -> None:
    if args.end < args.start:
        sys.exit("acd: --to must not be before --from")
    _, db = _db()
    out = open(args.output, "w", encoding="utf-8", newline="") if args.output else sys.stdout  # noqa: SIM115
    try:
        n = asyncio.run(export(db, args.start, args.end, out, args.format, skill=args.skill, site=args.site))
    except Exception as exc:
        sys.exit(f"acd: records export failed: {exc}")
    finally:
        if args.output:
            out.close()
    print(f"acd: {n} records exported", file=sys.stderr)


def purge_command(args: argparse.Namespace) -> None:
    from acd.cli import _config
    from acd.clock import Clock
    from acd.records import queries
    from acd.records.model import line_date

    settings, db = _db()
    config = _config(settings)
    # the service's day (ACD_CLOCK_START shifts it, and the records' dates with it), as its own purge
    today = line_date(Clock(settings.clock_start).now())
    cutoff = today - timedelta(days=config.records.retention_days)

    async def run() -> int:
        await db.open()
        try:
            return await queries.purge(db, cutoff)
        finally:
            await db.close()

    print(f"acd: {asyncio.run(run())} records offered before {cutoff.isoformat()} purged", file=sys.stderr)
