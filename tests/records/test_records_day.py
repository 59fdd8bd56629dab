"""A scripted day through HTTP, on SQLite and on PostgreSQL: exactly the expected records and
indicators (answered, short and long abandons, overflow, a callback accepted then answered, an
appointment done and one no-show, a call in closed hours, surveys)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from acd.api.handlers import SERVICE
from acd.api.schemas import IndicatorsView
from acd.config import Config
from tests.api.test_bad_input import assert_error
from tests.conftest import small_config

PARIS = ZoneInfo("Europe/Paris")
DAY = "2026-03-02"  # T0 is 10:00 in Paris on this Monday


def day_config(**records: Any) -> Config:
    base = small_config(wrap_up_s=0).model_dump()
    base["services"] = {
        "local": [
            {
                "id": "sip-59",
                "department": "59",
                "name": "SIP Nord",
                "target": "sip:accueil@sip-59.example",
                "capacity": 2,
            }
        ]
    }
    base["overflow"] = {"mode": "off"}
    base["callbacks"] = {"retry_delays_s": [600], "max_attempts": 1, "priority": 0, "max_share": 1.0}
    base["appointments"] = {
        "slot_minutes": 30,
        "retry_delays_s": [],
        "capacity": [{"site": "lille", "skill": "impot_revenu", "morning": 2, "afternoon": 1}],
    }
    base["records"] = {
        "service_level_s": 20,
        "surveys": {"share": 0.0, "by_skill": {"impot_revenu": 1.0}},
        **records,
    }
    return Config.model_validate(base)


async def records_of(platform) -> list[dict[str, Any]]:
    service = platform.client.app[SERVICE]
    await service.records.flush()
    status, text = await platform.request("GET", f"/v1/records?from={DAY}&to={DAY}")
    assert status == 200, text
    return [json.loads(line) for line in text.splitlines() if line]


async def tick(platform) -> None:
    """Fire the timers due now (the clock is moved by hand)."""
    service = platform.client.app[SERVICE]
    commands = await service.store.tick(service.clock.now())
    if commands:
        await service.outbox.submit(commands)


async def play_day(platform, clock) -> None:
    p = platform
    await p.agent("a1", "available")
    # c1: answered after 10 s, talks a minute; surveyed (5), a second score (1) is ignored
    assert (await p.offer("c1"))["action"] == "connect"
    clock.advance(10)
    await p.send("call.answered", call_id="c1", agent_id="a1")
    clock.advance(60)
    await p.send("call.ended", call_id="c1", reason="completed")
    await p.send("survey.result", call_id="c1", score=5)
    await p.send("survey.result", call_id="c1", score=1)
    await p.agent("a1", "paused")
    # c2: hangs up after 3 s (a short abandon); c3 after 40 s
    assert (await p.offer("c2"))["action"] == "queue"
    clock.advance(3)
    await p.send("call.ended", call_id="c2", reason="abandoned")
    assert (await p.offer("c3"))["action"] == "queue"
    clock.advance(40)
    await p.send("call.ended", call_id="c3", reason="abandoned")
    # c4: overflowed to the Nord local service (the supervisor's switch on)
    status, _ = await p.request("PUT", "/v1/overflow", {"mode": "on"})
    assert status == 200
    assert (await p.offer("c4", department="59"))["action"] == "overflow"
    clock.advance(100)
    await p.send("call.ended", call_id="c4", reason="completed")
    await p.request("PUT", "/v1/overflow", {"mode": "off"})
    # c5: accepts a callback after 30 s; a1 calls back, it is answered; surveyed (3)
    assert (await p.offer("c5"))["action"] == "queue"
    clock.advance(30)
    await p.send("callback.accepted", call_id="c5")
    clock.advance(60)
    await p.agent("a1", "available")  # reserved for the callback at once
    clock.advance(5)
    await p.send("callback.result", callback_id="cb-c5", outcome="answered")
    clock.advance(120)
    await p.send("call.ended", call_id="c5", reason="completed")
    await p.send("survey.result", call_id="c5", score=3)
    # two appointments at 11:00: the first answered, the second a no-show
    for number in ("+33622222222", "+33633333333"):
        status, body = await p.request(
            "POST",
            "/v1/appointments",
            {"number": number, "skill": "impot_revenu", "start": f"{DAY}T11:00:00+01:00"},
        )
        assert status == 201, body
    service = p.client.app[SERVICE]
    ap1_id, ap2_id = sorted(
        service.engine.appointments, key=lambda k: service.engine.appointments[k].created_at
    )
    clock.t = datetime(2026, 3, 2, 11, 0, tzinfo=PARIS).timestamp()
    await tick(p)
    dialing = [a for a in service.engine.appointments.values() if a.status == "dialing"]
    assert len(dialing) == 1
    first = dialing[0].id
    second = ap2_id if first == ap1_id else ap1_id
    await p.send("appointment.result", appointment_id=first, outcome="answered")
    clock.advance(300)
    await p.send("call.ended", call_id=first, reason="completed")
    assert service.engine.appointments[second].status == "dialing"
    await p.send("appointment.result", appointment_id=second, outcome="no_answer")
    # c7: at 22:00 the line is closed
    clock.t = datetime(2026, 3, 2, 22, 0, tzinfo=PARIS).timestamp()
    assert (await p.offer("c7"))["action"] == "closed"
    platform.appointments = (first, second)


async def test_a_scripted_day_gives_exactly_the_expected_records(make_platform, clock, backend):
    platform = await make_platform(config=day_config(), **backend.settings())
    await play_day(platform, clock)
    done, no_show = platform.appointments
    records = await records_of(platform)
    got = {(r["call_id"], r["kind"]): r for r in records}
    assert len(records) == len(got) == 9
    expected = {
        ("c1", "call"): ("answered", 10.0, "lille", "a1", 5),
        ("c2", "call"): ("abandoned", 3.0, None, None, None),
        ("c3", "call"): ("abandoned", 40.0, None, None, None),
        ("c4", "call"): ("overflowed", 0.0, None, None, None),
        ("c5", "call"): ("callback", 30.0, "lille", None, None),  # the site of the agent who called back
        ("cb-c5", "callback"): ("answered", None, "lille", "a1", 3),
        (done, "appointment"): ("answered", None, "lille", "a1", None),
        (no_show, "appointment"): ("no_show", None, "lille", None, None),
        ("c7", "call"): ("closed", 0.0, None, None, None),
    }
    assert {
        k: (r["outcome"], r["wait_s"], r["site"], r["agent_id"], r["survey_score"]) for k, r in got.items()
    } == expected
    assert got[("c4", "call")]["overflow_service"] == "sip-59"
    assert got[("c5", "call")]["callback_id"] == "cb-c5"
    assert got[("cb-c5", "callback")]["origin_call_id"] == "c5"
    c1 = got[("c1", "call")]
    assert c1["offered_at"] == "2026-03-02T10:00:00+01:00"
    assert c1["answered_at"] == "2026-03-02T10:00:10+01:00"
    assert c1["ended_at"] == "2026-03-02T10:01:10+01:00"
    assert (c1["skill"], c1["priority"], c1["needs"]) == ("impot_revenu", 0, [])
    offered = [r["offered_at"] for r in records]
    assert offered == sorted(offered, key=datetime.fromisoformat)  # oldest first
    # the no-show was dialled: its record keeps that dial's story (before: priority 0, queued_at
    # and connected_at null, as for one never dialled; /work/notes/audit-time.md, D2)
    ns = got[(no_show, "appointment")]
    service = platform.client.app[SERVICE]
    assert ns["priority"] == service.engine.config.appointments.priority > 0
    assert ns["queued_at"] == "2026-03-02T11:00:00+01:00"  # in line at its slot's start
    assert ns["connected_at"] == "2026-03-02T11:05:00+01:00"  # dialled once a1 was free
    assert ns["offered_at"] == "2026-03-02T11:00:00+01:00"  # its slot


async def test_the_scripted_day_gives_exactly_the_expected_indicators(make_platform, clock, backend):
    platform = await make_platform(config=day_config(), **backend.settings())
    await play_day(platform, clock)
    await platform.client.app[SERVICE].records.flush()
    status, body = await platform.get(f"/v1/reports/indicators?from={DAY}&to={DAY}&by=day")
    assert status == 200, body
    IndicatorsView.model_validate(body)
    assert body["rows"] == [
        {
            "day": DAY,
            "offered": 4,  # c1, c3, c4, c5: c2 (3 s) is a short abandon, c7 came in closed hours
            "answered": 2,  # c1, and c5 through the callback it accepted
            "abandoned": 1,
            "short_abandoned": 1,
            "overflowed": 1,
            "callbacks_answered": 1,
            "answer_rate": 0.5,
            "service_level": 0.25,  # c1 within 20 s
            "asa_s": 10.0,
            "satisfaction": {"n": 2, "mean": 4.0, "satisfied_share": 0.5},
        }
    ]
    _, by_site = await platform.get(f"/v1/reports/indicators?from={DAY}&to={DAY}&by=site")
    lille = next(r for r in by_site["rows"] if r["site"] == "lille")
    assert (lille["offered"], lille["answered"], lille["answer_rate"]) == (2, 2, 1.0)
    assert lille["satisfaction"] == {"n": 2, "mean": 4.0, "satisfied_share": 0.5}
    _, by_hour = await platform.get(f"/v1/reports/indicators?from={DAY}&to={DAY}&by=hour")
    assert [(r["day"], r["hour"], r["offered"]) for r in by_hour["rows"]] == [(DAY, 10, 4), (DAY, 22, 0)]
    _, by_skill = await platform.get(f"/v1/reports/indicators?from={DAY}&to={DAY}&by=skill")
    assert [(r["skill"], r["answered"]) for r in by_skill["rows"]] == [("impot_revenu", 2)]
    _, other_day = await platform.get("/v1/reports/indicators?from=2026-03-03&to=2026-03-04")
    assert [(r["offered"], r["answer_rate"], r["satisfaction"]["n"]) for r in other_day["rows"]] == [
        (0, None, 0)
    ]


async def test_records_stream_as_csv_with_a_header(make_platform, clock, backend):
    platform = await make_platform(config=day_config(), **backend.settings())
    await play_day(platform, clock)
    await platform.client.app[SERVICE].records.flush()
    status, text = await platform.request(
        "GET", f"/v1/records?from={DAY}&to={DAY}&site=lille", headers={"Accept": "text/csv"}
    )
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {"c1", "c5", "cb-c5"} <= {r["call_id"] for r in rows}  # c5: answered through its callback
    assert len(rows) == 5 and all(r["site"] == "lille" for r in rows)


async def test_answered_calls_in_the_sample_get_the_survey_command(make_platform, clock, backend):
    platform = await make_platform(config=day_config(), **backend.settings())
    await play_day(platform, clock)
    service = platform.client.app[SERVICE]
    waiting = [e.command for e in service.outbox.store._entries.values()]  # no command URL: all wait
    surveys = {c.fields["call_id"]: c.fields["number"] for c in waiting if c.command == "survey"}
    done, _ = platform.appointments
    assert surveys == {"c1": "+33612345678", "c5": "+33612345678", done: "+33622222222"}
    _, call = await platform.get("/v1/calls/c1")
    assert [h["action"] for h in call["history"] if h.get("action") == "survey"] == ["survey"]


async def test_no_survey_when_the_skill_share_is_zero(make_platform, clock, backend):
    config = day_config(surveys={"share": 0.0, "by_skill": {}})
    platform = await make_platform(config=config, **backend.settings())
    await play_day(platform, clock)
    waiting = [e.command for e in platform.client.app[SERVICE].outbox.store._entries.values()]
    assert not [c for c in waiting if c.command == "survey"]


async def test_bad_record_queries_are_422_and_say_which_field(make_platform, backend):
    platform = await make_platform(config=day_config(), **backend.settings())
    for path, field in [
        ("/v1/records", "from"),
        (f"/v1/records?from={DAY}", "to"),
        (f"/v1/records?from=2026-3-2&to={DAY}", "from"),
        (f"/v1/records?from={DAY}&to=2026-03-01", "to"),
        ("/v1/records?from=9999-12-31&to=9999-12-31", "from"),
        ("/v1/reports/indicators?from=0001-01-01&to=0001-01-02", "from"),
        (f"/v1/reports/indicators?from={DAY}&to={DAY}&by=week", "by"),
        (f"/v1/reports/indicators?from={DAY}&to={DAY}&skill=nope", "skill"),
        (f"/v1/records?from={DAY}&to={DAY}&site=nowhere", "site"),
    ]:
        status, body = await platform.get(path)
        assert status == 422, (path, body)
        assert body["error"]["details"]["field"] == field, path
    status, body = await platform.get(f"/v1/reports/indicators?from={DAY}&to={DAY}&skill=nope")
    assert_error(status, body, 422, "unknown_skill")


async def test_the_records_routes_are_in_the_openapi_document(make_platform, backend):
    platform = await make_platform(config=day_config(), **backend.settings())
    status, doc = await platform.request("GET", "/openapi.json", sign=False)
    assert status == 200
    indicators = doc["paths"]["/v1/reports/indicators"]["get"]
    assert {p["name"] for p in indicators["parameters"]} == {"from", "to", "by", "skill", "site"}
    records = doc["paths"]["/v1/records"]["get"]["responses"]["200"]["content"]
    assert set(records) == {"application/x-ndjson", "text/csv"}


async def test_an_answer_delivered_after_the_end_makes_the_record_answered(make_platform, clock, backend):
    """Webhooks out of order: c1's call.ended (completed) comes first, its call.answered, stamped
    10 s after the ring and before the end, comes after. The record is answered (at the answer's
    time), not abandoned; the day's indicators count it once; the sampled survey is sent."""
    platform = await make_platform(config=day_config(), **backend.settings())
    p = platform
    await p.agent("a1", "available")
    assert (await p.offer("c1"))["action"] == "connect"
    rung = clock.now()
    clock.advance(70)
    await p.send("call.ended", call_id="c1", reason="completed")
    clock.advance(2)
    stamp = datetime.fromtimestamp(rung + 10, PARIS).isoformat()
    result = await p.send("call.answered", call_id="c1", agent_id="a1", ts=stamp)
    assert "ignored" not in result
    await platform.client.app[SERVICE].records.flush()
    _, c1 = await platform.request("GET", f"/v1/records?from={DAY}&to={DAY}")  # one line: one object
    assert (c1["outcome"], c1["agent_id"], c1["site"]) == ("answered", "a1", "lille")
    assert c1["answered_at"] == "2026-03-02T10:00:10+01:00" and c1["wait_s"] == 10.0
    _, body = await platform.get(f"/v1/reports/indicators?from={DAY}&to={DAY}&by=day")
    [row] = body["rows"]
    assert (row["offered"], row["answered"], row["abandoned"], row["answer_rate"]) == (1, 1, 0, 1.0)
    waiting = [e.command for e in platform.client.app[SERVICE].outbox.store._entries.values()]
    assert [c.fields["call_id"] for c in waiting if c.command == "survey"] == ["c1"]


