"""Engine snapshots: a versioned header and the engine's explicit state, JSON and compressed.

A snapshot is the state document of `acd.engine.state` (plain data with its own format number,
docs/state.md), encoded with orjson and compressed with zlib. The header is plain JSON beside the
data, readable without decoding it (`redis-cli HGET acd:snapshot header`):

    {"format": 4, "acd": "0.1.0", "config": "<fingerprint>", "seq": 1234, "id": "1700000000000-0",
     "now": 1700000000.0, "codec": "json+zlib1", "bytes": 123456, "created_at": 1700000000.0}

Loading builds the engine from the configuration it is given (the current `config/`) and fills it
from the state: a changed configuration applies, and what it no longer has is handled and logged
(acd.engine.state). Format 2, the pickled engine of earlier releases, is still read, once, and
upgraded (acd.engine.state_v2); pickle is trusted input there, the snapshot coming from the
deployment's own Redis, like the log. A format from a later release is refused.

A large state takes a while to encode, so `Encoding` encodes it in a forked child (the copy-on-
write image of the engine at the fork), streaming the bytes back through a pipe while the parent's
event loop carries on. Without `os.fork` it encodes in the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import signal
import time
import zlib
from dataclasses import dataclass
from typing import Any

import orjson

from acd import __version__
from acd.config import Config
from acd.engine import Engine
from acd.engine import state as engine_state
from acd.engine.observer import NULL_OBSERVER, Observer
from acd.gcpolicy import collector_paused

#: The snapshot's layout: the state document's format (acd.engine.state.FORMAT). 2 was the
#: pickled engine (router tables and timers of 2026-11-23), still read and upgraded.
FORMAT_VERSION = engine_state.FORMAT
CODEC = "json+zlib1"
log = logging.getLogger("acd.store.snapshot")

#: Every (format, codec) this release reads: the JSON documents since format 3 (upgraded on load),
#: and format 2's pickle.
READABLE = {*((version, CODEC) for version in range(3, FORMAT_VERSION + 1)), (2, "pickle5+zlib1")}
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
    if (header.get("format"), header.get("codec")) not in READABLE:
        raise SnapshotError(
            f"snapshot format {header.get('format')!r} ({header.get('codec')!r}) is not supported by "
            f"acd {__version__} (format {FORMAT_VERSION}, {CODEC}; it reads formats 2 and 3 too)"
        )
    return header


def encode(engine: Engine) -> bytes:
    return zlib.compress(orjson.dumps(engine_state.dump(engine)), 1)


def decode_state(data: bytes, header: dict[str, Any] | None = None) -> dict[str, Any]:
    """The state document a snapshot holds, in its own format (format 2: the pickled engine,
    wrapped for `acd.engine.state.upgrade`)."""
    version = (header or {}).get("format", FORMAT_VERSION)
    try:
        raw = zlib.decompress(data)
        if version == 2:
            return {"format": 2, "acd": (header or {}).get("acd"), "engine": raw}
        document = orjson.loads(raw)
    except Exception as exc:
        raise SnapshotError(f"corrupt snapshot: {type(exc).__name__}: {exc}") from None
    if not isinstance(document, dict):
        raise SnapshotError("corrupt snapshot: not a state document")
    return document


def decode(
    data: bytes,
    header: dict[str, Any] | None = None,
    *,
    config: Config,
    router: str = "numba",
    observer: Observer = NULL_OBSERVER,
) -> Engine:
    """The engine of `config` (the current configuration) in the state the snapshot holds."""
    try:
        with collector_paused():  # parsing makes as many objects as loading
            document = decode_state(data, header)
            return engine_state.load(config, document, router=router, observer=observer)
    except SnapshotError:
        raise
    except engine_state.StateError as exc:
        raise SnapshotError(str(exc)) from None
    except Exception as exc:
        raise SnapshotError(f"corrupt snapshot: {type(exc).__name__}: {exc}") from None


class Encoding:
    """`encode(engine)` of the engine as it is when this is made; `await result()` for the bytes.

    With `fork` (and `os.fork`), a child process encodes the copy-on-write image of the engine at
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
