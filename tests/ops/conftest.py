"""Fixtures for the operations tests: a real `python -m acd serve` on a loopback port, and the real
programs (promtool, prometheus, chromium, schemathesis, hadolint) found or skipped with the reason."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tools.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
ARTIFACTS = ROOT / "test-artifacts"
#: A Monday morning in opening hours: the service clock starts there (ACD_CLOCK_START).
OPEN_HOURS = "2026-03-02T10:00:00+01:00"
BIN = Path(sys.executable).parent


def program(name: str, hint: str) -> str:
    """The path of a program this test runs, or a skip saying how to install it."""
    path = shutil.which(name) or (str(BIN / name) if (BIN / name).exists() else None)
    if path is None:
        pytest.skip(f"{name} is not installed ({hint}); .ci/run installs it")
    return path


def http(
    method: str, url: str, body: Any = None, *, timeout: float = 10.0, headers: dict | None = None
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            status = resp.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


class AcdProcess:
    """`python -m acd serve` in a subprocess, its stderr (JSON logs) kept in a file."""

    def __init__(self, tmp: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / f"acd-{self.port}.log"
        full_env = {
            **os.environ,
            "ACD_HOST": "127.0.0.1",
            "ACD_PORT": str(self.port),
            "ACD_CONFIG_DIR": str(ROOT / "config"),
            "ACD_ROUTER": "reference",
            "ACD_CLOCK_START": OPEN_HOURS,
            "ACD_LOG_LEVEL": "INFO",
            **env,
        }
        for name in ("ACD_WEBHOOK_SECRET", "ACD_REDIS_URL", "ACD_COMMAND_URL"):
            if name not in env:
                full_env.pop(name, None)
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "acd", "serve"], cwd=ROOT, env=full_env, stdout=self._log, stderr=self._log
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"acd exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                if http("GET", self.url + "/healthz", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"acd did not start within {timeout}s:\n{self.logs()}")

    def logs(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        out = []
        for line in self.logs().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def events(self, *events: dict[str, Any]) -> dict[str, Any]:
        body: Any = events[0] if len(events) == 1 else list(events)
        status, payload = http("POST", self.url + "/v1/events", body)
        assert status == 200, payload
        return payload

    def stop(self, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode


@pytest.fixture
def acd_process(tmp_path: Path) -> Iterator[Any]:
    started: list[AcdProcess] = []

    def start(**env: str) -> AcdProcess:
        p = AcdProcess(tmp_path, **env)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
