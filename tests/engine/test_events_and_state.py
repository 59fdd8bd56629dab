"""Batches, idempotency, determinism and the bookkeeping of calls, on the engine directly."""

from __future__ import annotations

import json

import pytest

from acd.engine import Engine, EngineError, state
from acd.engine.line import command_prefix
from acd.engine.observer import NULL_OBSERVER, Observer
from tests.conftest import T0, Driver, ev, small_config


def test_a_batch_with_one_bad_reference_changes_nothing(router_kind):
    engine = Engine(small_config(), router=router_kind)
    batch = [
        ev("agent.state", agent_id="a1", state="available"),
        ev("call.offered", call_id="c1", caller="+33600000001", skill="impot_revenu"),
        ev("agent.state", agent_id="nobody", state="available"),
    ]
    with pytest.raises(EngineError) as exc:
        engine.apply(batch, T0)
    assert exc.value.code == "unknown_agent"
    assert exc.value.details["index"] == 2
    assert "c1" not in engine.calls
    assert engine.agent_state(engine.agents["a1"]).wire == "logged_out"


def test_a_batch_may_refer_to_a_call_it_offers_itself(router_kind):
    engine = Engine(small_config(), router=router_kind)
    results, _ = engine.apply(
        [
            ev("agent.state", agent_id="a1", state="available"),
            ev("call.offered", call_id="c1", caller="+33600000001", skill="impot_revenu"),
            ev("call.answered", call_id="c1", agent_id="a1"),
        ],
        T0,
    )
    assert [r.status for r in results] == ["applied"] * 3
    assert engine.calls["c1"].status == "answered"


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"skill": "astrologie"}, "unknown_skill"),
        ({"needs": ["klingon"]}, "unknown_skill"),
        ({"preferred_agent_id": "ghost"}, "unknown_agent"),
    ],
)
def test_offer_with_unknown_references_is_refused(router_kind, fields, code):
    engine = Engine(small_config(), router=router_kind)
    body = {"call_id": "c1", "caller": "+33600000001", "skill": "impot_revenu", **fields}
    with pytest.raises(EngineError) as exc:
        engine.apply([ev("call.offered", **body)], T0)
    assert exc.value.code == code
    assert engine.calls == {}


def test_the_same_call_offered_twice_under_new_ids_is_a_conflict(router_kind):
    d = Driver(Engine(small_config(), router=router_kind))
    d.offer("c1")
    with pytest.raises(EngineError) as exc:
        d.offer("c1")
    assert exc.value.status == 409


def test_events_about_unknown_calls_are_refused(router_kind):
    engine = Engine(small_config(), router=router_kind)
    for event in (
        ev("call.ended", call_id="nope", reason="completed"),
        ev("call.answered", call_id="nope", agent_id="a1"),
        ev("survey.result", call_id="nope", score=3),
        ev("callback.accepted", call_id="nope"),
        ev("callback.result", callback_id="nope", outcome="answered"),
        ev("appointment.result", appointment_id="nope", outcome="answered"),
    ):
        with pytest.raises(EngineError):
            engine.apply([event], T0)


def test_a_duplicate_event_returns_the_first_decision_and_changes_nothing(router_kind):
    engine = Engine(small_config(), router=router_kind)
    offer = ev("call.offered", id="evt-1", call_id="c1", caller="+33600000001", skill="impot_revenu")
    first, _ = engine.apply([offer], T0)
    engine.apply([ev("agent.state", agent_id="a1", state="available")], T0 + 1)  # c1 now connects
    again, commands = engine.apply([offer], T0 + 2)
    assert again[0].status == "duplicate"
    assert again[0].decision == first[0].decision
    assert again[0].decision.action == "queue"
    assert commands == []


def test_a_duplicate_inside_one_batch_is_applied_once(router_kind):
    engine = Engine(small_config(), router=router_kind)
    offer = ev("call.offered", id="same", call_id="c1", caller="+33600000001", skill="impot_revenu")
    results, _ = engine.apply([offer, offer], T0)
    assert [r.status for r in results] == ["applied", "duplicate"]


