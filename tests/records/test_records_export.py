"""`acd records export --from --to [--format]`: the archive, from the command line, on both backends."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys

from acd.records.db import open_db
from acd.records.model import Record
from tests.conftest import ROOT

MONDAY_10H = 1772442000.0  # 2026-03-02 10:00 Paris


def write(url: str, records: list[Record]) -> None:
    async def run() -> None:
        db = open_db(url, "unused")
        await db.open()
        try:
            await db.write([("record", r) for r in records])
        finally:
            await db.close()

    asyncio.run(run())


def export(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ACD_RECORDS_URL": url, "ACD_CONFIG_DIR": str(ROOT / "config")}
    return subprocess.run(
        [sys.executable, "-m", "acd", "records", "export", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def records(n: int, day_offset_s: float = 0.0, prefix: str = "e") -> list[Record]:
    return [
        Record(
            f"e{i:03d}",
            "call",
            "impot_revenu",
            "59",
            "lille",
            "a1",
            0,
            "lsf",
            MONDAY_10H + day_offset_s + i,
            None,
            None,
            None,
            None,
            2.0,
            "answered",
        )
        for i in range(n)
    ]


def test_records_export_writes_the_range_oldest_first_as_ndjson(backend):
    write(
        backend.url,
        [*records(5), *[r for r in records(3, 86400.0) if not setattr(r, "call_id", "n" + r.call_id)]],
    )
    done = export(backend.url, "--from", "2026-03-02", "--to", "2026-03-02")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["call_id"] for r in lines] == [f"e{i:03d}" for i in range(5)]
    assert lines[0]["needs"] == ["lsf"] and lines[0]["offered_at"] == "2026-03-02T10:00:00+01:00"
    assert "5 records exported" in done.stderr


def test_records_export_as_csv_to_a_file(backend, tmp_path):
    write(backend.url, records(3))
    out = tmp_path / "march.csv"
    done = export(
        backend.url, "--from", "2026-03-01", "--to", "2026-03-31", "--format", "csv", "-o", str(out)
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["call_id"] for r in rows] == ["e000", "e001", "e002"]
    assert rows[0]["outcome"] == "answered" and rows[0]["survey_score"] == ""


def test_records_export_refuses_a_bad_date(backend):
    done = export(backend.url, "--from", "2026-3-2", "--to", "2026-03-02")
    assert done.returncode != 0 and "YYYY-MM-DD" in done.stderr


def purge(url: str, clock_start: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ACD_RECORDS_URL": url,
        "ACD_CONFIG_DIR": str(ROOT / "config"),
        "ACD_CLOCK_START": clock_start,
    }
    return subprocess.run(
        [sys.executable, "-m", "acd", "records", "purge"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def test_records_purge_counts_the_retention_from_the_service_s_day(backend):
    """`acd records purge` keeps the shipped 400 days back from the service's day (ACD_CLOCK_START
    shifts it, and the records' dates with it, as the service's own purge does), not the wall
    clock's: a record of 5 June 2025 is kept on 2 March 2026 and purged on 15 July 2026."""
    old = records(1, -270 * 86400.0)
    old[0].call_id = "old"
    write(backend.url, [*old, *records(2)])
    done = purge(backend.url, "2026-03-02T10:00:00+01:00")
    assert done.returncode == 0, done.stderr
    assert "0 records offered before 2025-01-26 purged" in done.stderr, done.stderr
    done = purge(backend.url, "2026-07-15T10:00:00+02:00")
    assert done.returncode == 0, done.stderr
    assert "1 records offered before 2025-06-10 purged" in done.stderr, done.stderr
    left = export(backend.url, "--from", "2025-01-01", "--to", "2026-12-31")
    assert [json.loads(line)["call_id"] for line in left.stdout.splitlines()] == ["e000", "e001"]
