"""The engine's explicit state (acd/engine/state.py): dumped to plain data and loaded back, it
carries on exactly where it stopped; every earlier format reads; a changed configuration applies,
and what it no longer has is handled, never a crash."""

from __future__ import annotations

import inspect
import json
import logging
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from acd.config import Config
from acd.engine import Engine, EngineError
from acd.engine import state as engine_state
from acd.engine.overflow import reason_cool, reason_hot, sends_whom
from acd.events import any_event_adapter
from acd.model import AgentState
from tests.conftest import T0, Driver, small_config

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "state"


def rich_config(**changes: Any) -> Config:
    """Three sites and skills, ten agents, widening, priority aging, local services, callback
    windows, appointments, surveys: the configuration of the format-2 fixtures."""
    data = json.loads((FIXTURES / "format2.config.json").read_text())
    for section, values in changes.items():
        if isinstance(values, dict):
            data[section] = {**data[section], **values}
        else:
            data[section] = values
    return Config.model_validate(data)


def through_json(engine: Engine) -> dict[str, Any]:
    return json.loads(json.dumps(engine_state.dump(engine)))


def config_without_paiement() -> Config:
    """The rich configuration (its fixture) with the skill `paiement` gone: from the skills, the
    agents, the appointments' places and the widening."""
    data = json.loads((FIXTURES / "format2.config.json").read_text())
    data["skills"] = [s for s in data["skills"] if s["id"] != "paiement"]
    for agent in data["agents"]:
        agent["skills"].pop("paiement", None)
    data["appointments"]["capacity"] = [
        c for c in data["appointments"]["capacity"] if c["skill"] != "paiement"
    ]
    data["routing"]["widening"]["by_skill"] = {}
    return Config.model_validate(data)


def reload(engine: Engine, config: Config | None = None, router: str | None = None) -> Engine:
    kind = router or ("numba" if type(engine.router).__name__ == "NumbaRouter" else "reference")
    return engine_state.load(config or engine.config, through_json(engine), router=kind)


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


# ---------------------------------------------------------------------------- a seeded platform


