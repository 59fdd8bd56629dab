"""Peak overflow to the departments' local services: the mode, when it is active, and each
service's load against its capacity and hours. Engine state like the rest: no clock, no I/O.

- `on` (the supervisor's switch): active, threshold zero: every call no agent can take now goes to
  its local service.
- `off`: never.
- `auto` (default): active during a campaign of the calendar, or for a skill whose live expected
  wait reached `activate_ewt_s`, until it falls below `deactivate_ewt_s` (hysteresis).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from acd.calendar import Calendar, Hours
from acd.config import Config, LocalService
from acd.engine.records import Call
from acd.events import OverflowMode
from acd.model import (
    CallKind,
    CallStatus,
    ClosedDecision,
    Command,
    OverflowDecision,
    OverflowStatus,
    OverflowSwitch,
)
from acd.phone import diallable

AUTO, ON, OFF = OverflowSwitch.AUTO, OverflowSwitch.ON, OverflowSwitch.OFF

if TYPE_CHECKING:
    from acd.engine.line import Line


@dataclass(slots=True, eq=False)
class ServiceState:
    spec: LocalService
    hours: Hours
    skills: frozenset[str] | None = None  # the skills whose calls it takes (None: every skill)
    load: int = 0  # overflowed calls it holds now (until their call.ended)
    taken: int = 0  # overflowed calls it took since start

    @property
    def id(self) -> str:
        return self.spec.id

    def can_take(self, now: float) -> bool:
        return self.load < self.spec.capacity and self.hours.is_open(now)

    def takes(self, skill: str) -> bool:
        return self.skills is None or skill in self.skills


class Overflow:
    def __init__(self, config: Config, calendar: Calendar) -> None:
        self.settings = config.overflow
        self.calendar = calendar
        self.mode = OverflowSwitch(self.settings.mode)
        self.services: dict[str, ServiceState] = {}
        self.by_department: dict[str, ServiceState] = {}
        default, default_skills = config.services.default_hours, config.services.default_skills
        for spec in config.services.local:
            hours = Hours(spec.opening_hours(default), spec.department)
            state = ServiceState(spec, hours, spec.skills_taken(default_skills))
            self.services[spec.id] = state
            self.by_department[spec.department] = state
        self.hot_skills: set[str] = set()  # auto: skills whose live EWT crossed the threshold

    # -- state

    def set_mode(self, mode: str) -> None:
        self.mode = OverflowSwitch(mode)

    def follow(self, line: Line, marked: Iterable[int]) -> None:
        """Hysteresis on the live expected wait (for a new caller without needs) of each skill
        marked (auto mode). Only the side of one threshold matters: a cool skill turns hot once
        its wait reaches `activate_ewt_s`, a hot one cools once it falls below `deactivate_ewt_s`
        (never above `activate_ewt_s`: validated); `Line.skill_wait_reaches` settles it from the
        sum's bounds, mostly. A skill nobody staffs and nobody waits for has no wait to measure:
        a cool one stays cool (0 s), a hot one stays hot (its next caller is told
        `ewt_unstaffed_s`, as the one just sent to her office was: only staffing cools it).
        One loop over the marked skills, the look-ups hoisted: asked after nearly every batch."""
        hot = self.hot_skills
        activate, deactivate = self.settings.activate_ewt_s, self.settings.deactivate_ewt_s
        skills, staffed_by_skill = line.skills, line.staffed_by_skill
        # the line a new caller without needs joins (callers needing an interpreter wait apart)
        waiting_by_skill = line.plain_waiting_by_skill
        reaches = line.skill_wait_reaches
        for i in marked:
            skill = skills[i]
            waiting, staffed = waiting_by_skill[i], staffed_by_skill[i]
            was_hot = skill in hot
            cut = deactivate if was_hot else activate
            if waiting or staffed:
                reached = reaches(skill, waiting + 1, staffed, cut)
            else:  # nothing to measure: a hot skill keeps its side, a cool one too (0 s)
                reached = was_hot or cut <= 0.0
            if reached != was_hot:
                if reached:
                    hot.add(skill)
                else:
                    hot.discard(skill)

    # -- questions

    def active_for(self, skill: str, now: float) -> bool:
        if self.mode is ON:
            return True
        if self.mode is OFF:
            return False
        return skill in self.hot_skills or self._campaign(now) is not None

    def threshold_s(self) -> float:
        return 0.0 if self.mode is ON else self.settings.threshold_s

    def service_for(self, call: Call) -> ServiceState | None:
        """The local service of the call's department, if it has one that takes the call's skill
        and every skill in its needs (a local office has no sign-language interpreter: the shipped
        services leave out `lsf`, whether a call asks for it as its skill or among its needs)."""
        service = self.by_department.get(call.department) if call.department else None
        if service is None or not service.takes(call.skill):
            return None
        if call.needs and not all(service.takes(need) for need in call.needs):
            return None
        return service

    def status(self, now: float) -> dict[str, Any]:
        if self.mode is ON:
            return {"mode": "on", "active": True, "reason": "forced on by the supervisor"}
        if self.mode is OFF:
            return {"mode": "off", "active": False, "reason": "forced off by the supervisor"}
        campaign = self._campaign(now)
        sends = {"sends": sends_whom(self.settings)}
        if campaign is not None:
            return {
                "mode": "auto",
                "active": True,
                "reason": f"campaign: {campaign.name}",
                "campaign": campaign.id,
            } | sends
        if self.hot_skills:
            skills = sorted(self.hot_skills)
            return {
                "mode": "auto",
                "active": True,
                "reason": reason_hot(skills, self.settings.activate_ewt_s, self.settings.deactivate_ewt_s),
                "skills": skills,
            } | sends
        return {
            "mode": "auto",
            "active": False,
            "reason": reason_cool(self.settings.activate_ewt_s),
        } | sends

    def _campaign(self, now: float):
        return self.calendar.campaign(now) if self.settings.during_campaigns else None


def reason_hot(skills: list[str], activate: float, deactivate: float) -> str:
    """Why auto overflow is on: the wait a caller who queues is told (not `GET /v1/queues`' `ewt_s`,
    0 while an agent is idle), and the hysteresis that keeps it on through idle moments."""
    return (
        f"the expected wait of a caller who queues reached {activate:g} s for {', '.join(skills)} "
        f"(on until it falls below {deactivate:g} s)"
    )


def sends_whom(settings: Any) -> str:
    """Auto: which callers an active overflow sends to their offices (`GET /v1/overflow`'s
    `sends`): shipped, every caller over the threshold; with `patience_share`, only those the
    national line would lose, so that active it may send nobody."""
    if settings.patience_share <= 0:
        return f"every caller expected to wait over {settings.threshold_s:g} s"
    return (
        f"a caller expected to wait over {settings.threshold_s:g} s whom the national line would lose: "
        f"a wait over {settings.patience_share:g} times its callers' mean patience, or a line holding "
        f"callers for {settings.saturated_s:g} s with {settings.saturated_hang_ups:g} hang-ups expected "
        "ahead of it"
    )


def reason_cool(activate: float) -> str:
    return f"no campaign, and no skill's expected wait for a caller who queues has reached {activate:g} s"


class OverflowRules:
    """The engine's side of opening hours and overflow: closed calls, sending a call to its local
    service, the never-stranded rule, the supervisor's switch and the auto hysteresis; over the
    line and the overflow's state."""

    def __init__(self, line: Line, overflow: Overflow) -> None:
        self.line = line
        self.overflow = overflow
        self.calendar = line.calendar

    def close(self, call: Call, now: float) -> ClosedDecision:
        """Outside opening hours or on a public holiday when the call was offered (its
        `offered_at`, as the platform dated it): refused with the next opening after that
        instant, and why."""
        reopens = self.calendar.next_opening(call.offered_at)
        call.status = CallStatus.CLOSED
        decision = ClosedDecision(
            call.id,
            self.calendar.hours.isoformat(reopens) if reopens is not None else None,
            self.calendar.closed_reason(call.offered_at) or "closed",
        )
        self.line._record(call, now, decision.to_wire())
        self.line.observer.decision(call, "closed", now)
        self.line.today.add("closed", call.skill, now, call.offered_at)
        self.line._ended.append(call.id)
        return decision

    # -- overflow to local services

    def target(self, call: Call, ewt: float, now: float) -> ServiceState | None:
        """The local service a call no agent can take now should go to, if any: overflow active
        for its skill, its EWT above the threshold, its department's service open with room and
        taking that skill."""
        overflow = self.overflow
        if not overflow.active_for(call.skill, now):
            # the watch the batch's end runs, now: the call just put in line may turn overflow on
            # for its skill, and for this very caller (the first of a skill nobody staffs)
            self.watch(now)
            if not overflow.active_for(call.skill, now):
                return None
        lost = self._lost_anyway
        if overflow.mode is not ON and (ewt <= overflow.threshold_s() or not lost(call, ewt, now)):
            return None
        service = overflow.service_for(call)
        if service is None or not service.can_take(now):
            return None
        return service

    def _lost_anyway(self, call: Call, ewt: float, now: float) -> bool:
        """Whether the national line would lose this caller, or another in its stead, were it kept:
        only then may the threshold send it to a local service. Sent away, a caller the line would
        answer leaves a place that no other caller takes, and the line, kept short, leaves its
        agents idle later (a 10-agent line at full load with patient callers answered 95 % of them
        under FIFO, 86 % with every caller over 60 s sent away). The line loses it when

        - it is expected to wait over `patience_share` times the mean patience its skill's callers
          show (1 / theta, the abandonment rate of the expected wait; 1.5: a caller 78 % likely
          to give up first), or
        - the line is saturated: it has held callers without a break for `saturated_s`, and the
          callers ahead are expected to give up at least `saturated_hang_ups` times while this one
          waits (theta x callers ahead x expected wait): its place goes to one of them, who would
          otherwise hang up, so the line answers as many.

        No hang-up seen yet (theta 0): nobody is lost. Nobody staffed for the call, or
        `patience_share` 0 (shipped: the contract's rule): the threshold alone decides."""
        settings = self.overflow.settings
        if settings.patience_share <= 0.0:
            return True
        line = self.line
        skill = line.skill_index[call.skill]
        if line.staffed_for(call) <= 0:
            return True
        theta = line.abandonment[call.skill]
        if ewt * theta > settings.patience_share:
            return True
        since = line.service_rate.busy_since(call.skill)
        if since is None or now - since < settings.saturated_s:
            return False
        ahead = line.plain_waiting_by_skill[skill] - (0 if call.needs else 1)
        return theta * ahead * ewt >= settings.saturated_hang_ups

    def send_to_service(
        self, call: Call, service: ServiceState, now: float, commands: list[Command], *, notify: bool
    ) -> OverflowDecision:
        call.status = CallStatus.OVERFLOWED
        call.service_id = service.id
        service.load += 1
        service.taken += 1
        decision = OverflowDecision(call.id, service.id, service.spec.target)
        wire = decision.to_wire()
        self.line._record(call, now, wire)
        if notify:
            commands.append(self.line._command(call, "overflow", wire, now))
        self.line.observer.decision(call, "overflow", now)
        self.line.observer.call_overflowed(call, service.id, service.spec.department)
        self.line.today.add("overflowed", call.skill, now, call.offered_at)
        return decision

    def release(self, call: Call, now: float, commands: list[Command]) -> None:
        """An overflowed call ended: its local service holds one call less. With the supervisor's
        switch on, the place goes to the caller of that service who has waited longest (every
        call no agent can take goes to its service), not to the next one to call."""
        service = self.overflow.services.get(call.service_id or "")
        if service is not None:
            service.load = max(0, service.load - 1)
            if self.overflow.mode is ON and self.line._held is None:  # in a sync: at its end
                self._move_waiting(now, commands, service)

    def fill_services(self, now: float, commands: list[Command]) -> None:
        """After a sync, which may have freed places: with the switch on, they go to the callers
        who have waited longest."""
        if self.overflow.mode is ON:
            self._move_waiting(now, commands)

    def strand(self, call: Call, now: float, commands: list[Command]) -> None:
        """Never stranded: a call that waited `max_wait_s` goes to its local service if it can
        take it (unless overflow is off), otherwise it is offered a callback, once (to a number:
        a withheld caller id is offered none, and waits on)."""
        call.stranded = True
        service = self.overflow.service_for(call)
        if self.overflow.mode is not OFF and service is not None and service.can_take(now):
            self.line._dequeue(call)
            self.send_to_service(call, service, now, commands, notify=True)
            return
        if not diallable(call.caller):
            return
        position = self.line.router.queue_position(call.row)
        offer = {
            "action": "callback_offer",
            "call_id": call.id,
            "why": "max_wait",
            "position": position,
            "ewt_s": round(self.line.expected_wait(call, position), 1),
        }
        self.line._record(call, now, offer)
        commands.append(self.line._command(call, "offer_callback", offer, now))

    def on_mode(self, e: OverflowMode, t: float, now: float, commands: list[Command]) -> OverflowStatus:
        self.overflow.set_mode(e.mode)
        self.line._opening_at = None  # its timer stands no more; switched on, armed again
        if self.overflow.mode is ON:
            self._move_waiting(now, commands)
            self.arm_opening(now)
        return OverflowStatus(**self.overflow.status(now))

    def arm_opening(self, now: float) -> None:
        """Switch on: wake at the next instant after `now` a local service opens (`opened`): the
        callers who waited while it was shut (before its morning, its lunch break) go to it then,
        not only those who call after. `inf` when none opens within the calendar's horizon."""
        at = math.inf
        for service in self.overflow.services.values():
            hours = service.hours
            change = hours.next_change(now)  # open now: its close, and it opens after
            if change is not None and hours.is_open(now):
                change = hours.next_opening(change)
            if change is not None and change < at:
                at = change
        self.line._opening_at = at
        if at != math.inf:
            self.line.timers.set(at, "service_open", "", 0)

    def opened(self, now: float, commands: list[Command]) -> None:
        """A local service opened, the switch on: its callers waiting go to it (oldest first,
        within its capacity); then the next opening is armed."""
        self._move_waiting(now, commands)
        self.arm_opening(now)

    def _move_waiting(self, now: float, commands: list[Command], only: ServiceState | None = None) -> None:
        """The supervisor turned overflow on: every call no agent can take now goes to its local
        service, the callers already waiting as well as those to come. Each waiting inbound call
        (a callback's or an appointment's contact stays for its agent), oldest first, goes to its
        service while that one is open, takes its skill and has room: an `overflow` command.
        `only`: the callers of that service (a place it freed)."""
        line, service_for = self.line, self.overflow.service_for
        moving = [  # each with its service, matched once; sorted after (a freed place: a few calls)
            (call, service)
            for call in line.waiting_calls()
            if call.kind is CallKind.INBOUND
            and call.callback_id is None
            and (service := service_for(call)) is not None
            and (only is None or service is only)
        ]
        moving.sort(key=lambda pair: (pair[0].enqueued_at, pair[0].seq))
        for call, service in moving:
            if service.can_take(now):
                line._dequeue(call)
                self.send_to_service(call, service, now, commands, notify=True)

    def watch(self, now: float) -> None:
        """Auto mode: follow the live expected wait of each skill whose line, staffing or AHT
        moved (`_ewt_dirty`) through the hysteresis (`Overflow.follow`). In other modes the marks
        wait for auto."""
        overflow = self.overflow
        if overflow.mode is not AUTO:
            return
        dirty = self.line._ewt_dirty
        overflow.follow(self.line, dirty)
        dirty.clear()