def test_event_ids_are_forgotten_after_their_ttl(router_kind):
    engine = Engine(small_config(idempotency_ttl_s=100), router=router_kind)
    state = ev("agent.state", id="x", agent_id="a1", state="available")
    engine.apply([state], T0)
    assert engine.apply([state], T0 + 50)[0][0].status == "duplicate"
    engine.apply([ev("agent.state", agent_id="a2", state="available")], T0 + 101)
    assert engine.apply([state], T0 + 102)[0][0].status == "applied"


def test_ended_calls_are_kept_up_to_the_retention(router_kind):
    d = Driver(Engine(small_config(ended_call_retention=2), router=router_kind))
    for i in range(4):
        d.offer(f"c{i}")
        d.send("call.ended", call_id=f"c{i}", reason="abandoned")
    assert sorted(d.engine.calls) == ["c2", "c3"]


def test_the_engine_is_deterministic(router_kind):
    def run() -> list:
        d = Driver(Engine(small_config(), router=router_kind))
        out = []
        for i, agent in enumerate(["a1", "a2", "a4", "a5"]):
            d.advance(i)
            d.agent(agent, "available")
        for i in range(8):
            out.append(d.offer(f"c{i}", priority=i % 3))
            d.advance(7)
        for i in range(4):
            d.send("call.answered", call_id=f"c{i}", agent_id=d.engine.calls[f"c{i}"].agent_id)
        d.advance(100)
        for i in range(4):
            d.send("call.ended", call_id=f"c{i}", reason="completed")
        d.advance(100)
        return out + [c.to_wire() for c in d.commands]

    assert run() == run()


def test_connect_command_ids_are_unique_and_replayable(router_kind):
    d = Driver(Engine(small_config(), router=router_kind))
    d.offer("c1")
    d.agent("a1", "available")
    d.send("call.unanswered", call_id="c1", agent_id="a1")
    d.agent("a5", "available")
    ids = [c.id for c in d.commands]
    assert len(ids) == len(set(ids)) == 2
    assert all(i.startswith("c1.connect.") for i in ids)
    # the call id, the command, the contact's offer instant (ms), then the 1-based place of the
    # connect decision in the call's history; the decision's fields but its action and site
    call = d.engine.calls["c1"]
    for command in d.commands:
        prefix = f"{command_prefix('c1', 'connect')}{round(call.offered_at * 1000)}."
        place = int(command.id.removeprefix(prefix))
        assert call.history[place - 1][1]["action"] == "connect"
        assert list(command.fields) == ["call_id", "agent_id", "target"]


def test_a_call_id_offered_again_once_forgotten_gets_commands_of_its_own(router_kind):
    """The platform may offer a call id again once acd has forgotten the first call (past
    routing.ended_call_retention, or a restart of the memory state): that other caller's
    `connect` must not take the first one's id, which the outbox (and the platform) remember as
    delivered and would drop: the agent reserved, the caller never put through (seen from
    outside: /work/notes/audit-outbox.md, D2)."""
    d = Driver(Engine(small_config(ended_call_retention=0), router=router_kind))
    d.offer("c1")
    d.advance(5)
    d.agent("a1", "available")  # c1 given to a1 by a command
    d.send("call.ended", call_id="c1", reason="abandoned")
    assert "c1" not in d.engine.calls  # forgotten
    d.agent("a1", "logged_out")
    d.advance(60)
    assert d.offer("c1")["action"] == "queue"  # another caller, the same id
    d.advance(5)
    d.agent("a5", "available")
    ids = [c.id for c in d.commands if c.command == "connect"]
    assert len(ids) == 2 and len(set(ids)) == 2, ids


