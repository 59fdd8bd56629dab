"""A seeded walk of a realistic but untidy platform over the engine, on both routers, with the
contract's rules checked after every event applied and every timer fired.

The platform is modelled (`Platform`): it rings the agent of each `connect` (decision or
command); the agent answers, lets it ring out (RONA), or the caller hangs up first; callers on
hold hang up after their patience or take the callback offered; a conversation ends; agents report
`busy`, `wrap_up`, `available`, pause and come back, log out and in; it dials the callbacks and
appointments acd `originate`s and reports their results (sometimes with a `call.answered` too);
callers answer surveys. Every word it posts goes through an untidy channel (`Channel`): delayed
(out of order), posted twice under one id, posted again much later under a new id (old news),
lost; its clock may run a little behind or ahead of acd's. Some offers go through that channel
too, so a call's other events may come first (refused, retried until the offer is in). Every
minute or so a `platform.sync` lists what it holds, some dropping a call it still holds or
contradicting acd about an agent, stamped late, on time, ahead, or not at all. A supervisor
changes agents' skills and sites, flips the overflow switch, cancels callbacks, cancels and moves
appointments. Each seed draws its routing (`ROUTINGS`), its platform's clock, a peak or a quiet
line, and a morning or the closing.

The rules (CONTRACT.md: "One command per intent", "Calls own their agents", "Reconciliation",
"Work-conserving"), checked after each step (`Rules.check`):

- both sides agree: an agent's call names it and rings it or talks with it, and the other way
  round; an agent holds at most one call, a call is held by at most one agent; reserved means
  rung for a call, an agent with a call is reserved or busy;
- one connect per assignment: every connect given (decision or command) is a line of its call's
  history, two of them only with a return to the line between; a new `connect` or `originate`
  for a call that was already ringing before the step only when the step was about that call;
  every earlier `connect` of the call is superseded (the outbox drops it);
- an agent ringing or talking is never given another call: a `connect` or `originate` for an
  agent that held a call before the step only when the step was about that call;
- calls own their agents: an agent leaves its call (and an answered call its agent) only by the
  call's own events (its answer, ring-out, end, result, or a sync), never by an `agent.state` nor
  a timer;
- stale is ignored: an `available`, `busy` or `wrap_up` stamped before the agent's last change
  changes nothing; and the word on the ring or dial in progress is never taken for stale (told
  apart by its stamp, or by its `originate_id` when the platform's clock is behind and the
  call was rung before);
- a callback the caller took while on hold is kept, even when the caller's hang-up (stamped
  after the acceptance) was delivered first;
- work-conserving: no call waits in line while an available agent holding its skill and needs is
  idle, and no due requested callback waits for the fair share while one is;
- a duplicate carries the decision first given (and why it changed nothing);
- a call is `closed` if and only if the line was closed when the platform saw it (its `ts`);
- a call an agent can take now is never overflowed;
- a local service holds exactly the overflowed calls not ended, within its capacity;
- the line reads alike everywhere: per-skill counts as the calls in line, every call in line
  queued (or a callback), every queued caller in line; a queue decision's position within its
  skill's line; every call's view readable;
- every 300 steps the service restarts from a snapshot (the engine's state through JSON) on the
  other router: the state reads back whole and the walk carries on on the restored engine;
- nothing raises;
- and at the end, once the platform has ended every call and reported every dial, and timers ran
  past wrap-up: no agent reserved or in wrap-up, every agent available, paused or logged out, or
  busy with no call only when the platform itself said `busy` last.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from acd.config import Config
from acd.engine import Engine, EngineError, state
from acd.engine.line import aged_order
from acd.model import AgentState
from acd.phone import diallable
from tests.conftest import T0, ev
from tests.engine.test_faults import chaos_config

AV, BUSY, WRAP, RES, PAUSED, OUT = (
    AgentState.AVAILABLE,
    AgentState.BUSY,
    AgentState.WRAP_UP,
    AgentState.RESERVED,
    AgentState.PAUSED,
    AgentState.LOGGED_OUT,
)
ACTIVE = ("connecting", "answered")
OPEN_CONTACT = ("scheduled", "booked", "dialing")
CLOSING = datetime(2026, 3, 2, 19, 0, tzinfo=ZoneInfo("Europe/Paris")).timestamp()  # T0's day
SEEDS = [1, 2, 3, 4, 5, 6, 7, 8]
STEPS = 1000


#: Routing settings a walk may run under (one, drawn by its seed), each work-conserving.
ROUTINGS: list[dict[str, Any]] = [
    {},
    {"strategy": "skill_level"},
    {"strategy": "least_occupied", "wrap_up_s": 0.0},
    {"strategy": "fewest_skills", "max_no_answer": 1},
    {"priority_aging_s": 30.0, "rona_pause": False},
]


def walk_config(routing: dict[str, Any]) -> Config:
    """The chaos configuration (16 agents, one interpreter, local services, appointments), with
    the shipped wait for a busy preferred agent (none: a preference chooses among the free) and
    `routing`'s settings."""
    data = chaos_config().model_dump()
    data["routing"].update({"preferred_agent_wait_s": 0.0, **routing})
    data["records"]["surveys"] = {"share": 0.3, "by_skill": {}}
    data["callbacks"]["windows"] = [
        {"start": "08:30", "end": "09:30", "capacity": 2},
        {"start": "17:30", "end": "19:00", "capacity": 2},
    ]
    return Config.model_validate(data)


