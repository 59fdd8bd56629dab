"""Graceful shutdown of a real `python -m acd serve`: on SIGTERM, aiohttp's run_app stops accepting,
ends the wallboard streams (on_shutdown), lets the requests being handled finish (shutdown_timeout,
10 s), then the app's cleanup stops the service, whose outbox delivers what is due (5 s); exit 0.

A request not yet taken in when the signal is handled (not parsed, or its body still arriving) is
cut without an answer: the platform retries it, and event ids make the retry safe."""

from __future__ import annotations

import json
import signal
import threading
import time
import urllib.request
from http.client import RemoteDisconnected
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from acd.config import load_config
from tests.ops.conftest import ROOT, http


class CommandReceiver:
    """The telephony platform's command endpoint, slow on purpose (each answer takes `delay_s`)."""

    def __init__(self, delay_s: float) -> None:
        self.received: list[dict[str, Any]] = []
        self.answered_at: list[float] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append(json.loads(body))
                time.sleep(delay_s)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                outer.answered_at.append(time.monotonic())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/commands"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


CALLER = "+33612345678"


def expert(n: int) -> list[str]:
    config = load_config(ROOT / "config")
    return [a.id for a in config.agents if a.skills.get("impot_revenu", 0) >= 4][:n]


def test_sigterm_finishes_in_flight_requests_drains_the_outbox_and_exits_0(acd_process):
    receiver = CommandReceiver(delay_s=1.0)
    try:
        acd = acd_process(ACD_COMMAND_URL=receiver.url)
        [agent] = expert(1)

        # A wallboard is open: its stream must not hold the shutdown up.
        board = urllib.request.urlopen(acd.url + "/wallboard/events", timeout=20)
        board_done = threading.Event()
        threading.Thread(target=lambda: (board.read(), board_done.set()), daemon=True).start()

        # A command on its way to the (slow) platform: a waiting call gets an agent.
        acd.events(
            {"id": "q1", "type": "call.offered", "call_id": "q1", "caller": CALLER, "skill": "impot_revenu"}
        )
        acd.events({"id": "q2", "type": "agent.state", "agent_id": agent, "state": "available"})

        # Traffic: two platform connections posting batches of 1000 calls (a few hundred ms each
        # to apply), back to back, so that requests are being handled when the signal comes.
        answers: list[tuple[float, float, int, int]] = []  # (sent, answered, status, results)
        cut: list[str] = []

        def traffic(worker: int) -> None:
            for batch in range(1000):
                events = [
                    {
                        "id": f"t{worker}-{batch}-{i}",
                        "type": "call.offered",
                        "call_id": f"t{worker}-{batch}-{i}",
                        "caller": CALLER,
                        "skill": "paiement",
                    }
                    for i in range(1000)
                ]
                sent = time.time()
                try:
                    status, body = http("POST", acd.url + "/v1/events", events, timeout=30)
                except (ConnectionError, RemoteDisconnected, OSError) as exc:
                    cut.append(type(exc).__name__)  # not taken in: the platform retries (idempotent ids)
                    return
                answers.append((sent, time.time(), status, len(body["results"]) if status == 200 else -1))

        workers = [threading.Thread(target=traffic, args=(w,)) for w in range(2)]
        for w in workers:
            w.start()
        time.sleep(1.5)
        signalled = time.time()
        acd.proc.send_signal(signal.SIGTERM)
        code = acd.proc.wait(timeout=30)
        exited = time.time()
        for w in workers:
            w.join(30)
    finally:
        receiver.close()

    assert code == 0, acd.logs()
    # Bounded by aiohttp's shutdown_timeout (10 s, `acd serve`) plus the outbox drain (5 s): a request
    # whose body was still arriving when the signal came waits out the 10 s (aiohttp drops bytes once
    # it closes), then is cut; the platform retries it (event ids make that safe).
    assert exited - signalled < 10 + 5 + 3, "the shutdown took longer than its bounds"
    assert board_done.wait(5), "the wallboard stream was not ended"
    # Every answer that came back is whole; at least one request was in flight when the signal came.
    assert answers and {(status, n) for _, _, status, n in answers} == {(200, 1000)}, answers
    in_flight = [a for a in answers if a[0] < signalled < a[1]]
    assert in_flight, (signalled, answers)
    records = acd.log_records()
    served = [r for r in records if r.get("path") == "/v1/events" and r.get("events") == 1000]
    assert any(r["status"] == 200 and r["duration_ms"] > 0 for r in served)
    # The outbox delivered the connect command to the slow platform before the process exited.
    commands = [c for c in receiver.received if c["command"] == "connect" and c["call_id"] == "q1"]
    assert commands, receiver.received
    assert receiver.answered_at and receiver.answered_at[0] < time.monotonic()
    assert not [r for r in records if r.get("level") in ("error", "critical")], records
