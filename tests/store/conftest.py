"""Fixtures for the Redis store: a real Redis (never a fake), one database per test module, flushed
around each test; in-process instances sharing it; extra redis-server processes for the tests that
stop or kill Redis; `acd serve` subprocesses for the tests that kill -9 the service.

The Redis server is `ACD_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`); each module names its
database in `DB`. No wall-clock thresholds: tests wait on conditions with generous timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from acd.api.app import create_app
from acd.api.handlers import SERVICE
from acd.clock import ManualClock
from acd.config import Config
from acd.service import Service
from acd.settings import Settings
from tests.conftest import ROOT, T0, small_config
from tools.ports import free_port

REDIS_BASE = os.environ.get("ACD_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
PATIENCE_S = 30.0


async def eventually(condition: Callable[[], Any], timeout: float = PATIENCE_S, every: float = 0.01) -> None:
    """Wait until `condition()` holds (it may be async), failing after a generous timeout."""

    async def holds() -> bool:
        result = condition()
        return bool(await result if inspect.isawaitable(result) else result)

    async with asyncio.timeout(timeout):
        while not await holds():
            await asyncio.sleep(every)


@pytest.fixture
def redis_url(request: pytest.FixtureRequest) -> Any:
    db = getattr(request.module, "DB", 11)
    url = f"{REDIS_BASE}/{db}"
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {REDIS_BASE}: {exc}")
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def raw_redis(redis_url: str) -> Any:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


# -- a stand-in telephony platform for outbound commands


class CommandSink:
    """Records every command POSTed to it; answers `status` (200 unless a test sets it), after
    `before_answer()` if a test sets one."""

    def __init__(self) -> None:
        self.port = free_port()
        self.status = 200
        self.before_answer: Callable[[], Awaitable[None]] | None = None
        self.received: list[dict[str, Any]] = []
        self.ids: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/commands"

    async def start(self) -> CommandSink:
        async def handle(request: web.Request) -> web.Response:
            body = json.loads(await request.read())
            self.received.append(body)
            self.ids[body["id"]] += 1
            if self.before_answer is not None:
                await self.before_answer()
            return web.json_response({"ok": self.status < 300}, status=self.status)

        app = web.Application()
        app.router.add_post("/commands", handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def sink() -> Any:
    s = await CommandSink().start()
    yield s
    await s.stop()


# -- in-process instances


class Instance:
    """One `acd` instance in this process: the real app on a loopback port, its service inside."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    @property
    def service(self) -> Service:
        return self.client.app[SERVICE]

    @property
    def role(self) -> str:
        return str(self.service.store.role)  # type: ignore[attr-defined]

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = b"" if body is None else json.dumps(body).encode()
        resp = await self.client.request(
            method, path, data=data, headers={"Content-Type": "application/json"}
        )
        text = await resp.text()
        try:
            return resp.status, json.loads(text)
        except ValueError:
            return resp.status, text

    async def events(self, *events: dict[str, Any]) -> tuple[int, Any]:
        return await self.request("POST", "/v1/events", list(events) if len(events) > 1 else events[0])

    async def crash(self) -> None:
        """Die without a goodbye: no snapshot, no lease released, nothing flushed (in-process kill,
        through the service's crash seam); the app's cleanup then says no goodbye either."""
        await self.service.crash()
        await self.client.close()


@pytest.fixture
async def cluster(redis_url: str) -> Any:
    """`await cluster(n=1, config=..., clock=..., **settings)` -> list of running instances."""
    made: list[Instance] = []

    async def make(
        n: int = 1, config: Config | None = None, clock: ManualClock | None = None, **settings: Any
    ):
        options: dict[str, Any] = {"redis_url": redis_url, "redis_lease_ttl_s": 1.0, **settings}
        out = []
        for _ in range(n):
            app = create_app(
                Settings(**options),
                config or small_config(),
                registry=CollectorRegistry(),
                clock=clock or ManualClock(T0),
            )
            client = TestClient(TestServer(app))
            await client.start_server()
            instance = Instance(client)
            made.append(instance)
            out.append(instance)
        return out

    yield make
    for instance in made:
        if not instance.client.session.closed:
            await instance.client.close()


async def leader_of(instances: list[Instance], timeout: float = PATIENCE_S) -> Instance:
    found: list[Instance] = []

    def one_leads() -> bool:
        found[:] = [i for i in instances if i.role == "leader"]
        return len(found) == 1

    await eventually(one_leads, timeout)
    return found[0]


# -- extra redis-server processes


