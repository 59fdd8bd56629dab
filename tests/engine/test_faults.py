"""A seeded chaos driver on the engine: webhooks duplicated, late, reordered, contradictory and
lost, posted again under a new id, agents' states repeated and stale, periodic platform.sync
(some stamped ahead of acd's clock); the rules checked after every batch (on both routers):

- never an agent with two calls, and calls own their agents (both sides agree);
- one connect per assignment: command ids unique, and a call is connected again only after it
  went back to the line;
- every call in a definite state; no agent stuck after a sync and the wrap-up that follows;
- work-conserving: no inbound caller waits while an eligible agent is available;
- a callback or appointment still to be dialled, or dialling, keeps its call (not ended);
- a batch naming a result nobody knows is refused whole (a 4xx) and changes nothing.

The same untidy platform also runs under each extreme setting the configuration accepts (one at a
time): none may make an event fail with anything but a refusal.
"""

from __future__ import annotations

import contextlib
import random
from collections import Counter
from datetime import UTC, datetime
from itertools import pairwise

import pytest

from acd.config import Config
from acd.engine import Engine, EngineError
from acd.engine.state import dump
from acd.model import AgentState
from tests.conftest import Driver, ev, small_config

ON_CALL = (AgentState.RESERVED, AgentState.BUSY)
DEFINITE = ("queued", "connecting", "answered", "callback", "overflowed", "closed", "ended")