def test_a_command_for_the_first_caller_of_a_call_id_offered_again_is_superseded(router_kind):
    """The first caller's `connect` still in the outbox (the platform down) when the call id is
    offered again, to another caller, and given to the same agent at the same place in its
    history: that command no longer stands (its call is over) and is dropped, not delivered; the
    second caller's stands."""
    d = Driver(Engine(small_config(ended_call_retention=0), router=router_kind))
    d.offer("c1")
    d.agent("a1", "available")
    [first] = [c for c in d.commands if c.command == "connect"]
    d.send("call.ended", call_id="c1", reason="abandoned")
    d.agent("a1", "paused")
    d.advance(60)
    assert d.offer("c1")["action"] == "queue"
    d.agent("a1", "available")
    second = [c for c in d.commands if c.command == "connect"][-1]
    assert second.id != first.id and second.fields == first.fields
    assert d.engine.queries.command_superseded(first)
    assert not d.engine.queries.command_superseded(second)


def test_the_call_record_keeps_times_agent_and_decision_history(router_kind):
    d = Driver(Engine(small_config(), router=router_kind))
    d.offer("c1")
    d.advance(12)
    d.agent("a1", "available")
    d.advance(3)
    d.send("call.answered", call_id="c1", agent_id="a1")
    d.advance(100)
    d.send("call.ended", call_id="c1", reason="completed")
    d.send("survey.result", call_id="c1", score=4)
    call = d.engine.calls["c1"]
    assert call.offered_at == T0
    assert call.connected_at == T0 + 12
    assert call.answered_at == T0 + 15
    assert call.ended_at == T0 + 115
    assert call.end_reason == "completed"
    assert call.survey_score == 4
    assert [h["action"] for _, h in call.history] == ["queue", "connect", "answered", "ended"]


def test_observed_handle_times_move_the_aht(router_kind):
    d = Driver(Engine(small_config(aht_smoothing=0.5, wrap_up_s=0), router=router_kind))
    d.agent("a1", "available")
    d.offer("c1")
    d.send("call.answered", call_id="c1", agent_id="a1")
    d.advance(100)
    d.send("call.ended", call_id="c1", reason="completed")
    assert d.engine.aht["impot_revenu"] == pytest.approx(200.0)  # 300 + 0.5 x (100 - 300)


class _HandleTimes(Observer):
    def __init__(self) -> None:
        self.seen: list[float] = []

    def handle_time(self, skill: str, seconds: float) -> None:
        self.seen.append(seconds)


def test_a_call_a_sync_ends_as_lost_does_not_feed_the_aht(router_kind):
    """A sync ends a call whose `call.ended` was lost at the sync's instant, not when it ended:
    its span is no handle time. After an outage of three hours, four such calls made a
    300 s AHT about 3,900 s: every line not served lately was then announced more than ten times
    too long (callbacks offered to everyone, overflow set off for nothing)."""
    d = Driver(Engine(small_config(aht_smoothing=0.1, wrap_up_s=0), router=router_kind))
    d.engine.observer = observer = _HandleTimes()
    handled = observer.seen
    for agent in ("a1", "a4", "a5"):
        d.agent(agent, "available")
    for i in range(3):
        decision = d.offer(f"c{i}")
        d.send("call.answered", call_id=f"c{i}", agent_id=decision["agent_id"])
    d.advance(3 * 3600)  # every call.ended lost meanwhile
    d.send("platform.sync", calls=[], agents={})
    assert [d.engine.calls[f"c{i}"].end_reason for i in range(3)] == ["lost"] * 3
    assert d.engine.aht["impot_revenu"] == pytest.approx(300.0)
    assert handled == []
    assert {a.calls_handled for a in d.engine.agents.values() if a.id in ("a1", "a4", "a5")} == {1}
    d.offer("c9")  # an agent free again takes the next call: a real end still counts
    d.send("call.answered", call_id="c9", agent_id=d.engine.calls["c9"].agent_id)
    d.advance(100)
    d.send("call.ended", call_id="c9", reason="completed")
    assert d.engine.aht["impot_revenu"] == pytest.approx(300.0 + 0.1 * (100.0 - 300.0))
    assert handled == [pytest.approx(100.0)]