# ---------------------------------------------------------------- the untidy channel


class Channel:
    """What the platform posts, delivered late, out of order, twice, again under a new id, or never."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.queue: list[tuple[float, int, Any]] = []
        self.seq = itertools.count()
        self.delivered: list[Any] = []

    def post(self, at: float, event: Any, *, reliable: bool = False) -> None:
        rng = self.rng
        if not reliable and rng.random() < 0.03:
            return  # lost
        delay = rng.uniform(0, 1.5) if rng.random() < 0.8 else rng.uniform(2, 45)
        heapq.heappush(self.queue, (at + delay, next(self.seq), event))
        if rng.random() < 0.08:  # posted twice under one id (a retry)
            heapq.heappush(self.queue, (at + delay + rng.uniform(0, 20), next(self.seq), event))

    def retry(self, now: float, event: Any) -> None:
        heapq.heappush(self.queue, (now + self.rng.uniform(1, 5), next(self.seq), event))

    def due(self, now: float) -> list[Any]:
        out = []
        while self.queue and self.queue[0][0] <= now:
            out.append(heapq.heappop(self.queue)[2])
        return out

    def replay(self, now: float, step: int) -> None:
        """An old word posted again under a new id (two components reporting one thing)."""
        kinds = ("call.answered", "call.unanswered", "call.ended", "agent.state", "callback.result")
        old = [e for e in self.delivered[-200:] if e.type in kinds or e.type == "appointment.result"]
        if old:
            event = self.rng.choice(old)
            copy = event.model_copy(update={"id": f"{event.id}-again{step}"})
            heapq.heappush(self.queue, (now + self.rng.uniform(0, 5), next(self.seq), copy))


# ---------------------------------------------------------------- the platform


@dataclass
class Platform:
    """What the platform holds: its calls (ringing whom, talking with whom, gone) and its agents
    (here, paused, out); it reacts to acd's decisions and commands through intents due later."""

    rng: random.Random
    channel: Channel
    agents: list[str]
    calls: dict[str, str] = field(default_factory=dict)  # call id -> waiting|ringing|talking|gone
    with_agent: dict[str, str] = field(default_factory=dict)  # call id -> agent rung or talking
    rings: Counter = field(default_factory=Counter)  # call id -> rings so far (stale intents)
    presence: dict[str, str] = field(default_factory=dict)  # agent id -> available|paused|logged_out
    intents: list[tuple[float, int, tuple]] = field(default_factory=list)
    seq: Any = field(default_factory=itertools.count)
    n: int = 0
    clock: float = 0.0  # how far its clock is off acd's (its stamps, not its acts)
    #: event id -> (call id, ring): the events about one ring or dial, for the rules to judge
    rung: dict[str, tuple[str, int]] = field(default_factory=dict)
    named: dict[str, str] = field(default_factory=dict)  # call id -> its dial's originate id

    def later(self, at: float, *intent: Any) -> None:
        heapq.heappush(self.intents, (at, next(self.seq), intent))

    def say(
        self,
        at: float,
        type_: str,
        *,
        stamped: bool | None = None,
        ring: tuple[str, int] | None = None,
        **fields: Any,
    ) -> None:
        """Post an event the platform saw at `at`, stamped so by its clock (mostly), or not at
        all; `ring`: the call and the ring (or dial) of it that the event is about."""
        if stamped is None:
            stamped = self.rng.random() < 0.85
        event = ev(type_, at=at + self.clock if stamped else None, **fields)
        if ring is not None:
            self.rung[event.id] = ring
        self.channel.post(at, event)

    # -- acd's outputs

    def hear(self, now: float, results: list[Any], commands: list[Any], offered: Any = None) -> None:
        rng = self.rng
        for result in results:
            decision = None if result.decision is None else result.decision.to_wire()
            if result.status != "applied" or decision is None:
                continue
            action = decision.get("action")
            if action == "connect":
                self.ring(now, decision["call_id"], decision["agent_id"])
            elif action == "queue" and decision.get("callback_offer") and rng.random() < 0.3:
                windows = [w["start"] for w in decision.get("callback_windows") or []]
                self.later(now + rng.uniform(5, 40), "accept", decision["call_id"], windows)
            elif action == "queue" and rng.random() < 0.05:  # a voice server that asks for a number
                self.later(now + rng.uniform(5, 40), "accept", decision["call_id"], [], "+33700000003")
            elif action in ("overflow", "closed"):
                self.calls[decision["call_id"]] = "gone"
        for command in commands:
            f = command.fields
            if command.command == "connect":
                self.ring(now, f["call_id"], f["agent_id"])
            elif command.command == "originate":
                self.named[f["call_id"]] = command.id  # the dial, as a result may name it
                self.dial(now, f["call_id"], f["agent_id"], f.get("callback_id"), f.get("appointment_id"))
            elif command.command == "overflow":
                self.calls[f["call_id"]] = "gone"
                self.later(now + rng.uniform(30, 300), "service_end", f["call_id"])
            elif command.command == "offer_callback" and rng.random() < 0.5:
                self.later(now + rng.uniform(2, 20), "accept", f["call_id"], [])
            elif command.command == "survey" and rng.random() < 0.6:
                self.say(
                    now + rng.uniform(20, 90), "survey.result", call_id=f["call_id"], score=rng.randint(1, 5)
                )

    def ring(self, now: float, call_id: str, agent_id: str) -> None:
        if self.calls.get(call_id) == "gone":
            return
        self.calls[call_id], self.with_agent[call_id] = "ringing", agent_id
        self.rings[call_id] += 1
        self.later(now + self.rng.uniform(1, 25), "ring", call_id, agent_id, self.rings[call_id])

    def dial(
        self, now: float, call_id: str, agent_id: str, callback_id: str | None, appointment_id: str | None
    ):
        self.calls[call_id], self.with_agent[call_id] = "dialling", agent_id
        self.rings[call_id] += 1
        roll = self.rng.random()  # what comes of it (below 0.6: answered); a busy tone comes at once
        after = self.rng.uniform(0.2, 2) if 0.6 <= roll < 0.85 and self.rng.random() < 0.3 else None
        self.later(
            now + (after or self.rng.uniform(3, 40)),
            "dialled",
            call_id,
            agent_id,
            self.rings[call_id],
            callback_id,
            appointment_id,
            roll,
        )

    # -- the platform's own life

    def offer(self, now: float) -> Any:
        rng = self.rng
        self.n += 1
        call_id = f"w{self.n}"
        skill = rng.choices(["impot_revenu", "paiement", "lsf"], [0.75, 0.2, 0.05])[0]
        # the caller id: a number, a national one, or withheld (a private call: never called back)
        caller = rng.choices(["+33600000001", "06 00 00 00 02", "anonymous"], [0.8, 0.1, 0.1])[0]
        fields: dict[str, Any] = {"call_id": call_id, "caller": caller, "skill": skill}
        if rng.random() < 0.3:
            fields["department"] = rng.choice(["59", "67", "64"])
        if rng.random() < 0.15:
            fields["priority"] = rng.choice([1, 5, 9])
        if skill == "impot_revenu" and rng.random() < 0.03:
            fields["needs"] = ["lsf"]
        if rng.random() < 0.05:
            fields["preferred_agent_id"] = rng.choice(self.agents)
        self.calls[call_id] = "waiting"
        self.later(now + rng.expovariate(1 / 120), "hang_up", call_id)  # the caller's patience
        stamped = now - rng.uniform(0, 3) if rng.random() < 0.7 else None
        return ev("call.offered", at=stamped, **fields)

    def waiting(self) -> list[str]:
        return [c for c, s in self.calls.items() if s in ("waiting", "ringing")]

    def pick_up(self, now: float) -> Any:
        """An agent picks up a waiting or ringing call acd did not give it (a pickup)."""
        rng = self.rng
        call_id, agent_id = rng.choice(self.waiting()), rng.choice(self.agents)
        self.calls[call_id], self.with_agent[call_id] = "talking", agent_id
        self.rings[call_id] += 1
        self.later(now + rng.uniform(20, 300), "talk_end", call_id, agent_id)
        return ev("call.answered", at=now, call_id=call_id, agent_id=agent_id)

    def act(self, now: float, intent: tuple) -> None:
        rng = self.rng
        kind, call_id = intent[0], intent[1]
        state = self.calls.get(call_id)
        if kind == "hang_up" and state == "waiting":
            self.calls[call_id] = "gone"
            self.say(now, "call.ended", call_id=call_id, reason="abandoned")
        elif kind == "accept" and state == "waiting":
            self.calls[call_id] = "gone"  # the caller hangs up, its place kept
            windows = intent[2]  # or a window later on (it may be full by the time it arrives)
            later = {"window_start": rng.choice(windows)} if windows and rng.random() < 0.4 else {}
            if len(intent) > 3:  # the number the caller keyed in
                later["number"] = intent[3]
            self.say(now, "callback.accepted", call_id=call_id, **later)
            if rng.random() < 0.2:  # accepted twice (the voice server's retry under a new id)
                self.say(now + 1, "callback.accepted", call_id=call_id, **later)
            self.say(now + rng.uniform(0, 2), "call.ended", call_id=call_id, reason="completed")
        elif kind == "ring":
            _, _, agent_id, ring = intent
            if state != "ringing" or self.rings[call_id] != ring:
                return
            roll = rng.random()
            this = (call_id, ring)
            if roll < 0.7:
                self.calls[call_id] = "talking"
                self.say(now, "call.answered", ring=this, call_id=call_id, agent_id=agent_id)
                if rng.random() < 0.5:
                    self.say(now, "agent.state", agent_id=agent_id, state="busy")
                self.later(now + rng.uniform(20, 400), "talk_end", call_id, agent_id)
            elif roll < 0.85:
                self.calls[call_id] = "waiting"
                self.say(now, "call.unanswered", ring=this, call_id=call_id, agent_id=agent_id)
            elif roll < 0.95:
                self.calls[call_id] = "gone"
                self.say(now, "call.ended", call_id=call_id, reason="abandoned")
            # else: nobody says anything (the ring-out is lost; a sync will find it)
        elif kind == "talk_end" and state == "talking":
            agent_id = intent[2]
            self.calls[call_id] = "gone"
            self.say(
                now, "call.ended", call_id=call_id, reason=rng.choice(["completed"] * 5 + ["transferred"])
            )
            if rng.random() < 0.4:
                self.say(now, "agent.state", agent_id=agent_id, state="wrap_up")
            if rng.random() < 0.6:
                self.say(now + rng.uniform(5, 15), "agent.state", agent_id=agent_id, state="available")
        elif kind == "dialled":
            _, _, agent_id, ring, callback_id, appointment_id, _ = intent
            if state != "dialling" or self.rings[call_id] != ring:
                return
            roll = intent[-1]
            contact = {"callback_id": callback_id} if callback_id else {"appointment_id": appointment_id}
            if rng.random() < 0.5:  # the result names its dial (docs/operations.md)
                contact["originate_id"] = self.named[call_id]
            result = "callback.result" if callback_id else "appointment.result"
            this = (call_id, ring)
            if roll < 0.6:
                self.calls[call_id] = "talking"
                self.say(now, result, ring=this, outcome="answered", **contact)
                if rng.random() < 0.3:
                    self.say(now, "call.answered", ring=this, call_id=call_id, agent_id=agent_id)
                if rng.random() < 0.2:  # the result posted again later
                    self.say(now + rng.uniform(5, 60), result, outcome="answered", **contact)
                self.later(now + rng.uniform(20, 300), "talk_end", call_id, agent_id)
            elif roll < 0.85:
                self.calls[call_id] = "waiting_dial"
                outcome = rng.choice(["no_answer", "busy", "failed"])
                self.say(now, result, ring=this, outcome=outcome, **contact)
            elif roll < 0.95:
                self.calls[call_id] = "waiting_dial"
                self.say(now, "call.unanswered", ring=this, call_id=call_id, agent_id=agent_id)
            # else: the result is lost (the contact's dial stays until a result comes)
        elif kind == "service_end":
            self.say(now, "call.ended", call_id=call_id, reason="completed")

    def agent_life(self, now: float) -> None:
        rng = self.rng
        agent_id = rng.choice(self.agents)
        here = self.presence.get(agent_id, "available")
        roll = rng.random()
        if here == "available":
            new = "paused" if roll < 0.6 else "logged_out" if roll < 0.75 else "available"
        else:
            new = "available" if roll < 0.8 else here
        self.presence[agent_id] = new
        stamp = now - rng.uniform(0, 20) if rng.random() < 0.3 else now
        reason = {"reason": rng.choice(["lunch", "meeting"])} if new == "paused" else {}
        self.say(stamp, "agent.state", agent_id=agent_id, state=new, **reason)

    def sync(self, now: float) -> Any:
        """What the platform holds, as it says it: some calls dropped, some agents contradicted."""
        rng = self.rng
        held = [c for c, s in self.calls.items() if s != "gone" and rng.random() < 0.93]
        held += [c for c, s in self.calls.items() if s == "gone" and rng.random() < 0.02]  # ended: ignored
        agents = {}
        for agent_id in rng.sample(self.agents, 5):
            talking = any(
                self.with_agent.get(c) == agent_id and s in ("talking", "ringing", "dialling")
                for c, s in self.calls.items()
            )
            word = "busy" if talking else self.presence.get(agent_id, "available")
            if rng.random() < 0.1:
                word = rng.choice(["available", "busy", "paused", "wrap_up", "logged_out"])
            agents[agent_id] = word
        roll = rng.random()
        at = now - rng.uniform(0, 30) if roll < 0.4 else now + rng.uniform(0, 200) if roll < 0.6 else None
        if roll > 0.9:
            at = now
        return ev("platform.sync", at=at, calls=held, agents=agents)


