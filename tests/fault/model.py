"""A seeded model of an untidy telephony platform, and the checks of what acd does with it.

`UntidyPlatform` holds the platform's truth (which calls it holds, which agent really rings or talks
to which call, who asked for a pause) and, step by step, makes things happen in it: callers arrive,
agents answer or let the phone ring out, callers hang up, agents pause, log out or come back in the
middle of a call. Each happening becomes the webhooks a real platform would post, and those go
through the faults of a real network: duplicated (the same id posted again later), delivered late
(with their original `ts`), reordered (a batch shuffled), redundant (an `agent.state` restating what
the platform believes), lost (a `call.ended`, a `call.answered`, now and then an `agent.state`).
Every so often it posts a `platform.sync` of what it holds (sometimes late as well).

The platform obeys acd: a `connect` (decision or command) rings the agent named. What acd emits is
checked against the contract as it arrives (`Checker`): one connect per assignment, never a second
command id for one; a call's assignment ends only through the call's own events; an agent never
holds two calls; an agent who asked for a pause (and acd was told) is never rung. The transport
(in-process app or `acd serve` processes) is the caller's: `post`, `get`, and a source of commands.

Everything random comes from one `random.Random(seed)`; a failure prints the seed and the last
events posted, so `ACD_FAULT_SEEDS=<seed>` replays it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections import Counter, defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fault.outbound import OutboundFaults, OutboundPlay

SKILLS = ("impot_revenu", "paiement")
DEFINITE = {"queued", "connecting", "answered", "callback", "overflowed", "closed", "ended"}
#: The call states in which the platform holds a call (`at_service`: bridged to the local service
#: acd overflowed it to, until the caller hangs up).
HELD = ("waiting", "ringing", "talking", "at_service")
RING_TIMEOUT_STEPS = 40  # the platform's own no-answer timeout, in steps (0.5-3 s each)


def rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


@dataclass
class RealCall:
    id: str
    skill: str
    # waiting | ringing | talking | at_service | ended; a callback's or an appointment's call
    # (tests/fault/outbound.py): callback (nothing held: the caller took a callback and hung up, or
    # the contact waits for its dial) | dialing (the platform dials it from the agent acd reserved)
    state: str = "waiting"
    agent: str | None = None
    department: str | None = None
    service: str | None = None  # the local service acd overflowed it to
    rung_step: int = 0  # the step its ring began (the platform's own no-answer timeout counts from it)


@dataclass
class RealAgent:
    id: str
    skills: tuple[str, ...]
    state: str = "logged_out"  # logged_out | available | paused | ringing | talking | wrap
    call: str | None = None
    pending: str | None = None  # paused / logged_out asked for during a call
    reason: str | None = None
    wrap_until: int = 0
    # What told acd of the agent's present state: all these event ids delivered (or a sync
    # generated after the last change delivered) means acd knows.
    told_by: set[str] = field(default_factory=set)
    request_ids: set[str] = field(default_factory=set)  # what told acd of the pending request
    changed_step: int = 0
    told_by_sync: bool = False
    sync_post: int = 0  # the post of the sync that told acd its state

    @property
    def wire(self) -> str:
        """The agent's state as the platform reports it."""
        return {"ringing": "busy", "talking": "busy", "wrap": "wrap_up"}.get(self.state, self.state)


@dataclass
class Outgoing:
    event: dict[str, Any]
    due: int
    copy: bool = False  # a duplicate delivery of an event sent before


@dataclass
class Faults:
    dup: float = 0.08
    late: float = 0.08
    late_steps: tuple[int, int] = (2, 40)
    shuffle: float = 0.3
    lose_ended: float = 0.08
    lose_answered: float = 0.08
    lose_state: float = 0.03
    restate: float = 0.08  # per step: a redundant agent.state for a random agent
    sync_every: int = 25
    sync_late: float = 0.2
    ring_restate: float = 0.15  # an "available" stamped just before a ring, arriving after it
    mid_call_requests: bool = True  # agents pause or log out during calls
    available_after_ring_end: float = 0.5  # the caller hung up while it rang: "available" follows


