"""The service's timer loop on a clock that runs: a write that brings the next timer forward wakes
it, with no other request to nudge it (acd/service.py `_timer_moved`)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from acd.clock import Clock
from tests.conftest import T0, small_config

WRAP_UP_S = 0.3


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.fromtimestamp(T0, UTC))  # open hours, running in real time


async def test_a_write_that_arms_an_earlier_timer_wakes_the_timer_loop(make_platform):
    platform = await make_platform(config=small_config(wrap_up_s=WRAP_UP_S))
    await platform.agent("a1", "available")
    await platform.offer("c1")  # connected to a1
    await platform.send("call.answered", call_id="c1", agent_id="a1")
    await platform.offer("c2")  # waits: its own timers are minutes away, the loop sleeps till then
    status, waiting = await platform.get("/v1/calls/c2")
    assert (status, waiting["status"]) == (200, "queued")
    # the call ends: a1's wrap-up ends in 0.3 s, long before anything else; only the timer loop,
    # woken by this write, can then give a1 the waiting call
    await platform.send("call.ended", call_id="c1", reason="completed")
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        _, call = await platform.get("/v1/calls/c2")
        if call["agent_id"] == "a1":
            break
        await asyncio.sleep(0.05)
    assert call["agent_id"] == "a1", call
    assert call["status"] == "connecting"