# ---------------------------------------------------------------- the rules


def _about(engine: Engine, event: Any) -> set[str]:
    """The calls an event is about (a callback's: its call; a sync: every call)."""
    if event is None:
        return set()
    if event.type == "platform.sync":
        return {"*"}
    out = set()
    for name in ("call_id", "appointment_id"):
        if (value := getattr(event, name, None)) is not None:
            out.add(value)
    if (callback := engine.callbacks.get(getattr(event, "callback_id", None) or "")) is not None:
        out.add(callback.call_id)
    return out


@dataclass
class Snapshot:
    agent_call: dict[str, str | None]
    agent_state: dict[str, AgentState]
    agent_changed: dict[str, float]
    call_status: dict[str, str]
    contact_status: dict[str, str]


class Rules:
    def __init__(self, engine: Engine, platform: Platform) -> None:
        self.engine = engine
        # the platform's: which ring an event is about, its rings so far, its clock
        self.rung, self.rings, self.clock = platform.rung, platform.rings, platform.clock
        self.connects: Counter = Counter()  # call id -> connects given (decisions and commands)
        self.connect_commands: dict[str, list[Any]] = {}
        self.first: dict[str, Any] = {}  # event id -> its first decision and why it was ignored
        self.said_busy: set[str] = set()  # agents busy with no call by the platform's own word

    def order(self, call: Any) -> tuple[int, int]:
        """A waiting call's place (lower first): by priority then arrival, or, under priority
        aging, by arrival less its priority's worth of waiting (acd.engine.line.aged_order)."""
        aging = self.engine.config.routing.priority_aging_s
        if aging is None:
            return (-call.priority, call.seq)
        return (0, aged_order(call.enqueued_at, call.priority, aging, call.seq))

    def snapshot(self) -> Snapshot:
        e = self.engine
        return Snapshot(
            {a.id: a.call_id for a in e.agents.values()},
            {a.id: e.agent_state(a) for a in e.agents.values()},
            {a.id: a.state_changed_at for a in e.agents.values()},
            {c.id: str(c.status) for c in e.calls.values()},
            {
                **{cb.call_id: str(cb.status) for cb in e.callbacks.values()},
                **{ap.id: str(ap.status) for ap in e.appointments.values()},
            },
        )

    def check(
        self, before: Snapshot, events: list[Any], results: list[Any], commands: list[Any], now: float
    ) -> None:
        """After a batch of `events` (none: timers fired) gave `results` and `commands`."""
        e = self.engine
        about = set().union(*(_about(e, event) for event in events))
        what = repr(events) if events else "timer"
        event = events[0] if len(events) == 1 else None  # a rule on one event alone
        # -- both sides agree; one call per agent, one agent per call
        holders = Counter(a.call_id for a in e.agents.values() if a.call_id is not None)
        assert all(n == 1 for n in holders.values()), (what, holders)
        for agent in e.agents.values():
            state = e.agent_state(agent)
            if agent.call_id is not None:
                call = e.calls[agent.call_id]
                assert call.agent_id == agent.id and call.status in ACTIVE, (what, agent, call)
                assert state in (RES, BUSY), (what, agent, state)
                assert (state is RES) == (call.status == "connecting"), (what, agent, state, call)
            else:
                assert state is not RES, (what, agent)
        active = Counter(c.agent_id for c in e.calls.values() if c.status in ACTIVE and c.agent_id)
        for call in e.calls.values():
            if call.status in ACTIVE and call.agent_id is not None:
                held = e.agents[call.agent_id].call_id == call.id
                # a callback's or an appointment's answered conversation may outlive the agent's
                # hold only if its agent was freed by a sync; an inbound one never
                assert held or (
                    call.status == "answered" and (call.callback_id or call.kind == "appointment")
                ), (what, call, e.agents[call.agent_id])
        assert all(n == 1 for a, n in active.items() if e.agents[a].call_id is not None), (what, active)
        # -- one connect per assignment, one assignment per agent
        given = []  # (call id, agent id, kind)
        for result in results:
            if result.status == "applied" and result.decision is not None:
                wire = result.decision.to_wire()
                if wire.get("action") == "connect":
                    given.append((wire["call_id"], wire["agent_id"], "connect"))
        for command in commands:
            if command.command in ("connect", "originate"):
                given.append((command.fields["call_id"], command.fields["agent_id"], command.command))
            if command.command == "connect":
                call_id = command.fields["call_id"]
                for earlier in self.connect_commands.get(call_id, []):
                    assert e.queries.command_superseded(earlier), (what, earlier, command)
                self.connect_commands.setdefault(call_id, []).append(command)
        for call_id, agent_id, kind in given:
            if kind == "connect":
                self.connects[call_id] += 1
            was = before.call_status.get(call_id)
            if was in ACTIVE or before.contact_status.get(call_id) == "dialing":
                assert call_id in about or "*" in about, (what, "a second", kind, call_id, was)
            had = before.agent_call.get(agent_id)
            if had is not None:
                assert had in about or "*" in about, (what, kind, call_id, "to", agent_id, "holding", had)
        for call_id in {c for c, _, k in given if k == "connect"}:
            call = e.calls[call_id]
            entries = [h["action"] for _, h in call.history if h.get("action") in ("connect", "requeue")]
            assert entries.count("connect") == self.connects[call_id], (what, call_id, entries)
            assert all(not (a == b == "connect") for a, b in itertools.pairwise(entries)), entries
        # -- calls own their agents: only the call's own events end an assignment
        for agent in e.agents.values():
            had = before.agent_call[agent.id]
            if had is not None and agent.call_id != had:
                assert had in about or "*" in about, (what, "took", agent.id, "from", had)
        for call_id, was in before.call_status.items():
            call = e.calls.get(call_id)
            if was == "answered" and call is not None and call.status != "answered":
                assert call_id in about or "*" in about, (what, "ended", call_id)
        # -- stale is ignored
        if (
            event is not None
            and event.type == "agent.state"
            and event.ts is not None
            and event.state in ("available", "busy", "wrap_up")
            and event.ts.timestamp() < before.agent_changed[event.agent_id]
        ):
            state = e.agent_state(e.agents[event.agent_id])
            assert state is before.agent_state[event.agent_id], (what, "stale applied")
        # -- the platform's own busy (a personal call): kept apart for the final check
        for agent in e.agents.values():
            state = e.agent_state(agent)
            if state is not before.agent_state[agent.id] or agent.call_id is not None:
                self.said_busy.discard(agent.id)
            if (
                state is BUSY
                and agent.call_id is None
                and any(
                    getattr(event, "agent_id", None) == agent.id
                    or (event.type == "platform.sync" and event.agents.get(agent.id) == "busy")
                    for event in events
                    if event.type in ("agent.state", "platform.sync")
                )
            ):
                self.said_busy.add(agent.id)
        # -- the word on the ring or dial in progress is never taken for an earlier one's (stale):
        # told apart by its stamp, or its name (`originate_id`) when the platform's clock is behind
        # acd's and the call was rung before (docs/operations.md)
        for event, result in zip(events, results, strict=True):
            ring = self.rung.get(event.id)
            if result.ignored != "stale" or ring is None or ring[1] != self.rings[ring[0]]:
                continue
            call = e.calls[ring[0]]
            named = getattr(event, "originate_id", None) is not None
            if self.clock < 0 and not named and ring[1] > 1:
                continue
            assert call.status not in ACTIVE or call.answered_at is not None, (what, "stale", call)
        # -- a callback the caller took on hold is kept, even when its hang-up was delivered first
        for accepted in events:
            if accepted.type != "callback.accepted" or accepted.ts is None:
                continue
            call = e.calls[accepted.call_id]
            assert not (
                call.status == "ended"
                and call.kind == "inbound"
                and call.callback_id is None
                and call.answered_at is None
                and call.connected_at is None  # on hold at its end, not ringing an agent
                and call.service_id is None
                and accepted.ts.timestamp() <= call.ended_at
            ), (what, "callback lost", call)
        # -- work-conserving
        idle = [a for a in e.agents.values() if e.agent_state(a) is AV and a.call_id is None]
        for call in e.waiting_calls():
            if call.callback_id is not None:
                callback = e.callbacks[call.callback_id]
                if not e.callback_book.caller_hours.may_dial_for(callback, now):
                    continue
            wanted = {call.skill, *call.needs}
            assert not [a.id for a in idle if wanted <= set(a.skills)], (what, "waits", call, now)
        for skill, heap in e.callback_book.pending.items():
            for due_at, _, callback_id in heap:
                callback = e.callbacks.get(callback_id)
                if (
                    callback is None
                    or callback.status != "scheduled"
                    or callback_id in e.callback_book.admitted
                ):
                    continue
                if due_at <= now and [a for a in idle if skill in a.skills]:
                    raise AssertionError((what, "callback held back", callback))
        # -- a duplicate (a repeated id) carries the decision first given, and changes nothing
        for event, result in zip(events, results, strict=True):
            first = result.decision.to_wire() if result.decision is not None else None
            if result.status == "applied":
                self.first.setdefault(event.id, (first, result.ignored))
            else:
                assert result.status == "duplicate" and self.first[event.id] == (first, result.ignored), (
                    what,
                    result,
                )
        # -- open or closed as of the call's offer, as the platform dated it (its record's offered_at)
        for event, result in zip(events, results, strict=True):
            if event.type == "call.offered" and result.status == "applied":
                call = e.calls[event.call_id]
                closed = result.decision.to_wire()["action"] == "closed"
                assert closed is not e.calendar.is_open(call.offered_at), (what, result, call.offered_at)
        # -- a call an agent can take now is never overflowed
        overflowed = [
            r.decision.to_wire()["call_id"]
            for r in results
            if r.status == "applied"
            and r.decision is not None
            and r.decision.to_wire().get("action") == "overflow"
        ]
        overflowed += [c.fields["call_id"] for c in commands if c.command == "overflow"]
        for call_id in overflowed:
            call = e.calls[call_id]
            wanted = {call.skill, *call.needs}
            free = [
                a.id
                for a in e.agents.values()
                if e.agent_state(a) is AV and a.call_id is None and wanted <= set(a.skills)
            ]
            assert not free, (what, "overflowed", call_id, "while free", free)
        # -- a callback goes only to a number: none offered to a withheld caller id, every dial to one
        for result in results:
            wire = result.decision.to_wire() if result.status == "applied" and result.decision else {}
            if wire.get("action") == "queue" and wire["callback_offer"]:
                assert diallable(e.calls[wire["call_id"]].caller), (what, "offered", wire)
        for command in commands:
            if command.command == "offer_callback":
                assert diallable(e.calls[command.fields["call_id"]].caller), (what, command)
            if command.command == "originate":
                assert diallable(command.fields["number"]), (what, command)
        # -- a local service holds exactly its overflowed calls still on, within its capacity
        for service in e.overflow.services.values():
            held = [c.id for c in e.calls.values() if c.status == "overflowed" and c.service_id == service.id]
            assert service.load == len(held) <= service.spec.capacity, (what, service.id, service.load, held)
        # -- the line reads alike everywhere
        waiting = e.waiting_calls()
        per_skill = Counter(c.skill for c in waiting)
        assert [per_skill.get(s, 0) for s in e.skills] == e.waiting_by_skill, (what, per_skill)
        stats = {q["skill"]: q for q in e.queries.queues(now)}
        for skill in e.skills:
            assert stats[skill]["waiting"] == per_skill.get(skill, 0), (what, skill, stats[skill])
            available = sum(1 for a in idle if skill in a.skills)
            assert stats[skill]["agents_available"] == available, (what, skill, stats[skill], available)
        for call in waiting:
            assert call.status in ("queued", "callback"), (what, call)
        for call in e.calls.values():
            if call.status == "queued":
                assert call.waiting or (
                    call.kind == "appointment" and e.appointments[call.id].status == "booked"
                ), (what, call)
            if call.status == "connecting":
                assert call.agent_id is not None and not call.waiting, (what, call)
        for result in results:
            if result.status == "applied" and result.decision is not None:
                wire = result.decision.to_wire()
                if wire.get("action") == "queue":
                    call = e.calls[wire["call_id"]]
                    ahead = [
                        c
                        for c in waiting
                        if c.skill == call.skill
                        and set(c.needs) <= set(call.needs)  # a call it competes with
                        and self.order(c) < self.order(call)
                    ]
                    assert wire["position"] == len(ahead) + 1, (what, wire, ahead)
        if events:
            for call_id in about - {"*"}:
                if call_id in e.calls:
                    e.queries.call(call_id, now)  # readable


