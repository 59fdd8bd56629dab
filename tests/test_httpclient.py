"""The outbox's HTTP client (acd/httpclient.py) against a raw server on 127.0.0.1 that answers as
each test scripts it: the framings a platform may use, kept and closed connections, bad answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from acd.httpclient import HttpClient, HttpError

Script = Callable[[int, bytes], bytes | None]  # (request number on this server, request) -> answer


class RawServer:
    def __init__(self, script: Script, close_after: bool = False) -> None:
        self.script = script
        self.close_after = close_after
        self.requests: list[bytes] = []
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/commands?v=1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                answer = self.script(len(self.requests), request)
                if answer is None:  # never answer
                    await asyncio.sleep(3600)
                if answer == b"":  # close instead of answering (a keep-alive timeout's race)
                    writer.close()
                    return
                writer.write(answer)
                await writer.drain()
                if self.close_after:
                    writer.close()
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            return

    def drop_connections(self) -> None:
        """Close every connection, as a server does with idle keep-alive ones."""
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    async def stop(self) -> None:
        self.drop_connections()
        if self._server is not None:
            self._server.close()


def answer(status: int = 200, body: bytes = b"", headers: str = "") -> bytes:
    return f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{headers}\r\n".encode() + body


@pytest.fixture
async def servers():
    made: list[RawServer] = []

    async def start(script: Script, **options: bool) -> tuple[RawServer, str]:
        server = RawServer(script, **options)
        made.append(server)
        return server, await server.start()

    yield start
    for server in made:
        await server.stop()


async def test_a_post_carries_the_path_the_host_the_headers_and_the_body_and_keeps_the_connection(servers):
    server, url = await servers(lambda n, req: answer(204))
    client = HttpClient(url)
    for _ in range(3):
        assert await client.post(b'{"id":"c1"}', {"Idempotency-Key": "c1"}) == 204
    await client.close()
    first = server.requests[0]
    assert first.startswith(b"POST /commands?v=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"Idempotency-Key: c1\r\n" in first and b"Content-Length: 11\r\n" in first
    assert first.endswith(b'\r\n\r\n{"id":"c1"}')
    assert server.connections == 1


async def test_chunked_answers_with_a_trailer_and_interim_answers_are_read(servers):
    chunked = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4\r\nabcd\r\n3;x=1\r\nefg\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    server, url = await servers(lambda n, req: chunked)
    client = HttpClient(url)
    assert await client.post(b"{}", {}) == 202
    assert await client.post(b"{}", {}) == 202  # the connection was left clean
    await client.close()
    assert server.connections == 1


async def test_a_closed_connection_or_an_http_1_0_answer_is_not_reused(servers):
    closing, url = await servers(lambda n, req: answer(200, b"ok", "Connection: close\r\n"))
    client = HttpClient(url)
    assert await client.post(b"{}", {}) == 200
    assert await client.post(b"{}", {}) == 200
    assert closing.connections == 2
    await client.close()
    old, url = await servers(lambda n, req: b"HTTP/1.0 200 OK\r\n\r\nbody to the close", close_after=True)
    client = HttpClient(url)
    assert await client.post(b"{}", {}) == 200
    assert await client.post(b"{}", {}) == 200
    assert old.connections == 2
    await client.close()


async def test_a_kept_connection_the_server_closed_while_idle_is_replaced(servers):
    server, url = await servers(lambda n, req: answer(200))
    client = HttpClient(url)
    assert await client.post(b"{}", {}) == 200
    server.drop_connections()
    await asyncio.sleep(0.05)
    assert await client.post(b"{}", {}) == 200
    assert server.connections == 2
    await client.close()


async def test_a_request_the_server_dropped_unanswered_on_a_kept_connection_is_sent_once_more(servers):
    server, url = await servers(lambda n, req: b"" if n == 2 else answer(200))
    client = HttpClient(url)
    assert await client.post(b"{}", {}) == 200
    assert await client.post(b"{}", {}) == 200  # request 2 dropped, request 3 answered
    assert len(server.requests) == 3 and server.connections == 2
    await client.close()


async def test_a_fresh_connection_dropped_unanswered_fails_the_attempt(servers):
    _, url = await servers(lambda n, req: b"")
    client = HttpClient(url)
    with pytest.raises((ConnectionError, HttpError)):
        await client.post(b"{}", {})
    await client.close()


async def test_an_answer_that_is_not_http_fails_the_attempt(servers):
    _, url = await servers(lambda n, req: b"SMTP ready\r\n\r\n")
    client = HttpClient(url)
    with pytest.raises(HttpError):
        await client.post(b"{}", {})
    await client.close()


async def test_no_answer_times_out_and_the_connection_is_not_reused(servers):
    server, url = await servers(lambda n, req: None if n == 1 else answer(200))
    client = HttpClient(url, timeout_s=0.3)
    with pytest.raises(TimeoutError):
        await client.post(b"{}", {})
    assert await client.post(b"{}", {}) == 200  # a new connection: the late answer cannot be mistaken
    assert server.connections == 2
    await client.close()


def test_only_http_urls_are_taken():
    with pytest.raises(ValueError):
        HttpClient("ftp://example.org/commands")
    assert HttpClient("https://platform.example/cmd")._head.startswith(
        "POST /cmd HTTP/1.1\r\nHost: platform.example\r\n"
    )
