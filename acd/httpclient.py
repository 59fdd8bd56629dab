"""A lean HTTP/1.1 client for the outbox: POST a small body to one URL, read the status, keep the
connection for the next command.

aiohttp's client costs about 70 µs of CPU a request on the machines the benchmarks run on; with a
command for every fourth event, that was 5 % of the service's CPU (docs/performance.md). This one
writes the request in one `write` and parses the answer in `data_received`: about 20 µs.

It speaks: `http` and `https` (asyncio's TLS with the system's trust store, host name checked),
keep-alive connections reused one request at a time, answers framed by `Content-Length`, chunked, or
read to the close, interim `1xx` answers skipped, HTTP/1.0 servers. It does not follow redirects (a
`3xx` is not a `2xx`: the outbox logs it and tries again, so a moved command URL shows in the logs
rather than being followed silently), use proxies or ask for compression. Answers are bounded: 64
KiB of headers, 1 MiB of body (the outbox reads only the status).

A request on a kept connection that fails before any byte of an answer (the server closed it while
idle, which a server may do at any time) is sent once more on a new connection: commands are
idempotent by id, and the platform deduplicates.
"""

from __future__ import annotations

import asyncio
import ssl
from urllib.parse import urlsplit

MAX_HEAD = 64 * 1024
MAX_BODY = 1024 * 1024


class HttpError(Exception):
    """The server's answer is not HTTP/1.x as this client reads it, or the connection broke."""


class _Connection(asyncio.Protocol):
    """One connection; one request at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False
        self.keep = True  # the server lets the connection live after this answer
        self.answered = False  # some byte of an answer arrived for the request under way
        self._eof = False

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.answered = True
        self._parse()

    def eof_received(self) -> bool:
        self._eof = True
        self._parse()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._eof = True
        self._parse()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionResetError(f"connection lost before the answer: {exc}"))

    # -- one exchange

    async def exchange(self, data: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.answered = False
        self.transport.write(data)
        if self.buffer:
            self._parse()
        return await self.waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    # -- the answer

    def _fail(self, message: str) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(HttpError(message))
        self.close()

    def _parse(self) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        buf = self.buffer
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > MAX_HEAD:
                    self._fail("the answer's headers are too long")
                elif self._eof:
                    self._fail("the connection closed before the answer's headers")
                return
            lines = bytes(buf[:end]).split(b"\r\n")
            parts = lines[0].split(b" ", 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
                self._fail(f"not an HTTP/1.x answer: {lines[0][:80]!r}")
                return
            status = int(parts[1])
            if 100 <= status < 200:  # interim (100 Continue, 103 Early Hints): the real one follows
                del buf[: end + 4]
                continue
            break
        length: int | None = None
        chunked = False
        keep = parts[0] == b"HTTP/1.1"
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    self._fail("a bad Content-Length")
                    return
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                token = value.strip().lower()
                keep = token != b"close" and (keep or token == b"keep-alive")
        start = end + 4
        if status in (204, 304):
            length, chunked = 0, False
        if chunked:
            body = bytearray()
            pos = start
            while True:
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    return self._wait_more()
                try:
                    size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
                except ValueError:
                    self._fail("a bad chunk size")
                    return
                if size == 0:  # the trailer (usually empty) ends with an empty line
                    trailer_end = buf.find(b"\r\n\r\n", eol)
                    if trailer_end < 0:
                        return self._wait_more()
                    consumed = trailer_end + 4
                    break
                if len(buf) < eol + 2 + size + 2:
                    return self._wait_more()
                if len(body) + size > MAX_BODY:
                    self._fail("the answer's body is too long")
                    return
                body += buf[eol + 2 : eol + 2 + size]
                pos = eol + 2 + size + 2
            payload = bytes(body)
        elif length is not None:
            if length > MAX_BODY:
                self._fail("the answer's body is too long")
                return
            if len(buf) < start + length:
                return self._wait_more()
            consumed, payload = start + length, bytes(buf[start : start + length])
        else:  # the body runs to the close
            if len(buf) - start > MAX_BODY:
                self._fail("the answer's body is too long")
                return
            if not self._eof:
                return None
            consumed, payload, keep = len(buf), bytes(buf[start:]), False
        del buf[:consumed]
        self.keep = keep and not self._eof
        waiter.set_result((status, payload))
        return None

    def _wait_more(self) -> None:
        if self._eof:
            self._fail("the connection closed in the middle of the answer")


class HttpClient:
    """POSTs to one URL over kept connections (as many at once as requests under way)."""

    def __init__(self, url: str, *, timeout_s: float = 5.0, keep_idle: int = 16) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"an http:// or https:// URL is needed, not {url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self._ssl: ssl.SSLContext | None = ssl.create_default_context() if parts.scheme == "https" else None
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        default_port = self.port == (443 if self._ssl else 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        authority = host if default_port else f"{host}:{self.port}"
        self._head = f"POST {target} HTTP/1.1\r\nHost: {authority}\r\n"
        self._timeout_s = timeout_s
        self._keep_idle = keep_idle
        self._idle: list[_Connection] = []
        self._all: set[_Connection] = set()

    async def post(self, body: bytes, headers: dict[str, str]) -> int:
        """POST `body` with `headers`; the answer's status (its body is read and dropped)."""
        head = [self._head]
        head += [f"{name}: {value}\r\n" for name, value in headers.items()]
        head.append(f"Content-Length: {len(body)}\r\n\r\n")
        data = "".join(head).encode("latin-1") + body
        async with asyncio.timeout(self._timeout_s):
            conn, reused = await self._acquire()
            try:
                status, _ = await conn.exchange(data)
            except (ConnectionError, HttpError):
                self._discard(conn)
                if not (reused and not conn.answered):
                    raise
                conn = await self._connect()  # closed while idle: once more, afresh
                try:
                    status, _ = await conn.exchange(data)
                except BaseException:
                    self._discard(conn)
                    raise
            except BaseException:  # a timeout or a cancel: the answer may still come, never reuse
                self._discard(conn)
                raise
        self._release(conn)
        return status

    async def close(self) -> None:
        for conn in list(self._all):
            conn.close()
        self._all.clear()
        self._idle.clear()

    # -- connections

    async def _acquire(self) -> tuple[_Connection, bool]:
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed:
                return conn, True
            self._all.discard(conn)
        return await self._connect(), False

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(
            _Connection, self.host, self.port, ssl=self._ssl, server_hostname=self.host if self._ssl else None
        )
        self._all.add(conn)
        return conn

    def _release(self, conn: _Connection) -> None:
        if conn.keep and not conn.closed and len(self._idle) < self._keep_idle:
            self._idle.append(conn)
        else:
            self._discard(conn)

    def _discard(self, conn: _Connection) -> None:
        conn.close()
        self._all.discard(conn)

    def __repr__(self) -> str:
        return f"HttpClient({self._head.split()[1]!r} on {self.host}:{self.port})"