def test_virtual_hold_keeps_the_callers_place_and_originates_when_its_turn_comes(router_kind):
    d = Driver(Engine(small_config(), router=router_kind))
    d.offer("c1")
    d.advance(1)
    d.offer("c2")
    decision = d.send("callback.accepted", call_id="c1")
    assert decision == {"action": "callback", "call_id": "c1", "callback_id": "cb-c1"}
    assert d.engine.calls["c1"].status == "callback"
    d.agent("a1", "available")
    assert [c.command for c in d.commands] == ["originate"]
    fields = d.commands[0].fields
    assert fields == {
        "callback_id": "cb-c1",
        "call_id": "c1",
        "number": "+33612345678",
        "agent_id": "a1",
        "target": "sip:a1@lille.sip.acd.example",
    }
    assert d.engine.callbacks["cb-c1"].status == "dialing"
    d.send("callback.result", callback_id="cb-c1", outcome="answered")
    assert d.engine.callbacks["cb-c1"].status == "done"


def _restored(engine: Engine, router: str = "reference") -> Engine:
    """The engine rebuilt from its state document, through JSON (what a snapshot does)."""
    return state.load(engine.config, json.loads(json.dumps(state.dump(engine))), router=router)


def test_an_engine_restored_from_its_state_carries_on_exactly_where_it_stopped(router_kind):
    def scenario(d: Driver, upto: int) -> None:
        for i in range(upto):
            d.offer(f"c{i}", priority=i % 2)
            d.advance(3)
            if i == 2:
                d.agent("a1", "available")
                d.agent("a4", "available")

    original = Driver(Engine(small_config(), router=router_kind))
    scenario(original, 5)
    copy = Driver(_restored(original.engine, router_kind), now=original.now)
    for d in (original, copy):
        d.send("call.answered", call_id="c0", agent_id="a1")
        d.send("call.ended", call_id="c0", reason="completed")
        d.advance(60)
        d.offer("late")
    assert [c.to_wire() for c in copy.commands] == [
        c.to_wire() for c in original.commands[-len(copy.commands) :]
    ]
    assert copy.engine.queue_stats(copy.now) == original.engine.queue_stats(original.now)
    assert copy.engine.calls["late"].history == original.engine.calls["late"].history


def test_per_skill_waiting_and_staffed_counts_stay_in_step_with_the_router(router_kind):
    import random

    rng = random.Random(7)
    d = Driver(Engine(small_config(), router=router_kind))
    states = ["available", "paused", "busy", "wrap_up", "logged_out"]
    for i in range(300):
        r = rng.random()
        if r < 0.35:
            d.offer(f"c{i}", skill=rng.choice(["impot_revenu", "paiement", "lsf"]))
        elif r < 0.7:
            d.agent(rng.choice(["a1", "a2", "a3", "a4", "a5"]), rng.choice(states))
        elif r < 0.85:
            waiting = [c for c in d.engine.calls.values() if c.waiting]
            if waiting:
                d.send("call.ended", call_id=rng.choice(waiting).id, reason="abandoned")
        else:
            d.advance(rng.uniform(0, 60))
        stats = d.engine.router.skill_stats(d.now)
        assert d.engine.waiting_by_skill == [s["waiting"] for s in stats]
        assert d.engine.staffed_by_skill == [s["agents_staffed"] for s in stats]


def test_the_digests_of_remembered_ids_are_forgotten_with_them(router_kind):
    engine = Engine(small_config(idempotency_ttl_s=100), router=router_kind)
    engine.apply([ev("agent.state", id="x", agent_id="a1", state="available")], T0)
    assert "x" in engine._seen_digest
    engine.apply([ev("agent.state", agent_id="a2", state="available")], T0 + 101)
    assert "x" not in engine._seen_digest and "x" not in engine._seen
    # forgotten: the id may name another event now
    engine.apply([ev("agent.state", id="x", agent_id="a1", state="paused")], T0 + 102)


