"""Helpers shared by the benchmarks: servers in subprocesses, the shipped roster, signed requests,
event bodies, percentiles and the results files.

Nothing here asserts a figure: the benchmarks report, the reader judges.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import platform
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from acd import compiled
from tools.ports import free_port  # below the ephemeral range: a readiness poll cannot meet itself

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "benchmarks" / "results"
CONFIG_DIR = ROOT / "config"

#: The service's clock during the benchmarks: a Tuesday morning in November, inside opening hours and
#: outside any holiday, so every call is routed (never `closed`) whatever day the benchmark runs.
CLOCK_START = "2026-11-17T10:00:00+01:00"
SECRET = "benchmark-secret"

#: Share of calls per skill (the rest of the mix: `needs: ["lsf"]` on some calls, see `EventFactory`).
SKILL_MIX = (
    ("impot_revenu", 0.40),
    ("prelevement_source", 0.31),
    ("paiement", 0.15),
    ("espace_particulier", 0.14),
)
LSF_SHARE = 0.01  # calls that also need a French Sign Language interpreter
DEPARTMENT_SHARE = 0.6  # calls whose department the platform knows (from the caller's number)


def log(message: str) -> None:
    """Progress, on stderr (stdout is kept for --json)."""
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# The roster


@dataclass(frozen=True, slots=True)
class RosterAgent:
    id: str
    site: str
    skills: frozenset[str]


def load_roster(config_dir: Path = CONFIG_DIR) -> tuple[list[RosterAgent], list[str]]:
    """The shipped agents and the departments of the sites (the codes calls carry)."""
    from acd.config import load_config

    config = load_config(config_dir)
    agents = [RosterAgent(a.id, a.site, frozenset(a.skills)) for a in config.agents]
    departments = sorted({s.department for s in config.sites})
    return agents, departments


# --------------------------------------------------------------------------------------------------
# Event bodies


def dumps(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


class EventFactory:
    """Builds contract-valid events with ids unique to this factory (a random tag per run, so two
    runs against the same service never collide)."""

    def __init__(self, departments: list[str], seed: int | None = None, tag: str | None = None) -> None:
        self.rng = random.Random(seed)
        self.tag = tag or secrets.token_hex(4)
        self.departments = departments
        self._event_ids = itertools.count(1)
        self._call_ids = itertools.count(1)
        self._skills = [s for s, _ in SKILL_MIX]
        self._weights = list(itertools.accumulate(w for _, w in SKILL_MIX))

    def event_id(self) -> str:
        return f"{self.tag}-e{next(self._event_ids)}"

    def call_id(self) -> str:
        return f"{self.tag}-c{next(self._call_ids)}"

    def caller(self) -> str:
        return f"+336{self.rng.randrange(10**8):08d}"

    def offered(self, call_id: str | None = None) -> dict[str, Any]:
        rng = self.rng
        event: dict[str, Any] = {
            "id": self.event_id(),
            "type": "call.offered",
            "call_id": call_id or self.call_id(),
            "caller": self.caller(),
            "skill": rng.choices(self._skills, cum_weights=self._weights)[0],
        }
        if rng.random() < 0.08:
            event["priority"] = rng.choice((3, 5, 9))
        if rng.random() < DEPARTMENT_SHARE:
            event["department"] = rng.choice(self.departments)
        if rng.random() < LSF_SHARE:
            event["needs"] = ["lsf"]
        return event

    def answered(self, call_id: str, agent_id: str) -> dict[str, Any]:
        return {"id": self.event_id(), "type": "call.answered", "call_id": call_id, "agent_id": agent_id}

    def ended(self, call_id: str, reason: str = "completed") -> dict[str, Any]:
        return {"id": self.event_id(), "type": "call.ended", "call_id": call_id, "reason": reason}

    def agent_state(self, agent_id: str, state: str, reason: str | None = None) -> dict[str, Any]:
        event = {"id": self.event_id(), "type": "agent.state", "agent_id": agent_id, "state": state}
        if reason is not None:
            event["reason"] = reason
        return event


def signed(secret: bytes, body: bytes) -> dict[str, str]:
    from acd.signing import signed_headers

    return {"Content-Type": "application/json", **signed_headers(secret, body)}


# --------------------------------------------------------------------------------------------------
# Servers in subprocesses


class ServerError(RuntimeError):
    pass


class ServerProcess:
    """A server in a subprocess on 127.0.0.1:`port`; its output goes to a temporary log file."""

    def __init__(self, name: str, argv: list[str], port: int, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = argv
        self.port = port
        self.env = dict(os.environ) if env is None else env
        self.base_url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix=f"acd-bench-{name}-", suffix=".log", delete=False)  # noqa: SIM115

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, ready_path: str = "/readyz", timeout_s: float = 90.0) -> None:
        self.proc = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        url = self.base_url + ready_path
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                raise ServerError(f"{self.name} exited with {code} before it was ready:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=1.0) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise ServerError(f"{self.name} was not ready within {timeout_s:g} s:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def log_tail(self, lines: int = 30) -> str:
        self._log.flush()
        with contextlib.suppress(OSError):
            text = Path(self._log.name).read_text(errors="replace")
            return "\n".join(text.splitlines()[-lines:])
        return ""

    def cleanup(self) -> None:
        self.stop()
        self._log.close()
        with contextlib.suppress(OSError):
            os.unlink(self._log.name)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


@contextlib.contextmanager
def durable_redis() -> Iterator[str]:
    """A redis-server of its own on a loopback port, configured as docs/redis.md requires for the
    durability promise (`appendonly yes`, `appendfsync always`), in a scratch directory; its URL."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="acd-bench-redis-") as tmp:
        argv = ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--dir", tmp, "--save", ""]
        argv += ["--appendonly", "yes", "--appendfsync", "always", "--logfile", str(Path(tmp) / "redis.log")]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                        conn.sendall(b"PING\r\n")
                        if conn.recv(16).startswith(b"+PONG"):
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise ServerError(f"redis-server did not start on port {port}")
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(10)