async def test_a_callback_window_taken_by_a_caller_keeps_the_call_it_came_from(make_platform, clock, backend):
    """A waiting caller who takes a callback window accepted a callback: the callback's record
    names the call it came from (`origin_call_id`), whether it is answered or fails, and the call
    counts as answered when its callback is."""
    config = day_config().model_dump()
    config["callbacks"]["windows"] = [{"start": "17:30", "end": "19:00", "capacity": 10}]
    platform = await make_platform(config=Config.model_validate(config), **backend.settings())
    p = platform
    window = f"{DAY}T17:30:00+01:00"
    for call_id in ("w1", "w2"):
        assert (await p.offer(call_id))["action"] == "queue"
        clock.advance(30)
        result = await p.send("callback.accepted", call_id=call_id, window_start=window)
        assert result["decision"]["due_at"] == window
    service = p.client.app[SERVICE]
    clock.t = datetime(2026, 3, 2, 17, 30, tzinfo=PARIS).timestamp()
    await tick(p)
    for call_id, outcome in (("w1", "answered"), ("w2", "failed")):
        await p.agent("a1", "available")
        assert service.engine.callbacks[f"cb-{call_id}"].status == "dialing"
        await p.send("callback.result", callback_id=f"cb-{call_id}", outcome=outcome)
        if outcome == "answered":
            clock.advance(60)
            await p.send("call.ended", call_id=call_id, reason="completed")
        await p.agent("a1", "paused")
    got = {(r["call_id"], r["kind"]): r for r in await records_of(platform)}
    assert {k: (r["outcome"], r["origin_call_id"]) for k, r in got.items()} == {
        ("w1", "call"): ("callback", None),
        ("w2", "call"): ("callback", None),
        ("cb-w1", "callback"): ("answered", "w1"),
        ("cb-w2", "callback"): ("failed", "w2"),
    }
    _, body = await platform.get(f"/v1/reports/indicators?from={DAY}&to={DAY}")
    [row] = body["rows"]
    assert (row["offered"], row["answered"], row["callbacks_answered"]) == (2, 1, 1)