def test_the_days_figures_are_engine_state_so_a_replica_without_observer_counts_them(make_driver) -> None:
    """A follower's replica runs with no metrics observer: the wallboard's figures of the day
    come from the engine itself, so they move there as on the leader."""
    d = make_driver()
    assert d.engine.observer is NULL_OBSERVER
    d.agent("a1", "available")
    d.offer("t1")
    d.send("call.answered", call_id="t1", agent_id="a1")
    d.offer("t2")
    d.advance(30)  # hung up after 30 s (within 5 s, a short abandon, leaves `offered`)
    d.send("call.ended", call_id="t2", reason="abandoned")
    day, counts = d.engine.queries.today(d.now)
    assert day == "2026-03-02"
    assert counts["offered"] == {"impot_revenu": 2}
    assert counts["answered"] == {"impot_revenu": 1}
    assert counts["abandoned"] == {"impot_revenu": 1}
    copy = _restored(d.engine)  # a snapshot keeps them
    assert copy.queries.today(d.now) == (day, counts)
    later = d.now + 86_400
    assert d.engine.queries.today(later) == ("2026-03-03", {f: {} for f in counts})


def test_every_event_type_has_its_check_and_its_handler_in_the_registry() -> None:
    """One table pairs each event type the engine takes with its check and its handler: the
    event models of acd/events.py and the registry name the same types."""
    import typing

    from acd import events as schemas
    from acd.engine.core import EVENT_TYPES

    models = [
        m
        for m in vars(schemas).values()
        if isinstance(m, type)
        and issubclass(m, (schemas._Event, schemas._Internal))
        and "type" in m.model_fields
    ]
    types = {typing.get_args(m.model_fields["type"].annotation)[0] for m in models}
    assert types == set(EVENT_TYPES)
    assert set(Engine._handlers) == set(Engine._checks) == types
    assert all(t.handle is Engine._handlers[name] for name, t in EVENT_TYPES.items())


def test_a_batch_is_checked_against_the_events_before_it(make_driver) -> None:
    """A call offered earlier in the batch may be answered later in it; one offered twice in it
    is refused whole, naming the second."""
    d = make_driver()
    d.agent("a1", "available")
    offered = ev("call.offered", call_id="b1", caller="+33612345678", skill="impot_revenu")
    results, _ = d.engine.apply([offered, ev("call.answered", call_id="b1", agent_id="a1")], d.now)
    assert [r.status for r in results] == ["applied", "applied"]
    again = [
        ev("call.offered", call_id="b2", caller="+33612345678", skill="impot_revenu"),
        ev("call.offered", call_id="b2", caller="+33612345678", skill="impot_revenu"),
    ]
    with pytest.raises(EngineError) as refused:
        d.engine.apply(again, d.now)
    assert (refused.value.code, refused.value.details["index"]) == ("call_exists", 1)
    assert "b2" not in d.engine.calls


def test_every_decision_reads_back_from_its_wire_form(make_driver) -> None:
    """The decisions an engine remembers for its event ids (a duplicate answers the first) go
    out as JSON in a state export and come back typed, equal."""
    import json

    from acd.model import (
        AppointmentDecision,
        AppointmentStatus,
        CallbackDecision,
        CallbackStatus,
        ClosedDecision,
        OverflowDecision,
        decision_from_wire,
    )

    d = make_driver()
    d.send("roster.agent", agent_id="a9", site="pau", skills={"impot_revenu": 2}, target="sip:a9@pau")
    d.agent("a1", "available")
    d.offer("w1")  # connect
    d.offer("w2")  # queue
    d.send("callback.accepted", call_id="w2")
    d.send("platform.sync", calls=["w1"], agents={"a1": "busy"})
    d.send("overflow.mode", mode="on")
    seen = [v for v in d.engine._seen.values() if v is not None]
    assert {v.action for v in seen} >= {"roster", "connect", "queue", "callback", "sync", "overflow_mode"}
    others = [
        ClosedDecision("w3", "2026-03-03T08:30:00+01:00", "outside opening hours"),
        OverflowDecision("w4", "cdi-59", "sip:cdi-59@example"),
        AppointmentDecision("ap1", AppointmentStatus.BOOKED),
        CallbackDecision("cb1", status=CallbackStatus.SCHEDULED, due_at=T0),
    ]
    for decision in [*seen, *others]:
        assert decision_from_wire(json.loads(json.dumps(decision.to_wire()))) == decision
    assert decision_from_wire(None) is None