def acd_service(
    port: int, *, secret: str = SECRET, command_url: str | None = None, **env: str
) -> ServerProcess:
    """`python -m acd serve` with the shipped config, signed requests, warnings-only logs."""
    settings = {
        "ACD_HOST": "127.0.0.1",
        "ACD_PORT": str(port),
        "ACD_CONFIG_DIR": str(CONFIG_DIR),
        "ACD_WEBHOOK_SECRET": secret,
        "ACD_LOG_LEVEL": "WARNING",
        "ACD_CLOCK_START": CLOCK_START,
        "PYTHONFAULTHANDLER": "1",  # a crash leaves its stack in the server's log
        **env,
    }
    if command_url:
        settings["ACD_COMMAND_URL"] = command_url
    server_env = {k: v for k, v in os.environ.items() if not k.startswith("ACD_")}  # only ours
    server_env.update(settings)
    return ServerProcess("acd", [sys.executable, "-m", "acd", "serve"], port, server_env)


# --------------------------------------------------------------------------------------------------
# Figures and results


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-th percentile (0-100) of already sorted values, nearest rank; nan when empty."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), math.ceil(q / 100.0 * len(sorted_values))))
    return sorted_values[rank - 1]


def latency_summary(latencies_s: list[float]) -> dict[str, float | int]:
    values = sorted(latencies_s)
    ms = 1000.0
    return {
        "count": len(values),
        "p50_ms": round(percentile(values, 50) * ms, 3),
        "p90_ms": round(percentile(values, 90) * ms, 3),
        "p99_ms": round(percentile(values, 99) * ms, 3),
        "p999_ms": round(percentile(values, 99.9) * ms, 3),
        "max_ms": round(values[-1] * ms, 3) if values else float("nan"),
        "mean_ms": round(sum(values) / len(values) * ms, 3) if values else float("nan"),
    }


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def machine_load() -> dict[str, Any]:
    """What else the machine was doing: the load averages (1, 5, 15 min) and the share of the
    CPUs busy over the last half second, read from /proc/stat where there is one."""
    load: dict[str, Any] = {"loadavg": [round(x, 2) for x in os.getloadavg()], "cpu_busy_pct": None}
    try:

        def sample() -> tuple[int, int]:
            fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
            idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
            return sum(fields), idle

        total0, idle0 = sample()
        time.sleep(0.5)
        total1, idle1 = sample()
        if total1 > total0:
            load["cpu_busy_pct"] = round(100.0 * (1 - (idle1 - idle0) / (total1 - total0)), 1)
    except (OSError, ValueError, IndexError):
        pass
    return load


