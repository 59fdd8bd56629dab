"""One outbound-contact machine, for callbacks and appointments alike.

A contact waits (its own status: `scheduled`, `booked`) until a timer says it is due; it then
borrows the call machinery: its `Call` joins the line, and when an agent is reserved for it the
machine dials (`originate`: status `dialing`, an attempt counted, the `originate` command). The
platform's result closes the dial (`result`): `answered` -> `done`, the agent talks until the
call ends; otherwise the agent is free again and the contact's own rules say when to dial again
(`retry_at`), or that it is over (`give_up`: `failed`, `no_show`). A dial the platform's sync
no longer holds past `routing.max_ringing_s` is over, its result lost (`lost`): as one not
answered. A `call.unanswered` from the reserved agent is that agent's ring-out (RONA), not the
contact's no answer (`call_unanswered`): the attempt is taken back and the contact goes back to
its place in line at once, for the next free agent; the agent gets `ring_out`, as for an
inbound call.

What differs between the two kinds lives in their parts, behind `ContactRules`:
acd/engine/callbacks.py (fair share, opening hours, attempts) and acd/engine/appointments.py
(slots, reminders, retries within the slot).
"""

from __future__ import annotations

from typing import Any, Protocol

from acd.engine.agents import Ignored
from acd.engine.line import Line, command_id, command_prefix, offer_stamp
from acd.engine.records import Agent, Appointment, Call, Callback
from acd.model import CallKind, CallStatus, Command

Contact = Callback | Appointment


#: The lines of a call's history that ring an agent or dial out for it.
RINGS = ("originate", "connect")
DIALS = ("originate",)


def rung_before(call: Call, actions: tuple[str, ...] = RINGS) -> bool:
    """Whether the call was rung (or, with `DIALS`, dialled) before the dial in progress: only then
    may a word stamped before this dial began (by acd's clock) be about another ring. Without
    one, it is this dial's: the platform's clock runs behind acd's, and a busy tone or a ring-out
    came at once (taken for stale, it left the agent reserved for a dial that was over, for good)."""
    return sum(1 for _, entry in call.history if entry.get("action") in actions) > 1


class ContactRules(Protocol):
    """What a kind of outbound contact decides for itself."""

    #: The contact's id field in the `originate` command (`callback_id`, `appointment_id`).
    key: str
    #: The contact's status while it waits for an agent, while dialled, and once answered.
    waiting_status: Any
    dialing_status: Any
    done_status: Any
    #: What the call's history says beside `answered` (the callback's leg, say).
    answered_entry: dict[str, Any]

    def contact_of(self, call: Call) -> Contact: ...

    def call_id_of(self, contact: Any) -> str: ...

    def dialing(self, contact: Any, now: float) -> None:
        """The contact is being dialled (observers)."""

    def answered(
        self, contact: Any, call: Call, agent: Agent | None, t: float, now: float, commands: list[Command]
    ) -> None:
        """The dial was answered (observers, shares)."""

    def not_answered(self, contact: Any, call: Call, t: float, now: float, commands: list[Command]) -> None:
        """The dial got no conversation: retry (arm the contact's timer) or give up."""

    def note(self, contact: Any, now: float, what: str, **extra: Any) -> None:
        """A line of the contact's history."""