def test_a_dropped_engine_is_freed_at_once_not_left_to_the_cyclic_collector(router_kind):
    """The store replaces its engine on a reload (a resync, a lease lost and taken again). An
    engine in reference cycles would be freed only by a full collection: a pause that walks the
    whole state (seconds for a large one), and never under `acd serve`'s collector policy, which
    freezes what survives (a whole state leaked per reload). Its parts refer to it weakly."""
    import gc
    import weakref

    driver = Driver(Engine(small_config(), router=router_kind))
    driver.agent("a1", "available")
    for call_id in ("c1", "c2", "c3"):
        driver.offer(call_id)
    engine = driver.engine
    parts = [engine, engine.outbound, engine.callback_book, engine.appointment_book, engine.overflow_rules]
    refs = [weakref.ref(part) for part in parts]
    was = gc.isenabled()
    gc.disable()  # freed by reference counting alone, or not at all
    try:
        del driver, engine, parts
        alive = [type(ref()).__name__ for ref in refs if ref() is not None]
    finally:
        if was:
            gc.enable()
    assert alive == []


#: One event of every type the engine takes, each field that can be set set (the digest covers them all).
EVERY_EVENT = [
    {
        "type": "call.offered",
        "call_id": "c1",
        "caller": "+33612345678",
        "skill": "impot_revenu",
        "priority": 3,
        "department": "2A",
        "language": "en",
        "needs": ["lsf"],
        "preferred_agent_id": "a1",
        "ts": "2026-03-02T09:00:00.250+01:00",
    },
    {"type": "call.answered", "call_id": "c1", "agent_id": "a1"},
    {"type": "call.unanswered", "call_id": "c1", "agent_id": "a1"},
    {"type": "call.ended", "call_id": "c1", "reason": "abandoned"},
    {"type": "agent.state", "agent_id": "a1", "state": "paused", "reason": "lunch"},
    {
        "type": "roster.agent",
        "agent_id": "a9",
        "site": "lille",
        "skills": {"paiement": 2},
        "target": "sip:a9@x",
    },
    {"type": "survey.result", "call_id": "c1", "score": 5},
    {"type": "callback.accepted", "call_id": "c1", "window_start": "2026-03-02T14:00:00Z"},
    {
        "type": "callback.requested",
        "callback_id": "cb1",
        "number": "+33612345678",
        "skill": "paiement",
        "department": "59",
        "not_before": "2026-03-02T14:00:00Z",
    },
    {"type": "callback.cancelled", "callback_id": "cb1"},
    {"type": "callback.result", "callback_id": "cb1", "outcome": "no_answer"},
    {
        "type": "appointment.booked",
        "appointment_id": "ap1",
        "number": "+33612345678",
        "skill": "lsf",
        "start": "2026-03-03T10:00:00+01:00",
        "department": "69",
        "site": "lyon",
    },
    {"type": "appointment.cancelled", "appointment_id": "ap1"},
    {"type": "appointment.rescheduled", "appointment_id": "ap1", "start": "2026-03-04T10:00:00+01:00"},
    {"type": "appointment.result", "appointment_id": "ap1", "outcome": "answered"},
    {"type": "platform.sync", "calls": ["c1", "c2"], "agents": {"a1": "busy", "a2": "logged_out"}},
    {"type": "overflow.mode", "mode": "on"},
]


