"""Schemathesis, the real CLI, against a real `acd serve` and its own `/openapi.json`, with bounded
examples: no server error, every response matches the documented schema, status code and content
type. (Unsigned: ACD_WEBHOOK_SECRET unset, so generated requests reach the handlers.)"""

from __future__ import annotations

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