async def test_a_call_ended_completed_while_ringing_whose_answer_never_came_is_lost_not_abandoned(
    make_platform, clock, backend
):
    """The platform ends a call `completed` (or `transferred`) that acd still had ringing an agent,
    and its `call.answered` never comes: the caller talked to someone or was put through, acd never
    heard when. Its record says `lost` (the answer's news was lost), neither answered (no time to
    count it by) nor abandoned (the caller did not hang up waiting), as the wallboard and the
    metrics already count it; an `abandoned` end stays abandoned, and an answer that comes later,
    stamped between the ring and the end, still makes it answered."""
    platform = await make_platform(config=day_config(), **backend.settings())
    p = platform
    for agent in ("a1", "a5"):
        await p.agent(agent, "available")
    for call, reason in (("c1", "completed"), ("c2", "transferred"), ("c3", "abandoned")):
        assert (await p.offer(call))["action"] == "connect"
        clock.advance(40)
        await p.send("call.ended", call_id=call, reason=reason)
    by_id = {r["call_id"]: r for r in await records_of(platform)}
    assert {c: by_id[c]["outcome"] for c in by_id} == {"c1": "lost", "c2": "lost", "c3": "abandoned"}
    _, body = await platform.get(f"/v1/reports/indicators?from={DAY}&to={DAY}&by=day")
    [row] = body["rows"]
    assert (row["offered"], row["answered"], row["abandoned"]) == (3, 0, 1)