class RedisServer:
    """A redis-server of our own on a free loopback port, to stop, kill and restart; with
    `replica_of`, a replica of another one (`--replicaof`)."""

    def __init__(self, workdir: Path, *, persistent: bool, replica_of: RedisServer | None = None) -> None:
        self.port = free_port()
        self.workdir = workdir / f"redis-{self.port}"
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.persistent = persistent
        self.replica_of = replica_of
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        argv = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--daemonize", "no"]
        argv += ["--dir", str(self.workdir)]
        if self.persistent:  # the configuration docs/redis.md asks for
            argv += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            argv += ["--appendonly", "no"]
        if self.replica_of is not None:
            argv += ["--replicaof", "127.0.0.1", str(self.replica_of.port)]
        self.proc = spawn_redis(argv, self.port)
        return self

    def kill(self) -> None:
        """kill -9: with `appendfsync always` nothing acknowledged is lost; without persistence
        everything is."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a paused one too
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def pause(self) -> None:
        """SIGSTOP: alive to its peers' sockets, but silent (a stalled replica)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port)

    def wait_replicas(self, n: int) -> None:
        """Until `n` replicas are connected to this server and have confirmed all it wrote."""
        client = self.client()
        deadline = time.monotonic() + PATIENCE_S
        try:
            while True:
                info = client.info("replication")
                offset = info.get("master_repl_offset", 0)
                online = [
                    v
                    for k, v in info.items()
                    if k.startswith("slave") and v.get("state") == "online" and v.get("offset") == offset
                ]
                if len(online) >= n:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"replicas of :{self.port}: {info}")
                time.sleep(0.05)
        finally:
            client.close()


def spawn_redis(args: list[str], port: int) -> subprocess.Popen[bytes]:
    """`redis-server ARGS` (a server, or a sentinel), once it answers PING on `port`."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    proc = subprocess.Popen([binary, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    try:
        while True:
            try:
                client.ping()
                return proc
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    proc.kill()
                    raise
                time.sleep(0.02)
    finally:
        client.close()


class SentinelServer:
    """`redis-server --sentinel` on a free loopback port, watching one master under `name`."""

    def __init__(self, workdir: Path, master: RedisServer, name: str) -> None:
        self.port = free_port()
        self.name = name
        self.config = workdir / f"sentinel-{self.port}.conf"
        self.config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndaemonize no\ndir {workdir}\n"
            f"sentinel monitor {name} 127.0.0.1 {master.port} 1\n"
            f"sentinel down-after-milliseconds {name} 1000\n"
            f"sentinel failover-timeout {name} 10000\n"
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> SentinelServer:
        self.proc = spawn_redis([str(self.config), "--sentinel"], self.port)
        return self

    def master_port(self) -> int:
        client = redis.Redis(port=self.port)
        try:
            _, port = client.sentinel_get_master_addr_by_name(self.name)
            return int(port)
        finally:
            client.close()

    def wait_replicas(self, n: int) -> None:
        """Until the sentinel knows `n` healthy replicas of its master (it finds them through the
        master's INFO): a failover needs one."""
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + PATIENCE_S
        try:
            while True:
                replicas = client.sentinel_slaves(self.name)
                down = ("is_sdown", "is_odown", "is_disconnected")
                healthy = [r for r in replicas if not any(r[flag] for flag in down)]
                if len(healthy) >= n:
                    return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"sentinel {self.address}: replicas {replicas}")
                time.sleep(0.05)
        finally:
            client.close()

    def failover(self) -> None:
        client = redis.Redis(port=self.port)
        try:
            client.sentinel_failover(self.name)
        finally:
            client.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def redis_server(tmp_path: Path) -> Any:
    made: list[RedisServer] = []

    def start(persistent: bool = True, replica_of: RedisServer | None = None) -> RedisServer:
        server = RedisServer(tmp_path, persistent=persistent, replica_of=replica_of).start()
        made.append(server)
        return server

    yield start
    for server in made:
        server.kill()


@pytest.fixture
def sentinel_server(tmp_path: Path) -> Any:
    """`sentinel_server(master, name)` -> a running sentinel watching `master`."""
    made: list[SentinelServer] = []

    def start(master: RedisServer, name: str = "acd-primary") -> SentinelServer:
        sentinel = SentinelServer(tmp_path, master, name).start()
        made.append(sentinel)
        return sentinel

    yield start
    for sentinel in made:
        sentinel.kill()


# -- `acd serve` subprocesses

CLOCK_START = "2026-11-17T10:00:00+01:00"  # a Tuesday morning: open, no holiday


class ServeProcess:
    """`python -m acd serve` on a free port, with the shipped configuration and the given store."""

    def __init__(self, env: dict[str, str], port: int | None = None) -> None:
        self.port = port or free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ACD_")}
        self.env.update(
            {
                "ACD_HOST": "127.0.0.1",
                "ACD_PORT": str(self.port),
                "ACD_CONFIG_DIR": str(ROOT / "config"),
                "ACD_LOG_LEVEL": "WARNING",
                "ACD_LOG_FORMAT": "text",
                "ACD_CLOCK_START": CLOCK_START,
                **env,
            }
        )
        self.log = tempfile.NamedTemporaryFile(prefix="acd-store-test-", suffix=".log", delete=False)  # noqa: SIM115
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServeProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "acd", "serve"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, lines: int = 40) -> str:
        self.log.flush()
        return "\n".join(Path(self.log.name).read_text(errors="replace").splitlines()[-lines:])

    def cleanup(self) -> None:
        self.stop()
        self.log.close()
        with contextlib.suppress(OSError):
            os.unlink(self.log.name)


@pytest.fixture
def serve() -> Any:
    made: list[ServeProcess] = []

    def start(env: dict[str, str], port: int | None = None) -> ServeProcess:
        process = ServeProcess(env, port).start()
        made.append(process)
        return process

    yield start
    for process in made:
        process.cleanup()