def run_metadata() -> dict[str, Any]:
    """Where a result comes from: the command, the revision (and whether the tree had changes not
    committed, results files left out), the machine and its load when the run started."""
    # the results a run writes are not the code it measures
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results")
    return {
        "command": " ".join(["python", *sys.orig_argv[1:]]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "git_revision": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": None if status is None else bool(status),
        "load_at_start": machine_load(),
        # acd's hot modules on their compiled twins (`acd compile`, acd/compiled.py) or the source
        "acd_compiled": compiled.ready(),
    }


def results_path(name: str, *, quick: bool) -> Path:
    """benchmarks/results/<name>.json for a full run (the recorded figures the docs cite);
    benchmarks/results/quick/<name>.json for a short one (CI's, never committed), so that a quick
    run never overwrites a recorded figure."""
    return (RESULTS_DIR / "quick" if quick else RESULTS_DIR) / f"{name}.json"


def write_results(name: str, data: dict[str, Any], *, quick: bool) -> Path:
    """Write the result atomically (via a .tmp file), with the machine's load at the end of the run
    beside the one `run_metadata` read at its start."""
    path = results_path(name, quick=quick)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = data.get("meta")
    if isinstance(meta, dict):
        meta["load_at_end"] = machine_load()
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
    return path


# --------------------------------------------------------------------------------------------------
# HTTP clients for the load generator


class AiohttpClient:
    """Requests through an aiohttp `ClientSession` with a bounded connection pool."""

    def __init__(self, base_url: str, connections: int) -> None:
        import aiohttp

        self.base_url = base_url.rstrip("/")
        connector = aiohttp.TCPConnector(limit=connections)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=30)
        self._session = aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False)

    async def request(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        async with self._session.request(
            method, self.base_url + path, data=body, headers=headers
        ) as response:
            return response.status, await response.read()

    async def close(self) -> None:
        await self._session.close()


class _RawConnection:
    """One keep-alive HTTP/1.1 connection, one request at a time (asyncio protocol)."""

    def __init__(self) -> None:
        import asyncio

        self._asyncio = asyncio
        self.transport: Any = None
        self.buffer = bytearray()
        self.waiter: Any = None
        self.closed = False

    # asyncio.Protocol
    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is not None and not self.waiter.done():
            self._parse()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionResetError(f"connection lost: {exc}"))

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass

    def _parse(self) -> None:
        buf = self.buffer
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return
        lines = bytes(buf[:end]).split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, chunked, close = 0, False, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                close = value.strip().lower() == b"close"
        start = end + 4
        if chunked:
            body = bytearray()
            pos = start
            while True:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    return
                size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
                if len(buf) < eol + 2 + size + 2:
                    return
                body += buf[eol + 2 : eol + 2 + size]
                pos = eol + 2 + size + 2
                if size == 0:
                    break
            consumed, payload = pos, bytes(body)
        else:
            if len(buf) < start + length:
                return
            consumed, payload = start + length, bytes(buf[start : start + length])
        del buf[:consumed]
        if close:
            self.closed = True
            self.transport.close()
        self.waiter.set_result((status, payload))

    async def request(self, data: bytes, timeout_s: float) -> tuple[int, bytes]:
        self.waiter = self._asyncio.get_running_loop().create_future()
        self.transport.write(data)
        if self.buffer:
            self._parse()
        async with self._asyncio.timeout(timeout_s):
            return await self.waiter


class RawClient:
    """A lean HTTP/1.1 keep-alive client over asyncio protocols, for loopback benchmarks: a fraction
    of aiohttp's client cost per request, so that on a small machine the generator leaves the CPU
    to the server. It speaks just what the benchmark needs (Content-Length or chunked answers)."""

    def __init__(self, base_url: str, connections: int, timeout_s: float = 30.0) -> None:
        import asyncio
        from urllib.parse import urlsplit

        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self._prefix = (parts.path or "").rstrip("/")
        self._host_header = f"Host: {self.host}:{self.port}\r\n"
        self._limit = connections
        self._timeout_s = timeout_s
        self._idle: list[_RawConnection] = []
        self._count = 0
        self._available = asyncio.Condition()
        self._all: set[_RawConnection] = set()

    async def _acquire(self) -> _RawConnection:
        import asyncio

        while True:
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed:
                    return conn
                self._drop(conn)
            if self._count < self._limit:
                self._count += 1
                try:
                    _, conn = await asyncio.get_running_loop().create_connection(
                        _RawConnection, self.host, self.port
                    )
                except BaseException:
                    self._count -= 1
                    raise
                self._all.add(conn)
                return conn
            async with self._available:
                await self._available.wait()

    def _drop(self, conn: _RawConnection) -> None:
        if conn in self._all:
            self._all.discard(conn)
            self._count -= 1

    async def _release(self, conn: _RawConnection, ok: bool) -> None:
        if ok and not conn.closed:
            self._idle.append(conn)
        else:
            if conn.transport is not None:
                conn.transport.close()
            self._drop(conn)
        async with self._available:
            self._available.notify()

    async def request(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        head = [f"{method} {self._prefix}{path} HTTP/1.1\r\n", self._host_header]
        head += [f"{name}: {value}\r\n" for name, value in headers.items()]
        head.append(f"Content-Length: {len(body)}\r\n\r\n")
        data = "".join(head).encode("latin-1") + body
        conn = await self._acquire()
        ok = False
        try:
            result = await conn.request(data, self._timeout_s)
            ok = True
            return result
        finally:
            await self._release(conn, ok)

    async def close(self) -> None:
        for conn in list(self._all):
            if conn.transport is not None:
                conn.transport.close()
        self._all.clear()
        self._idle.clear()
        self._count = 0
