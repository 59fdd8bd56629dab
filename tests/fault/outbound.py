"""The untidy platform's outbound side: callbacks and appointments, played through the real HTTP
API and acd's real `originate` commands, and the checks of what acd does with them.

`OutboundPlay` belongs to an `UntidyPlatform` (tests/fault/model.py) and plays, step by step:

- a queued caller offered a callback (`callback_offer` in its queue decision, or an
  `offer_callback` command) accepts it: `callback.accepted` is posted at once (the voice server
  waits for acd's answer to tell the caller), and when acd took it the caller hangs up: their leg's
  `call.ended` goes through the network's faults like any webhook;
- callbacks requested through `POST /v1/callbacks` (some cancelled with `DELETE`), appointments
  booked through `GET /v1/appointments/slots` and `POST /v1/appointments` in a slot a few minutes
  ahead of the clock (some cancelled, some moved with `PATCH`; a run may also book several at
  once in the first slot with room, then cancel one and move one: `book_first`); most creations
  carry an `Idempotency-Key`, and some of those are posted again as if the answer was lost (the
  retry sent before the first answer is read, after it, or both at once); once a run for each
  kind, a key that made a contact is sent with another body;
- on an `originate` the platform rings the reserved agent and dials the number; a few happenings
  later the dial has its outcome (`answered`, `no_answer`, `busy`, `failed`), posted as
  `callback.result` / `appointment.result` (duplicated, late, reordered, sometimes lost), an answer
  sometimes with a `call.answered` for the dial's call from that agent; half the results name their
  dial (`originate_id`, the originate command's id). Or the agent lets the dial
  ring out (RONA), and an agent the platform cannot ring (away, or on another call) rings out at
  once: the caller was not reached, and the platform says so with a `call.unanswered` from that
  agent and no result, as for a connect; acd puts the contact back in line at once, without
  counting the attempt. After an answer the agent talks on the dial's call (the caller's call id
  for virtual hold, else the contact's id), which the platform lists in `platform.sync` and ends
  with `call.ended`.
- On a contact's next dial, now and then, a late result of its earlier dial comes (another post of
  the platform's word on it, a new event id) while the next dial is in progress, stamped after
  that dial began (its `ts` cannot tell it apart) and naming the earlier dial.
- A lost result is posted again later, as the operator is told to (docs/operations.md, "The
  watchdog"): once acd still shows that very dial (`dialing`, the same attempt), the outcome the
  platform recorded: `answered` if the caller talked, else `failed`. A sync that no longer lists
  the dial's call, `routing.max_ringing_s` after it began, ends it too (`dials_lost`: acd takes
  it for a dial not answered, and dials again).

Checked as it goes (beside the platform's own checks): one `originate` per dial attempt (never a
second while acd has not taken the end of the first); no caller dialled again once a dial of theirs
was answered; a cancelled contact never dialled; an agent reserved for a dial is never given another
call (a `connect` or an `originate`) and never holds two; no `connect` for a call whose caller took
a callback; a result naming an earlier dial than acd's last `originate` never taken (posted while
the next dial is in progress: answered `stale`, the dial's status, agent and attempts unchanged); a
keyed creation's every answer 201 with the same contact, no two keys one contact, no contact dialled
that no answer named (a second contact for a key), a booking taking exactly one place of its slot
(`remaining`), a key reused with another body `409 idempotency_conflict` with nothing made (its
number never dialled) nor changed; acd's count of a contact's attempts never above the dials whose
ring-out it has not taken (one instance: checked as it goes). At the end (every result and ring-out
delivered, a complete sync): each contact in a definite status (`done`, `failed`, `cancelled`,
`no_show`) or still `scheduled` / `booked` with its due time; `done` exactly when the caller talked;
acd's count of attempts equal to the dials that reached the caller's side: the `originate` commands
it sent less those the platform rang out.

Reminders, with one instance and with three (whichever instance leads sends them; a remind sent
again under its id after a failover is the same one, as the platform deduplicates by id): each
`remind` carries the booked number and the start of one of the appointment's bookings (a booking,
or a move to another start), arrives before that start, and is for a booking in force when its
reminder came due (`reminder_lead_s` before its start): never one moved or cancelled before then,
nor one made within the lead. At the end each booking in force when its reminder came due got
exactly one command id; one moved or cancelled before, or made within the lead, none (one due at
an hour that is not decent for the caller, `OutboundFaults.reminder_decent`, at most one). A booking
is in force from acd's answer to its POST or PATCH until the next change of it is sent; with
three instances, whose commands arrive as the outbox sends them, a remind is matched to its
booking by its start (a remind made before a move may arrive after acd answered the move), and a
reminder that came due while a change was being answered may be sent or not (at most one). With
one instance, whose clock is moved by hand, those windows are instants, and a remind must also be
for the booking in force when it arrives, and never arrive once the appointment was cancelled.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from tests.fault.model import RealAgent, RealCall, UntidyPlatform


@functools.cache
def _national_holidays() -> Any:
    """France's public holidays, from the `holidays` library itself (not acd's table of it)."""
    import holidays

    return holidays.France()


PARIS = ZoneInfo("Europe/Paris")
OUTCOMES = ("answered", "answered", "answered", "no_answer", "busy", "failed")
#: A contact's statuses that say it is over, and those that say it waits for its time.
OVER = {"done", "failed", "cancelled", "no_show"}
WAITING = {"scheduled", "booked"}
#: Appointments are booked (or moved) in a slot starting within this many seconds: a run lasts a
#: quarter of an hour, and most of them should come due in it.
SOON_S = 420


@dataclass
class OutboundFaults:
    accept: float = 0.5  # a waiting caller offered a callback takes it (per chance to)
    request: float = 0.04  # per step: a callback requested through POST /v1/callbacks
    max_requested: int = 12
    book: float = 0.03  # per step: an appointment booked
    max_booked: int = 8
    cancel: float = 0.005  # per step: a DELETE of a callback; also of an appointment
    cancel_booking: float | None = None  # ... of an appointment, if not `cancel`
    reschedule: float = 0.01  # per step: a PATCH moving an appointment
    resolve: float = 0.25  # per happening: a dial in progress gets its outcome
    ring_out: float = 0.1  # ... or its agent lets it ring out (the caller is not dialled)
    lose_result: float = 0.08
    word_too: float = 0.4  # the platform also posts call.answered for an answered dial
    repost_steps: tuple[int, int] = (10, 40)  # how long the operator takes to post a lost result
    not_before_s: tuple[float, ...] = (30, 60, 120)  # a requested callback's delay, when it has one
    soon_s: float = SOON_S  # appointments are booked (or moved) in a slot starting within this
    name_dial: float = 0.5  # a result names its dial (`originate_id`, the originate command's id)
    stale_result: float = 0.5  # on a contact's next dial: a late result of its earlier dial comes
    keyed: float = 0.7  # a creation carries an Idempotency-Key
    repeat: float = 0.5  # ... and is posted again, as if its answer was lost
    # acd's `appointments.reminder_lead_s` in the run (what the platform knows, not a fault): below
    # `soon_s`, so that bookings made far enough ahead are reminded within the run
    reminder_lead_s: float = 120
    # acd's `callbacks.caller_hours` in the run: reminders go out at a decent hour for the caller
    # (its hours, on a day that is neither a Sunday nor a public holiday: the callers here have
    # metropolitan numbers and no department, so Paris time and the national holidays)
    caller_hours: tuple[str, str] = ("08:00", "20:00")

    def reminder_decent(self, t: float) -> bool:
        """Whether a reminder due at `t` goes out then, as acd's rule says (acd/engine/caller_hours.py);
        one due at another instant goes out at the nearest decent one (the last before it, if that
        follows the booking, or the caller's next morning an hour or more before the slot), else
        not at all."""
        local = datetime.fromtimestamp(t, PARIS)
        if local.weekday() == 6 or local.date() in _national_holidays():
            return False
        return self.caller_hours[0] <= local.strftime("%H:%M") < self.caller_hours[1]


@dataclass
class Dial:
    agent: str
    command: str
    attempt: int  # acd's attempt number for it (the originates seen, less those rung out)
    rang: bool  # the platform could ring the agent (else it failed at once)


@dataclass
class Booking:
    """An appointment's booking, or a move of it to another start: the request sent at `sent`,
    acd's answer at `at` (acd applied it in between; one instance, its clock moved by hand: the
    same instant), the start booked; and the `remind` commands seen for it (their ids)."""

    sent: float
    at: float
    start: float
    reminded: list[str] = field(default_factory=list)


@dataclass
class RealContact:
    id: str  # callback_id / appointment_id
    kind: str  # "callback" | "appointment"
    call_id: str  # the call of its dials and of the conversation
    origin: str  # "virtual_hold" | "requested" | "appointment"
    start: float | None = None  # an appointment's slot
    site: str | None = None  # an appointment's site (it keeps it when moved)
    dial: Dial | None = None  # the dial the platform makes now
    talked: bool = False  # a dial of it was answered, for real
    cancelled: bool = False  # acd answered 200 to its DELETE
    originates: list[str] = field(default_factory=list)  # command ids
    rang_out: int = 0  # dials whose agent the platform rang out (the caller never dialled)
    rung_out_in_acd: int = 0  # ... and acd took that ring-out (its call.unanswered)
    open_in_acd: bool = False  # acd sent an originate whose end it has not taken
    acd_answered: bool = False  # acd took an answer to one of its dials
    number: str = ""  # the number it was asked for
    # An appointment's bookings (a booking, then each move to another start), with the reminders
    # seen for each; when its DELETE was sent and when acd answered it (cancelled)
    booked: list[Booking] = field(default_factory=list)
    cancel_sent: float | None = None
    cancelled_at: float | None = None

    def lifetime(self, i: int, end: float) -> tuple[float, float, float, float]:
        """When booking `i` came in force (between the request's sending and acd's answer, in
        which acd applied it) and when it ceased to be (the next move's, or the cancellation's;
        else `end`): (began sent, began answered, ended sent, ended answered)."""
        b = self.booked[i]
        if i + 1 < len(self.booked):
            nxt = self.booked[i + 1]
            return b.sent, b.at, nxt.sent, nxt.at
        if self.cancelled_at is not None:
            assert self.cancel_sent is not None
            return b.sent, b.at, self.cancel_sent, self.cancelled_at
        return b.sent, b.at, end, end

    @property
    def path(self) -> str:
        return f"/v1/{self.kind}s/{self.id}"

    @property
    def result_type(self) -> str:
        return f"{self.kind}.result"


class OutboundPlay:
    def __init__(self, platform: UntidyPlatform, faults: OutboundFaults | None = None) -> None:
        self.p = platform
        self.f = faults or OutboundFaults()
        self.contacts: dict[str, RealContact] = {}
        self.by_call: dict[str, RealContact] = {}  # call id -> its contact (once it is one)
        self.offered: set[str] = set()  # calls acd offered a callback
        self.tried: set[str] = set()  # calls whose caller already chose (took it or not)
        # (due step, contact, attempt, outcome, the dial's originate id)
        self.reposts: list[tuple[int, str, int, str, str]] = []
        # Late results of an earlier dial, to post while the contact's next dial is in progress:
        # (contact, the earlier dial's originate id, the next dial's)
        self.stale: list[tuple[str, str, str]] = []
        self.stale_posted: int = 0  # ... posted while acd dialled the next one
        self.named: int = 0  # results naming their dial
        self.ask: set[str] = set()  # contact calls a call.ended touched: does acd hold them still?
        self.leg_ends: set[str] = set()  # event ids of callers' legs ending after a callback
        self.reminders: list[str] = []
        self.reminders_due: int = 0  # bookings in force when their reminder came due (at the end)
        self.reminders_either: int = 0  # ... due while a change of it was being answered
        self.final_states: Counter[str] = Counter()  # "<kind>_<status>" at the final check
        self.dialled: int = 0  # originates taken
        self.answered: int = 0  # dials answered for real
        self.numbers = itertools.count(1)
        # What the platform asked for by number (each request its own number): a contact acd
        # dials that the platform never got an answer for, with the number of a request whose
        # POST failed and was posted again, is the second contact the retry created.
        # With an Idempotency-Key (its key, else None) no retry may make a second one.
        self.asked: dict[str, tuple[str, dict[str, Any], str | None]] = {}  # number -> (kind, body, key)
        self.second_contacts: list[str] = []
        self.keys = itertools.count(1)
        self.by_key: dict[str, str] = {}  # Idempotency-Key -> the contact acd answered
        self.repeated: Counter[str] = Counter()  # keyed creations: how they were posted
        self.conflicts: set[str] = set()  # kinds whose key was tried with another body (409)
        self.refused_numbers: set[str] = set()  # the numbers of those bodies: never a contact

    # ------------------------------------------------------------------ what acd says

    def on_decision(self, decision: dict[str, Any]) -> None:
        """A call.offered's decision: a queue offering a callback."""
        if decision.get("action") == "queue" and decision.get("callback_offer"):
            self.offered.add(decision["call_id"])

    def on_command(self, command: dict[str, Any]) -> bool:
        kind = command.get("command")
        if kind == "offer_callback":
            self.offered.add(command["call_id"])
            self.tried.discard(command["call_id"])  # asked again: a new chance to take it
            return True
        if kind == "remind":
            self.reminders.append(command["appointment_id"])
            contact = self.contacts.get(command["appointment_id"])
            if contact is None:
                self.p.violation("remind_of_unknown_appointment", f"command {command['id']}")
            else:
                self.on_remind(contact, command)
            return True
        if kind == "originate":
            self.on_originate(command)
            return True
        return False

    def on_remind(self, contact: RealContact, command: dict[str, Any]) -> None:
        """A `remind` (a command id not seen before), arrived at `UntidyPlatform.command_at`:
        with the booked number and the start of one of the contact's bookings, arrived before
        that start, for a booking in force when its reminder came due (`reminder_lead_s` before
        its start): never for one moved or cancelled before then, nor made within the lead.

        With several instances a remind made before a move or a cancellation may arrive after
        acd answered it (the outbox sends as it goes, and sends again after a failover), so it is
        matched to its booking by its start and judged by when that booking's reminder came due,
        not by when it arrived; with one instance it must also be for the booking in force when
        it arrives, and never arrive once the appointment was cancelled."""
        p = self.p
        arrived = p.command_at if p.command_at is not None else p.now()
        p.story.append(
            f'    step {p.step_no} post {p.post_no}: command {command["id"]}: remind "{contact.id}"'
        )
        if not contact.booked:
            return  # (a second contact: its booking unknown)
        start = datetime.fromisoformat(command["start"]).timestamp()
        due = start - self.f.reminder_lead_s
        wrong = []
        if command["number"] != contact.number:
            wrong.append(f"number {command['number']}, booked {contact.number}")
        if arrived >= start:
            wrong.append(f"arrived at {_iso(arrived)}, its start passed")
        # its booking: one with that start, in force (perhaps) when its reminder came due
        same = [i for i, b in enumerate(contact.booked) if b.start == start]
        could = [i for i in same if self._expected(contact, i, end=float("inf")) != 0]
        if not same:
            wrong.append(f"start {command['start']}, booked {[_iso(b.start) for b in contact.booked]}")
            contact.booked[-1].reminded.append(command["id"])  # (counted against the booking in force)
        elif not could:
            i = same[-1]
            began, _, _, ended = contact.lifetime(i, float("inf"))
            wrong.append(
                f"its reminder due {_iso(due)}, not while that booking was in force "
                f"(asked {_iso(began)}, moved or cancelled by {_iso(ended)})"
            )
            contact.booked[i].reminded.append(command["id"])
        else:
            # the first that has none yet (a start booked twice: moved away and back)
            i = next((i for i in could if not contact.booked[i].reminded), could[0])
            contact.booked[i].reminded.append(command["id"])
        if p.strict_order:  # one instance: commands arrive as acd makes them
            if contact.cancelled_at is not None:
                wrong.append(f"cancelled at {_iso(contact.cancelled_at)}")
            if start != contact.booked[-1].start:
                wrong.append(f"start {command['start']}, in force {_iso(contact.booked[-1].start)}")
        if wrong:
            p.violation(
                "remind_not_of_the_booking",
                f"command {command['id']} for {contact.id}: {'; '.join(wrong)}",
                about=(contact.call_id,),
            )

    def _expected(self, contact: RealContact, i: int, end: float) -> int | None:
        """How many reminders booking `i` must get: 1 if it was in force when its reminder came
        due (acd had answered it before, and no change of it was sent yet), 0 if not (made within
        the lead, or moved or cancelled before), None when the reminder came due while acd was
        being asked (it may have applied the change before or after: 0 and 1 both right), or at
        an instant that is not a decent hour for the caller (`OutboundFaults.reminder_decent`)."""
        sent, at, until_sent, until_at = contact.lifetime(i, end)
        due = contact.booked[i].start - self.f.reminder_lead_s
        if at < due <= until_sent:
            # due at an hour too late (or on a Sunday, a holiday): acd sends it at the nearest
            # decent instant (the caller's last minute before, or next morning), if any; else none
            return 1 if self.f.reminder_decent(due) else None
        if due <= sent or due > until_at:
            return 0
        return None

    def check_reminders(self, settled_s: float = 0.0) -> None:
        """At the end: each booking (a booking, or a move to another start) in force when its
        reminder came due (`reminder_lead_s` before its start, booked before that) got exactly
        one `remind` (one command id: a remind sent again under its id after a failover is the
        same); one moved or cancelled before, or made within the lead, none; one whose reminder
        came due while a change of it was being answered, at most one. Reminders come due until
        `settled_s` before now (the time they take to arrive)."""
        p = self.p
        end = p.now() - settled_s
        for contact in self.contacts.values():
            for i, booking in enumerate(contact.booked):
                expected = self._expected(contact, i, end)
                if expected is None:
                    self.reminders_either += 1
                    allowed: tuple[int, ...] = (0, 1)
                else:
                    self.reminders_due += expected
                    allowed = (expected,)
                if len(booking.reminded) not in allowed:
                    sent, at, until_sent, until_at = contact.lifetime(i, end)
                    p.violation(
                        "reminders_not_one_per_booking_due",
                        f"{contact.id} booked (asked {_iso(sent)}, answered {_iso(at)}) for "
                        f"{_iso(booking.start)}, in force until a change asked {_iso(until_sent)}, "
                        f"answered {_iso(until_at)} (reminder due "
                        f"{_iso(booking.start - self.f.reminder_lead_s)}): {allowed} expected, got "
                        f"{booking.reminded}",
                        about=(contact.call_id,),
                    )

    def on_originate(self, command: dict[str, Any]) -> None:
        p = self.p
        contact_id = command.get("callback_id") or command.get("appointment_id") or ""
        agent_id = command["agent_id"]
        source = f"command {command['id']}"
        contact = self.contacts.get(contact_id)
        p.story.append(
            f'    step {p.step_no} post {p.post_no}: {source}: originate "{contact_id}" "{agent_id}"'
            + (f' (call "{contact.call_id}")' if contact else "")
        )
        if contact is None:
            contact = self.adopt_second_contact(command, contact_id)
        if contact is None:
            p.violation("originate_of_unknown_contact", f"{source}: {contact_id}", about=(contact_id,))
            return
        self.dialled += 1
        about = (contact.call_id, agent_id)
        if contact.talked:
            p.violation(
                "dialled_again_after_answer",
                f"{source}: {contact_id} dialled again, though its caller talked to an agent",
                about=about,
            )
        if contact.cancelled:
            p.violation("cancelled_contact_dialled", f"{source}: {contact_id}", about=about)
        if contact.open_in_acd:
            p.violation(
                "second_originate_for_one_dial",
                f"{source}: {contact_id} to {agent_id}, while acd had not taken the end of its "
                f"dial {contact.originates[-1]}",
                about=about,
            )
        p.check_agent_free_in_acd(contact.call_id, agent_id, source)
        contact.originates.append(command["id"])
        contact.open_in_acd = True
        if len(contact.originates) > 1 and p.rng.random() < self.f.stale_result:
            self.stale.append((contact.id, contact.originates[-2], command["id"]))
        p.live[contact.call_id] = agent_id
        p.batch_connected.add(contact.call_id)
        attempt = len(contact.originates) - contact.rang_out  # the dials rung out were not attempts
        call, agent = p.calls[contact.call_id], p.agents[agent_id]
        if call.state in ("ringing", "talking", "dialing") or (contact.dial is not None):
            p.violation(
                "dial_of_a_call_in_progress",
                f"{source}: {contact.call_id}, really {call.state} with {call.agent}",
                about=about,
            )
            self.ring_out_at_once(contact, agent)
            return
        if not p.can_ring(agent, contact.call_id, source):
            self.ring_out_at_once(contact, agent)
            return
        contact.dial = Dial(agent_id, command["id"], attempt, rang=True)
        call.state, call.agent = "dialing", agent_id
        agent.state, agent.call = "ringing", contact.call_id

    def adopt_second_contact(self, command: dict[str, Any], contact_id: str) -> RealContact | None:
        """An originate of a contact the platform never got a 201 for, with the number of one of
        its requests: a POST that failed (a timeout, an instance killed while it answered) was
        applied, and the retry created a second one: expected of a creation without an
        `Idempotency-Key`, a violation of one with a key. The platform dials it like any other;
        the run counts it."""
        number = command.get("number", "")
        if number in self.refused_numbers:
            self.p.violation(
                "contact_made_by_a_refused_idempotency_conflict",
                f"command {command['id']}: {contact_id} dialled at {number}, the number of a request "
                "answered 409 idempotency_conflict",
                about=(contact_id,),
            )
        asked = self.asked.get(number)
        kind = "callback" if command.get("callback_id") else "appointment"
        if asked is None or asked[0] != kind:
            return None
        if asked[2] is not None:
            self.p.violation(
                "second_contact_for_one_idempotency_key",
                f"command {command['id']}: {contact_id} dialled at {number}, requested once with "
                f"Idempotency-Key {asked[2]} ({self.by_key.get(asked[2])} answered)",
                about=(contact_id,),
            )
        self.second_contacts.append(contact_id)
        self.p.story.append(f'    second {kind} "{contact_id}" for {command["number"]} (a POST retried)')
        call_id = contact_id  # a requested callback's call, an appointment's: its own id
        contact = RealContact(contact_id, kind, call_id, "requested" if kind == "callback" else "appointment")
        self.add(contact, _real_call(call_id, asked[1]["skill"]))
        return contact

    def ring_out_at_once(self, contact: RealContact, agent: RealAgent) -> None:
        """The platform cannot ring the agent: its phone rings out at once (`call.unanswered`, as
        for a connect, `UntidyPlatform._refuse`); the caller is never dialled, so no result."""
        p = self.p
        contact.rang_out += 1
        p.emit(p._event("call.unanswered", call_id=contact.call_id, agent_id=agent.id))

    def result_event(self, contact: RealContact, outcome: str, dial: str) -> dict[str, Any]:
        """A `callback.result` / `appointment.result` of the dial whose originate id is `dial`,
        naming it (`originate_id`) in a share of them, as a platform may."""
        p = self.p
        fields: dict[str, Any] = {f"{contact.kind}_id": contact.id, "outcome": outcome}
        if p.rng.random() < self.f.name_dial:
            fields["originate_id"] = dial
            self.named += 1
        return p._event(contact.result_type, **fields)

    def post_result(self, contact: RealContact, outcome: str, dial: Dial) -> str | None:
        p = self.p
        eid = p.emit(self.result_event(contact, outcome, dial.command), self.f.lose_result)
        if eid is None:
            due = p.step_no + p.rng.randint(*self.f.repost_steps)
            outcome = "answered" if outcome == "answered" else "failed"
            self.reposts.append((due, contact.id, dial.attempt, outcome, dial.command))
        return eid

    def told(self, event: dict[str, Any], result: dict[str, Any]) -> bool:
        """acd took an event about a contact; True when it is handled here."""
        p = self.p
        kind = event["type"]
        # (a first answer "duplicate": a try that was applied, its answer lost; model.deliver)
        taken = (result["status"] == "applied" and not result.get("ignored")) or bool(
            result.get("first_answer")
        )
        if kind in ("callback.result", "appointment.result"):
            contact = self.contacts[event.get("callback_id") or event.get("appointment_id")]
            named = event.get("originate_id")
            if named is not None and named != contact.originates[-1]:
                # The word on an earlier dial, naming it: whatever its ts, not the outcome of the
                # dial in progress (nor of any: that dial's end was taken before the next began).
                # (A first answer "duplicate" says nothing of what the try did: not a violation.)
                if result["status"] == "applied" and not result.get("ignored"):
                    p.violation(
                        "result_of_an_earlier_dial_taken",
                        f"{event['id']} ({event['outcome']}, originate_id {named}) taken as the end "
                        f"of {contact.id}'s dial {contact.originates[-1]}: {result}",
                        about=(contact.call_id,),
                    )
                return True
            if taken:
                self.dial_ended_in_acd(contact, event["outcome"] == "answered")
            return True
        if kind == "callback.accepted":
            decision = result.get("decision") or {}
            if decision.get("callback_id") and event["call_id"] not in self.by_call:
                self.caller_took_callback(event["call_id"], decision["callback_id"])
            return True
        call_id = event.get("call_id")
        contact = self.by_call.get(call_id or "")
        if contact is None:
            return False
        if kind in ("call.answered", "call.unanswered") and contact.open_in_acd:
            if taken:
                self.dial_ended_in_acd(contact, kind == "call.answered")
                if kind == "call.unanswered":
                    contact.rung_out_in_acd += 1
            return True
        if kind == "call.ended":
            # The caller's leg (acd keeps the callback), a dial's leg, or the conversation's end:
            # acd says after the POST which it took it for.
            self.ask.add(call_id)
            p.batch_ended.add(call_id)
            return True
        return False

    def dial_ended_in_acd(self, contact: RealContact, answered: bool) -> None:
        p = self.p
        contact.open_in_acd = False
        if answered:
            contact.acd_answered = True
            if not contact.talked:
                p.violation(
                    "answer_nobody_gave",
                    f"acd took an answer for {contact.id}, whose caller never talked",
                    about=(contact.call_id,),
                )
        else:
            p.live.pop(contact.call_id, None)
            p.batch_ended.add(contact.call_id)

    def caller_took_callback(self, call_id: str, callback_id: str) -> None:
        """acd took the caller's `callback.accepted`: the voice server says goodbye and hangs up."""
        p = self.p
        contact = RealContact(callback_id, "callback", call_id, "virtual_hold")
        self.contacts[callback_id] = contact
        self.by_call[call_id] = contact
        call = p.calls[call_id]
        call.state = "callback"
        reason = p.rng.choice(("completed", "abandoned"))
        event = p._event("call.ended", call_id=call_id, reason=reason)
        event["_leg"] = True
        eid = p.emit(event, p.f.lose_ended)
        if eid is not None:
            self.leg_ends.add(eid)

    async def settle(self) -> None:
        p = self.p
        for call_id in sorted(self.ask):
            status, call = await p._get(f"/v1/calls/{call_id}")
            if status != 200:
                continue
            if call["status"] == "ended":
                p.live.pop(call_id, None)
                if call_id not in p.acd_ended:
                    p.acd_ended.add(call_id)
                    p.ended_at_post.setdefault(call_id, p.post_no)
                if p.calls[call_id].state in ("talking", "dialing"):
                    p.violation(
                        "contact_call_ended_while_the_platform_holds_it",
                        f"{call_id} ended in acd ({call['end_reason']}), really "
                        f"{p.calls[call_id].state} with {p.calls[call_id].agent}",
                        about=(call_id, p.calls[call_id].agent),
                    )
            elif call["status"] in ("connecting", "answered"):
                p.live[call_id] = call["agent_id"]
        self.ask.clear()

    # ------------------------------------------------------------------ the platform's happenings

    def happen(self) -> list[dict[str, Any]]:
        """One outbound happening (beside the platform's own); the events to post at once."""
        p = self.p
        for call in p.calls_in("dialing"):
            if p.rng.random() < self.f.resolve:
                self.resolve(self.by_call[call.id])
        takers = [c for c in p.calls_in("waiting") if c.id in self.offered and c.id not in self.tried]
        if takers and p.rng.random() < 0.3:
            call = p._pick(takers)
            self.tried.add(call.id)
            if p.rng.random() < self.f.accept:
                event = p._event("callback.accepted", call_id=call.id)
                if p.rng.random() < p.f.dup:  # the voice server retried it
                    p.outgoing.append(_outgoing(event, p.step_no + p.rng.randint(0, 20), copy=True))
                return [event]
        return []

    def resolve(self, contact: RealContact) -> None:
        """The dial in progress has its outcome, or its agent lets it ring out."""
        p = self.p
        dial = contact.dial
        assert dial is not None
        call, agent = p.calls[contact.call_id], p.agents[dial.agent]
        contact.dial = None
        if p.rng.random() < self.f.ring_out:
            self.ring_out(contact, call, agent)
            return
        outcome = p.rng.choice(OUTCOMES)
        if outcome == "answered":
            self.answered += 1
            contact.talked = True
            call.state, agent.state = "talking", "talking"
            told = [self.post_result(contact, "answered", dial)]
            if p.rng.random() < self.f.word_too:
                answered = p._event("call.answered", call_id=call.id, agent_id=agent.id)
                told.append(p.emit(answered, p.f.lose_answered))
            if p.rng.random() < 0.5:
                told.append(p.emit(p.agent_state_event(agent, "busy"), p.f.lose_state))
            p.tell_agent(agent, *told)
            return
        call.state, call.agent = "callback", None  # the platform holds nothing of it now
        agent.call = None
        eid = self.post_result(contact, outcome, dial)
        if agent.pending:
            p._take_pending(agent, eid)
        else:
            agent.state = "available"
            p.tell_agent(agent, eid)

    def ring_out(self, contact: RealContact, call: RealCall, agent: RealAgent) -> None:
        """The agent lets the dial ring out (RONA): the caller is never dialled; the platform says
        so with a `call.unanswered` from that agent (never lost, as for a connect's ring-out,
        `UntidyPlatform.ring_out`), and no result."""
        p = self.p
        contact.rang_out += 1
        call.state, call.agent = "callback", None  # the platform holds nothing of it now
        agent.call = None
        eid = p.emit(p._event("call.unanswered", call_id=call.id, agent_id=agent.id))
        if agent.pending:  # it asked to go during the ring: it goes now
            p._take_pending(agent, eid)
        else:
            agent.state = "available"
            p.tell_agent(agent, "never")  # acd may pause it (RONA); the platform thinks it available

    async def step(self) -> None:
        """The REST side of a step: requests, bookings, cancellations; and the operator's posts
        of lost results."""
        p, f = self.p, self.f
        await self.repost_due()
        await self.post_stale()
        requested = [c for c in self.contacts.values() if c.origin == "requested"]
        booked = [c for c in self.contacts.values() if c.kind == "appointment"]
        if len(requested) < f.max_requested and p.rng.random() < f.request:
            await self.request_callback()
        if len(booked) < f.max_booked and p.rng.random() < f.book:
            await self.book_appointment()
        if p.rng.random() < f.cancel:
            await self.cancel(p._pick([c for c in self.contacts.values() if c.kind == "callback"]))
        if p.rng.random() < (f.cancel if f.cancel_booking is None else f.cancel_booking):
            await self.cancel(p._pick(booked))
        if p.rng.random() < f.reschedule:
            await self.reschedule(p._pick(booked))

    async def request(
        self, method: str, path: str, body: Any = None, key: str | None = None
    ) -> tuple[int, Any]:
        p = self.p
        if key is None:
            status, answer = await p._request(method, path, body)
        else:
            status, answer = await p._request(method, path, body, {"Idempotency-Key": key})
        keyed = f" key {key}" if key else ""
        p.statuses[status] += 1
        p.trail.append(f"  step {p.step_no} {method} {path}{keyed} {body} -> {status} {str(answer)[:300]}")
        p.story.append(f"    step {p.step_no} post {p.post_no}: {method} {path}{keyed} {body} -> {status}")
        if status >= 500:
            p.violation("5xx", f"{method} {path} {body} -> {status} {answer}")
        return status, answer

    def number(self) -> str:
        return f"+3361{next(self.numbers):07d}"

    async def create(self, kind: str, body: dict[str, Any]) -> tuple[int, Any, str | None]:
        """POST a creation (`kind`: callback, appointment): in a share of them with an
        `Idempotency-Key`, and of those some posted again as if the answer was lost: the retry
        sent before the first answer is read (its answer is the one used), after it, or both at
        once. Every answer of a key is 201 with the same contact, and no two keys share one."""
        p, path = self.p, f"/v1/{kind}s"
        if p.rng.random() >= self.f.keyed:
            self.asked[body["number"]] = (kind, body, None)
            status, answer = await self.request("POST", path, body)
            return status, answer, None
        key = f"s{p.seed}-k{next(self.keys)}"
        self.asked[body["number"]] = (kind, body, key)
        how = p.rng.choice(("lost", "after", "together")) if p.rng.random() < self.f.repeat else "once"
        if how == "together":
            answers = list(await asyncio.gather(*(self.request("POST", path, body, key) for _ in "12")))
        else:
            answers = [await self.request("POST", path, body, key) for _ in ("1", "2")[: 1 + (how != "once")]]
        self.repeated[how] += 1
        status, answer = answers[-1] if how == "lost" else answers[0]
        id_field = f"{kind}_id"
        made = {a[id_field] for s, a in answers if s == 201}
        if made and (len(made) > 1 or any(s != 201 for s, _ in answers)):
            p.violation(
                "idempotent_retry_not_the_same_contact",
                f"POST {path} with Idempotency-Key {key} {how}: {answers}",
            )
        if status == 201:
            if answer[id_field] in self.by_key.values():
                p.violation("two_idempotency_keys_one_contact", f"{key}: {answer}")
            self.by_key[key] = answer[id_field]
            if kind not in self.conflicts:
                await self.conflict(kind, body, key, answer[id_field])
        return status, answer, key

    async def conflict(self, kind: str, body: dict[str, Any], key: str, made: str) -> None:
        """Once a run for each kind: the key of a creation acd made, with another body (another
        number): `409 idempotency_conflict`, and nothing made nor changed."""
        self.conflicts.add(kind)
        other = {**body, "number": self.number()}
        self.refused_numbers.add(other["number"])
        status, answer = await self.request("POST", f"/v1/{kind}s", other, key)
        code = answer.get("error", {}).get("code") if isinstance(answer, dict) else None
        if status != 409 or code != "idempotency_conflict":
            self.p.violation(
                "idempotency_key_reused_with_another_body_not_refused",
                f"POST /v1/{kind}s with {key} (which made {made}) and {other} -> {status} {answer}",
            )
        status, view = await self.p._get(f"/v1/{kind}s/{made}")
        if status != 200 or view["number"] != body["number"]:
            self.p.violation(
                "idempotency_conflict_changed_the_contact", f"{made} after the conflict: {status} {view}"
            )

    async def request_callback(self) -> None:
        p = self.p
        body: dict[str, Any] = {"number": self.number(), "skill": p.rng.choice(p.skills)}
        if p.rng.random() < 0.4:  # not before a minute or two from now
            body["not_before"] = _iso(p.now() + p.rng.choice(self.f.not_before_s))
        status, answer, _ = await self.create("callback", body)
        if status != 201:
            p.violation("callback_request_refused", f"{status} {answer} for {body}")
            return
        contact = RealContact(answer["callback_id"], "callback", answer["call_id"], "requested")
        self.add(contact, _real_call(contact.call_id, body["skill"]))

    def add(self, contact: RealContact, call: RealCall) -> None:
        self.contacts[contact.id] = contact
        self.by_call[contact.call_id] = contact
        self.p.calls[call.id] = call

    async def _slots_soon(self, query: str) -> tuple[int, Any, list[dict[str, Any]]]:
        """`GET /v1/appointments/slots?<query>`: its status, its answer, and the slots with room
        that start soon (between 20 s and `soon_s` from now)."""
        now = self.p.now()
        status, slots = await self.request("GET", f"/v1/appointments/slots?{query}")
        if status != 200:
            return status, slots, []
        later = now + self.f.soon_s
        soon = [
            s
            for s in slots
            if s["remaining"] > 0 and now + 20 < datetime.fromisoformat(s["start"]).timestamp() < later
        ]
        return status, slots, soon

    async def book_first(self, n: int) -> None:
        """`n` bookings at once, each in the first slot with room (the scenario's: a run that
        wants appointments dialled while it lasts books them in a slot it knows starts then);
        then the first of them is cancelled and the second moved to another slot, so that a
        reminder armed and then disarmed (or moved) is exercised whatever the seed."""
        for _ in range(n):
            await self.book_appointment(earliest=True)
        made = [c for c in self.contacts.values() if c.kind == "appointment"]
        if len(made) >= 2:
            await self.cancel(made[0])
            await self.reschedule(made[1], elsewhere=True)

    async def book_appointment(self, earliest: bool = False) -> None:
        """A booking takes one place: the slot's `remaining` drops by one (whatever the retries of
        a keyed POST, and the conflict tried with its key). In a slot starting soon (`earliest`:
        the first of them)."""
        p = self.p
        day = datetime.fromtimestamp(p.now(), PARIS).date().isoformat()
        query = f"skill=impot_revenu&date={day}"
        status, slots, soon = await self._slots_soon(query)
        if status != 200:
            p.violation("slots_refused", f"{status} {slots}")
            return
        if not soon:
            return
        slot = min(soon, key=lambda s: s["start"]) if earliest else p._pick(soon)
        # Reads are spread over the instances and a follower's replica may lag an entry or two
        # behind: the count a booking is judged by is read once every replica agrees (seen
        # under load: 3 places "before" read from a replica that had not yet applied the booking
        # posted just before through another instance, then 1 after, the check failing).
        before = await self._settled_remaining(query, slot["start"])
        if before is not None:
            slot = {**slot, "remaining": before}
        body = {"number": self.number(), "skill": "impot_revenu", "start": slot["start"]}
        sent = p.now()
        status, answer, key = await self.create("appointment", body)
        answered = p.now()
        if status != 201:
            p.violation("appointment_refused_with_places_left", f"{status} {answer} for {body} ({slot})")
            return
        if key is not None or p.strict_order:  # (an unkeyed POST retried by the cluster may take two)
            after = await self._settled_remaining(query, slot["start"])
            now_left = [] if after is None else [after]
            if now_left != [slot["remaining"] - 1]:
                p.violation(
                    "booking_took_other_than_one_place",
                    f"{answer['appointment_id']} (key {key}) in {slot['start']}: {slot['remaining']} "
                    f"places left before, {now_left} after",
                )
        start = datetime.fromisoformat(answer["start"]).timestamp()
        contact = RealContact(
            answer["appointment_id"], "appointment", answer["appointment_id"], "appointment"
        )
        contact.start, contact.site, contact.number = start, answer["site"], body["number"]
        contact.booked.append(Booking(sent, answered, start))
        self.add(contact, _real_call(contact.call_id, "impot_revenu"))

    async def _settled_remaining(self, query: str, start: str) -> int | None:
        """The places left in the slot at `start` once two reads a tenth of a second apart agree
        (the replicas caught up with the bookings before), within two seconds; None if they
        never do."""
        last: int | None = None
        for _ in range(20):
            status, slots = await self.request("GET", f"/v1/appointments/slots?{query}")
            left = [s["remaining"] for s in slots if s["start"] == start] if status == 200 else []
            now = left[0] if len(left) == 1 else None
            if now is not None and now == last:
                return now
            last = now
            await asyncio.sleep(0.1)
        return None

    async def cancel(self, contact: RealContact | None) -> None:
        if contact is None or contact.cancelled:
            return
        p = self.p
        if contact.kind == "appointment" and (contact.start or 0) <= p.now() + 1:
            return  # its time has come: no longer changeable
        sent = p.now()
        status, answer = await self.request("DELETE", contact.path)
        if status == 200 and answer.get("status") == "cancelled":
            contact.cancelled = True
            contact.cancel_sent, contact.cancelled_at = sent, p.now()
            p.calls[contact.call_id].state = "ended"
            if contact.dial is not None or contact.talked:
                p.violation(
                    "cancelled_while_dialled_or_talked",
                    f"{contact.id} cancelled, though "
                    + ("the platform dials it" if contact.dial else "its caller talked"),
                    about=(contact.call_id,),
                )
        elif status == 409 and contact.kind == "callback":
            if contact.dial is None and not contact.open_in_acd and not contact.talked:
                # scheduled as far as anything told acd: it is between its dials, or over
                status2, view = await p._get(contact.path)
                if status2 == 200 and view["status"] == "scheduled":
                    p.violation("scheduled_callback_not_cancellable", f"{status} {answer}")
        else:
            p.violation("contact_change_refused", f"DELETE {contact.path} -> {status} {answer}")

    async def reschedule(self, contact: RealContact | None, elsewhere: bool = False) -> None:
        """A PATCH moving an appointment to a slot with room starting soon (`elsewhere`: not the
        one it has)."""
        p = self.p
        if contact is None or contact.cancelled or (contact.start or 0) <= p.now() + 1:
            return
        now = p.now()
        day = datetime.fromtimestamp(contact.start or now, PARIS).date().isoformat()
        query = f"skill=impot_revenu&date={day}&site={contact.site}"  # its site's places
        _, _, others = await self._slots_soon(query)
        if elsewhere:
            others = [s for s in others if datetime.fromisoformat(s["start"]).timestamp() != contact.start]
        if not others:
            return
        slot = p._pick(others)
        sent = p.now()
        status, answer = await self.request("PATCH", contact.path, {"start": slot["start"]})
        if status == 200:
            contact.start = datetime.fromisoformat(answer["start"]).timestamp()
            if contact.booked and contact.booked[-1].start != contact.start:  # (the same start: no move)
                contact.booked.append(Booking(sent, p.now(), contact.start))
        else:
            p.violation("contact_change_refused", f"PATCH {contact.path} -> {status} {answer} ({slot})")

    async def repost_due(self, everything: bool = False) -> None:
        """The operator posts a lost result again, once acd still shows that very dial."""
        p = self.p
        keep = []
        for item in self.reposts:
            due, contact_id, attempt, outcome, dial = item
            if due > p.step_no and not everything:
                keep.append(item)
                continue
            contact = self.contacts[contact_id]
            status, view = await p._get(contact.path)
            if status != 200:
                continue
            if view["status"] == "dialing" and view["attempts"] == attempt:
                p.outgoing.append(_outgoing(self.result_event(contact, outcome, dial), p.step_no))
        self.reposts = keep

    async def post_stale(self) -> None:
        """A late result of a contact's earlier dial (another post of its word on it, a new event
        id), naming that dial, while acd dials the next one: stamped now, after the next dial
        began, so its `ts` cannot tell it apart, only its `originate_id`. acd must answer it
        `stale` and change nothing: the dial in progress keeps its agent and its attempt (and no
        second originate follows: `on_originate`)."""
        p = self.p
        pending, self.stale = self.stale, []
        for item in pending:
            contact_id, earlier, current = item
            contact = self.contacts[contact_id]
            if contact.originates[-1] != current or not contact.open_in_acd:
                continue  # acd took the end of the next dial already: too late to test anything
            if p.rng.random() < 0.5:
                self.stale.append(item)  # later, while it lasts
                continue
            _, before = await p._get(contact.path)
            outcome = p.rng.choice(OUTCOMES)
            event = p._event(
                contact.result_type,
                **{f"{contact.kind}_id": contact.id, "outcome": outcome, "originate_id": earlier},
            )
            status, body = await p.deliver([event])
            if status != 200:
                continue  # (deliver tells a refusal)
            self.stale_posted += 1
            result = body["results"][0]
            if p.strict_order and result.get("ignored") != "stale":
                p.violation(
                    "result_of_an_earlier_dial_not_stale",
                    f"{event['id']} ({outcome}) naming {earlier}, while acd dials {current}: {result}",
                    about=(contact.call_id,),
                )
            if not p.strict_order:
                continue  # another instance may have moved the dial on meanwhile
            _, after = await p._get(contact.path)
            brief = ("status", "agent_id", "attempts")
            if [before.get(k) for k in brief] != [after.get(k) for k in brief]:
                p.violation(
                    "result_of_an_earlier_dial_changed_the_dial",
                    f"{event['id']} ({outcome}) naming {earlier}: {contact.id} was "
                    f"{[before.get(k) for k in brief]}, now {[after.get(k) for k in brief]}",
                    about=(contact.call_id,),
                )

    # ------------------------------------------------------------------ the end

    @property
    def dialing(self) -> bool:
        return any(c.dial is not None for c in self.contacts.values())

    def resolve_all(self) -> None:
        for contact in self.contacts.values():
            if contact.dial is not None:
                self.resolve(contact)

    async def check(self, final: bool) -> None:
        p = self.p
        if final:  # (with several instances, a reminder due in the last seconds may be on its way)
            self.check_reminders(settled_s=0.0 if p.strict_order else 5.0)
        for contact in self.contacts.values():
            status, view = await p._get(contact.path)
            about = (contact.call_id,)
            if status != 200:
                p.violation("contact_not_visible", f"GET {contact.path} -> {status} {view}", about=about)
                continue
            state = view["status"]
            if final:
                self.final_states[f"{contact.kind}_{state}"] += 1
            if contact.cancelled and state != "cancelled":
                p.violation("cancelled_contact_came_back", f"{contact.id}: {state}", about=about)
            if state == "done" and not contact.talked:
                p.violation("done_though_nobody_talked", f"{contact.id}", about=about)
            if state in ("failed", "no_show", "cancelled") and contact.talked:
                p.violation("talked_but_not_done", f"{contact.id}: {state}", about=about)
            # A dial rung out never reached the caller: not an attempt. acd counts one while the
            # ring-out is on its way (one instance: every command it sent is seen by now).
            if p.strict_order and view["attempts"] > len(contact.originates) - contact.rung_out_in_acd:
                p.violation(
                    "attempts_beyond_dials_not_rung_out",
                    f"{contact.id}: acd counts {view['attempts']} attempts, sent {len(contact.originates)} "
                    f"originate(s) {contact.originates}, of which it took {contact.rung_out_in_acd} "
                    "ring-out(s)",
                    about=about,
                )
            if not final:
                continue
            if view["attempts"] != len(contact.originates) - contact.rang_out:
                p.violation(
                    "attempts_are_not_the_dials_that_reached_the_caller",
                    f"{contact.id}: acd counts {view['attempts']} attempts, sent {len(contact.originates)} "
                    f"originate(s) {contact.originates}, {contact.rang_out} of them rung out",
                    about=about,
                )
            if state in OVER:
                pass
            elif state in WAITING:
                due = view.get("due_at") if contact.kind == "callback" else view.get("start")
                if not due:
                    p.violation("waiting_contact_without_due_time", f"{contact.id}: {view}", about=about)
            else:
                p.violation(
                    "contact_not_definite_at_the_end",
                    f"{contact.id}: {state} (agent {view.get('agent_id')}) after every result was delivered",
                    about=about,
                )
            if contact.talked and state != "done":
                p.violation("talked_but_not_done", f"{contact.id}: {state}", about=about)

    def summary(self) -> dict[str, int]:
        by_origin: dict[str, int] = {}
        for c in self.contacts.values():
            by_origin[c.origin] = by_origin.get(c.origin, 0) + 1
        return {
            **by_origin,
            "offered_a_callback": len(self.offered),
            "chose": len(self.tried),
            "originates": self.dialled,
            **{
                f"originates_{origin}": sum(
                    len(c.originates) for c in self.contacts.values() if c.origin == origin
                )
                for origin in ("virtual_hold", "requested", "appointment")
            },
            "answered": self.answered,
            "rung_out": sum(c.rang_out for c in self.contacts.values()),
            "cancelled": sum(c.cancelled for c in self.contacts.values()),
            "reminders": len(self.reminders),
            "reminders_due": self.reminders_due,
            "reminders_either": self.reminders_either,
            "reposts_pending": len(self.reposts),
            "named_results": self.named,
            "stale_results": self.stale_posted,
            "second_contacts": len(self.second_contacts),
            "keyed_creations": len(self.by_key),
            **{f"keyed_{how}": n for how, n in sorted(self.repeated.items())},
            "idempotency_conflicts": len(self.conflicts),
            **dict(sorted(self.final_states.items())),
        }


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def _real_call(call_id: str, skill: str) -> Any:
    """The platform's record of a contact's call: nothing held until a dial of it is answered."""
    from tests.fault.model import RealCall

    return RealCall(call_id, skill, state="callback")


def _outgoing(event: dict[str, Any], due: int, copy: bool = False) -> Any:
    from tests.fault.model import Outgoing

    return Outgoing(event, due, copy)