def test_an_event_s_digest_is_that_of_its_model_dump_json() -> None:
    """The remembered digests outlive a release (snapshots and state exports carry them): the
    digest must stay blake2b-96 of `model_dump_json()`, whatever way the engine writes it."""
    import hashlib
    from types import SimpleNamespace

    from acd.engine.core import EVENT_TYPES, event_digest
    from acd.events import any_event_adapter

    assert {e["type"] for e in EVERY_EVENT} == set(EVENT_TYPES)
    for i, body in enumerate(EVERY_EVENT):
        event = any_event_adapter.validate_python({"id": f"e{i}", **body})
        absent = {name for name in getattr(event, "DIGEST_WHEN_SET", ()) if getattr(event, name) is None}
        dump = event.model_dump_json(exclude=absent or None)
        expected = hashlib.blake2b(dump.encode(), digest_size=12).digest()
        assert event_digest(event) == expected, body["type"]
        if body["type"] in ("call.offered", "platform.sync", "overflow.mode"):  # apply's inline copy
            engine = Engine(small_config())
            engine.apply([event], T0)
            assert engine._seen_digest[event.id] == expected, body["type"]
    assert event_digest(SimpleNamespace(id="x", type="call.ended")) is None  # the simulator's light events


@pytest.mark.parametrize(
    ("body", "before"),
    [
        (
            {"id": "r1", "type": "callback.result", "callback_id": "cb1", "outcome": "no_answer"},
            b'{"id":"r1","ts":null,"type":"callback.result","callback_id":"cb1","outcome":"no_answer"}',
        ),
        (
            {"id": "r2", "type": "appointment.result", "appointment_id": "ap1", "outcome": "busy"},
            b'{"id":"r2","ts":null,"type":"appointment.result","appointment_id":"ap1","outcome":"busy"}',
        ),
    ],
)
def test_a_field_added_later_leaves_the_digests_remembered_before_it_valid(body, before) -> None:
    """`originate_id` came after the first release: an event without it digests to the bytes the
    earlier release wrote (`before`, its `model_dump_json()`), so a snapshot's remembered id is
    still a duplicate of the retry, not a conflict; with it, the field counts."""
    import hashlib

    from acd.engine.core import event_digest
    from acd.events import any_event_adapter

    event = any_event_adapter.validate_python(body)
    assert event_digest(event) == hashlib.blake2b(before, digest_size=12).digest()
    named = any_event_adapter.validate_python({**body, "originate_id": "cb1.originate.3"})
    assert event_digest(named) not in (None, event_digest(event))


def test_a_survey_of_a_call_no_agent_answered_is_ignored(router_kind):
    """Surveys follow answered calls (the `survey` command goes to a share of them): a
    survey.result for a call still waiting, or one that ended unanswered, is answered `ignored`
    and never counted in the satisfaction figures; one for an answered call is taken."""
    scores: list[tuple[str, int]] = []

    class Seen(Observer):
        def survey(self, call, score):
            scores.append((call.id, score))

    d = Driver(Engine(small_config(), router=router_kind, observer=Seen()))
    d.offer("c1")  # nobody available: it waits
    results, _ = d.engine.apply([ev("survey.result", call_id="c1", score=1)], d.now)
    assert results[0].ignored == "not_answered"
    d.send("call.ended", call_id="c1", reason="abandoned")
    results, _ = d.engine.apply([ev("survey.result", call_id="c1", score=2)], d.now)
    assert results[0].ignored == "not_answered"
    assert d.engine.calls["c1"].survey_score is None and scores == []
    d.agent("a1", "available")
    d.offer("c2")
    d.send("call.answered", call_id="c2", agent_id="a1")
    d.send("call.ended", call_id="c2", reason="completed")
    results, _ = d.engine.apply([ev("survey.result", call_id="c2", score=5)], d.now)
    assert results[0].ignored is None and scores == [("c2", 5)]
