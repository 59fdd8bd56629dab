"""Guards the HTTP benchmark from rotting: its traffic must stay valid against the real service.

The load generator of `benchmarks/http.py` builds contract-valid, signed events, and one very short
load phase against an in-process service (shipped config, signed requests, a command endpoint) gets
only 2xx answers and routing decisions. No wall-clock figure is asserted.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from acd.api.app import create_app
from acd.config import load_config
from acd.events import event_adapter
from acd.settings import Settings
from acd.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from benchmarks._common import CLOCK_START, CONFIG_DIR, SECRET, load_roster, signed
from benchmarks.http import LoadGenerator, Traffic

KINDS = {"login", "offer", "answer", "end", "available"}


def test_the_request_builder_makes_valid_signed_events() -> None:
    roster, departments = load_roster()
    traffic = Traffic(roster[:40], departments, waiting=10, simulate=True, seed=7)
    seen: set[str] = set()
    ids: set[str] = set()
    for step in range(3000):
        req = traffic.next_request(step * 0.01)
        assert req is not None
        event = event_adapter.validate_json(req.body)  # the contract's own models
        assert event.id not in ids
        ids.add(event.id)
        if req.kind == "offer":
            assert event.caller.startswith("+336") and len(event.caller) == 12
        headers = signed(SECRET.encode(), req.body)
        verify(SECRET.encode(), headers[TIMESTAMP_HEADER], headers[SIGNATURE_HEADER], req.body)
        seen.add(req.kind)
        traffic.on_response(req, True, None, step * 0.01)
    assert seen >= KINDS
    assert 0 < len(traffic.waiting) <= 2 * traffic.target_waiting  # the line neither empties nor runs away


@pytest.mark.parametrize("client", ["raw", "aiohttp"])
async def test_a_short_load_phase_against_the_service_gets_only_2xx_and_decisions(client: str) -> None:
    roster, departments = load_roster()
    traffic = Traffic(roster[:80], departments, waiting=20, seed=3)
    async with LoadGenerator("http://127.0.0.1:1", traffic, SECRET.encode(), client=client) as gen:
        command_url = await gen.start_sink()
        settings = Settings(
            webhook_secret=SECRET,
            command_url=command_url,
            clock_start=datetime.fromisoformat(CLOCK_START),
            config_dir=CONFIG_DIR,
            log_level="WARNING",
        )
        app = create_app(settings, load_config(CONFIG_DIR), registry=CollectorRegistry())
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            gen.set_base_url(f"http://127.0.0.1:{runner.addresses[0][1]}")
            closed = await gen.closed_loop(concurrency=8, warmup_s=0.0, duration_s=1.2)
            opened = await gen.open_loop(rate=200.0, warmup_s=0.0, duration_s=0.5)
            queues = await gen.queues()
        finally:
            await runner.cleanup()

    assert gen.failures == [], json.dumps(gen.failures[:3])
    assert set(gen.status_total) == {"2xx"}
    assert closed["non_2xx"] == 0 and opened["non_2xx"] == 0
    assert closed["requests"] > 0 and opened["requests"] > 0
    assert set(traffic.sent) >= KINDS
    # every offer got a routing decision, and some calls were connected at once
    assert "None" not in traffic.decisions and traffic.decisions["connect"] > 0
    assert set(traffic.decisions) <= {"connect", "queue", "overflow", "closed"}
    assert gen.bad_command_signatures == 0
    assert isinstance(queues, list) and {q["skill"] for q in queues} >= {"impot_revenu", "lsf"}