def chaos_config() -> Config:
    data = small_config(wrap_up_s=10, max_no_answer=2).model_dump()
    data["agents"] = [
        {
            "id": f"ag{i}",
            "site": "lille" if i % 2 else "pau",
            "skills": {"impot_revenu": 1 + i % 5, **({"paiement": 3} if i % 3 == 0 else {})},
            "target": f"sip:ag{i}@x.example",
        }
        for i in range(16)
    ]
    data["agents"][0]["skills"]["lsf"] = 4  # one interpreter
    data["services"] = {  # local services, which take every skill but sign language
        "default_skills": ["impot_revenu", "paiement"],
        "default_hours": {
            "week": {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
        },
        "local": [
            {
                "id": f"sip-{dep}",
                "department": dep,
                "name": dep,
                "target": f"sip:accueil@{dep}.x",
                "capacity": 2,
            }
            for dep in ("59", "67")
        ],
    }
    data["overflow"] = {"mode": "auto", "threshold_s": 20, "activate_ewt_s": 40, "deactivate_ewt_s": 20}
    data["appointments"] = {
        "slot_minutes": 30,
        "retry_delays_s": [120, 120],
        "capacity": [{"site": "lille", "skill": "impot_revenu", "morning": 3, "afternoon": 3}],
    }
    return Config.model_validate(data)


def check(engine: Engine, connects: list) -> None:
    holders = Counter(a.call_id for a in engine.agents.values() if a.call_id is not None)
    assert all(n == 1 for n in holders.values()), holders  # never one call on two agents
    for agent in engine.agents.values():
        state = engine.agent_state(agent)
        if agent.call_id is not None:  # a call owns it: both sides agree
            call = engine.calls[agent.call_id]
            assert call.agent_id == agent.id and call.status in ("connecting", "answered"), (agent, call)
            assert state in ON_CALL
        else:
            assert state is not AgentState.RESERVED, agent
    for call in engine.calls.values():
        assert call.status in DEFINITE
        if call.status in ("connecting", "answered") and call.kind == "inbound" and not call.callback_id:
            assert engine.agents[call.agent_id].call_id == call.id, call
        if call.status == "queued":  # in line, or an appointment between two dials (a retry armed)
            assert call.waiting or (
                call.kind == "appointment" and engine.appointments[call.id].status == "booked"
            )
        # one connect per assignment: a call is connected again only after going back to the line
        actions = [h["action"] for _, h in call.history if h["action"] in ("connect", "requeue")]
        assert all(a != b or a != "connect" for a, b in pairwise(actions)), actions
    ids = [c.id for c in connects]
    assert len(ids) == len(set(ids))
    # work-conserving: no caller waits in line while an available agent holding its skill and
    # every skill in its needs is idle (the chaos configuration widens every skill to level 1)
    idle = [a for a in engine.agents.values() if engine.agent_state(a) is AgentState.AVAILABLE]
    for call in engine.waiting_calls():
        if call.callback_id is None and call.kind == "inbound":
            wanted = {call.skill, *call.needs}
            assert not [a.id for a in idle if wanted <= set(a.skills)], (call, idle)
    # an outbound contact still to be dialled, or dialling, has its call (a leg's end never ends it)
    for ap in engine.appointments.values():
        if ap.status in ("booked", "dialing") and ap.id in engine.calls:
            assert engine.calls[ap.id].status != "ended", (ap, engine.calls[ap.id])
    for cb in engine.callbacks.values():
        if cb.status in ("scheduled", "dialing") and cb.call_id in engine.calls:
            assert engine.calls[cb.call_id].status != "ended", (cb, engine.calls[cb.call_id])
    # a local service holds exactly the overflowed calls not ended, within its capacity, and
    # never a call of a skill it does not take
    for service in engine.overflow.services.values():
        held = [c for c in engine.calls.values() if c.status == "overflowed" and c.service_id == service.id]
        assert service.load == len(held) <= service.spec.capacity, (service, held)
        assert all(service.takes(c.skill) for c in held), held


def _after_dial(engine: Engine, call_id: str, ts: float | None) -> float | None:
    """A result's `ts`, late but never before its dial began (the platform saw the outcome after
    it dialled): one stamped earlier is about an earlier dial and changes nothing."""
    started = engine.calls[call_id].connected_at
    return ts if ts is None or started is None else max(ts, started)


#: The platform's webhooks it may post twice under two ids (two components reporting one thing).
REPOSTED = frozenset(
    {"call.answered", "call.unanswered", "call.ended", "agent.state", "callback.result", "appointment.result"}
)


UNKNOWN_RESULT = ev("callback.result", callback_id="no-such-callback", outcome="answered")


def run_chaos(config: Config, router_kind: str, seed: int, *, refusals_ok: bool = False) -> tuple:
    """900 steps of the untidy platform, the rules checked after each batch, then a final sync
    (the platform holds nothing, everybody available) and two minutes; the driver, what was
    delivered by type. `refusals_ok`: a batch the engine refuses (a 4xx: a
    configuration that forgets ids or calls at once makes a duplicate such) is skipped."""
    rng, priorities = random.Random(seed), random.Random(-seed)
    twice = random.Random(seed + 7919)  # its own stream: reposts and syncs' clocks
    refusals = random.Random(seed + 104729)  # and refused batches (they change nothing)
    d = Driver(Engine(config, router=router_kind))
    engine = d.engine
    agents = list(engine.agents)
    sent: list = []  # events already delivered (for duplicates)
    late: list = []  # events held back, delivered later out of order
    n_calls = 0

    delivered: Counter = Counter()

    def deliver(events: list) -> None:
        delivered.update(e.type for e in events)
        try:
            results, commands = engine.apply(events, d.now)
        except EngineError:
            if not refusals_ok:
                raise
            return
        d.commands += commands
        assert all(r.status in ("applied", "duplicate") for r in results)
        sent.extend(events)

    for e in [ev("agent.state", agent_id=a, state="available") for a in agents]:
        deliver([e])
    for step in range(900):
        d.advance(rng.uniform(0, 8))
        ts = d.now - rng.uniform(0, 30) if rng.random() < 0.5 else None
        live = [c for c in engine.calls.values() if c.status != "ended"]
        dialing = [cb for cb in engine.callbacks.values() if cb.status == "dialing"]
        ap_dialing = [ap for ap in engine.appointments.values() if ap.status == "dialing"]
        roll = rng.random()
        outcome = rng.choice(["answered", "answered", "no_answer", "busy", "failed"])
        if dialing and roll < 0.3:  # the platform's word on a callback's dial
            callback = rng.choice(dialing)
            at = _after_dial(engine, callback.call_id, ts)
            event = ev("callback.result", at=at, callback_id=callback.id, outcome=outcome)
        elif ap_dialing and roll < 0.4:  # on an appointment's
            appointment = rng.choice(ap_dialing)
            at = _after_dial(engine, appointment.id, ts)
            event = ev("appointment.result", at=at, appointment_id=appointment.id, outcome=outcome)
        elif roll < 0.03:  # a caller books an appointment (the API's internal event), the next slot but one
            slot = 1800 * (int(d.now // 1800) + 2)
            booking = ev(
                "appointment.booked",
                appointment_id=f"ap{step}",
                number=f"+336000{step:05d}",  # each booking its own caller
                skill="impot_revenu",
                start=datetime.fromtimestamp(slot, UTC).isoformat(),
            )
            with contextlib.suppress(EngineError):  # the slot is full: refused, nothing changed
                deliver([booking])
            continue
        elif roll < 0.2 or not live:
            n_calls += 1
            skill = rng.choices(["impot_revenu", "paiement", "lsf"], [0.7, 0.2, 0.1])[0]
            department = rng.choice([None, "59", "67", "64"])  # 64: no local service
            where = {"department": department} if department else {}
            if priorities.random() < 0.2:  # a priority now and then (its own stream: the same steps)
                where["priority"] = priorities.choice([1, 5, 9])
            event = ev("call.offered", call_id=f"k{n_calls}", caller="+33600000001", skill=skill, **where)
        else:
            call = rng.choice(live)
            agent = call.agent_id if call.agent_id and rng.random() < 0.8 else rng.choice(agents)
            kind = rng.random()
            if kind < 0.3:
                event = ev("call.answered", at=ts, call_id=call.id, agent_id=agent)
            elif kind < 0.4:
                event = ev("call.unanswered", at=ts, call_id=call.id, agent_id=agent)
            elif kind < 0.6:
                reason = rng.choice(["completed", "abandoned", "failed", "transferred"])
                event = ev("call.ended", at=ts, call_id=call.id, reason=reason)
            elif kind < 0.9:
                state = rng.choice(["available", "available", "busy", "wrap_up", "paused", "logged_out"])
                event = ev("agent.state", at=ts, agent_id=agent, state=state, reason="x")
            elif kind < 0.91:
                event = ev("survey.result", call_id=call.id, score=rng.randint(1, 5))
            elif (
                kind < 0.93
            ):  # the supervisor changes an agent's skills or site (PUT /v1/agents), on a call or not
                skills = dict(
                    rng.sample([("impot_revenu", 3), ("paiement", 2), ("lsf", 4)], rng.randint(1, 3))
                )
                event = ev(
                    "roster.agent",
                    agent_id=agent,
                    site=rng.choice(["lille", "pau"]),
                    skills=skills,
                    target=f"sip:{agent}@x.example",
                )
            elif kind < 0.95:  # the supervisor's switch
                event = ev("overflow.mode", mode=rng.choice(["auto", "on", "on", "off"]))
            else:
                event = ev("callback.accepted", call_id=call.id)
        if refusals.random() < 0.02:  # a batch naming a result nobody knows: refused whole, nothing moved
            refused = [event.model_copy(update={"id": f"{event.id}-refused"}), UNKNOWN_RESULT]
            before = dump(engine)
            with pytest.raises(EngineError) as refusal:
                engine.apply(refused, d.now)
            assert 400 <= refusal.value.status < 500
            assert dump(engine) == before
        fate = rng.random()
        if fate < 0.1:
            late.append(event)  # delivered later
        elif fate < 0.15:
            pass  # lost
        else:
            batch = [event]
            if sent and rng.random() < 0.15:
                batch.append(rng.choice(sent))  # a duplicate
            if late and rng.random() < 0.3:
                batch.append(late.pop(rng.randrange(len(late))))  # out of order
            deliver(batch)
        if sent and twice.random() < 0.05:  # one webhook posted again under a new id, later
            again = twice.choice(sent)
            if again.type in REPOSTED:
                deliver([again.model_copy(update={"id": f"{again.id}-again{step}"})])
        if step % 100 == 99:  # the platform's periodic sync: a random view of what it holds
            held = [c.id for c in engine.calls.values() if c.status != "ended" and rng.random() < 0.7]
            view = {a: rng.choice(["available", "paused", "busy"]) for a in rng.sample(agents, 5)}
            # half of them stamped by a platform clock running ahead (within max_ts_ahead_s)
            ahead = d.now + twice.uniform(0, 290) if twice.random() < 0.5 else None
            deliver([ev("platform.sync", at=ahead, calls=held, agents=view)])
        check(engine, [c for c in d.commands if c.command == "connect"])

    # A final sync: the platform holds nothing and everybody is available. Nobody stays stuck.
    d.advance(60)
    deliver([ev("platform.sync", calls=[], agents=dict.fromkeys(agents, "available"))])
    d.advance(60)
    check(engine, [c for c in d.commands if c.command == "connect"])
    return d, delivered


# Seeds whose runs reach every path the end checks (of seeds 1-40, 5, 6, 7, 12, 17, 21, 26, 28, 32,
# 37 and 39 do; in the others a few dials' results or overflow never come up, and no rule failed).
# A change of behaviour moves the runs: scan the seeds again (every one must hold the rules).
@pytest.mark.parametrize("seed", [6, 7, 12, 21])
def test_chaos_never_rings_an_agent_twice_nor_gives_a_talking_agent_a_second_call(router_kind, seed):
    d, delivered = run_chaos(chaos_config(), router_kind, seed)
    engine = d.engine
    assert sum(s.taken for s in engine.overflow.services.values()) > 0  # overflow was exercised
    assert delivered["callback.result"] > 0  # callbacks were dialled and their results came
    assert delivered["appointment.result"] > 0  # and appointments
    assert all(s.load == 0 for s in engine.overflow.services.values())  # no capacity stuck either
    for (
        call
    ) in engine.calls.values():  # only a callback's or an appointment's dial, waiting for its result, is left
        assert call.status != "answered"
        assert call.status != "connecting" or call.callback_id or call.kind == "appointment", call
    for agent in engine.agents.values():
        state = engine.agent_state(agent)
        if agent.call_id is None:
            assert state is AgentState.AVAILABLE, agent
        else:
            call = engine.calls[agent.call_id]
            assert state is AgentState.RESERVED and (call.callback_id or call.kind == "appointment"), agent


BIG = 1e300  # finite: the configuration refuses infinities
#: Extreme values the configuration accepts, one at a time (section, field, value).
EXTREMES = [
    *[("routing", "wrap_up_s", v) for v in (0.0, 1e-9, BIG)],
    *[("routing", f, v) for f in ("callback_offer_ewt_s", "preferred_agent_wait_s") for v in (0.0, BIG)],
    ("routing", "aht_smoothing", 1e-12),
    ("routing", "aht_smoothing", 1.0),
    ("routing", "ewt_unstaffed_s", 1e-300),
    ("routing", "ewt_unstaffed_s", BIG),
    ("routing", "priority_aging_s", 1e-9),
    ("routing", "priority_aging_s", 86400.0),
    ("routing", "max_no_answer", 1),
    ("routing", "max_ts_skew_s", 0.0),
    ("routing", "max_ts_ahead_s", 0.0),
    ("routing", "watchdog_interval_s", 1.0),
    *[
        ("routing", f, v)
        for f in ("max_answered_s", "busy_without_call_s", "max_ringing_s", "max_waiting_s")
        for v in (1e-9, BIG)
    ],
    ("routing", "idempotency_ttl_s", 1e-9),
    ("routing", "ended_call_retention", 0),
    ("routing", "rona_pause", False),
    ("overflow", "threshold_s", 0.0),
    ("overflow", "threshold_s", BIG),
    ("overflow", "activate_ewt_s", BIG),
    ("overflow", "max_wait_s", 1e-9),
    ("overflow", "max_wait_s", BIG),
]


@pytest.mark.parametrize(("section", "field", "value"), EXTREMES, ids=lambda v: str(v))
def test_chaos_under_every_extreme_setting_the_configuration_accepts(section, field, value) -> None:
    """A setting `acd check-config` accepts never makes an event a 500: `priority_aging_s: 1e12`
    once did, on the numba router, at the first call with a priority. The rules along the way
    hold too (the end's checks depend on the setting: a wrap-up of 1e300 s keeps agents in it)."""
    data = chaos_config().model_dump()
    data[section][field] = value
    run_chaos(Config.model_validate(data), "numba", 2, refusals_ok=True)
