"""CI's last word on a test run: did the tests that must run in CI run?

    python tools/ci_expect.py test-artifacts/junit.xml

Reads pytest's JUnit report and exits 1, saying why, when:

- no test passed at all (pytest's "no tests ran", or a report of skips only);
- a test failed or errored (pytest's own exit status says so too; this is a second look);
- a test was skipped, except the ones in `ALLOWED_SKIPS` (each with its reason): a test that
  skips in CI because a program or a service is missing checks nothing, however green the run;
- a module in `REQUIRED` (the tests of a real program or service) has no passing test.

A test is named as pytest names it: `tests/ops/test_deploy.py::test_name` (parameters dropped).
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

#: Skips CI accepts, with why: nothing else may skip.
ALLOWED_SKIPS = {
    "tests/ops/test_deploy.py::test_the_image_builds_where_a_docker_engine_runs": (
        "CI machines have the docker client but no Docker daemon (none can be started in their "
        "sandbox); the Dockerfile is still linted by hadolint and checked by the other deploy tests"
    ),
}

#: Modules (or folders) that drive a real program or service, with what: each must pass a test.
REQUIRED = {
    "tests/store/": "a real Redis (127.0.0.1:6379 and redis-servers the tests start)",
    "tests/ops/test_prometheus.py": "promtool and Prometheus",
    "tests/ops/test_wallboard_browser.py": "Chromium through playwright",
    "tests/ops/test_schemathesis.py": "schemathesis against a running service",
    "tests/e2e/test_kamailio_sipp.py": "Kamailio and sipp",
    "tests/adapters/": "the Kamailio adapter behind two instances sharing Redis",
    "tests/fault/": "acd serve processes driven by an untidy platform, three of them sharing Redis",
    "tests/records/": "SQLite and a real PostgreSQL (127.0.0.1:5432), and Redis for the replay",
    "tests/ops/test_records_dashboard.py": "grafana-foundation-sdk and a real PostgreSQL",
}


def test_id(case: ET.Element) -> str:
    """`tests/x/test_y.py::test_name` from a testcase's classname (`tests.x.test_y` or
    `tests.x.test_y.TestClass`) and name (`test_name[param]`)."""
    parts = case.get("classname", "").split(".")
    while parts and not parts[-1].startswith("test_"):
        parts.pop()  # a class name
    path = "/".join(parts) + ".py"
    name = case.get("name", "").split("[", 1)[0]
    return f"{path}::{name}"


def outcome(case: ET.Element) -> str:
    for tag in ("failure", "error", "skipped"):
        if case.find(tag) is not None:
            return tag
    return "passed"


def check(report: Path) -> list[str]:
    """The reasons the run does not count (empty: it does)."""
    if not report.is_file():
        return [f"no test report at {report}: pytest did not run"]
    cases = list(ET.parse(report).getroot().iter("testcase"))
    problems: list[str] = []
    counts = Counter(outcome(c) for c in cases)
    if counts["passed"] == 0:
        problems.append(f"no test passed ({len(cases)} in the report)")
    for case in cases:
        kind, name = outcome(case), test_id(case)
        if kind in ("failure", "error"):
            problems.append(f"{name}: {kind}")
        elif kind == "skipped" and name not in ALLOWED_SKIPS:
            why = (case.find("skipped").get("message") or "").strip()  # type: ignore[union-attr]
            problems.append(f"{name}: skipped in CI ({why})")
    passed = [test_id(c) for c in cases if outcome(c) == "passed"]
    for prefix, what in REQUIRED.items():
        if not any(name.startswith(prefix) for name in passed):
            problems.append(f"{prefix}: no test passed (these tests drive {what})")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    report = Path(argv[0])
    problems = check(report)
    if problems:
        print(f"ci: the test run does not count ({report}):", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    cases = list(ET.parse(report).getroot().iter("testcase"))
    counts = Counter(outcome(c) for c in cases)
    allowed = [test_id(c) for c in cases if outcome(c) == "skipped"]
    print(f"ci: {counts['passed']} tests passed; allowed skips: {', '.join(allowed) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
