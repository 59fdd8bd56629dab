"""Opening hours on the call path and peak overflow to the departments' local services."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from acd.config import Config
from acd.engine import Engine
from tests.conftest import T0, Driver, small_config

PARIS = ZoneInfo("Europe/Paris")


def config_with_services(
    *,
    capacity: int = 2,
    overflow: dict[str, Any] | None = None,
    campaigns: list | None = None,
    default_skills: list[str] | None = None,
    **routing: Any,
) -> Config:
    base = small_config(**routing).model_dump()
    base["services"] = {
        "default_skills": default_skills,
        "local": [
            {
                "id": "sip-59",
                "department": "59",
                "name": "SIP Nord",
                "target": "sip:accueil@sip-59.example",
                "capacity": capacity,
            },
            {
                "id": "sip-67",
                "department": "67",
                "name": "SIP Bas-Rhin",
                "target": "sip:accueil@sip-67.example",
                "capacity": capacity,
            },
        ],
    }
    base["overflow"] = {
        "mode": "auto",
        "threshold_s": 300,
        "activate_ewt_s": 600,
        "deactivate_ewt_s": 240,
        "max_wait_s": 1200,
        "patience_share": 0,  # the threshold's own mechanics; the callers' patience: its own tests
        **(overflow or {}),
    }
    if campaigns is not None:
        base["calendar"] = {"campaigns": campaigns}
    return Config.model_validate(base)


def driver(router_kind: str, now: float = T0, **kw: Any) -> Driver:
    return Driver(Engine(config_with_services(**kw), router=router_kind), now=now)


def local(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS).timestamp()


# -- closed


def test_a_call_outside_hours_is_closed_with_the_next_opening(router_kind):
    d = driver(router_kind, now=local("2026-03-07T10:00:00"))  # a Saturday
    d.agent("a1", "available")
    decision = d.offer("c1")
    assert decision == {
        "action": "closed",
        "call_id": "c1",
        "reopens_at": "2026-03-09T08:30:00+01:00",
        "reason": "outside opening hours: Monday to Friday 08:30-19:00 (Europe/Paris)",
    }
    assert d.engine.calls["c1"].status == "closed"
    assert d.engine.agent_state(d.engine.agents["a1"]).wire == "available"  # nobody was reserved


def test_a_call_on_a_public_holiday_is_closed(router_kind):
    d = driver(router_kind, now=local("2026-05-14T11:00:00"))  # Ascension
    assert d.offer("c1")["action"] == "closed"


def test_the_end_of_a_closed_call_is_recorded_and_changes_nothing_else(router_kind):
    d = driver(router_kind, now=local("2026-03-07T10:00:00"))
    d.offer("c1")
    d.send("call.ended", call_id="c1", reason="completed")
    assert d.engine.calls["c1"].end_reason == "completed"


# -- overflow


def test_supervisor_on_sends_a_call_no_agent_can_take_to_its_local_service(router_kind):
    d = driver(router_kind, overflow={"mode": "on"})
    decision = d.offer("c1", department="59")
    assert decision == {
        "action": "overflow",
        "call_id": "c1",
        "service": "sip-59",
        "target": "sip:accueil@sip-59.example",
    }
    assert d.engine.overflow.services["sip-59"].load == 1
    assert d.engine.calls["c1"].status == "overflowed"


def test_a_call_an_agent_can_take_now_is_never_overflowed(router_kind):
    d = driver(router_kind, overflow={"mode": "on"})
    d.agent("a1", "available")
    assert d.offer("c1", department="59")["action"] == "connect"


def test_a_call_without_department_stays_on_the_national_line(router_kind):
    d = driver(router_kind, overflow={"mode": "on"})
    assert d.offer("c1")["action"] == "queue"


def test_a_department_without_a_service_stays_on_the_national_line(router_kind):
    d = driver(router_kind, overflow={"mode": "on"})
    assert d.offer("c1", department="64")["action"] == "queue"


def test_a_service_takes_only_the_skills_it_lists(router_kind):
    """A local tax office has no sign-language interpreter: `lsf` calls stay on the national
    line, whatever the switch; the other skills go on overflowing."""
    d = driver(router_kind, overflow={"mode": "on"}, default_skills=["impot_revenu", "paiement"])
    assert d.offer("c1", skill="lsf", department="59")["action"] == "queue"
    assert d.engine.overflow.services["sip-59"].load == 0
    assert d.offer("c2", skill="paiement", department="59")["action"] == "overflow"


def test_a_service_s_own_skills_replace_the_default(router_kind):
    config = config_with_services(overflow={"mode": "on"}, default_skills=["impot_revenu"]).model_dump()
    config["services"]["local"][0]["skills"] = ["lsf"]  # sip-59, with an interpreter
    d = Driver(Engine(Config.model_validate(config), router=router_kind))
    assert d.offer("c1", skill="lsf", department="59")["action"] == "overflow"
    assert d.offer("c2", skill="impot_revenu", department="59")["action"] == "queue"
    assert d.offer("c3", skill="impot_revenu", department="67")["action"] == "overflow"
    assert d.offer("c4", skill="lsf", department="67")["action"] == "queue"


def test_without_skills_a_service_takes_every_skill(router_kind):
    d = driver(router_kind, overflow={"mode": "on"})
    assert d.engine.overflow.services["sip-59"].skills is None
    assert d.offer("c1", skill="lsf", department="59")["action"] == "overflow"


def test_a_full_service_takes_no_more_until_a_call_ends_then_the_caller_who_waited_longest(router_kind):
    """Switch on: a place its service frees goes to its caller who has waited longest (an
    `overflow` command), not to the next one to call, who waits in line."""
    d = driver(router_kind, capacity=2, overflow={"mode": "on"})
    assert [d.offer(f"c{i}", department="59")["action"] for i in range(3)] == [
        "overflow",
        "overflow",
        "queue",
    ]
    d.offer("c67", department="67")  # another service's caller: sip-67 takes it
    d.send("call.ended", call_id="c0", reason="completed")
    assert [(c.command, c.fields["call_id"]) for c in d.commands if c.command == "overflow"] == [
        ("overflow", "c2")
    ]
    assert d.engine.calls["c2"].status == "overflowed" and d.engine.overflow.services["sip-59"].load == 2
    assert d.offer("c3", department="59")["action"] == "queue"
    d.send("call.ended", call_id="c1", reason="completed")
    assert d.engine.calls["c3"].status == "overflowed"


def test_in_auto_a_freed_place_waits_for_the_next_caller(router_kind):
    """Auto's activation applies to the callers who come next, not to those already in line
    (README): a place freed while callers wait goes to the next caller of the service."""
    campaign = {"id": "spring", "name": "Déclaration", "start": "2026-03-01", "end": "2026-03-31"}
    d = driver(router_kind, campaigns=[campaign], wrap_up_s=0, capacity=1)
    d.agent("a1", "available")
    d.offer("c0")  # a1 busy
    actions = [d.offer(f"c{i}", department="59")["action"] for i in (1, 2, 3)]
    assert actions == ["queue", "overflow", "queue"]  # c3: its service full
    d.send("call.ended", call_id="c2", reason="completed")
    assert d.engine.calls["c3"].status == "queued"
    assert d.offer("c4", department="59")["action"] == "overflow"


def test_an_overflowed_call_whose_end_was_lost_frees_its_service_at_the_next_sync(router_kind):
    """The platform bridges an overflowed call to its local service and posts its end; if that
    `call.ended` is lost, the sync that no longer lists the call ends it (`lost`) and frees the
    service's place: without it the place stayed taken for good, and a few lost webhooks made
    every service look full for the rest of the campaign."""
    d = driver(router_kind, capacity=1, overflow={"mode": "on"})
    assert d.offer("c1", department="59")["action"] == "overflow"
    assert d.offer("c2", department="59")["action"] == "queue"  # full
    before = d.now - 5
    d.send("platform.sync", at=before, calls=[])  # dated before the overflow: not news of its end
    assert d.engine.calls["c1"].status == "overflowed"
    d.now += 60
    assert d.send("platform.sync", calls=["c2"])["ended"] == ["c1"]
    assert d.engine.calls["c1"].end_reason == "lost"
    # the place it freed goes, at the sync's end, to c2, who waited for it
    assert d.engine.calls["c2"].status == "overflowed" and d.engine.overflow.services["sip-59"].load == 1
    assert d.offer("c3", department="59")["action"] == "queue"
    d.now += 60
    d.send("platform.sync", calls=["c2", "c3"])  # listed: still at its service
    assert d.engine.calls["c2"].status == "overflowed" and d.engine.overflow.services["sip-59"].load == 1


def test_a_sync_that_drops_a_waiting_caller_never_sends_it_to_the_place_it_frees(router_kind):
    d = driver(router_kind, capacity=1, overflow={"mode": "on"})
    assert [d.offer(f"c{i}", department="59")["action"] for i in (1, 2, 3)] == ["overflow", "queue", "queue"]
    d.now += 60
    assert d.send("platform.sync", calls=["c3"])["ended"] == ["c1", "c2"]  # c2 hung up too
    assert d.engine.calls["c2"].end_reason == "lost" and d.engine.calls["c3"].status == "overflowed"
    assert [c.fields["call_id"] for c in d.commands if c.command == "overflow"] == ["c3"]


def test_a_closed_service_takes_no_overflow(router_kind):
    d = driver(
        router_kind, now=local("2026-03-02T17:30:00"), overflow={"mode": "on"}
    )  # line open, service shut
    assert d.offer("c1", department="59")["action"] == "queue"


def test_alsace_moselle_service_is_closed_on_good_friday(router_kind):
    d = driver(router_kind, now=local("2026-04-03T10:00:00"), overflow={"mode": "on"})
    assert d.offer("c1", department="67")["action"] == "queue"
    assert d.offer("c2", department="59")["action"] == "overflow"


def test_supervisor_off_never_overflows(router_kind):
    d = driver(router_kind, overflow={"mode": "off"})
    assert all(d.offer(f"c{i}", department="59")["action"] == "queue" for i in range(5))
    assert d.engine.overflow.status(d.now) == {
        "mode": "off",
        "active": False,
        "reason": "forced off by the supervisor",
    }


def test_auto_overflows_during_a_campaign_above_the_threshold(router_kind):
    campaign = {"id": "spring", "name": "Déclaration", "start": "2026-03-01", "end": "2026-03-31"}
    d = driver(router_kind, campaigns=[campaign], wrap_up_s=0)
    d.agent("a1", "available")
    d.offer("c0")  # a1 busy; one impot_revenu agent staffed, AHT 300 s
    assert d.engine.overflow.status(d.now)["reason"] == "campaign: Déclaration"
    assert d.offer("c1", department="59")["action"] == "queue"  # EWT 300 s: not above the threshold
    assert d.offer("c2", department="59")["action"] == "overflow"  # EWT 600 s


def test_auto_follows_the_live_ewt_with_hysteresis(router_kind):
    d = driver(router_kind)
    d.agent("a1", "available")
    d.offer("c0")  # a1 takes it; a1 is the one staffed agent
    status = d.engine.overflow.status
    assert status(d.now)["active"] is False
    d.offer("q1")  # EWT for the next caller: 600 s -> reaches activate_ewt_s
    assert status(d.now)["active"] is True
    assert "impot_revenu" in status(d.now)["reason"]
    d.send("call.ended", call_id="q1", reason="abandoned")  # next caller's EWT 300 s: between the bounds
    assert status(d.now)["active"] is True
    d.send("call.answered", call_id="c0", agent_id="a1")
    d.agent("a5", "available")  # two staffed agents now: next EWT 150 s < 240 s
    assert status(d.now)["active"] is False


def test_auto_the_caller_whose_wait_turns_overflow_on_is_overflowed_too(router_kind):
    """The first caller of a skill nobody staffs is told 3600 s: her own wait turns auto overflow
    on, and she goes to her local service with the callers after her. Before, the watch ran after
    her decision: she stayed on the national line until max_wait_s while the next caller was
    overflowed (seen from outside: /work/notes/audit-api.md, D4)."""
    d = driver(router_kind)  # threshold 300 s, activate at 600 s; nobody logged in
    assert d.engine.overflow.status(d.now)["active"] is False
    first = d.offer("f1", skill="paiement", department="59")
    assert first["action"] == "overflow" and first["service"] == "sip-59", first
    assert d.offer("f2", skill="paiement", department="59")["action"] == "overflow"


def test_auto_stays_on_for_a_skill_nobody_staffs_once_its_caller_has_gone(router_kind):
    """Overflow turned on by the wait of an unstaffed skill's caller stays on once she has been
    sent to her office: the next caller is told the same 3600 s (`GET /v1/queues`' ewt_s) and is
    overflowed too, so the status says it is active, and why, until that wait falls below
    `deactivate_ewt_s` (hysteresis). Before, the skill cooled as soon as its one caller left the
    line: `GET /v1/overflow` said no skill's wait had reached the threshold, between two callers
    it overflowed (seen from outside: a service pinned on an ordinary weekday, nobody logged in)."""
    d = driver(router_kind)  # threshold 300 s, activate at 600 s, deactivate below 240 s
    assert d.offer("f1", skill="paiement", department="59")["action"] == "overflow"
    status = d.engine.overflow.status(d.now)
    queue = next(q for q in d.engine.queries.queues(d.now) if q["skill"] == "paiement")
    assert queue["ewt_s"] >= 600
    assert status["active"] is True, status
    assert "paiement" in status["reason"]
    assert d.offer("f2", skill="paiement", department="59")["action"] == "overflow"
    assert d.engine.overflow.status(d.now)["active"] is True
    d.agent("a2", "available")  # paiement staffed: a caller who queues waits 120 s, below 240 s
    d.agent("a3", "available")
    assert d.engine.overflow.status(d.now)["active"] is False


def test_mode_can_be_switched_at_run_time(router_kind):
    d = driver(router_kind)
    assert d.send("overflow.mode", mode="on") == {
        "mode": "on",
        "active": True,
        "reason": "forced on by the supervisor",
    }
    assert d.offer("c1", department="59")["action"] == "overflow"
    d.send("overflow.mode", mode="off")
    assert d.offer("c2", department="59")["action"] == "queue"


# -- never stranded


def test_a_call_waiting_too_long_is_moved_to_its_local_service(router_kind):
    d = driver(
        router_kind,
        now=local("2026-03-02T09:00:00"),
        overflow={"max_wait_s": 1200, "mode": "auto", "activate_ewt_s": 99999, "deactivate_ewt_s": 0},
    )
    d.offer("c1", department="59")
    d.advance(1199)
    assert d.commands == []
    d.advance(1)
    [command] = d.commands
    assert command.command == "overflow"
    assert command.fields == {"call_id": "c1", "service": "sip-59", "target": "sip:accueil@sip-59.example"}
    assert d.engine.calls["c1"].status == "overflowed"


def test_a_call_waiting_too_long_without_a_service_is_offered_a_callback_once(router_kind):
    d = driver(router_kind, overflow={"max_wait_s": 600, "activate_ewt_s": 99999, "deactivate_ewt_s": 0})
    d.offer("c1")  # no department
    d.advance(600)
    [command] = d.commands
    assert command.command == "offer_callback"
    assert command.fields["call_id"] == "c1"
    d.advance(3600)
    assert len(d.commands) == 1
    assert d.engine.calls["c1"].status == "queued"


def test_a_callback_offer_undelivered_once_its_caller_no_longer_waits_is_superseded(router_kind):
    """`offer_callback` offers the waiting caller a callback (CONTRACT.md): still undelivered (the
    platform down, its retries) once the caller is put through, takes one, or hangs up, it is
    dropped, not sent after the `connect` or the end (seen from outside: audit-outbox D3)."""
    d = driver(router_kind, overflow={"max_wait_s": 600, "activate_ewt_s": 99999, "deactivate_ewt_s": 0})
    superseded = d.engine.queries.command_superseded
    for call_id, then in (("c1", "answered"), ("c2", "ended"), ("c3", "accepted")):
        d.offer(call_id)
        d.advance(600)
        offer = d.commands[-1]
        assert offer.command == "offer_callback" and offer.fields["call_id"] == call_id
        assert not superseded(offer)  # the caller still waits
        if then == "answered":
            d.agent("a1", "available")
            d.send("call.answered", call_id=call_id, agent_id="a1")
        elif then == "ended":
            d.send("call.ended", call_id=call_id, reason="abandoned")
        else:
            d.send("callback.accepted", call_id=call_id)
        assert superseded(offer), then


def test_a_stranded_call_its_service_does_not_take_is_offered_a_callback(router_kind):
    d = driver(
        router_kind,
        now=local("2026-03-02T09:00:00"),
        overflow={"max_wait_s": 600, "activate_ewt_s": 99999, "deactivate_ewt_s": 0},
        default_skills=["impot_revenu"],
    )
    d.offer("c1", skill="lsf", department="59")
    d.advance(600)
    assert [c.command for c in d.commands] == ["offer_callback"]
    assert d.engine.calls["c1"].status == "queued"
    assert d.engine.overflow.services["sip-59"].load == 0


def test_with_overflow_off_a_stranded_call_is_offered_a_callback_not_moved(router_kind):
    d = driver(router_kind, overflow={"mode": "off", "max_wait_s": 600})
    d.offer("c1", department="59")
    d.advance(600)
    assert [c.command for c in d.commands] == ["offer_callback"]


def test_closed_calls_are_let_go_like_ended_ones(router_kind):
    d = Driver(
        Engine(config_with_services(ended_call_retention=3), router=router_kind),
        now=local("2026-03-07T10:00:00"),
    )
    for i in range(10):
        d.offer(f"c{i}")
    assert sorted(d.engine.calls) == ["c7", "c8", "c9"]


def test_switching_overflow_on_moves_the_calls_already_waiting(router_kind):
    """CONTRACT.md: mode `on` makes every call no agent can take now go to its local service. The
    calls already waiting when the supervisor turns it on go too (an `overflow` command each,
    oldest first, within the service's capacity), not only the callers who come after them."""
    d = driver(router_kind, capacity=2, overflow={"mode": "off"})
    d.offer("c1", department="59")
    d.advance(10)
    d.offer("c2", department="59")
    d.offer("c3")  # no department: stays on the national line
    d.offer("c4", department="59")  # the service holds two: c4 stays
    d.offer("l1", skill="lsf", department="67", needs=[])
    d.advance(5)
    assert d.commands == []
    d.send("overflow.mode", mode="on")
    moved = [(c.command, c.fields["call_id"], c.fields["service"]) for c in d.commands]
    assert moved == [("overflow", "c1", "sip-59"), ("overflow", "c2", "sip-59"), ("overflow", "l1", "sip-67")]
    calls = d.engine.calls
    assert [calls[c].status for c in ("c1", "c2", "c3", "c4", "l1")] == [
        "overflowed", "overflowed", "queued", "queued", "overflowed",
    ]  # fmt: skip
    assert d.engine.overflow.services["sip-59"].load == 2
    assert {c.id for c in d.engine.waiting_calls()} == {"c3", "c4"}
    # switching on again moves nothing more; off moves nothing back
    d.send("overflow.mode", mode="on")
    d.send("overflow.mode", mode="off")
    assert len(d.commands) == 3


def test_switching_overflow_on_never_moves_a_callback_waiting_for_its_agent(router_kind):
    d = driver(router_kind, overflow={"mode": "off"})
    d.offer("c1", department="59")
    d.send("callback.accepted", call_id="c1")
    d.send("overflow.mode", mode="on")
    assert [c.command for c in d.commands if c.command == "overflow"] == []
    assert d.engine.calls["c1"].status != "overflowed"


def _moved(d: Driver) -> list[tuple[str, str]]:
    return [(c.fields["call_id"], c.fields["service"]) for c in d.commands if c.command == "overflow"]


@pytest.mark.parametrize("how", ["config", "switch"])
def test_with_the_switch_on_a_service_opening_takes_the_callers_already_waiting(router_kind, how):
    """Switch on, every call no agent can take goes to its local service: the callers who
    waited while it was shut (its lunch break: 12:00-13:30) go to it when it opens, oldest
    first and within its capacity, as the callers who come after; not only those."""
    mode = "on" if how == "config" else "off"
    d = driver(router_kind, now=local("2026-03-02T12:10:00"), capacity=2, overflow={"mode": mode})
    if how == "switch":
        d.send("overflow.mode", mode="on")
    for i in (1, 2, 3):
        assert d.offer(f"c{i}", department="59")["action"] == "queue"  # sip-59 shut
        d.advance(60)
    d.offer("c4")  # no department: stays on the national line
    d.advance(local("2026-03-02T13:29:59") - d.now)
    assert _moved(d) == []
    d.advance(2)
    assert _moved(d) == [("c1", "sip-59"), ("c2", "sip-59")]
    assert [d.engine.calls[c].status for c in ("c1", "c2", "c3", "c4")] == [
        "overflowed", "overflowed", "queued", "queued",
    ]  # fmt: skip
    # the next opening (tomorrow 09:00) is armed too: a place freed by then goes at once (release)
    d.send("call.ended", call_id="c1", reason="completed")
    assert _moved(d)[-1] == ("c3", "sip-59")


def test_a_service_opening_moves_nobody_once_the_switch_is_off(router_kind):
    d = driver(router_kind, now=local("2026-03-02T12:10:00"), overflow={"mode": "on"})
    d.offer("c1", department="59")
    d.send("overflow.mode", mode="auto")
    d.advance(local("2026-03-02T13:31:00") - d.now)
    assert _moved(d) == [] and d.engine.calls["c1"].status == "queued"
    d.send("overflow.mode", mode="on")  # switched on again, the service open: it goes now
    assert _moved(d) == [("c1", "sip-59")]


def test_a_service_opening_is_kept_across_a_state_export_and_import(router_kind):
    from acd.engine import state as engine_state

    d = driver(router_kind, now=local("2026-03-02T12:10:00"), overflow={"mode": "on"})
    d.offer("c1", department="59")
    d.advance(30)
    config = d.engine.config
    again = Driver(engine_state.load(config, json.loads(json.dumps(engine_state.dump(d.engine)))), now=d.now)
    again.advance(local("2026-03-02T13:31:00") - again.now)
    assert _moved(again) == [("c1", "sip-59")]


# -- the callers' patience (overflow.patience_share)


def _patience_driver(router_kind: str, patience_s: float | None, **overflow: Any) -> Driver:
    """A campaign (overflow active), threshold 30 s; a1 staffed and talking (AHT 300 s: the next
    caller's expected wait is 300 s). `patience_s`: twenty callers (no department) seen hanging
    up after that long, so the skill's abandonment rate is 1 / patience_s; None: nobody yet."""
    campaign = {"id": "spring", "name": "Déclaration", "start": "2026-03-01", "end": "2026-03-31"}
    d = driver(
        router_kind,
        campaigns=[campaign],
        wrap_up_s=0,
        capacity=5,
        overflow={"threshold_s": 30, "patience_share": 1.0, **overflow},
    )
    d.agent("a1", "available")
    d.offer("c0")
    d.send("call.answered", call_id="c0", agent_id="a1")
    for i in range(20 if patience_s is not None else 0):
        assert d.offer(f"w{i}")["action"] == "queue"
        d.advance(patience_s)
        d.send("call.ended", call_id=f"w{i}", reason="abandoned")
    return d


def test_a_caller_the_line_would_answer_before_they_give_up_is_not_overflowed(router_kind):
    """The rule (patience_share 1.0 here; 1.5 shipped): the threshold sends a caller to a local
    service only when the expected wait is also beyond that share of the mean patience the
    skill's callers show. A
    caller expected to wait 300 s among callers who hang up after 1,000 s on average is answered
    by the national line, which would otherwise idle later: it stays; among callers who hang up
    after 100 s, it is sent. Before, both were sent (the threshold alone, 30 s)."""
    patient = _patience_driver(router_kind, 1000.0)
    decision = patient.offer("c1", department="59")
    assert decision["action"] == "queue", decision
    assert 30 < decision["ewt_s"] < 1000
    hasty = _patience_driver(router_kind, 100.0)
    assert hasty.offer("c1", department="59")["action"] == "overflow"


def test_with_no_hang_up_seen_the_national_line_keeps_its_callers(router_kind):
    """Nobody seen giving up (theta 0): every caller is expected to wait for the national line,
    which answers them all; the threshold sends nobody away. `patience_share: 0` is the
    threshold alone, as before."""
    d = _patience_driver(router_kind, None)
    assert d.offer("c1", department="59")["action"] == "queue"
    alone = _patience_driver(router_kind, None, patience_share=0)
    assert alone.offer("c1", department="59")["action"] == "overflow"


def test_a_caller_nobody_is_staffed_for_is_overflowed_whatever_the_patience(router_kind):
    """The national line cannot answer a caller nobody is staffed for: the patience rule does not
    keep it (the first paiement caller, nobody staffed, no hang-up seen)."""
    d = _patience_driver(router_kind, None)
    decision = d.offer("p1", skill="paiement", department="59")
    assert decision["action"] == "overflow", decision


def test_a_saturated_line_sends_a_caller_whose_place_another_would_take(router_kind):
    """The other way the line loses a caller: saturated (callers without a break for
    `saturated_s`, 600 s), with the callers ahead expected to give up `saturated_hang_ups` (3)
    times or more while this one waits, its place goes to one of them, who would otherwise
    hang up. Callers who hang up after 1,000 s on average, six ahead (no department: they stay),
    one agent: the next caller expects about 1,240 s, 1.24 times the mean patience (under the
    1.5 of `patience_share`), and 0.001 x 6 x 1,240 = 7.4 hang-ups ahead while it waits: sent once
    the line has held callers for 600 s, kept before."""
    fresh = _patience_driver(router_kind, 1000.0, patience_share=1.5)
    for i in range(6):
        fresh.offer(f"q{i}")
    fresh.advance(590)
    decision = fresh.offer("c1", department="59")
    assert decision["action"] == "queue" and 1000 < decision["ewt_s"] < 1500, decision
    saturated = _patience_driver(router_kind, 1000.0, patience_share=1.5)
    for i in range(6):
        saturated.offer(f"q{i}")
    saturated.advance(600)
    assert saturated.offer("c1", department="59")["action"] == "overflow"
    calm = _patience_driver(router_kind, 1000.0, patience_share=1.5, saturated_hang_ups=10)
    for i in range(6):
        calm.offer(f"q{i}")
    calm.advance(600)
    assert calm.offer("c1", department="59")["action"] == "queue"
