""".ci/run fails when any step fails: run with stubbed tools, each made to fail in turn.

The script is copied into a scratch checkout with `tools/ci_expect.py`; every program it calls
(apt-get, dpkg-query, redis-cli, pg_isready, python3 and the tools of the venv it makes: pip,
pytest, ruff, python for the benchmarks) is a stub on PATH whose behaviour `STUB_FAIL` sets. The
stub pytest writes a JUnit report like the real suite's (the modules CI requires passing) so that
the script's last check reads a real report.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: The commands .ci/run looks for (command -v); all present, unless a case removes one.
PROGRAMS = ["redis-server", "redis-cli", "pg_isready", "psql", "promtool", "prometheus", "chromium"]
PROGRAMS += ["kamailio", "sipp", "pg_ctlcluster", "pg_lsclusters"]

JUNIT_PASSING = [
    ("tests.store.test_crash", "test_kill_9"),
    ("tests.ops.test_prometheus", "test_promtool"),
    ("tests.ops.test_wallboard_browser", "test_the_wallboard_goes_live"),
    ("tests.ops.test_schemathesis", "test_schemathesis"),
    ("tests.e2e.test_kamailio_sipp", "test_kamailio_routes_calls_through_acd"),
    ("tests.adapters.test_kamailio_adapter", "test_behind_two_instances_either_one_finds_the_call"),
    ("tests.fault.test_one_instance", "test_an_untidy_platform_never_rings_an_agent_twice"),
    ("tests.records.test_records_day", "test_a_scripted_day_gives_exactly_the_expected_records"),
    ("tests.ops.test_records_dashboard", "test_every_panel_query_runs"),
    ("tests.test_config", "test_shipped_config_loads"),
]


def _script(path: Path, body: str) -> None:
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


STUB_PYTEST = r"""
report=
for arg in "$@"; do case $arg in --junitxml=*) report=${arg#--junitxml=};; esac; done
if [[ -z $report ]]; then  # the run on the compiled modules
  [[ ${ACD_COMPILED:-} == require ]] || exit 4
  [[ ${STUB_FAIL:-} == compiled ]] && exit 1
  echo "3 passed"
  exit 0
fi
case ${STUB_FAIL:-} in
  pytest) exit 1;;
  pytest5) exit 5;;
esac
{
  echo '<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">'
  if [[ ${STUB_FAIL:-} != empty ]]; then
    echo "$STUB_JUNIT_PASSING"
    echo "<testcase classname=\"tests.ops.test_deploy\" name=\"$DOCKER_TEST\">"
    echo '<skipped message="no Docker engine"/></testcase>'
  fi
  if [[ ${STUB_FAIL:-} == skip ]]; then
    echo '<testcase classname="tests.store.test_crash" name="test_replay">'
    echo '<skipped message="no Redis"/></testcase>'
  fi
  echo '</testsuite></testsuites>'
} >"$report"
echo "6 passed, 1 skipped"
"""

STUB_VENV_PYTHON = r"""
if [[ ${1:-} == -m && ${2:-} == benchmarks.* ]]; then
  [[ ${STUB_FAIL:-} == bench && $2 == benchmarks.http ]] && exit 1
  exit 0
