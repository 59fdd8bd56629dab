"""Schemathesis, the real CLI, against a real `acd serve` and its own `/openapi.json`, with bounded
examples: no server error, every response matches the documented schema, status code and content
type. (Unsigned: ACD_WEBHOOK_SECRET unset, so generated requests reach the handlers.)

The stateful phase follows the document's OpenAPI links (a created callback read and cancelled
through the id the creation returned, an appointment booked in a slot the slots query listed, then
read, moved and cancelled, a roster entry read back), so it reaches the resources random ids never
find."""

from __future__ import annotations

import collections
import json
import re
import subprocess

from tests.ops.conftest import program

CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"


def test_schemathesis_finds_no_server_error_and_no_schema_mismatch(acd_process, artifacts, tmp_path):
    schemathesis = program("schemathesis", "pip install schemathesis")
    acd = acd_process(ACD_LOG_LEVEL="WARNING")
    result = subprocess.run(
        [
            schemathesis,
            "run",
            f"{acd.url}/openapi.json",
            "--checks",
            CHECKS,
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "10",
            "--seed",
            "1",
            "--workers",
            "1",
            "--request-timeout",
            "10",
            # Generating the optional Idempotency-Key header (a pattern of letters and digits)
            # filters out many draws: a health check of the generator's pace, not of acd.
            "--suppress-health-check",
            "filter_too_much",
            "--no-color",
            "--report",
            "junit",
            "--report-junit-path",
            str(artifacts / "schemathesis-junit.xml"),
        ],
        capture_output=True,
        text=True,
        timeout=170,
        cwd=tmp_path,  # schemathesis keeps its cache in the working directory
    )
    (artifacts / "schemathesis.txt").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "FAILURES" not in result.stdout
    assert " passed" in result.stdout
    errors = [
        r for r in acd.log_records() if r.get("level") == "error" and r.get("logger") != "aiohttp.server"
    ]  # aiohttp.server logs the 400 it gives to a NUL byte in a header (a probe): not ours
    assert not errors, errors


def _har_calls(path) -> collections.Counter:
    """(method, path with ids as {id}, status) -> count, from schemathesis's HAR report."""
    [har] = list(path.glob("*.json"))
    counts: collections.Counter = collections.Counter()
    for entry in json.loads(har.read_text())["log"]["entries"]:
        url = re.sub(r"^https?://[^/]+", "", entry["request"]["url"].split("?")[0])
        url = re.sub(r"^/v1/(agents|calls|callbacks|appointments)/(?!slots$)[^/]+$", r"/v1/\1/{id}", url)
        counts[(entry["request"]["method"], url, entry["response"]["status"])] += 1
    return counts


def test_schemathesis_stateful_links_find_no_server_error(acd_process, artifacts, tmp_path):
    schemathesis = program("schemathesis", "pip install schemathesis")
    acd = acd_process(ACD_LOG_LEVEL="WARNING")
    har = tmp_path / "har"
    result = subprocess.run(
        [
            schemathesis,
            "run",
            f"{acd.url}/openapi.json",
            "--checks",
            CHECKS,
            "--phases",
            "stateful",
            "--max-examples",
            "15",
            "--seed",
            "1",
            "--workers",
            "1",
            "--request-timeout",
            "10",
            "--no-color",
            "--report",
            "junit,har",
            "--report-junit-path",
            str(artifacts / "schemathesis-stateful-junit.xml"),
            "--report-dir",
            str(har),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    (artifacts / "schemathesis-stateful.txt").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "FAILURES" not in result.stdout
    covered = re.search(r"API Links:\s+(\d+) covered", result.stdout)
    assert covered is not None and int(covered.group(1)) >= 4, result.stdout[-3000:]
    calls = _har_calls(har)
    assert not [c for c in calls if c[2] >= 500], calls
    # the links chain real resources: created, then found by the id the creation returned
    assert calls[("POST", "/v1/callbacks", 201)] > 0, calls
    assert calls[("GET", "/v1/callbacks/{id}", 200)] > 0, calls
    assert calls[("DELETE", "/v1/callbacks/{id}", 200)] > 0, calls
    assert calls[("GET", "/v1/agents/{id}", 200)] > 0, calls
    errors = [
        r for r in acd.log_records() if r.get("level") == "error" and r.get("logger") != "aiohttp.server"
    ]
    assert not errors, errors