# ---------------------------------------------------------------- the walk


class Walk:
    def __init__(self, router: str, seed: int) -> None:
        self.rng = random.Random(seed)
        self.router = router
        self.engine = Engine(walk_config(self.rng.choice(ROUTINGS)), router=router)
        self.now = self.rng.choice([T0, CLOSING - 600])  # a morning, or the last minutes of the day
        self.channel = Channel(random.Random(seed * 7919 + 1))
        agents = list(self.engine.agents)
        self.platform = Platform(random.Random(seed * 104729 + 3), self.channel, agents)
        self.platform.clock = self.rng.choice([0.0, 0.0, -1.5, 0.8])  # its clock, behind or ahead
        self.rules = Rules(self.engine, self.platform)
        self.applied = 0

    def apply(self, *events: Any) -> None:
        before = self.rules.snapshot()
        try:
            results, commands = self.engine.apply(list(events), self.now)
        except EngineError as refused:
            # refused whole, nothing changed: the platform posts each event again on its own; one
            # about a call whose offer is still on its way is retried until it is known, as the
            # platform retries a webhook until a 2xx; a window full or no longer offered is dropped
            assert 400 <= refused.status < 500, refused
            assert self.rules.snapshot() == before, refused
            if len(events) > 1:
                for event in events:
                    self.apply(event)
            elif refused.code == "unknown_call":
                self.channel.retry(self.now, events[0])
            else:
                assert getattr(events[0], "window_start", None), refused
            return
        self.applied += len(events)
        self.channel.delivered.extend(events)
        self.rules.check(before, list(events), results, commands, self.now)
        self.platform.hear(self.now, results, commands)

    def advance(self, seconds: float) -> None:
        """Time moves on: timers fire, the platform acts, the channel delivers, in time order."""
        end = self.now + seconds
        while True:
            at = min(
                self.engine.next_wakeup() or math.inf,
                self.platform.intents[0][0] if self.platform.intents else math.inf,
                self.channel.queue[0][0] if self.channel.queue else math.inf,
            )
            if at > end:
                break
            self.now = max(self.now, at)
            if (wake := self.engine.next_wakeup()) is not None and wake <= self.now:
                before = self.rules.snapshot()
                commands = self.engine.tick(self.now)
                self.rules.check(before, [], [], commands, self.now)
                self.platform.hear(self.now, [], commands)
            while self.platform.intents and self.platform.intents[0][0] <= self.now:
                self.platform.act(self.now, heapq.heappop(self.platform.intents)[2])
            due = self.channel.due(self.now)
            while due:  # one by one, or several in one batch (the platform's arrays)
                size = 1 if self.rng.random() < 0.7 else self.rng.randint(2, 4)
                self.apply(*due[:size])
                due = due[size:]
        self.now = end

    def run(self, steps: int) -> None:
        rng, platform = self.rng, self.platform
        for agent_id in platform.agents:  # the morning: everybody logs in, one report each
            self.apply(ev("agent.state", at=self.now, agent_id=agent_id, state="available"))
        next_sync = self.now + 60
        busy_line = rng.random() < 0.5  # a peak (everybody talking, callers waiting) or a quiet day
        for step in range(steps):
            self.advance(rng.expovariate(1 / 3))
            roll = rng.random()
            if roll < (0.35 if busy_line else 0.12):
                offer = platform.offer(self.now)
                if rng.random() < 0.7:
                    self.apply(offer)  # posted as it rings, for its decision
                else:  # through the untidy channel: its call's other events may come first
                    self.channel.post(self.now, offer, reliable=True)
            elif roll < 0.36 and platform.waiting():
                self.apply(platform.pick_up(self.now))
            elif roll < 0.45:
                platform.agent_life(self.now)
            elif roll < 0.47:
                self.channel.replay(self.now, step)
            elif roll < 0.48:
                self.book(step)
            elif roll < 0.49:
                self.request_callback(step)
            elif roll < 0.5:
                self.supervise(step)
            if step % 300 == 299:
                self.restart()
            if self.now >= next_sync:
                self.apply(platform.sync(self.now))
                next_sync = self.now + rng.uniform(30, 90)

    def restart(self) -> None:
        """The service restarts from a snapshot of the engine (through JSON), on the other router:
        the state written reads back whole, and the walk carries on on the restored engine."""
        written = json.loads(json.dumps(state.dump(self.engine)))
        self.router = "reference" if self.router == "numba" else "numba"
        restored = state.load(self.engine.config, written, router=self.router)
        assert json.loads(json.dumps(state.dump(restored))) == written
        self.engine = self.rules.engine = restored

    def supervise(self, step: int) -> None:
        """The supervisor: an agent's skills or site changed (on a call or not), the overflow
        switch, a callback or an appointment cancelled or moved."""
        rng, e = self.rng, self.engine
        roll = rng.random()
        if roll < 0.4:
            agent_id = rng.choice(self.platform.agents)
            skills = dict(rng.sample([("impot_revenu", 3), ("paiement", 2), ("lsf", 4)], rng.randint(1, 3)))
            site = rng.choice(["lille", "pau"])
            target = f"sip:{agent_id}@x.example"
            self.apply(ev("roster.agent", agent_id=agent_id, site=site, skills=skills, target=target))
        elif roll < 0.6:
            self.apply(ev("overflow.mode", mode=rng.choice(["auto", "on", "off"])))
        elif roll < 0.8:
            scheduled = sorted(c.id for c in e.callbacks.values() if c.status == "scheduled")
            if scheduled:
                self.apply(ev("callback.cancelled", callback_id=rng.choice(scheduled)))
        else:
            booked = sorted(
                a.id for a in e.appointments.values() if a.status == "booked" and a.start > self.now
            )
            if booked:
                appointment_id = rng.choice(booked)
                if rng.random() < 0.5:
                    self.apply(ev("appointment.cancelled", appointment_id=appointment_id))
                else:
                    slot = 1800 * (int(self.now // 1800) + rng.randint(2, 4))
                    start = datetime.fromtimestamp(slot, UTC).isoformat()
                    with contextlib.suppress(EngineError):  # that slot is full
                        e.validate(
                            [
                                moved := ev(
                                    "appointment.rescheduled", appointment_id=appointment_id, start=start
                                )
                            ],
                            self.now,
                        )
                        self.apply(moved)

    def book(self, step: int) -> None:
        slot = 1800 * (int(self.now // 1800) + 2)
        event = ev(
            "appointment.booked",
            appointment_id=f"ap{step}",
            number=f"+336000{step:05d}",  # each booking its own caller (one number, one at a start)
            skill="impot_revenu",
            start=datetime.fromtimestamp(slot, UTC).isoformat(),
        )
        try:
            self.engine.validate([event], self.now)
        except EngineError:  # the slot is full: refused, nothing changed
            return
        self.apply(event)

    def request_callback(self, step: int) -> None:
        number = f"+336100{step:05d}"  # each request its own caller (one open callback per number)
        self.apply(ev("callback.requested", callback_id=f"rq{step}", number=number, skill="paiement"))

    def tidy_up(self) -> None:
        """The platform settles: everything it posted arrives, every call it holds ends, every dial
        gets its answer and its end, for as long as acd dials; timers run past wrap-up."""
        e, platform = self.engine, self.platform
        platform.rng.seed(0)  # from here on the platform answers every dial and nobody lingers
        for _ in range(40):
            self.advance(120)
            live = [c for c in e.calls.values() if c.status not in ("ended", "closed")]
            contacts = [
                x for x in [*e.callbacks.values(), *e.appointments.values()] if x.status in OPEN_CONTACT
            ]
            if not live and not contacts and not platform.intents and not self.channel.queue:
                break
            for call in live:
                if (
                    call.status in ("connecting", "answered")
                    and call.agent_id
                    and (call.callback_id or call.kind == "appointment")
                ):
                    contact = (
                        e.callbacks.get(call.callback_id) if call.callback_id else e.appointments[call.id]
                    )
                    if contact.status == "dialing":
                        key = "callback_id" if call.callback_id else "appointment_id"
                        kind = "callback.result" if call.callback_id else "appointment.result"
                        self.apply(ev(kind, **{key: contact.id}, outcome="answered"))
                if call.status in ("queued", "connecting", "answered"):
                    self.apply(ev("call.ended", call_id=call.id, reason="completed"))
        self.advance(120)

    def final_check(self) -> None:
        e = self.engine
        live = [c for c in e.calls.values() if c.status not in ("ended", "closed")]
        assert not [c for c in live if c.status in ("queued", "connecting", "answered")], live
        for agent in e.agents.values():
            state = e.agent_state(agent)
            assert agent.call_id is None, agent
            assert state in (AV, PAUSED, OUT) or (state is BUSY and agent.id in self.rules.said_busy), (
                agent,
                state,
            )


@pytest.mark.parametrize("seed", SEEDS)
def test_an_untidy_platform_never_breaks_the_rules(router_kind: str, seed: int) -> None:
    walk = Walk(router_kind, seed)
    started = time.perf_counter()
    walk.run(STEPS)
    walk.tidy_up()
    walk.final_check()
    assert walk.applied > STEPS // 2  # the walk did walk
    assert time.perf_counter() - started < 10