class RandomPlatform:
    """Valid-looking events of every kind, chosen from what the engine holds now; now and then a
    repeat, a stale or wrong one (a refusal is part of the result)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n = 0
        self.sent: list[dict[str, Any]] = []

    def body(self, type_: str, **fields: Any) -> dict[str, Any]:
        self.n += 1
        body = {"id": f"r{self.n}", "type": type_, **fields}
        self.sent.append(body)
        return body

    def next(self, engine: Engine, now: float) -> dict[str, Any] | float:
        """An event body, or a number of seconds to let pass."""
        rng = self.rng
        calls = list(engine.calls.values())
        agents = list(engine.agents)
        r = rng.random()
        if r < 0.12:
            return rng.choice([1, 5, 20, 60, 300, 900, 3600])
        if r < 0.30:
            fields: dict[str, Any] = {
                "call_id": f"c{self.n}",
                "caller": f"+336{self.n:08d}",
                "skill": rng.choice(engine.skills),
                "priority": rng.choice([0, 0, 0, 2, 5, 9]),
            }
            if rng.random() < 0.5:
                fields["department"] = rng.choice(["59", "64", "69"])
            if rng.random() < 0.1:
                fields["needs"] = ["lsf"]
            if rng.random() < 0.1:
                fields["preferred_agent_id"] = rng.choice(agents)
            return self.body("call.offered", **fields)
        if r < 0.45:
            state = rng.choice(
                ["available", "available", "available", "paused", "busy", "wrap_up", "logged_out"]
            )
            fields = {"agent_id": rng.choice(agents), "state": state}
            if state in ("paused", "logged_out") and rng.random() < 0.5:
                fields["reason"] = rng.choice(["lunch", "meeting"])
            if rng.random() < 0.2:
                fields["ts"] = iso(now - rng.uniform(0, 120))
            return self.body("agent.state", **fields)
        ringing = [c for c in calls if str(c.status) == "connecting"]
        talking = [c for c in calls if str(c.status) == "answered"]
        waiting = [c for c in calls if c.waiting and str(c.status) == "queued" and c.kind == "inbound"]
        if r < 0.55 and ringing:
            call = rng.choice(ringing)
            if call.callback_id or call.kind == "appointment":
                key = "callback" if call.callback_id else "appointment"
                outcome = rng.choice(["answered", "answered", "no_answer", "busy", "failed"])
                ident = call.callback_id if call.callback_id else call.id
                return self.body(f"{key}.result", **{f"{key}_id": ident, "outcome": outcome})
            if rng.random() < 0.75:
                return self.body("call.answered", call_id=call.id, agent_id=call.agent_id)
            return self.body("call.unanswered", call_id=call.id, agent_id=call.agent_id)
        if r < 0.65 and (talking or waiting):
            call = rng.choice(talking + waiting)
            reason = "completed" if str(call.status) == "answered" else rng.choice(["abandoned", "completed"])
            return self.body("call.ended", call_id=call.id, reason=reason)
        if r < 0.70 and waiting:
            call = rng.choice(waiting)
            windows = engine.callback_book.windows(now)
            if windows and rng.random() < 0.4:
                return self.body("callback.accepted", call_id=call.id, window_start=windows[0]["start"])
            return self.body("callback.accepted", call_id=call.id)
        if r < 0.74:
            return self.body(
                "callback.requested",
                callback_id=f"rq{self.n}",
                number=f"+337{self.n:08d}",
                skill=rng.choice(engine.skills),
                not_before=iso(now + rng.choice([0, 600, 7200, 86400])),
            )
        if r < 0.79:
            skill = rng.choice(["impot_revenu", "paiement"])
            day = datetime.fromtimestamp(now, UTC).date() + timedelta(days=rng.choice([0, 1, 2]))
            slots = [s for s in engine.queries.appointment_slots(skill, day, None, now) if s["remaining"] > 0]
            if slots:
                return self.body(
                    "appointment.booked",
                    appointment_id=f"ap{self.n}",
                    number=f"+338{self.n:08d}",
                    skill=skill,
                    start=iso(rng.choice(slots)["start"]),
                )
        booked = [a for a in engine.appointments.values() if a.status == "booked" and a.start > now]
        if r < 0.81 and booked:
            return self.body("appointment.cancelled", appointment_id=rng.choice(booked).id)
        scheduled = [c for c in engine.callbacks.values() if c.status == "scheduled"]
        if r < 0.83 and scheduled:
            return self.body("callback.cancelled", callback_id=rng.choice(scheduled).id)
        if r < 0.86:
            return self.body("overflow.mode", mode=rng.choice(["auto", "auto", "on", "off"]))
        if r < 0.89:
            held = [c.id for c in calls if str(c.status) in ("queued", "connecting", "answered")]
            kept = [c for c in held if rng.random() < 0.9]
            states = {a: engine.agent_state(engine.agents[a]).wire for a in agents if rng.random() < 0.3}
            return self.body("platform.sync", calls=kept, agents=states, ts=iso(now))
        if r < 0.91:
            ended = [c for c in calls if c.answered_at is not None and c.survey_score is None]
            if ended:
                return self.body("survey.result", call_id=rng.choice(ended).id, score=rng.randint(1, 5))
        if r < 0.93:
            agent_id = rng.choice([*agents[:3], f"api{self.n % 4}"])
            skills = {"impot_revenu": rng.randint(1, 5)}
            if rng.random() < 0.5:
                skills["paiement"] = rng.randint(1, 5)
            site = rng.choice(["lille", "pau", "lyon"])
            return self.body(
                "roster.agent", agent_id=agent_id, site=site, skills=skills, target=f"sip:{agent_id}@x"
            )
        if self.sent:  # a webhook delivered twice
            return dict(rng.choice(self.sent[-30:]))
        return 1


class Side:
    """One engine driven the way the service drives it, keeping what it answered and commanded."""

    def __init__(self, engine: Engine, now: float) -> None:
        self.engine, self.now = engine, now
        self.out: list[Any] = []

    def apply(self, body: dict[str, Any]) -> None:
        event = any_event_adapter.validate_python(body)
        try:
            results, commands = self.engine.apply([event], self.now)
        except EngineError as exc:
            self.out.append(("refused", exc.status, exc.code))
            return
        self.out.append(
            json.loads(json.dumps(([r.to_wire() for r in results], [c.to_wire() for c in commands])))
        )

    def advance(self, seconds: float) -> None:
        end, commands = self.now + seconds, []
        while (at := self.engine.next_wakeup()) is not None and at <= end:
            self.now = max(self.now, at)
            commands += self.engine.tick(self.now)
        self.now = end
        commands += self.engine.tick(self.now)
        self.out.append(json.loads(json.dumps([c.to_wire() for c in commands])))


def drive(platform: RandomPlatform, sides: list[Side], steps: int) -> None:
    lead = sides[0]
    for _ in range(steps):
        step = platform.next(lead.engine, lead.now)
        for side in sides:
            if isinstance(step, dict):
                side.apply(step)
            else:
                side.advance(step)


@pytest.mark.parametrize(
    ("strategy", "seed"),
    [*(("longest_idle", s) for s in (1, 2, 3, 4, 5)), ("least_occupied", 6), ("skill_level", 7)],
)
def test_export_import_then_the_same_events_give_the_same_results(router_kind, strategy, seed):
    """The property: at a random point, the state goes through JSON into a new engine; the same
    events then give both engines the same answers and commands, and the same state at the end
    (least_occupied reads the agents' clocks, skill_level their levels)."""
    rng = random.Random(seed)
    platform = RandomPlatform(seed)
    original = Side(Engine(rich_config(routing={"strategy": strategy}), router=router_kind), T0)
    for agent in list(original.engine.agents)[:7]:
        original.apply(
            {"id": f"login-{agent}", "type": "agent.state", "agent_id": agent, "state": "available"}
        )
    drive(platform, [original], rng.randint(50, 250))
    copy = Side(reload(original.engine), original.now)
    assert through_json(copy.engine) == through_json(original.engine)
    done = len(original.out)
    drive(platform, [original, copy], 300)
    assert copy.out == original.out[done:]
    assert through_json(copy.engine) == through_json(original.engine)
    a, b = original.engine, copy.engine
    assert (b.waiting_by_skill, b.staffed_by_skill) == (a.waiting_by_skill, a.staffed_by_skill)
    assert b.plain_waiting_by_skill == a.plain_waiting_by_skill
    assert b.queue_stats(copy.now) == a.queue_stats(original.now)
    assert [b.router.occupancy(x.row, copy.now) for x in b.agents.values()] == [
        a.router.occupancy(x.row, original.now) for x in a.agents.values()
    ]
    kinds = {body["type"] for body in platform.sent}
    assert {"call.offered", "callback.accepted", "appointment.booked", "platform.sync"} <= kinds


def test_a_round_trip_keeps_every_call_callback_appointment_and_agent(router_kind):
    d = Driver(Engine(rich_config(), router=router_kind))
    d.agent("a1", "available")
    d.agent("a2", "paused", reason="lunch")
    d.offer("c1")
    d.offer("c2", priority=5, department="59")
    d.offer("c3", skill="paiement")
    d.send("callback.accepted", call_id="c3")
    d.send("callback.requested", callback_id="rq1", number="+33611111111", skill="paiement",
           not_before=iso(T0 + 7200))  # fmt: skip
    start = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    d.send("appointment.booked", appointment_id="ap1", number="+33622222222", skill="impot_revenu",
           start=start.isoformat())  # fmt: skip
    copy = reload(d.engine)
    assert list(copy.calls) == list(d.engine.calls)
    assert [c.id for c in copy.waiting_calls()] == [c.id for c in d.engine.waiting_calls()]
    assert {c.id: c.status for c in copy.calls.values()} == {c.id: c.status for c in d.engine.calls.values()}
    assert copy.callbacks.keys() == d.engine.callbacks.keys()
    assert copy.appointments["ap1"].start == start.timestamp()
    assert copy.agent_state(copy.agents["a2"]) is AgentState.PAUSED and copy.agents["a2"].reason == "lunch"
    assert copy.queue_stats(d.now) == d.engine.queue_stats(d.now)
    assert copy.next_wakeup() == d.engine.next_wakeup()
    other = "reference" if router_kind == "numba" else "numba"
    assert through_json(reload(d.engine, router=other)) == through_json(d.engine)  # either router
    # the event ids are remembered: a retry is a duplicate, answered as before
    again = any_event_adapter.validate_python(
        {
            "id": "e-retry",
            "type": "call.offered",
            "call_id": "c9",
            "caller": "+33612345678",
            "skill": "paiement",
        }
    )
    first, _ = d.engine.apply([again], d.now)
    copy = reload(d.engine)
    second, _ = copy.apply([again], d.now)
    assert second[0].status == "duplicate" and second[0].decision == first[0].decision


def test_the_document_is_plain_json_with_its_format():
    d = Driver(Engine(rich_config(), router="reference"))
    d.agent("a1", "available")
    d.offer("c1")
    doc = engine_state.dump(d.engine)
    assert doc["format"] == engine_state.FORMAT == 4
    assert json.loads(json.dumps(doc, allow_nan=False)) == doc  # nothing but JSON's own types
    call = next(c for c in doc["calls"] if c["id"] == "c1")
    assert call["status"] == "connecting" and call["agent_id"] == "a1"
    assert next(a for a in doc["agents"] if a["id"] == "a1")["state"] == "reserved"


def test_a_document_from_a_later_release_or_another_program_is_refused():
    with pytest.raises(engine_state.StateError, match="newer"):
        engine_state.load(rich_config(), {"format": 99})
    with pytest.raises(engine_state.StateError, match="format"):
        engine_state.load(rich_config(), {"calls": []})


def _attributes(obj: object) -> set[str]:
    """The object's attributes: its `__dict__`'s, and those its class declares when compiled (the
    line and the engine as extension types, acd/engine/line.pxd and core.pxd: their fields are no
    `__dict__` entries, and a compiled engine has no `__dict__` at all)."""
    names = set(getattr(obj, "__dict__", ()))
    for cls in type(obj).__mro__:
        names |= {
            name
            for name, attr in vars(cls).items()
            if not name.startswith("__")
            and (inspect.isgetsetdescriptor(attr) or inspect.ismemberdescriptor(attr))
        }
    return names


def test_every_attribute_of_the_engine_is_in_the_state_or_made_from_the_configuration():
    """An attribute added to the engine must be added to acd/engine/state.py (or here, if the
    configuration makes it): otherwise a restart would lose it."""
    saved = {
        "_agent_by_row", "_call_by_row", "_ended", "_leaving",
        "_ewt_dirty", "_last_now", "_last_sync_at", "_no_answer", "_pending", "_reported_at", "_seen",
        "_seen_digest", "_seen_ignored", "_seen_expiry", "_seq", "_watchdog_at", "_opening_at", "abandonment",
        "agents", "aht", "appointments", "callbacks", "calls", "flagged", "service_rate", "timers",
        "overflow", "router", "waiting_by_skill", "plain_waiting_by_skill", "staffed_by_skill", "today",
    }  # fmt: skip
    parts = {"callback_book", "appointment_book", "outbound", "overflow_rules"}  # their state: below
    from_config = {
        "_busy_without_call_s", "_ended_retention", "_ewt_unstaffed_s", "_idempotency_ttl_s",
        "_max_answered_s", "_max_no_answer", "_max_ringing_s", "_max_wait_s", "_max_waiting_s",
        "_preferred_wait_s", "_rona_pause", "_site_ids", "_ts_skew_s", "_watchdog_s", "_wrap_up_s",
        "calendar", "config", "skill_index", "skills", "_survey_share", "_survey_default",
    }  # fmt: skip
    transient = {"observer", "_held"}  # the process's listener; set only during a platform.sync
    engine = Engine(rich_config(), router="reference")
    views = {"queries"}  # a property (compiled, a descriptor like a field's): made on each read
    assert _attributes(engine) - views == saved | from_config | transient | parts
    # the parts hold the line, their settings, and state that is in the document
    given = {"line", "outbound", "settings", "calendar", "caller_hours"}  # caller_hours: from the config
    assert set(vars(engine.callback_book)) - given == {
        "records",
        "pending",
        "active",
        "admitted",
        "window_booked",
        "open_of",  # made from the callbacks when a state is loaded
    }
    # forget_at, open_at: made from the appointments when a state is loaded
    assert set(vars(engine.appointment_book)) - given == {"records", "slots", "forget_at", "open_at"}
    assert set(vars(engine.outbound)) == {"line", "rules"} and set(vars(engine.overflow_rules)) == {
        "line",
        "overflow",
        "calendar",
    }


# ---------------------------------------------------------------------------- format 2


def format2(router: str) -> tuple[dict[str, Any], bytes, dict[str, Any]]:
    header = json.loads((FIXTURES / f"format2.{router}.header.json").read_text())
    data = (FIXTURES / f"format2.{router}.data").read_bytes()
    expected = json.loads((FIXTURES / "format2.followup.json").read_text())[router]
    return header, data, expected


def _pending(engine: Engine, agent_id: str, now: float) -> dict[str, Any]:
    view = engine.queries.agent(agent_id, now) or {}
    return {"pending_state": view.get("pending_state"), "pending_reason": view.get("pending_reason")}


def summary(engine: Engine, now: float) -> dict[str, Any]:
    """What tests/fixtures/state/make_format2.py recorded of the old engine, in the same words."""
    return json.loads(
        json.dumps(
            {
                "calls": {
                    c.id: {
                        "status": str(c.status),
                        "agent_id": c.agent_id,
                        "callback_id": c.callback_id,
                        "waiting": c.waiting,
                        "history": len(c.history),
                    }
                    for c in engine.calls.values()
                },
                "line": sorted(
                    (engine.router.queue_position(c.row), c.skill, c.id) for c in engine.waiting_calls()
                ),
                "agents": {
                    a.id: {
                        "state": engine.agent_state(a).name.lower(),
                        "call_id": a.call_id,
                        "reason": a.reason,
                        **_pending(engine, a.id, now),
                    }
                    for a in engine.agents.values()
                },
                "callbacks": {
                    cb.id: {"status": cb.status, "due_at": cb.due_at, "attempts": cb.attempts}
                    for cb in engine.callbacks.values()
                },
                "appointments": {
                    ap.id: {"status": ap.status, "start": ap.start, "site": ap.site}
                    for ap in engine.appointments.values()
                },
                "overflow": engine.overflow.status(now),
                "queues": engine.queue_stats(now),
                "next_wakeup": engine.next_wakeup(),
                "remembered": len(engine._seen),
            },
            default=str,
        )
    )


def stamped(engine: Any, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The old engine's command ids as this release writes them (`as_this_release`, 2026-12-04
    and 2026-12-05): `<call id>.<command>.<offer instant, ms>.<place>`."""
    out = []
    for command in commands:
        call_id, name, place = command["id"].rsplit(".", 2)
        stamp = round(engine.calls[call_id].offered_at * 1000.0)
        out.append({**command, "id": f"{call_id}.{name}.{stamp}.{place}"})
    return out


def as_this_release(expected: dict[str, Any]) -> dict[str, Any]:
    """The old engine's recorded answers, with where this release answers otherwise on purpose,
    each change written out (anything else must be as the old engine did).

    2026-12-02: a callback's dial answered by the agent it rings (`call.answered`, ev50, for n1
    and a3) is the dial's answer: the old engine kept the callback dialing, so the later
    `callback.result` no_answer (ev59) scheduled another dial and cb-n1's caller, who had talked
    to a3 and hung up (ev57), was called again (`n1.originate.6`). Now the callback is done at
    ev50 and both later results (ev59, ev69) change nothing; a3 stays free for cb-l1, which
    a7 took before.

    2026-12-03: an `originate` command also names the call id of its dial (`call_id`, the part
    of the command's id before `.originate.`).

    2026-12-03: a call's preferred agent, free now, takes it before any other eligible agent
    (CONTRACT.md), not only while the call waits for it: cb-l1's caller preferred a7, free when
    its dial comes, so a7 takes it (as the old engine did) and a3, free, then takes ap1's dial
    (a5 took it before).

    2026-12-04: a command's id but an `originate`'s carries its call's offer instant in
    milliseconds before the decision's place (`c3.connect.1772442019000.3`, not `c3.connect.3`):
    a call id offered again once forgotten gets ids of its own (`stamped`, with the engine).

    2026-12-05: an `originate`'s id too (`rq1.originate.1772442121000.1`): a callback of a call id
    offered again once forgotten was dialled under the first caller's id, which the outbox drops.

    2026-12-05: a queue's `ewt_s` is a new caller's, 0 s while nobody waits and an agent of the
    skill is available (impot_revenu: 4 available; it said the line's pace, 25.8 s).

    2026-12-05: the overflow's `reason` says which wait it watches and its hysteresis (a supervisor
    read "expected wait above 600 s" beside a queue's 0 s).

    2026-12-05: in auto, the overflow's `sends` says which callers an active overflow sends (the
    ones the national line would lose: config/overflow.yaml's patience_share)."""
    expected = json.loads(json.dumps(expected))
    for step in expected["followup"]:
        for command in step.get("commands", []):
            if command["command"] == "originate":
                command["call_id"] = command["id"].split(".originate.")[0]
        for result in step.get("results", []):
            if result["id"] in ("ev59", "ev69"):
                result["ignored"] = "not_dialing"
        if "advance" in step:
            step["commands"] = [c for c in step["commands"] if c["id"] != "n1.originate.6"]
            for command in step["commands"]:
                if command["id"] == "ap1.originate.1":
                    command.update(agent_id="a3", target="sip:a3@lille.example")
    after = expected["after"]
    after["calls"]["n1"].update(status="ended", history=5)
    after["calls"]["ap1"]["agent_id"] = "a3"
    after["agents"]["a3"].update(state="busy", call_id="ap1")
    after["agents"]["a5"].update(state="available", call_id=None)
    after["callbacks"]["cb-n1"].update(due_at=1772442121.0, attempts=1)
    queues = {q["skill"]: q for q in after["queues"]}
    queues["impot_revenu"].update(ewt_s=0.0, agents_available=4, agents_busy=5)
    queues["lsf"].update(agents_available=0, agents_busy=3)
    expected["at_snapshot"]["overflow"]["reason"] = reason_hot(["lsf"], 600, 300)
    after["overflow"]["reason"] = reason_cool(600)
    sends = sends_whom(rich_config().overflow)
    expected["at_snapshot"]["overflow"]["sends"] = after["overflow"]["sends"] = sends
    return expected


def test_a_format_2_snapshot_of_a_running_deployment_is_upgraded_and_carries_on_alike(router_kind, caplog):
    """The pickled engine of the last release (a real snapshot, tests/fixtures/state) becomes a
    state, and the engine loaded from it answers the next day's events as the old engine did
    (but for the changes `as_this_release` writes out)."""
    from acd.store import snapshot as snap

    header, data, expected = format2(router_kind)
    expected = as_this_release(expected)
    assert header["format"] == 2 and snap.read_header(json.dumps(header).encode()) == header
    with caplog.at_level(logging.WARNING, logger="acd.engine.state"):
        engine = snap.decode(data, header, config=rich_config(), router=router_kind)
    assert not caplog.records  # the same configuration: nothing to say
    now = expected["now"]
    assert summary(engine, now) == expected["at_snapshot"]
    side = Side(engine, now)
    for step in expected["followup"]:
        if "advance" in step:
            side.advance(step["advance"])
            assert side.out[-1] == stamped(engine, step["commands"])
        else:
            side.apply(step["events"][0])
            assert side.out[-1] == [step["results"], stamped(engine, step["commands"])], step["events"]
    assert summary(engine, side.now) == expected["after"]


def test_a_format_2_snapshot_upgrades_under_a_changed_configuration(caplog):
    header, data, expected = format2("numba")
    from acd.store import snapshot as snap

    config = rich_config(
        routing={"wrap_up_s": 5.0},
        agents=json.loads((FIXTURES / "format2.config.json").read_text())["agents"][:6],
    )
    with caplog.at_level(logging.WARNING, logger="acd.engine.state"):
        engine = snap.decode(data, header, config=config)
    messages = " | ".join(r.getMessage() for r in caplog.records)
    assert "configuration changed" in messages and "agents" in messages and "routing" in messages
    assert engine._wrap_up_s == 5.0
    before = expected["at_snapshot"]
    assert {k: v["status"] for k, v in summary(engine, expected["now"])["callbacks"].items()} == {
        k: v["status"] for k, v in before["callbacks"].items()
    }
    assert summary(engine, expected["now"])["appointments"] == before["appointments"]
    waiting = {c for c, v in before["calls"].items() if v["waiting"]}
    assert {c.id for c in engine.waiting_calls()} == waiting


def test_format_1_and_unknown_formats_are_refused_with_the_reason():
    with pytest.raises(engine_state.StateError, match="cannot be upgraded"):
        engine_state.upgrade({"format": 1})


# ---------------------------------------------------------------------------- a changed configuration


def test_a_changed_wrap_up_applies_to_the_next_call_and_keeps_the_line(router_kind):
    d = Driver(Engine(rich_config(), router=router_kind))
    d.agent("a1", "available")
    d.offer("c1")
    d.offer("c2")
    d.send("call.answered", call_id="c1", agent_id="a1")
    d.engine = reload(d.engine, rich_config(routing={"wrap_up_s": 120.0}))
    assert [c.id for c in d.engine.waiting_calls()] == ["c2"]
    d.send("call.ended", call_id="c1", reason="completed")
    assert d.engine.agent_state(d.engine.agents["a1"]) is AgentState.WRAP_UP
    d.advance(100)
    assert d.engine.agent_state(d.engine.agents["a1"]) is AgentState.WRAP_UP  # 30 s no longer
    d.advance(25)
    assert d.engine.calls["c2"].agent_id == "a1"


def test_an_agent_removed_from_the_roster_is_dropped_or_logs_out_after_its_call(router_kind, caplog):
    d = Driver(Engine(rich_config(), router=router_kind))
    for agent in ("a1", "a2", "a3"):
        d.agent(agent, "available")
    d.offer("c1", preferred_agent_id="a2")  # a1 or a2 rings
    d.send("call.answered", call_id="c1", agent_id=d.engine.calls["c1"].agent_id)
    talking = d.engine.calls["c1"].agent_id
    d.offer("c2", preferred_agent_id="a9")  # a9 is logged out: the call waits for it a minute
    roster = [a for a in json.loads((FIXTURES / "format2.config.json").read_text())["agents"]]
    kept = [a for a in roster if a["id"] not in (talking, "a3", "a9")]
    with caplog.at_level(logging.WARNING, logger="acd.engine.state"):
        d.engine = reload(d.engine, rich_config(agents=kept))
    text = " | ".join(r.getMessage() for r in caplog.records)
    assert "agent a3 dropped" in text and f"agent {talking} removed" in text and "a9 has left" in text
    assert "a3" not in d.engine.agents and "a9" not in d.engine.agents
    assert d.engine.calls["c2"].preferred_agent_id is None
    assert d.engine.queries.agent(talking, d.now)["pending_state"] == "logged_out"
    d.send("call.ended", call_id="c1", reason="completed")
    assert d.engine.agent_state(d.engine.agents[talking]) is AgentState.LOGGED_OUT
    d.advance(1)
    assert d.engine.calls["c2"].agent_id is not None  # the other agent takes it


def test_a_removed_skill_ends_its_calls_fails_its_callbacks_and_cancels_its_appointments(router_kind, caplog):
    d = Driver(Engine(rich_config(), router=router_kind))
    d.agent("a2", "available")
    d.offer("p1", skill="paiement")  # a2 rings
    d.offer("p2", skill="paiement")
    d.offer("i1", skill="impot_revenu", needs=["paiement"])
    d.send("callback.requested", callback_id="rq1", number="+33611111111", skill="paiement",
           not_before=iso(T0 + 7200))  # fmt: skip
    start = datetime(2026, 3, 5, 13, 30, tzinfo=UTC)
    d.send("appointment.booked", appointment_id="ap1", number="+33622222222", skill="paiement",
           start=start.isoformat())  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="acd.engine.state"):
        d.engine = reload(d.engine, config_without_paiement())
    e = d.engine
    assert [e.calls[c].status for c in ("p1", "p2")] == ["ended", "ended"]
    assert e.calls["i1"].needs == () and e.calls["i1"].waiting
    assert e.callbacks["rq1"].status == "failed" and e.appointments["ap1"].status == "cancelled"
    assert e.agent_state(e.agents["a2"]) is AgentState.BUSY and e.agents["a2"].call_id is None
    assert "skill paiement no longer exists" in caplog.text
    # The platform's end of the call a2 rang for frees a2 (wrap-up, then available), as the end
    # of a lost call does; before, a2 stayed busy with no call until an agent.state or a sync.
    d.send("call.ended", call_id="p2", reason="abandoned")  # p2 held nobody: nothing moves
    assert e.agent_state(e.agents["a2"]) is AgentState.BUSY
    d.send("call.ended", call_id="p1", reason="completed")
    assert e.agent_state(e.agents["a2"]) is AgentState.WRAP_UP
    d.send("call.ended", call_id="p1", reason="completed")  # again: nothing more
    d.advance(e.config.routing.wrap_up_s + 1)
    assert e.calls["i1"].agent_id == "a2"  # no agent.state needed
    d.advance(3 * 3600)  # the callback's and the appointment's timers find them closed


def test_a_removed_skill_frees_a_talking_agent_when_the_platform_ends_its_call(router_kind):
    d = Driver(Engine(rich_config(), router=router_kind))
    d.agent("a2", "available")
    d.offer("p1", skill="paiement")
    d.send("call.answered", call_id="p1", agent_id="a2")
    d.engine = reload(d.engine, config_without_paiement())
    e = d.engine
    assert e.calls["p1"].status == "ended" and e.agent_state(e.agents["a2"]) is AgentState.BUSY
    d.offer("i1", skill="impot_revenu")  # waits: a2 still talks on the platform
    assert e.calls["i1"].waiting
    d.advance(60)
    assert e.calls["i1"].waiting  # never given to an agent on a call
    d.send("call.ended", call_id="p1", reason="completed")
    assert e.agent_state(e.agents["a2"]) is AgentState.WRAP_UP
    d.advance(e.config.routing.wrap_up_s + 1)
    assert e.calls["i1"].agent_id == "a2"


def test_an_agent_state_after_a_fit_wins_over_the_late_end_of_the_removed_call(router_kind):
    d = Driver(Engine(rich_config(), router=router_kind))
    d.agent("a2", "available")
    d.offer("p1", skill="paiement")
    d.engine = reload(d.engine, config_without_paiement())
    e = d.engine
    d.advance(5)
    d.agent("a2", "paused")  # newer news from the platform
    d.send("call.ended", call_id="p1", reason="completed")
    assert e.agent_state(e.agents["a2"]) is AgentState.PAUSED


def test_a_widened_roster_takes_a_waiting_call_at_the_first_tick(router_kind):
    d = Driver(Engine(rich_config(), router=router_kind))
    d.agent("a1", "available")  # a1 lacks lsf
    d.offer("l1", skill="lsf")
    data = json.loads((FIXTURES / "format2.config.json").read_text())
    data["agents"][0]["skills"]["lsf"] = 3
    d.engine = reload(d.engine, Config.model_validate(data))
    fired = d.advance(0)
    assert [c.command for c in fired] == ["connect"] and d.engine.calls["l1"].agent_id == "a1"


def test_an_agent_added_through_the_api_stays_across_a_reload(router_kind):
    d = Driver(Engine(small_config(), router=router_kind))
    d.send("roster.agent", agent_id="new", site="pau", skills={"paiement": 2}, target="sip:new@x")
    d.agent("new", "available")
    copy = reload(d.engine)
    assert copy.agent_state(copy.agents["new"]) is AgentState.AVAILABLE
    assert copy.agents["new"].skills == {"paiement": 2}


def test_a_log_replayed_under_a_roster_without_an_agent_skips_its_events_and_applies_the_rest(
    router_kind, caplog
):
    """A snapshot loaded under a changed config/, then the log after it: an event that names a
    removed agent is skipped and logged, the others of its entry are applied (once)."""
    from acd.engine import apply_logged

    d = Driver(Engine(rich_config(), router=router_kind))
    d.agent("a1", "available")
    roster = json.loads((FIXTURES / "format2.config.json").read_text())["agents"]
    engine = reload(d.engine, rich_config(agents=[a for a in roster if a["id"] != "a3"]))
    events = [
        any_event_adapter.validate_python(body)
        for body in (
            {
                "id": "l1",
                "type": "call.offered",
                "call_id": "c1",
                "caller": "+33612345678",
                "skill": "impot_revenu",
            },
            {"id": "l2", "type": "agent.state", "agent_id": "a3", "state": "available"},
            {
                "id": "l3",
                "type": "call.offered",
                "call_id": "c2",
                "caller": "+33612345678",
                "skill": "impot_revenu",
            },
        )
    ]
    with caplog.at_level(logging.WARNING, logger="acd.store.snapshot"):
        results = apply_logged(engine, events, d.now)
    assert [r.id for r in results if r.status == "applied"] == ["l1", "l3"]
    assert "l2" in caplog.text and "a3" not in engine.agents
    assert engine.calls["c1"].agent_id == "a1" and engine.calls["c2"].waiting


@pytest.mark.parametrize("same_config", [True, False])
def test_a_replay_failure_under_the_same_config_is_logged_as_a_defect(
    router_kind, caplog, monkeypatch, same_config
):
    """Under the configuration and release the state was saved with, nothing an entry names can
    have gone: a trusted replay that fails is an engine defect and says so (an error, with its
    traceback), where under a changed config/ it is the expected fallback (a warning)."""
    from acd.engine import apply_logged
    from acd.engine.core import Engine as EngineClass

    d = Driver(Engine(rich_config(), router=router_kind))
    d.agent("a1", "available")
    engine = reload(d.engine)
    handler = EngineClass._handlers["call.offered"]
    failures = [KeyError("a defect")]

    def defective(*args):
        if failures:
            raise failures.pop()
        return handler(*args)

    monkeypatch.setitem(EngineClass._handlers, "call.offered", defective)
    event = any_event_adapter.validate_python(
        {
            "id": "l1",
            "type": "call.offered",
            "call_id": "c1",
            "caller": "+33612345678",
            "skill": "impot_revenu",
        }
    )
    with caplog.at_level(logging.WARNING, logger="acd.engine.replay"):
        results = apply_logged(engine, [event], d.now, same_config=same_config)
    assert [r.status for r in results] == ["applied"]
    [record] = [r for r in caplog.records if r.name == "acd.engine.replay"]
    if same_config:
        assert record.levelno == logging.ERROR and record.exc_info is not None
        assert "engine defect" in record.getMessage()
    else:
        assert record.levelno == logging.WARNING and "engine defect" not in record.getMessage()


def test_a_format_2_snapshot_of_its_first_release_upgrades_too(caplog):
    """Format 2's first release (2026-11-23, revision 4e8e9fa) pickled an engine without what came
    later (the agent machine, the measured expected wait, callback windows): those start empty."""
    from acd.store import snapshot as snap

    header = json.loads((FIXTURES / "format2-early.numba.header.json").read_text())
    data = (FIXTURES / "format2-early.numba.data").read_bytes()
    expected = json.loads((FIXTURES / "format2-early.numba.json").read_text())
    with caplog.at_level(logging.WARNING, logger="acd.engine.state"):
        engine = snap.decode(data, header, config=rich_config())
    assert "configuration changed" in caplog.text  # its configuration had fewer settings
    assert {c.id: [str(c.status), c.agent_id] for c in engine.calls.values()} == expected["calls"]
    assert [c.id for c in engine.waiting_calls()] == expected["waiting"]
    assert {a.id: engine.agent_state(a).name.lower() for a in engine.agents.values()} == expected["agents"]
    assert {c.id: [c.status, c.due_at] for c in engine.callbacks.values()} == expected["callbacks"]
    assert {a.id: [a.status, a.start] for a in engine.appointments.values()} == expected["appointments"]
    d = Driver(engine, now=expected["now"])
    d.send("call.ended", call_id="c1", reason="completed")
    first = min(expected["waiting"], key=lambda c: engine.router.queue_position(engine.calls[c].row))
    d.advance(31)  # wrap-up over: a1 takes the first call in line
    assert engine.calls[first].agent_id == "a1"
    assert not engine.calls["rq1"].waiting
    d.advance(3 * 3600)  # the requested callback is due: it joins the line
    assert engine.calls["rq1"].waiting and engine.callbacks["rq1"].status == "scheduled"


def test_reading_a_format_2_pickle_runs_none_of_its_callables(tmp_path):
    """Format 2 is unpickled into shadows: a callable named in the pickle is never called."""
    import os
    import pickle

    from acd.engine.state_v2 import read_pickle

    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    with pytest.raises(ValueError, match="not an acd Engine"):
        read_pickle(pickle.dumps(Evil()))
    assert not marker.exists()


# ---------------------------------------------------------------------------- a duplicate's answer


def _stale_then_retried(router_kind: str) -> tuple[Driver, Any]:
    """a1 reported available at t+10, then a wrap_up stamped t+5 arrives: ignored as stale."""
    d = Driver(Engine(rich_config(), router=router_kind))
    t = d.now
    d.send("agent.state", at=t + 10, agent_id="a1", state="available")
    late = any_event_adapter.validate_python(
        {"id": "e-late", "type": "agent.state", "agent_id": "a1", "state": "wrap_up", "ts": iso(t + 5)}
    )
    return d, late


def test_a_duplicate_of_an_ignored_event_carries_the_first_reason(router_kind):
    d, late = _stale_then_retried(router_kind)
    first, _ = d.engine.apply([late], d.now)
    assert first[0].status == "applied" and first[0].ignored == "stale"
    again, commands = d.engine.apply([late], d.now)
    assert again[0].to_wire() == {"id": "e-late", "status": "duplicate", "ignored": "stale"}
    assert commands == []
    # an event that was applied (not ignored) answers no reason when repeated
    login = any_event_adapter.validate_python(
        {"id": "e-login", "type": "agent.state", "agent_id": "a2", "state": "available"}
    )
    d.engine.apply([login], d.now)
    again, _ = d.engine.apply([login], d.now)
    assert again[0].to_wire() == {"id": "e-login", "status": "duplicate"}


def test_a_duplicate_carries_the_first_reason_after_export_and_import(router_kind):
    d, late = _stale_then_retried(router_kind)
    d.engine.apply([late], d.now)
    doc = through_json(d.engine)
    assert doc["remembered"]["ignored"] == {"e-late": "stale"}
    copy = engine_state.load(d.engine.config, doc, router=router_kind)
    again, _ = copy.apply([late], d.now)
    assert again[0].to_wire() == {"id": "e-late", "status": "duplicate", "ignored": "stale"}
    # and the reason is forgotten with its id
    copy.apply([], d.now + copy._idempotency_ttl_s + 1)
    assert copy._seen_ignored == {} and "e-late" not in copy._seen


def test_a_format_3_document_reads_its_remembered_ids_without_reasons(router_kind):
    """Format 3 (before the reasons were remembered) still reads: its duplicates answer the first
    decision as they did, with no reason (format 3 never kept one)."""
    d, late = _stale_then_retried(router_kind)
    d.engine.apply([late], d.now)
    doc = through_json(d.engine)
    doc["format"] = 3
    del doc["remembered"]["ignored"]
    copy = engine_state.load(d.engine.config, doc, router=router_kind)
    again, _ = copy.apply([late], d.now)
    assert again[0].to_wire() == {"id": "e-late", "status": "duplicate"}
    assert through_json(copy)["format"] == engine_state.FORMAT == 4


def test_a_format_3_snapshot_of_the_previous_release_is_read_and_upgraded():
    """A Redis snapshot the previous release wrote (format 3, json+zlib1) is still read."""
    import zlib

    from acd.store import snapshot as snap
    from acd.store.snapshot import Position

    d, late = _stale_then_retried("reference")
    d.engine.apply([late], d.now)
    doc = through_json(d.engine)
    doc["format"] = 3
    del doc["remembered"]["ignored"]
    data = zlib.compress(json.dumps(doc).encode(), 1)
    header = json.loads(snap.make_header(Position(), "x", len(data)))
    header["format"] = 3
    header = snap.read_header(json.dumps(header).encode())
    copy = snap.decode(data, header, config=d.engine.config, router="reference")
    again, _ = copy.apply([late], d.now)
    assert again[0].status == "duplicate"
    assert engine_state.dump(copy)["format"] == snap.FORMAT_VERSION == 4


def test_a_document_exported_by_the_first_format_3_release_is_read_and_carries_on(router_kind):
    """A real `acd state export` of release 048a00c, the first that had it (format 3, before the
    day's counts and the remembered reasons): its acd serve, on Redis, was driven through HTTP
    (lille-0001 answering k1; k2 and k4 waiting at priority 0, k3 and k5 at 5; lille-0003 paused
    for lunch; a requested callback at 15:00; an appointment the next morning; overflow forced
    off) and exported. Read under today's config/, nothing is lost and the engine carries on."""
    import gzip

    from acd.config import load_config
    from acd.events import any_event_adapter as events

    doc = json.loads(gzip.decompress((FIXTURES / "format3-048a00c.json.gz").read_bytes()))
    assert (doc["format"], "today" in doc, "ignored" in doc["remembered"]) == (3, False, False)
    engine = engine_state.load(
        load_config(Path(__file__).resolve().parents[2] / "config"), doc, router=router_kind
    )
    q, now = engine.queries, doc["now"]
    waiting = {c: q.call(c, now)["position"] for c in ("k2", "k3", "k4", "k5")}
    assert waiting == {"k3": 1, "k5": 2, "k2": 3, "k4": 4}
    k1 = q.call("k1", now)
    assert (k1["status"], k1["agent_id"]) == ("answered", "lille-0001")
    assert q.agent("lille-0001", now)["state"] == "busy"
    assert (q.agent("lille-0003", now)["state"], q.agent("lille-0003", now)["reason"]) == ("paused", "lunch")
    [callback_id] = [c["id"] for c in doc["callbacks"]]
    assert (q.callback(callback_id)["status"], q.callback(callback_id)["skill"]) == ("scheduled", "paiement")
    [appointment_id] = [a["id"] for a in doc["appointments"]]
    assert q.appointment(appointment_id)["status"] == "booked"
    assert q.overflow(now)["mode"] == "off"
    # a remembered id answers its first decision again; the call answered ends and k3 is served
    retry = events.validate_python(
        {
            "id": "o32",
            "type": "call.offered",
            "call_id": "k1",
            "caller": "+33611111111",
            "skill": "impot_revenu",
        }
    )
    results, _ = engine.apply([retry], now + 1)
    assert results[0].to_wire()["status"] == "duplicate"
    assert results[0].to_wire()["decision"]["agent_id"] == "lille-0001"
    end = events.validate_python({"id": "n1", "type": "call.ended", "call_id": "k1", "reason": "completed"})
    engine.apply([end], now + 2)
    engine.tick(now + 40)  # the wrap-up over, lille-0001 takes the first waiting call
    assert q.call("k3", now + 40)["agent_id"] == "lille-0001"
    assert engine_state.dump(engine)["format"] == engine_state.FORMAT


def _booked(appointment_id: str, skill: str, start: datetime) -> Any:
    return any_event_adapter.validate_python(
        {
            "id": f"book-{appointment_id}",
            "type": "appointment.booked",
            "appointment_id": appointment_id,
            "number": "+33622222222",
            "skill": skill,
            "start": start.isoformat(),
        }
    )


def test_a_logged_booking_replayed_where_its_slot_is_now_full_keeps_the_appointment(router_kind, caplog):
    """A restart under smaller capacities (config/appointments.yaml) replays a booking that was
    acknowledged (201) into a slot that now has no place left: the appointment is kept, over the
    new capacity, and logged. It used to raise an AssertionError that apply_logged did not catch:
    the Redis store's reload failed in a loop and the instance never became ready."""
    from acd.engine import apply_logged

    d = Driver(Engine(rich_config(), router=router_kind))
    start = datetime(2026, 3, 5, 13, 30, tzinfo=UTC)
    d.send("appointment.booked", appointment_id="ap1", number="+33622222222", skill="impot_revenu",
           start=start.isoformat())  # fmt: skip
    capacity = [{"site": "lille", "skill": "impot_revenu", "morning": 1, "afternoon": 1},
                {"site": "lyon", "skill": "paiement", "morning": 1, "afternoon": 1}]  # fmt: skip
    engine = reload(d.engine, rich_config(appointments={"capacity": capacity}))
    with caplog.at_level(logging.WARNING):
        results = apply_logged(engine, [_booked("ap2", "impot_revenu", start)], d.now)
    assert [r.status for r in results] == ["applied"]
    assert engine.appointments["ap2"].status == "booked" and engine.appointments["ap1"].status == "booked"
    assert "ap2" in caplog.text and "over" in caplog.text


def test_a_logged_booking_replayed_after_its_skill_lost_its_appointments_is_skipped_not_a_crash(
    router_kind, caplog
):
    from acd.engine import apply_logged

    d = Driver(Engine(rich_config(), router=router_kind))
    capacity = [{"site": "lille", "skill": "impot_revenu", "morning": 2, "afternoon": 2}]
    engine = reload(d.engine, rich_config(appointments={"capacity": capacity}))
    start = datetime(2026, 3, 5, 13, 30, tzinfo=UTC)
    with caplog.at_level(logging.WARNING):
        results = apply_logged(engine, [_booked("ap1", "paiement", start)], d.now)
    assert results == [] and "ap1" not in engine.appointments
    assert "book-ap1" in caplog.text and "no site offers appointments" in caplog.text


def test_a_logged_offer_of_a_removed_skill_is_skipped_whole_not_left_half_applied(router_kind, caplog):
    """Replayed under a config/ without its skill, a `call.offered` is skipped and logged. Before,
    the trusted apply created the call, then failed on the router's skill index: the event-by-event
    retry refused it, but the call stayed, `queued` in no line, for ever."""
    from acd.engine import apply_logged

    d = Driver(Engine(rich_config(), router=router_kind))
    engine = reload(d.engine, config_without_paiement())
    offer = any_event_adapter.validate_python(
        {"id": "o7", "type": "call.offered", "call_id": "k7", "caller": "+33612345678", "skill": "paiement"}
    )
    with caplog.at_level(logging.WARNING):
        assert apply_logged(engine, [offer], d.now) == []
    assert "k7" not in engine.calls and "o7" in caplog.text


def test_a_decision_with_a_key_a_later_release_added_reads_back_without_it():
    """A rollback reads a state a later release wrote: a remembered decision carrying a key this
    release does not know loads without it (never a crash), and answers a duplicate as it can."""
    from acd.model import SyncDecision, decision_from_wire

    wire = {"action": "sync", "ended": ["c1"], "agents": {}, "added_later": [1, 2]}
    assert decision_from_wire(wire) == SyncDecision(["c1"], {})
    d = Driver(Engine(rich_config(), router="reference"))
    d.agent("a1", "available")
    doc = json.loads(json.dumps(engine_state.dump(d.engine)))
    some = next(iter(doc["remembered"]["decisions"]))
    doc["remembered"]["decisions"][some] = {**wire}
    again = engine_state.load(rich_config(), doc)
    assert again._seen[some] == SyncDecision(["c1"], {})


def test_contacts_booked_before_numbers_were_checked_are_never_dialled_to_one_refused(router_kind, caplog):
    """Releases before 2026-12-04 took any E.164 number for a callback or an appointment; this one
    refuses special-rate numbers (the line would pay: toll fraud), numbers of the wrong length for
    the French plan and short numbers (acd/phone.py). A state saved by such a release can hold
    such contacts: loaded, each is ended as a removed skill's are (a callback failed, an
    appointment cancelled, `why: number_refused`), its call leaves the line, and none is ever
    dialled or reminded; a contact with an ordinary number carries on."""
    d = Driver(Engine(rich_config(), router=router_kind))
    d.offer("c1", skill="impot_revenu")
    d.send("callback.accepted", call_id="c1")  # virtual hold: its call keeps its place
    d.send("callback.requested", callback_id="rq1", number="+33611111111", skill="impot_revenu",
           not_before=iso(T0 + 7200))  # fmt: skip
    d.send("callback.requested", callback_id="rq2", number="+33633333333", skill="impot_revenu",
           not_before=iso(T0 + 7200))  # fmt: skip
    d.send("callback.requested", callback_id="rq3", number="+33644444444", skill="impot_revenu")
    assert d.engine.callback_book.active == {"impot_revenu": 1}  # due now: let into the line
    start = datetime(2026, 3, 5, 13, 30, tzinfo=UTC)
    d.send("appointment.booked", appointment_id="ap1", number="+33622222222", skill="paiement",
           start=start.isoformat())  # fmt: skip
    data = through_json(d.engine)
    premium = {"cb-c1": "+33899123456", "rq1": "+33812345678", "rq3": "+33891000000", "ap1": "+3361234"}
    for record in (*data["callbacks"], *data["appointments"]):
        record["number"] = premium.get(record["id"], record["number"])
    with caplog.at_level(logging.WARNING, logger="acd.engine.state"):
        d.engine = e = engine_state.load(rich_config(), data, router=router_kind)
    statuses = [e.callbacks[c].status for c in ("cb-c1", "rq1", "rq2", "rq3")]
    assert statuses == ["failed", "failed", "scheduled", "failed"]
    assert e.callback_book.active.get("impot_revenu", 0) == 0 and not e.callback_book.admitted
    assert e.appointments["ap1"].status == "cancelled"
    assert e.callbacks["rq1"].history[-1][1] == {"status": "failed", "why": "number_refused"}
    assert e.calls["c1"].status == "ended" and not e.calls["c1"].waiting
    assert "c1" not in [c.id for c in e.waiting_calls()]
    assert "callback rq1 failed: acd must not dial its number" in caplog.text
    for agent in ("a1", "a2", "a3"):
        d.agent(agent, "available")
    d.advance(5 * 3600)
    dialled = [c.fields.get("callback_id") or c.fields.get("appointment_id") for c in d.commands
               if c.command in ("originate", "remind")]  # fmt: skip
    assert dialled == ["rq2"]
