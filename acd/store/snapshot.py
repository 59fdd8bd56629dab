"""Engine snapshots: a versioned header and the engine, pickled and compressed.

The engine pickles itself (`Engine.__getstate__` leaves out the observer), so a snapshot is its
exact state, router arrays included. The header is plain JSON beside the data, readable without
unpickling (`redis-cli HGET acd:snapshot header`):

    {"format": 2, "acd": "0.1.0", "config": "<fingerprint>", "seq": 1234, "id": "1700000000000-0",
     "now": 1700000000.0, "codec": "pickle5+zlib1", "bytes": 123456, "created_at": 1700000000.0}

Loading refuses another `format` (the reader would not know the layout); another `acd` version or
configuration fingerprint loads with a warning: the pickled engine carries the configuration it
was started with (see docs/redis.md). Pickle is trusted input here: the snapshot comes from the
deployment's own Redis, like the log.

A large state takes seconds to pickle, so `Encoding` pickles it in a forked child (the copy-on-
write image of the engine at the fork), streaming the bytes back through a pipe while the parent's
event loop carries on. Without `os.fork` it pickles in the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import pickle
import signal
import time
import zlib
from dataclasses import dataclass
from typing import Any

from acd import __version__
from acd.config import Config
from acd.engine import Engine

#: The pickled engine's layout. Bump it whenever a change to the engine's classes would make an
#: older snapshot unpickle wrongly (2: router tables and timers of 2026-11-23, calendar spans).
FORMAT_VERSION = 2
CODEC = "pickle5+zlib1"
_CHILD_TIMEOUT_S = 600


class SnapshotError(Exception):
    """A snapshot that cannot be loaded (another format, corrupt data)."""


@dataclass(frozen=True, slots=True)
class Position:
    """Where the engine stands in the log: the last entry applied."""

    seq: int = 0
    id: str = "0-0"
    now: float = 0.0


def config_fingerprint(config: Config) -> str:
    return hashlib.sha256(config.model_dump_json().encode()).hexdigest()[:16]


def make_header(position: Position, fingerprint: str, size: int) -> bytes:
    header = {
        "format": FORMAT_VERSION,
        "acd": __version__,
        "config": fingerprint,
        "seq": position.seq,
        "id": position.id,
        "now": position.now,
        "codec": CODEC,
        "bytes": size,
        "created_at": time.time(),
    }
    return json.dumps(header, separators=(",", ":")).encode()


def read_header(raw: bytes) -> dict[str, Any]:
    try:
        header = json.loads(raw)
    except ValueError as exc:
        raise SnapshotError(f"unreadable snapshot header: {exc}") from None
    if header.get("format") != FORMAT_VERSION or header.get("codec") != CODEC:
        raise SnapshotError(
            f"snapshot format {header.get('format')!r} ({header.get('codec')!r}) is not supported by "
            f"acd {__version__} (format {FORMAT_VERSION}, {CODEC})"
        )
    return header


def encode(engine: Engine) -> bytes:
    return zlib.compress(pickle.dumps(engine, protocol=5), 1)


def decode(data: bytes) -> Engine:
    try:
        engine = pickle.loads(zlib.decompress(data))
    except Exception as exc:
        raise SnapshotError(f"corrupt snapshot: {type(exc).__name__}: {exc}") from None
    if not isinstance(engine, Engine):
        raise SnapshotError(f"the snapshot holds a {type(engine).__name__}, not an Engine")
    return engine


class Encoding:
    """`encode(engine)` of the engine as it is when this is made; `await result()` for the bytes.

    With `fork` (and `os.fork`), a child process pickles the copy-on-write image of the engine at
    the fork and streams the bytes back through a pipe, so the caller's loop runs on meanwhile and
    may change the engine at once. Otherwise the engine is encoded here and now."""

    def __init__(self, engine: Engine, *, fork: bool = True) -> None:
        self._data: bytes | None = None
        self._pid = 0
        self._fd = -1
        if not (fork and hasattr(os, "fork")):
            self._data = encode(engine)
            return
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: encode, write, exit; it never returns into the parent's code
            status = 1
            try:
                os.close(read_fd)
                with contextlib.suppress(Exception):
                    signal.set_wakeup_fd(-1)  # the parent's event loop owns that pipe
                for sig in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(sig, signal.SIG_DFL)
                signal.alarm(_CHILD_TIMEOUT_S)  # never outlive a stuck parent
                data = encode(engine)
                view = memoryview(len(data).to_bytes(8, "big") + data)
                while view:
                    view = view[os.write(write_fd, view) :]
                status = 0
            finally:
                os._exit(status)
        os.close(write_fd)
        self._pid, self._fd = pid, read_fd

    async def result(self) -> bytes:
        if self._data is not None:
            return self._data
        try:
            raw = await _read_all(self._fd)
        finally:
            os.close(self._fd)
            await _reap(self._pid)
        size = int.from_bytes(raw[:8], "big") if len(raw) >= 8 else -1
        if size != len(raw) - 8:
            raise SnapshotError("the snapshot child died before it finished")
        self._data = raw[8:]
        return self._data


async def _read_all(fd: int) -> bytes:
    loop = asyncio.get_running_loop()
    os.set_blocking(fd, False)
    chunks: list[bytes] = []
    done: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        try:
            while True:
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    if not done.done():
                        done.set_result(None)
                    return
                chunks.append(chunk)
        except BlockingIOError:
            return
        except OSError as exc:
            if not done.done():
                done.set_exception(exc)

    loop.add_reader(fd, readable)
    try:
        await done
    finally:
        loop.remove_reader(fd)
    return b"".join(chunks)


async def _reap(pid: int) -> None:
    for _ in range(1000):
        finished, _status = os.waitpid(pid, os.WNOHANG)
        if finished:
            return
        await asyncio.sleep(0.01)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