class Outbound:
    """The machine; `rules` names each kind's part (set by the engine that composes them)."""

    def __init__(self, line: Line) -> None:
        self.line = line
        self.rules: dict[CallKind, ContactRules] = {}

    def rules_for(self, call: Call) -> ContactRules:
        """A virtual-hold callback dials for the caller's own (inbound) call."""
        return self.rules[CallKind.APPOINTMENT if call.kind is CallKind.APPOINTMENT else CallKind.CALLBACK]

    def arm(self, contact: Contact, at: float, kind: str) -> None:
        """Wake for the contact at `at` (a timer of `kind`); any timer it had is cancelled."""
        contact.token += 1
        self.line.timers.set(at, kind, contact.id, contact.token)

    @staticmethod
    def live(contact: Contact | None, token: int, waiting: Any) -> bool:
        """Whether a contact's timer still stands: its token, and it still waits (`waiting`)."""
        return contact is not None and contact.token == token and contact.status is waiting

    def originate(self, call: Call, agent: Agent, now: float, commands: list[Command]) -> None:
        """Dial out for the contact, the agent already reserved for its call."""
        line = self.line
        rules = self.rules_for(call)
        contact = rules.contact_of(call)
        call.status = CallStatus.CONNECTING
        rules.dialing(contact, now)
        contact.status = rules.dialing_status
        contact.agent_id = agent.id
        contact.attempts += 1
        decision = {
            "action": "originate",
            rules.key: contact.id,
            "call_id": call.id,  # the call id of the dial's call.answered / unanswered / ended
            "number": contact.number,
            "agent_id": agent.id,
            "target": agent.target,
        }
        line._record(call, now, {**decision, "site": agent.site})  # the agent's site then (records)
        commands.append(line._command(call, "originate", decision, now))
        line.observer.decision(call, "originate", now)

    def call_answered(self, call: Call, agent: Agent, t: float, now: float, commands: list[Command]) -> Any:
        """`call.answered` for a dial's call, from the agent it rings: the dial's answer, as if
        its result had come (the result, when it comes, restates it or is contradicted: ignored).
        From another agent it changes nothing: the dial's agent is reserved for it."""
        return self._platform_word(call, agent, "answered", t, now, commands)

    def call_unanswered(self, call: Call, agent: Agent, t: float, now: float, commands: list[Command]) -> Any:
        """`call.unanswered` for a dial's call, from the agent it rings: that agent let the dial
        ring out (RONA), as the contract says of every call. The customer was not reached: the
        attempt counted at `originate` is taken back (a contact's attempts count the dials that
        reached its side), nothing is retried later and nothing fails; the contact goes back to
        its place in line at once (its waiting status, no agent), so the next free qualified
        agent is reserved and a new `originate` sent (an appointment whose slot is over is not:
        a no-show acd did not dial); the agent gets `ring_out` (counted toward `rona_pause`).
        The rung-out dial's result, if one comes, changes nothing: `not_dialing` while the
        contact waits, `stale` once the next dial began (stamped before it)."""
        rules = self.rules_for(call)
        contact = rules.contact_of(call)
        ignored = self._check_word(rules, contact, call, agent, t)
        if ignored is not None:
            return ignored
        line = self.line
        contact.attempts -= 1
        contact.status, contact.agent_id = rules.waiting_status, None
        call.unanswered += 1
        rules.note(contact, now, "ring_out", agent_id=agent.id)
        if isinstance(contact, Appointment) and now >= contact.end:
            # Its slot is over: not dialled after it (a no-show acd did not dial), never back in line.
            call.agent_id = None
            self.rules[CallKind.APPOINTMENT].slot_over(contact, now)  # type: ignore[attr-defined]
        else:
            # As on_unanswered for an inbound call: back to its place first, so it goes to another
            # free agent if there is one; then the agent is free (or paused) and may take it again.
            line._requeue(call, now, commands, why="no_answer")
        line._agent_event(agent, "ring_out", t, now, commands)
        return None

    def lost(self, call: Call, t: float, now: float, commands: list[Command]) -> str | None:
        """A `platform.sync` no longer holds the dial's call, `routing.max_ringing_s` after it
        began (acd/engine/sync.py): the dial is over and its result was lost. The agent is free
        again (the sync's state for her follows); nobody was heard answering, so it counts as a
        dial not answered (`lost` in the contact's history): its rules dial again later, or give
        up. The contact's id, or None when it was not being dialled."""
        rules = self.rules_for(call)
        contact = rules.contact_of(call)
        if contact.status is not rules.dialing_status:
            return None
        self.result(rules, contact, "lost", t, now, commands)
        return contact.id

    def _platform_word(
        self, call: Call, agent: Agent, outcome: str, t: float, now: float, commands: list[Command]
    ) -> Any:
        rules = self.rules_for(call)
        contact = rules.contact_of(call)
        ignored = self._check_word(rules, contact, call, agent, None)
        if ignored is not None:
            return ignored
        return self.result(rules, contact, outcome, t, now, commands)

    @staticmethod
    def _check_word(
        rules: ContactRules, contact: Contact, call: Call, agent: Agent, t: float | None
    ) -> Ignored | None:
        """Why a call event from `agent` on a dial's call changes nothing, if it does: the contact
        is not being dialled, the agent is not the one rung, or (with `t`) it is stamped before
        the dial in progress began (about an earlier dial, delivered late)."""
        if contact.status is not rules.dialing_status:
            return Ignored("not_dialing")
        if contact.agent_id != agent.id or agent.call_id != call.id:
            return Ignored("not_the_dialled_agent")
        if t is not None and call.connected_at is not None and t < call.connected_at and rung_before(call):
            return Ignored("stale")
        return None

    @staticmethod
    def dial_ids(call: Call) -> tuple[str, str] | None:
        """The ids of the call's last `originate` command (`command_id`), as this release writes
        it and as releases before 2026-12-05 did (`<call id>.originate.<place>`, without the offer
        instant: a dial in progress across an upgrade is named so), None before any dial."""
        history = call.history
        for i in range(len(history) - 1, -1, -1):
            if history[i][1].get("action") == "originate":
                return command_id(call, "originate", i + 1), f"{command_prefix(call.id, 'originate')}{i + 1}"
        return None

    def check_originate_id(self, rules: ContactRules, contact: Contact, e: Any, batch: Any) -> None:
        """A result's `originate_id`, when given, names a dial of this contact's call (a 422
        otherwise: a platform mixing up its contacts is told so, not quietly ignored)."""
        if e.originate_id is None:
            return
        call_id = rules.call_id_of(contact)
        prefix = command_prefix(call_id, "originate")
        call = self.line.calls.get(call_id)
        stamp = f"{offer_stamp(call)}." if call is not None else ""
        place = e.originate_id[len(prefix) :].removeprefix(stamp) if e.originate_id.startswith(prefix) else ""
        if not place.isdigit():  # (the form before 2026-12-05, without the stamp, still taken)
            batch.fail(
                422,
                "unknown_originate",
                f"originate_id {e.originate_id!r} names no dial of {rules.key} {contact.id!r}: "
                f"its originate commands' ids are {prefix}{stamp or '<offer instant, ms>.'}<n>",
                "originate_id",
            )

    def result(
        self,
        rules: ContactRules,
        contact: Contact,
        outcome: str,
        t: float,
        now: float,
        commands: list[Command],
        originate_id: str | None = None,
    ) -> Ignored | None:
        """The platform's word on a dial: answered, or not (no_answer, busy, failed). A result
        naming its dial (`originate_id`) is the dial in progress's or stale; one that names none
        is told apart by its `ts`."""
        if contact.status is not rules.dialing_status:
            return Ignored("not_dialing")
        line = self.line
        call = line.calls[rules.call_id_of(contact)]
        if originate_id is not None:
            if originate_id not in (self.dial_ids(call) or ()):
                return Ignored("stale")  # the word on an earlier dial of the contact
        elif call.connected_at is not None and t < call.connected_at and rung_before(call, DIALS):
            # Stamped before the dial in progress began: the word on an earlier dial of the
            # contact (one its agent let ring out, say), delivered late. This result names no
            # dial; its `ts` tells it apart, and it changes nothing. Without an earlier dial, it
            # is this one's, stamped by a platform clock behind acd's (a busy tone at once).
            return Ignored("stale")
        agent = line.agents.get(contact.agent_id) if contact.agent_id else None
        rules.note(contact, now, outcome)
        if outcome == "answered":
            contact.status = rules.done_status
            call.status = CallStatus.ANSWERED
            call.answered_at = t
            if agent is not None and agent.call_id == call.id:
                line._agent_event(agent, "answer", t, now, [])
            line._record(call, now, {"action": "answered", "agent_id": call.agent_id, **rules.answered_entry})
            rules.answered(contact, call, agent, t, now, commands)
            return None
        if agent is not None and agent.call_id == call.id:  # the reserved agent is free again
            line._agent_event(agent, "release", t, now, commands)
        call.agent_id = None
        contact.agent_id = None
        rules.not_answered(contact, call, t, now, commands)
        return None
