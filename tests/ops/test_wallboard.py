"""The wallboard's server side, in process: the page and its files, the event stream (a snapshot on
connect, a push on change, nothing when nothing changes, coalesced bursts), the day's counts."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from acd.api.app import create_app
from acd.api.handlers import SERVICE
from acd.api.wallboard import HUB, MIN_INTERVAL_S, STATIC_DIR, snapshot
from acd.clock import ManualClock
from acd.settings import Settings
from tests.conftest import T0, small_config


@pytest.fixture
async def board(aiohttp_client):
    clock = ManualClock(T0)  # Monday 2026-03-02, 10:00 in Paris: the line is open
    app = create_app(Settings(), small_config(), registry=CollectorRegistry(), clock=clock)
    client = await aiohttp_client(app)
    client.clock = clock
    return client


_n = iter(range(1, 1_000_000))


async def send(client: Any, type_: str, **fields: Any) -> dict[str, Any]:
    resp = await client.post("/v1/events", json={"id": f"w{next(_n)}", "type": type_, **fields})
    assert resp.status == 200, await resp.text()
    return (await resp.json())["results"][0]


async def offer(client: Any, call_id: str, skill: str = "impot_revenu") -> dict[str, Any]:
    return await send(client, "call.offered", call_id=call_id, caller="+33612345678", skill=skill)


async def next_state(resp: Any) -> dict[str, Any]:
    """The next `state` event of a server-sent event stream."""
    event, data = None, []
    while True:
        line = (await resp.content.readline()).decode()
        if not line:
            raise EOFError("the stream ended")
        line = line.rstrip("\n")
        if line == "":
            if event == "state" and data:
                return json.loads("\n".join(data))
            event, data = None, []
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())


def skill(state: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in state["skills"] if s["skill"] == name)


async def test_the_page_and_its_files_are_served_by_acd_with_no_outside_resource(board):
    resp = await board.get("/wallboard")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    html = await resp.text()
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    for name in ("wallboard.js", "wallboard.css"):
        resp = await board.get(f"/wallboard/static/{name}")
        assert resp.status == 200, name
        assert (await resp.read()) == (STATIC_DIR / name).read_bytes()
        assert f"/wallboard/static/{name}" in html
    js = (STATIC_DIR / "wallboard.js").read_text()
    assert "EventSource(" in js and "fetch(" not in js and "XMLHttpRequest" not in js  # no polling


async def test_a_page_gets_the_state_at_once_then_a_push_when_a_call_is_offered(board):
    await send(board, "agent.state", agent_id="a1", state="available")
    resp = await board.get("/wallboard/events")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    first = await asyncio.wait_for(next_state(resp), 2)
    assert first["line_open"] is True and first["target"] == 0.85
    assert skill(first, "impot_revenu")["agents"]["available"] == 1
    assert skill(first, "impot_revenu")["waiting"] == 0

    await offer(board, "c1")  # goes to a1
    await offer(board, "c2")  # waits
    state = await asyncio.wait_for(next_state(resp), 2)
    while skill(state, "impot_revenu")["waiting"] != 1:  # the two offers may arrive in two pushes
        state = await asyncio.wait_for(next_state(resp), 2)
    ir = skill(state, "impot_revenu")
    assert ir["agents"]["busy"] == 1 and ir["agents"]["available"] == 0
    assert ir["oldest_since"] == pytest.approx(T0)
    assert ir["today"]["offered"] == 2 and ir["today"]["answered"] == 0
    assert state["total"]["waiting"] == 1
    resp.close()


async def test_nothing_is_pushed_while_nothing_changes(board):
    resp = await board.get("/wallboard/events")
    await asyncio.wait_for(next_state(resp), 2)
    board.clock.advance(30)  # time alone changes nothing the page does not compute itself
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(next_state(resp), 1.6)
    resp.close()


async def test_a_burst_of_writes_is_coalesced(board):
    resp = await board.get("/wallboard/events")
    await asyncio.wait_for(next_state(resp), 2)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for i in range(20):
        await offer(board, f"b{i}", skill="paiement")
    pushes = 0
    while True:
        try:
            state = await asyncio.wait_for(next_state(resp), 1.2)
        except TimeoutError:
            break
        pushes += 1
        if skill(state, "paiement")["waiting"] == 20:
            break
    elapsed = loop.time() - start
    assert skill(state, "paiement")["waiting"] == 20
    assert pushes <= elapsed / MIN_INTERVAL_S + 2
    resp.close()


async def test_the_answer_rate_of_the_day_starts_again_at_midnight_in_paris(board):
    service = board.app[SERVICE]
    await send(board, "agent.state", agent_id="a1", state="available")
    await offer(board, "d1")
    await send(board, "call.answered", call_id="d1", agent_id="a1")
    await offer(board, "d2")
    state = snapshot(service)
    assert state["day"] == "2026-03-02"
    assert skill(state, "impot_revenu")["today"] == {
        "offered": 2,
        "answered": 1,
        "abandoned": 0,
        "short_abandoned": 0,
        "closed": 0,
        "answer_rate": 0.5,
    }
    board.clock.advance(13 * 3600 + 60)  # 23:01 in Paris: still the same day
    assert snapshot(service)["total"]["today"]["offered"] == 2
    board.clock.advance(3600)  # 00:01, Tuesday
    state = snapshot(service)
    assert state["day"] == "2026-03-03"
    assert state["total"]["today"]["offered"] == 0
    assert state["total"]["today"]["answer_rate"] is None
    board.clock.advance(9 * 3600)  # 09:01: open again
    await offer(board, "d3", skill="paiement")
    state = snapshot(service)
    assert skill(state, "paiement")["today"]["offered"] == 1
    assert skill(state, "impot_revenu")["today"]["offered"] == 0


async def test_closing_the_hub_ends_every_stream(board):
    resp = await board.get("/wallboard/events")
    await asyncio.wait_for(next_state(resp), 2)
    await board.app[HUB].close()
    with pytest.raises(EOFError):
        await asyncio.wait_for(next_state(resp), 2)


async def test_a_caller_who_took_a_callback_is_no_caller_on_hold(board):
    """A waiting caller who accepts a callback hangs up; their place in line is kept for the
    callback. The board shows them among the callbacks waiting, not among the callers on hold,
    and the longest wait on hold is the caller still there."""
    service = board.app[SERVICE]
    await offer(board, "v1")  # nobody logged in: both wait
    board.clock.advance(30)
    await offer(board, "v2")
    result = await send(board, "callback.accepted", call_id="v1")
    assert result["decision"]["action"] == "callback"
    tile = skill(snapshot(service), "impot_revenu")
    assert (tile["waiting"], tile["callbacks_waiting"]) == (1, 1)
    assert tile["oldest_since"] == board.clock.now()  # v2's, offered now; not v1's, 30 s before
    total = snapshot(service)["total"]
    assert (total["waiting"], total["callbacks_waiting"]) == (1, 1)
    queues = await (await board.get("/v1/queues")).json()
    line = next(q for q in queues["queues"] if q["skill"] == "impot_revenu")
    assert line["waiting"] == tile["waiting"] + tile["callbacks_waiting"]  # the line holds both


async def test_a_page_that_connects_in_a_quiet_spell_gets_the_time_of_now(board):
    """The page sets its clock from the snapshot's `now` and ticks the longest wait from it: a
    page opened (or reconnected) after minutes with no change must get now, not the instant of
    the last change, or it shows a caller on hold for 5 minutes as just arrived."""
    first = await board.get("/wallboard/events")
    await asyncio.wait_for(next_state(first), 2)
    await offer(board, "q1")  # nobody logged in: q1 waits
    state = await asyncio.wait_for(next_state(first), 2)
    assert skill(state, "impot_revenu")["oldest_since"] == pytest.approx(board.clock.now(), abs=0.01)
    board.clock.advance(300)  # five quiet minutes: nothing changes
    second = await board.get("/wallboard/events")
    state = await asyncio.wait_for(next_state(second), 2)
    assert state["now"] == pytest.approx(board.clock.now(), abs=0.01)
    longest = state["now"] - skill(state, "impot_revenu")["oldest_since"]
    assert longest == pytest.approx(300, abs=0.01)
    first.close()
    second.close()