fi
exec "$REAL_PYTHON" "$@"
"""

STUB_PYTHON3 = r"""
# python3 -m venv .venv: a venv of stubs
[[ ${STUB_FAIL:-} == venv ]] && exit 1
[[ $1 == -m && $2 == venv ]] || exit 3
mkdir -p "$3/bin"
cp "$STUBS/pip" "$STUBS/pytest" "$STUBS/ruff" "$3/bin/"
cp "$STUBS/venv-python" "$3/bin/python"
cp "$STUBS/acd" "$3/bin/acd"
"""


@pytest.fixture
def checkout(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    repo, stubs = tmp_path / "repo", tmp_path / "stubs"
    (repo / ".ci").mkdir(parents=True)
    (repo / "tools").mkdir()
    shutil.copy(ROOT / ".ci" / "run", repo / ".ci" / "run")
    shutil.copy(ROOT / "tools" / "ci_expect.py", repo / "tools" / "ci_expect.py")
    stubs.mkdir()
    for name in PROGRAMS:
        _script(stubs / name, "exit 0\n")
    _script(stubs / "redis-cli", "[[ ${STUB_FAIL:-} == redis ]] && exit 1\necho PONG\n")
    _script(stubs / "redis-server", "exit 0\n")
    _script(stubs / "pg_isready", "[[ ${STUB_FAIL:-} == postgres ]] && exit 2\nexit 0\n")
    _script(stubs / "pg_lsclusters", "echo '15 main 5432 down postgres /x /y'\n")
    _script(stubs / "dpkg-query", 'echo -n "install ok installed"\n')
    _script(
        stubs / "apt-get",
        "[[ ${STUB_FAIL:-} == apt && $1 == install ]] && exit 100\n"
        'echo "apt-get $*" >>"$STUBS/apt.log"\nexit 0\n',
    )
    _script(stubs / "python3", STUB_PYTHON3)
    _script(stubs / "pip", "[[ ${STUB_FAIL:-} == pip ]] && exit 1\nexit 0\n")
    _script(stubs / "pytest", STUB_PYTEST)
    _script(stubs / "ruff", "[[ ${STUB_FAIL:-} == ruff && $1 == check ]] && exit 1\nexit 0\n")
    _script(stubs / "venv-python", STUB_VENV_PYTHON)
    _script(stubs / "acd", "[[ $1 == compile && ${STUB_FAIL:-} != compile ]] || exit 1\necho ok\n")
    _script(stubs / "sleep", "exit 0\n")
    real = tmp_path / "real"  # the few real programs the script and the stubs use, and no others
    real.mkdir()
    for name in ("bash", "awk", "seq", "sort", "mkdir", "rm", "cat", "dirname", "cp"):
        os.symlink(shutil.which(name), real / name)
    passing = "".join(f'<testcase classname="{c}" name="{n}"/>' for c, n in JUNIT_PASSING)
    env = {
        "PATH": f"{stubs}:{real}",
        "STUBS": str(stubs),
        "REAL_PYTHON": sys.executable,
        "STUB_JUNIT_PASSING": passing,
        "HOME": str(tmp_path),
        "DOCKER_TEST": "test_the_image_builds_where_a_docker_engine_runs",
    }
    return repo, env


def run_ci(
    checkout: tuple[Path, dict[str, str]], fail: str = "", **extra: str
) -> subprocess.CompletedProcess:
    repo, env = checkout
    return subprocess.run(
        ["bash", str(repo / ".ci" / "run")],
        cwd=repo,
        env={**env, "STUB_FAIL": fail},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_ci_run_passes_when_every_step_passes(checkout) -> None:
    done = run_ci(checkout)
    assert done.returncode == 0, done.stderr
    assert "ci: all steps passed" in done.stdout
    assert "allowed skips: tests/ops/test_deploy.py::test_the_image_builds" in done.stdout


@pytest.mark.parametrize(
    "fail",
    [
        "venv",  # python3 -m venv
        "pip",  # the install
        "pytest",  # a failing test
        "pytest5",  # pytest collected nothing
        "empty",  # pytest exited 0 but the report holds no test
        "skip",  # a required test skipped
        "ruff",
        "bench",
        "compile",  # acd compile (Cython, a C compiler)
        "compiled",  # a test failing on the compiled modules
        "redis",  # Redis does not answer and does not start
        "postgres",  # PostgreSQL does not answer and does not start
        "apt",  # a system package fails to install
    ],
)
def test_ci_run_fails_when_a_step_fails(checkout, fail: str) -> None:
    if fail == "apt":
        os.remove(Path(checkout[1]["STUBS"]) / "sipp")  # so a package must be installed
    done = run_ci(checkout, fail)
    assert done.returncode != 0, f"{fail}: exit 0\n{done.stdout}\n{done.stderr}"
    assert done.returncode != 5
    assert "ci: all steps passed" not in done.stdout


def test_ci_run_fails_with_a_venv_left_from_an_earlier_run_when_the_install_fails(checkout) -> None:
    repo, _ = checkout
    assert run_ci(checkout).returncode == 0  # leaves .venv behind
    assert (repo / ".venv" / "bin" / "pytest").exists()
    done = run_ci(checkout, "pip")
    assert done.returncode != 0


def test_ci_run_installs_a_missing_program_then_checks_it_is_there(checkout) -> None:
    stubs = Path(checkout[1]["STUBS"])
    os.remove(stubs / "sipp")
    done = run_ci(checkout)
    assert "apt-get install -y -qq sip-tester" in (stubs / "apt.log").read_text()
    # the stub apt-get installs nothing: the script says what is missing and fails
    assert done.returncode != 0
    assert "sipp is missing (Debian package sip-tester)" in done.stderr