class UntidyPlatform:
    def __init__(
        self,
        seed: int,
        agents: dict[str, tuple[str, ...]],
        *,
        calls: int,
        post: Callable[[list[dict[str, Any]]], Awaitable[tuple[int, Any]]],
        get: Callable[[str], Awaitable[tuple[int, Any]]],
        now: Callable[[], float],
        faults: Faults | None = None,
        allow_503: bool = False,
        skills: tuple[str, ...] = SKILLS,
        departments: tuple[str, ...] = (),
        request: Callable[..., Awaitable[tuple[int, Any]]] | None = None,
        outbound: OutboundFaults | None = None,
    ) -> None:
        self.skills = skills
        self.departments = departments  # callers' departments (none: no department, no overflow)
        self.seed = seed
        self.rng = random.Random(seed)
        self.agents = {a: RealAgent(a, skills) for a, skills in agents.items()}
        self.calls: dict[str, RealCall] = {}
        self.max_calls = calls
        self._post, self._get, self.now = post, get, now
        self._request = request
        self.f = faults or Faults()
        self.allow_503 = allow_503
        self.step_no = 0
        self._ids = itertools.count(1)
        self._last_ts = 0.0
        self.outgoing: list[Outgoing] = []
        self.delivered: set[str] = set()  # event ids acd answered 200 for
        self.acked_calls: set[str] = set()  # calls whose call.offered got a 200
        self.decided: set[str] = set()  # calls whose routing decision the platform has
        self.trail: deque[str] = deque(maxlen=60)  # the last requests and answers, for a failure
        self.violations: list[str] = []
        self.first_context: dict[str, list[str]] = {}
        self.story: list[str] = []  # every event delivered and every connect, one line each
        self.statuses: Counter[int] = Counter()
        self.results: Counter[str] = Counter()
        self.lost: Counter[str] = Counter()
        # One connect per assignment.
        self.connects: Counter[tuple[str, str]] = Counter()  # (call, agent) -> connects seen
        self.endings: Counter[tuple[str, str]] = Counter()  # (call, agent) -> real ring-outs told
        self.seen_commands: set[str] = set()
        self.live: dict[str, str] = {}  # call -> agent, acd's live assignments as told to us
        self.acd_ended: set[str] = set()
        self.post_no = 0
        self.delivered_at: dict[str, int] = {}  # event id -> the POST that delivered it
        self.ended_at_post: dict[str, int] = {}  # call -> the POST whose call.ended acd took
        self.batch_ended: set[str] = set()  # calls whose assignment an event of this POST ended
        self.batch_connected: set[str] = set()  # calls connected after this POST
        self.ambiguous: set[str] = set()  # connected and ended within one POST: ask acd
        self.strict_order = True  # commands arrive in the order acd made them (one instance)
        self.command_at: float | None = None  # when the command being taken arrived (else now())
        # callbacks and appointments (tests/fault/outbound.py), when the platform plays them
        self.out = OutboundPlay(self, outbound) if outbound is not None else None

    # ------------------------------------------------------------------ reporting

    def violation(self, kind: str, detail: str, about: tuple[str | None, ...] = ()) -> None:
        self.violations.append(f"[seed {self.seed} step {self.step_no}] {kind}: {detail}")
        if kind not in self.first_context:  # what led to the first of its kind
            subjects = {a for a in about if a}
            if subjects:
                self.first_context[kind] = [
                    f"  everything about {', '.join(sorted(subjects))}:",
                    *[line for line in self.story if any(f'"{a}"' in line for a in subjects)][-25:],
                ]
            else:
                self.first_context[kind] = ["  the requests before it:", *list(self.trail)[-12:]]

    def report(self) -> str:
        head = (
            f"seed {self.seed}: {len(self.violations)} violation(s) "
            f"(replay: ACD_FAULT_SEEDS={self.seed}); statuses {dict(self.statuses)}, "
            f"results {dict(self.results)}, lost {dict(self.lost)}"
            + (f", outbound {self.out.summary()}" if self.out is not None else "")
        )
        kinds = Counter(v.split("] ", 1)[1].split(":", 1)[0] for v in self.violations)
        firsts: dict[str, str] = {}
        for v in self.violations:
            firsts.setdefault(v.split("] ", 1)[1].split(":", 1)[0], v)
        lines = [head, f"by kind: {dict(kinds)}"]
        for kind, first in firsts.items():
            lines += [first, *self.first_context.get(kind, [])]
        lines += ["the last requests:", *list(self.trail)[-20:]]
        return "\n".join(lines)

    # ------------------------------------------------------------------ events

    def _event(self, type_: str, at: float | None = None, **fields: Any) -> dict[str, Any]:
        if at is None:  # what happens on the platform happens one after the other: distinct stamps
            at = self._last_ts = max(self.now(), self._last_ts + 0.001)
        return {"id": f"s{self.seed}-e{next(self._ids)}", "type": type_, "ts": rfc3339(at), **fields}

    def emit(self, event: dict[str, Any], lose: float = 0.0) -> str | None:
        """Send a webhook through the network's faults; its id, or None when it is lost."""
        if self.rng.random() < lose:
            self.lost[event["type"]] += 1
            return None
        due = self.step_no
        if self.rng.random() < self.f.late:
            due += self.rng.randint(*self.f.late_steps)
        self.outgoing.append(Outgoing(event, due))
        if self.rng.random() < self.f.dup:
            self.outgoing.append(Outgoing(event, self.step_no + self.rng.randint(0, 30), copy=True))
        return event["id"]

    def tell_agent(self, agent: RealAgent, *ids: str | None) -> None:
        """The agent's real state just changed; these events (None: lost) tell acd of it."""
        agent.changed_step = self.step_no
        agent.told_by_sync = False
        agent.told_by = {i for i in ids if i is not None} if all(ids) and ids else {"never"}

    def agent_state_event(self, agent: RealAgent, state: str, at: float | None = None) -> dict[str, Any]:
        fields: dict[str, Any] = {"agent_id": agent.id, "state": state}
        if state in ("paused", "logged_out") and agent.reason:
            fields["reason"] = agent.reason
        return self._event("agent.state", at, **fields)

    # ------------------------------------------------------------------ the platform's happenings

    def _pick(self, pool: list[Any]) -> Any:
        return pool[self.rng.randrange(len(pool))] if pool else None

    def calls_in(self, *states: str) -> list[RealCall]:
        return [c for c in self.calls.values() if c.state in states]

    def agents_in(self, *states: str) -> list[RealAgent]:
        return [a for a in self.agents.values() if a.state in states]

    def log_in_everyone(self) -> list[dict[str, Any]]:
        events = []
        for agent in self.agents.values():
            agent.state = "available"
            event = self.agent_state_event(agent, "available")
            self.tell_agent(agent, event["id"])
            events.append(event)
        return events

    def new_call(self) -> dict[str, Any]:
        call = RealCall(f"s{self.seed}-c{len(self.calls) + 1}", self.rng.choice(self.skills))
        self.calls[call.id] = call
        where: dict[str, str] = {}
        if self.departments:
            call.department = self.rng.choice((*self.departments, None))
            where = {"department": call.department} if call.department else {}
        return self._event("call.offered", call_id=call.id, caller="+33612345678", skill=call.skill, **where)

    def on_overflow(self, call_id: str, service: str, source: str) -> None:
        """acd says: send `call_id` to its local service. The platform bridges it there (it holds
        the call until the caller hangs up, and posts that end)."""
        self.story.append(
            f'    step {self.step_no} post {self.post_no}: {source}: overflow "{call_id}" "{service}"'
        )
        call = self.calls.get(call_id)
        if call is None:
            self.violation("overflow_of_unknown_call", f"{source}: {call_id}", about=(call_id,))
            return
        if call.state in ("ringing", "talking"):
            self.violation(
                "overflow_of_a_call_in_progress",
                f"{source}: {call_id}, really {call.state} with {call.agent}",
                about=(call_id, call.agent),
            )
            return
        if call.state != "waiting":
            return  # the caller hung up meanwhile
        call.state, call.service = "at_service", service

    def answer(self, call: RealCall) -> None:
        agent = self.agents[call.agent or ""]
        call.state, agent.state = "talking", "talking"
        answered = self.emit(
            self._event("call.answered", call_id=call.id, agent_id=agent.id), self.f.lose_answered
        )
        told = [answered]
        if self.rng.random() < 0.5:  # the platform says busy too, stamped at pick-up
            told.append(self.emit(self.agent_state_event(agent, "busy"), self.f.lose_state))
        self.tell_agent(agent, *told)

    def ring_out(self, call: RealCall) -> None:
        agent = self.agents[call.agent or ""]
        call.state, call.agent = "waiting", None
        agent.state, agent.call = "available", None
        eid = self.emit(self._event("call.unanswered", call_id=call.id, agent_id=agent.id))
        if agent.pending:  # it asked to go during the ring: it goes now
            self._take_pending(agent, eid)
        else:
            self.tell_agent(agent, "never")  # acd pauses it (RONA); the platform thinks it available

    def hang_up(self, call: RealCall, reason: str) -> None:
        agent = self.agents[call.agent] if call.agent else None
        was = call.state
        call.state = "ended"
        eid = self.emit(self._event("call.ended", call_id=call.id, reason=reason), self.f.lose_ended)
        if agent is None:
            return
        agent.call = None
        call_ended_told = eid
        if agent.pending:
            self._take_pending(agent, call_ended_told)
        elif was == "ringing":  # never talked: free again at once
            agent.state = "available"
            told = [call_ended_told]
            if self.rng.random() < self.f.available_after_ring_end:
                told.append(self.emit(self.agent_state_event(agent, "available"), self.f.lose_state))
            self.tell_agent(agent, *told)
        else:
            agent.state = "wrap"
            agent.wrap_until = self.step_no + self.rng.choice((0, 3, 8))
            told = [call_ended_told]
            if self.rng.random() < 0.4:
                told.append(self.emit(self.agent_state_event(agent, "wrap_up"), self.f.lose_state))
            self.tell_agent(agent, *told)

    def _take_pending(self, agent: RealAgent, ended_id: str | None) -> None:
        agent.state, agent.pending = agent.pending or "paused", None
        ids = [ended_id, *sorted(agent.request_ids)]  # the request (told during the call), the end
        if self.rng.random() < 0.5:  # restated after the call
            ids.append(self.emit(self.agent_state_event(agent, agent.state), self.f.lose_state))
        self.tell_agent(agent, *ids)

    def ring_timeouts(self) -> None:
        """The platform's own no-answer timeout: a ring nobody picks up ends after
        RING_TIMEOUT_STEPS (about a minute), as a PBX's queue or originate timeout ends it, long
        before acd's `routing.max_ringing_s` (300 s) would take a sync's `available` for a lost
        ring-out."""
        for call in sorted(self.calls_in("ringing"), key=lambda c: c.id):
            if self.step_no - call.rung_step >= RING_TIMEOUT_STEPS:
                self.ring_out(call)

    def end_wraps(self) -> None:
        for agent in self.agents_in("wrap"):
            if agent.wrap_until <= self.step_no:
                agent.state = "available"
                if self.rng.random() < 0.7:
                    self.tell_agent(agent, self.emit(self.agent_state_event(agent, "available")))
                else:
                    self.tell_agent(agent, "never")  # acd's own wrap-up brings it back

    def agent_whim(self) -> None:
        """An agent pauses, logs out or comes back; or asks for a pause during a call."""
        r = self.rng.random()
        if r < 0.4:
            agent = self._pick(self.agents_in("available"))
            if agent is not None:
                agent.state = self.rng.choice(("paused", "paused", "logged_out"))
                agent.reason = self.rng.choice(("lunch", "training", "break"))
                self.tell_agent(
                    agent, self.emit(self.agent_state_event(agent, agent.state), self.f.lose_state)
                )
        elif r < 0.8:
            agent = self._pick(self.agents_in("paused", "logged_out"))
            if agent is not None:
                agent.state, agent.reason = "available", None
                back = self.emit(self.agent_state_event(agent, "available"), self.f.lose_state)
                self.tell_agent(agent, back)
        elif self.f.mid_call_requests:
            agent = self._pick([a for a in self.agents_in("ringing", "talking") if a.pending is None])
            if agent is not None:
                agent.pending = self.rng.choice(("paused", "logged_out"))
                agent.reason = self.rng.choice(("lunch", "end_of_shift"))
                eid = self.emit(self.agent_state_event(agent, agent.pending), self.f.lose_state)
                agent.request_ids = {eid} if eid else {"never"}  # see _take_pending

    def restate(self) -> None:
        """A redundant agent.state: the platform repeating what it believes, just in case."""
        agent = self._pick(list(self.agents.values()))
        wire = agent.wire
        if agent.pending:
            wire = agent.pending  # the agent's request, repeated
        elif agent.state == "ringing" and self.rng.random() < 0.5:
            wire = "available"  # it has not noticed the ring yet
        self.emit(self.agent_state_event(agent, wire), self.f.lose_state)

    def sync_event(self, at: float | None = None) -> dict[str, Any]:
        event = self._event(
            "platform.sync",
            at,
            # what it holds: the calls, and the calls of the dials it makes (an originate names
            # the dial's call id)
            calls=sorted(c.id for c in self.calls_in(*HELD, "dialing")),
            agents={a.id: a.wire for a in self.agents.values()},
        )
        event["_step"] = self.step_no  # stripped before posting
        event["_known"] = set(self.calls)  # the calls offered by then
        return event

    # ------------------------------------------------------------------ acd's connects

    def on_connect(self, call_id: str, agent_id: str, source: str) -> None:
        """acd says: ring `agent_id` for `call_id` (a decision, or a command never seen before)."""
        key = (call_id, agent_id)
        self.connects[key] += 1
        self.story.append(
            f'    step {self.step_no} post {self.post_no}: {source}: connect "{call_id}" "{agent_id}"'
        )
        if self.connects[key] > 1 + self.endings[key]:
            self.violation(
                "second_connect_for_one_assignment",
                f"{source}: connect #{self.connects[key]} of {call_id} to {agent_id}, "
                f"ring-outs told {self.endings[key]}",
                about=(call_id, agent_id),
            )
        if self.strict_order:
            if call_id in self.batch_ended:
                self.ambiguous.add(call_id)  # which came first inside the batch: acd will say
            if call_id in self.live and not (call_id in self.batch_ended and call_id in self.batch_connected):
                self.violation(
                    "connect_while_assigned",
                    f"{source}: {call_id} to {agent_id} while its assignment to {self.live[call_id]} "
                    f"was not ended by any event of the call",
                    about=(call_id, agent_id),
                )
            if self.ended_at_post.get(call_id, self.post_no + 1) < self.post_no:
                self.violation(
                    "connect_after_end",
                    f"{source}: {call_id} to {agent_id} after acd ended it",
                    about=(call_id, agent_id),
                )
        self.check_agent_free_in_acd(call_id, agent_id, source)
        if self.out is not None and call_id in self.out.by_call:
            self.violation(
                "connect_of_a_contact_call",
                f"{source}: {call_id} to {agent_id}, the call of {self.out.by_call[call_id].id}",
                about=(call_id, agent_id),
            )
        self.live[call_id] = agent_id
        self.batch_connected.add(call_id)
        call, agent = self.calls.get(call_id), self.agents[agent_id]
        if call is None:
            self.violation("connect_of_unknown_call", f"{source}: {call_id}", about=(call_id, agent_id))
            return
        if call.state != "waiting":
            if call.state in ("ringing", "talking", "dialing"):
                self.violation(
                    "connect_of_a_call_in_progress",
                    f"{source}: {call_id} to {agent_id}, really {call.state} with {call.agent}",
                    about=(call_id, agent_id),
                )
            return  # a call the platform no longer holds: nothing to ring (a sync will tell acd)
        if not self.can_ring(agent, call_id, source):
            self._refuse(call, agent)
            return
        call.state, call.agent, call.rung_step = "ringing", agent_id, self.step_no
        agent.state, agent.call = "ringing", call_id
        if self.rng.random() < self.f.ring_restate:  # "available" stamped before the ring, after it
            self.emit(self.agent_state_event(agent, "available", self.now() - 0.5))

    def check_agent_free_in_acd(self, call_id: str, agent_id: str, source: str) -> None:
        """acd gives `agent_id` a call (a connect, or an originate): as far as the events acd took
        tell, that agent holds no other call (rung, dialling out, or talking)."""
        if not self.strict_order:
            return
        for other, holder in self.live.items():
            if holder == agent_id and other != call_id and other not in self.batch_ended:
                self.violation(
                    "agent_given_second_call",
                    f"{source}: {call_id} to {agent_id}, still assigned {other} "
                    f"(no event of {other} ended it)",
                    about=(call_id, agent_id, other),
                )

    def can_ring(self, agent: RealAgent, call_id: str, source: str) -> bool:
        """Whether the platform can ring the agent acd names for `call_id` (it is available);
        checks that acd never names one on a call or one who asked not to be rung."""
        if agent.state in ("ringing", "talking"):
            self.violation(
                "agent_with_two_calls",
                f"{source}: {call_id} to {agent.id}, who is really {agent.state} {agent.call}",
                about=(call_id, agent.id, agent.call),
            )
            return False
        if agent.state != "available":
            by_sync = agent.told_by_sync and agent.sync_post < self.post_no
            told = by_sync or (
                agent.told_by
                and agent.told_by <= self.delivered
                and max(self.delivered_at[i] for i in agent.told_by) < self.post_no
            )
            if told and self.strict_order and agent.state in ("paused", "logged_out"):
                self.violation(
                    "agent_rung_after_asking_not_to_be",
                    f"{source}: {call_id} to {agent.id}, {agent.state} ({agent.reason}), acd was told "
                    f"by {'a sync' if by_sync else sorted(agent.told_by)}",
                    about=(call_id, agent.id),
                )
            return False
        return True

    def _refuse(self, call: RealCall, agent: RealAgent) -> None:
        """The phone does not take the call: the platform says so with a ring-out."""
        self.emit(self._event("call.unanswered", call_id=call.id, agent_id=agent.id))

    # ------------------------------------------------------------------ delivery

    async def deliver(self, events: list[dict[str, Any]]) -> tuple[int, Any]:
        if self.strict_order and [e["type"] for e in events] == ["platform.sync"]:
            await self._note_acd_changes(events[0])
        wire = [{k: v for k, v in e.items() if not k.startswith("_")} for e in events]
        self.post_no += 1
        self.batch_ended, self.batch_connected = set(), set()
        status, body = await self._post(wire)
        self.statuses[status] += 1
        brief = json.dumps(wire)[:600]
        answer = json.dumps(body)[:400]
        self.trail.append(f"  step {self.step_no} POST {brief} -> {status} {answer}")
        if status >= 500 and not (self.allow_503 and status == 503):
            self.violation("5xx", f"{status} {answer} for {brief}")
        elif status >= 400 and status != 503:
            self.violation("4xx_for_a_valid_event", f"{status} {answer} for {brief}")
        if status != 200:
            return status, body
        for event, result in zip(events, body["results"], strict=True):
            brief_event = {
                k: v for k, v in event.items() if k not in ("id", "_step", "_known", "_acd_changed")
            }
            if event["type"] == "platform.sync":
                brief_event["agents"] = "..."
            self.story.append(
                f"    step {self.step_no} post {self.post_no}: {event['id']} {json.dumps(brief_event)} "
                f"-> {result['status']}{' ' + str(result['ignored']) if result.get('ignored') else ''}"
                f"{' ' + json.dumps(result['decision']) if result.get('decision') else ''}"
            )
            if result["status"] == "duplicate" and event["id"] not in self.delivered:
                # The first answer the platform gets is "duplicate": a try whose answer was lost
                # (an instance killed, a timeout) was applied, and this retry found it. acd's
                # duplicate does not say whether that try changed anything; it is taken as
                # applied (the try that was applied is this event's only delivery).
                result = {**result, "first_answer": True}
            self.delivered.add(event["id"])
            self.delivered_at.setdefault(event["id"], self.post_no)
            self.results[result["status"] + ("/ignored" if result.get("ignored") else "")] += 1
            if event["type"] == "call.offered":
                self.acked_calls.add(event["call_id"])
            self._told(event, result)
        return status, body

    def _told(self, event: dict[str, Any], result: dict[str, Any]) -> None:
        """acd took the event: the assignments it ends, the connect it answers."""
        kind = event["type"]
        if self.out is not None and self.out.told(event, result):
            return
        if kind == "call.unanswered":
            key = (event["call_id"], event["agent_id"])
            if (result["status"] == "applied" and not result.get("ignored")) or result.get("first_answer"):
                self.endings[key] += 1
            if self.live.get(event["call_id"]) == event["agent_id"]:
                self.live.pop(event["call_id"])
                self.batch_ended.add(event["call_id"])
        elif kind == "call.ended":
            self.live.pop(event["call_id"], None)
            self.batch_ended.add(event["call_id"])
            self.acd_ended.add(event["call_id"])
            self.ended_at_post.setdefault(event["call_id"], self.post_no)
        elif kind == "platform.sync":
            held = set(event["calls"])
            dials = {c.call_id for c in self.out.contacts.values() if c.open_in_acd} if self.out else set()
            # The assignments it ends: those of the calls acd says it ended (a call the sync does
            # not list but that acd changed after the sync's ts, or a stale sync, stays as it was).
            said = result.get("decision")
            for call_id in said.get("ended", []) if isinstance(said, dict) else []:
                if call_id in self.live and call_id not in dials:
                    self.live.pop(call_id)
                    self.batch_ended.add(call_id)
            # A call the sync drops may be connected and ended within the sync: not a live one.
            self.batch_ended |= event["_known"] - held
            changed = event.get("_acd_changed", {})
            sync_ts = datetime.fromisoformat(event["ts"]).timestamp()
            for agent in self.agents.values():
                # it tells acd the agent's state unless acd changed the agent after the sync's
                # ts (a dial or a connect since: "a call or agent that changed after ts is left
                # alone")
                if agent.changed_step < event["_step"] and changed.get(agent.id, 0.0) <= sync_ts:
                    agent.told_by_sync = True
                    # the post that told it: a command from that very post may come before the
                    # sync's word in acd (a timer due before the write fires first), as for events
                    agent.sync_post = self.post_no
            decision = result.get("decision")
            ended = decision.get("ended", []) if isinstance(decision, dict) else []
            rang_out = decision.get("rang_out", []) if isinstance(decision, dict) else []
            for call_id in rang_out:  # rung past routing.max_ringing_s on an agent reported available
                if call_id not in held:
                    self.violation(
                        "sync_rang_out_a_call_it_does_not_hold",
                        f"{event['id']} (ts {event['ts']}) took a ring-out of {call_id}, "
                        "which it does not list",
                    )
                agent_id = self.live.pop(call_id, None)
                if agent_id is not None:
                    self.endings[(call_id, agent_id)] += 1  # that ring's end, as a call.unanswered
                self.batch_ended.add(call_id)
            for contact_id in decision.get("dials_lost", []) if isinstance(decision, dict) else []:
                # a dial it no longer lists, past routing.max_ringing_s: over, its result lost
                contact = self.out.contacts.get(contact_id) if self.out is not None else None
                if contact is None or contact.call_id in held:
                    self.violation(
                        "sync_lost_a_dial_it_holds",
                        f"{event['id']} (ts {event['ts']}) took the dial of {contact_id} for over",
                    )
                elif contact.open_in_acd:
                    self.out.dial_ended_in_acd(contact, False)
            for call_id in ended:
                if call_id in held or call_id not in event["_known"]:
                    self.violation(
                        "sync_ended_a_call_it_did_not_drop",
                        f"{event['id']} (ts {event['ts']}) ended {call_id}, "
                        + ("which it lists" if call_id in held else "offered after it"),
                    )
                self.acd_ended.add(call_id)
                self.ended_at_post.setdefault(call_id, self.post_no)
        elif kind == "call.offered" and event["call_id"] not in self.decided:
            # The first answer the platform gets (a duplicate, when the answer to the first try was
            # lost with an instance, carries the decision first given).
            self.decided.add(event["call_id"])
            decision = result.get("decision") or {}
            if self.out is not None:
                self.out.on_decision(decision)
            if decision.get("action") == "connect":
                self.on_connect(decision["call_id"], decision["agent_id"], f"decision to {event['id']}")
            elif decision.get("action") == "overflow":
                self.on_overflow(decision["call_id"], decision["service"], f"decision to {event['id']}")

    async def _note_acd_changes(self, sync: dict[str, Any]) -> None:
        """Before a sync goes: when acd last changed each agent (`state_since`)."""
        status, body = await self._get("/v1/agents")
        if status == 200:
            sync["_acd_changed"] = {
                a["agent_id"]: datetime.fromisoformat(a["state_since"]).timestamp()
                for a in body["agents"]
                if a.get("state_since")
            }

    async def settle(self) -> None:
        """After a POST and the commands it produced: where a call was both connected and ended
        within the batch, ask acd which came last."""
        for call_id in sorted(self.ambiguous | (self.batch_ended & self.batch_connected)):
            status, call = await self._get(f"/v1/calls/{call_id}")
            if status != 200:
                continue
            if call["status"] in ("connecting", "answered"):
                self.live[call_id] = call["agent_id"]
            else:
                self.live.pop(call_id, None)
        self.ambiguous.clear()
        if self.out is not None:
            await self.out.settle()
        self.batch_ended, self.batch_connected = set(), set()

    def on_command(self, command: dict[str, Any]) -> None:
        if command["id"] in self.seen_commands:
            return  # a retry of a command already taken: the platform deduplicates by id
        self.seen_commands.add(command["id"])
        if self.out is not None and self.out.on_command(command):
            return
        if command.get("command") == "connect":
            self.on_connect(command["call_id"], command["agent_id"], f"command {command['id']}")
        elif command.get("command") == "overflow":
            self.on_overflow(command["call_id"], command["service"], f"command {command['id']}")

    def due_batches(self, everything: bool = False) -> list[list[dict[str, Any]]]:
        due = [o for o in self.outgoing if everything or o.due <= self.step_no]
        if not due:
            return []
        self.outgoing = [o for o in self.outgoing if not (everything or o.due <= self.step_no)]
        events = [o.event for o in due]
        if self.rng.random() < self.f.shuffle:
            self.rng.shuffle(events)
        syncs = [e for e in events if e["type"] == "platform.sync"]  # posted on their own
        events = [e for e in events if e["type"] != "platform.sync"]
        batches, i = [[s] for s in syncs], 0
        while i < len(events):
            n = self.rng.randint(1, 4)
            batches.append(events[i : i + n])
            i += n
        return batches

    # ------------------------------------------------------------------ one step

    def happen(self) -> list[dict[str, Any]]:
        """Make one thing happen on the platform; returns the offers to post at once (a caller
        waits for its routing decision: call.offered is never late nor lost)."""
        self.end_wraps()
        self.ring_timeouts()
        offers: list[dict[str, Any]] = []
        r = self.rng.random()
        ringing, talking = self.calls_in("ringing"), self.calls_in("talking")
        if r < 0.30 and len(self.calls) < self.max_calls:
            offers.append(self.new_call())
            if self.rng.random() < self.f.dup:  # the platform retried the offer
                self.outgoing.append(Outgoing(offers[-1], self.step_no + self.rng.randint(0, 20), True))
        elif r < 0.45 and ringing:
            self.answer(self._pick(ringing))
        elif r < 0.50 and ringing:
            self.ring_out(self._pick(ringing))
        elif r < 0.53 and (waiting := self.calls_in("waiting", "ringing")):
            self.hang_up(self._pick(waiting), "abandoned")
        elif r < 0.70 and talking:
            self.hang_up(self._pick(talking), self.rng.choice(("completed", "completed", "transferred")))
        elif r < 0.75 and (at_service := self.calls_in("at_service")):
            self.hang_up(self._pick(at_service), "completed")  # the local service's conversation ends
        elif r < 0.80:
            self.agent_whim()
        if self.out is not None:
            offers += self.out.happen()
        if self.rng.random() < self.f.restate:
            self.restate()
        return offers

    def maybe_sync(self) -> None:
        """Every so often, the platform posts what it holds (sometimes late, like anything)."""
        if self.step_no % self.f.sync_every == 0 and self.step_no:
            sync = self.sync_event()
            late = self.rng.random() < self.f.sync_late
            self.outgoing.append(
                Outgoing(sync, self.step_no + (self.rng.randint(*self.f.late_steps) if late else 0))
            )

    @property
    def finished(self) -> bool:
        return len(self.calls) >= self.max_calls

    # ------------------------------------------------------------------ checks through HTTP

    async def check_state(self, *, final: bool = False, held: set[str] | None = None) -> None:
        """What acd shows: every call in a definite state, no agent holding two calls; at the
        end (after a complete sync), no agent busy without a call the platform holds.

        With real time (several instances), timers may move things between the reads: the
        check counts only when the agents read the same before and after it."""
        if self.strict_order:
            await self._check_once(final, held)
            return
        for _ in range(5):
            before = await self._agents_brief()
            kept = (len(self.violations), set(self.acd_ended), dict(self.first_context))
            await self._check_once(final, held)
            if await self._agents_brief() == before:
                return
            del self.violations[kept[0] :]
            self.acd_ended, self.first_context = kept[1], kept[2]
            await asyncio.sleep(0.3)
        await self._check_once(final, held)

    async def _agents_brief(self) -> Any:
        status, agents = await self._get("/v1/agents")
        if status != 200:
            return status
        return sorted((a["agent_id"], a["state"], a["call_id"]) for a in agents["agents"])

    async def _check_once(self, final: bool, held: set[str] | None) -> None:
        status, agents = await self._get("/v1/agents")
        if status != 200:
            self.violation(
                "5xx" if status >= 500 else "get_agents",
                f"GET /v1/agents -> {status}",
            )
            return
        agents = agents["agents"] if isinstance(agents, dict) else agents
        by_id = {a["agent_id"]: a for a in agents if a["agent_id"] in self.agents}
        holders: dict[str, list[str]] = defaultdict(list)
        for call_id in list(self.calls):
            if call_id in self.acd_ended and not final:
                continue
            status, call = await self._get(f"/v1/calls/{call_id}")
            if status == 404 and call_id not in self.acked_calls:
                continue
            if status != 200:
                self.violation(
                    "call_not_visible",
                    f"GET /v1/calls/{call_id} -> {status} {call}",
                    about=(call_id, _agent_of(call)),
                )
                continue
            state = call["status"]
            if state not in DEFINITE:
                self.violation(
                    "indefinite_call_state",
                    f"{call_id}: {state}",
                    about=(call_id, _agent_of(call)),
                )
            if state == "ended":
                if call_id not in self.acd_ended and self.calls[call_id].state in HELD:
                    self.violation(
                        "ended_a_call_the_platform_holds",
                        f"{call_id} ended ({call['end_reason']}) in acd, really {self.calls[call_id].state}",
                        about=(call_id, _agent_of(call)),
                    )
                self.acd_ended.add(call_id)
                if not call.get("end_reason"):
                    self.violation(
                        "indefinite_call_state",
                        f"{call_id} ended without a reason",
                        about=(call_id, _agent_of(call)),
                    )
            elif call_id in self.acd_ended:
                self.violation(
                    "ended_call_came_back",
                    f"{call_id}: {state} after it ended",
                    about=(call_id, _agent_of(call)),
                )
            if state in ("connecting", "answered"):
                agent_id = call["agent_id"]
                holders[agent_id].append(call_id)
                agent = by_id.get(agent_id)
                if agent is None or agent["call_id"] != call_id:
                    self.violation(
                        "call_agent_mismatch",
                        f"{call_id} {state} with {agent_id}, whose call_id is "
                        f"{agent and agent['call_id']} (state {agent and agent['state']})",
                        about=(call_id, _agent_of(call)),
                    )
            elif state in ("queued", "callback") and call["agent_id"] is not None:
                self.violation(
                    "indefinite_call_state",
                    f"{call_id} {state} with agent {call['agent_id']}",
                    about=(call_id, _agent_of(call)),
                )
            live = state not in ("ended", "closed", "overflowed")
            if self.out is not None and call_id in self.out.by_call and state in ("callback", "queued"):
                live = False  # a callback or an appointment waiting for its time (checked apart)
            if final and held is not None and live and call_id not in held:
                self.violation(
                    "call_not_held_still_live_after_sync",
                    f"{call_id} {state} in acd, the final sync did not list it",
                    about=(call_id, _agent_of(call)),
                )
        if final and self.departments:  # each local service holds what the platform bridged to it
            status, body = await self._get("/v1/services")
            bridged = Counter(c.service for c in self.calls_in("at_service"))
            for service in body["services"] if status == 200 else ():
                if service["load"] != bridged[service["service"]]:
                    self.violation(
                        "local_service_load_wrong_after_sync",
                        f"{service['service']} holds {service['load']} in acd, "
                        f"{bridged[service['service']]} on the platform",
                    )
        if self.out is not None:
            await self.out.check(final)
        for agent_id, calls in holders.items():
            if len(calls) > 1:
                self.violation("agent_with_two_calls", f"{agent_id} holds {calls}", about=(agent_id,))
        for agent_id, agent in by_id.items():
            if agent["call_id"] is not None and agent["state"] not in ("busy",):
                self.violation(
                    "agent_call_mismatch",
                    f"{agent_id} is {agent['state']} with call {agent['call_id']}",
                    about=(agent_id,),
                )
            if not final:
                continue
            real = self.agents[agent_id]
            if agent["state"] == "busy" and agent["call_id"] not in (held or ()):
                self.violation(
                    "agent_stuck_after_sync",
                    f"{agent_id} busy with {agent['call_id']} (really {real.state} {real.call})",
                    about=(agent_id,),
                )
            if agent["state"] == "wrap_up":
                self.violation(
                    "agent_stuck_after_sync",
                    f"{agent_id} still in wrap_up (really {real.state})",
                    about=(agent_id,),
                )
            if agent["state"] == "available" and real.state in ("paused", "logged_out"):
                self.violation(
                    "agent_routable_after_sync",
                    f"{agent_id} available in acd, {real.state} on the platform",
                    about=(agent_id,),
                )


def _agent_of(call: Any) -> str | None:
    return call.get("agent_id") if isinstance(call, dict) else None
