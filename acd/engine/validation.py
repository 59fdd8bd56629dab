"""A batch under validation: what its events already claimed (calls offered, ids created,
appointment places and callback windows taken), so each event is checked against the state and
the events before it in the same batch; and `fail`, which names the event and the field.

Every event type's check (acd/engine/core.py's `EVENT_TYPES`) takes the engine's state and a
`Batch`. Checks are pure: nothing changes until the whole batch passed.
"""

from __future__ import annotations

from typing import Any, NoReturn

from acd.engine.errors import EngineError, unknown


class Batch:
    __slots__ = ("asked", "event", "index", "new_ids", "now", "offered", "places", "windows")

    def __init__(self, now: float) -> None:
        self.now = now
        self.index = 0
        self.event: Any = None  # the event under check
        self.offered: dict[str, str] = {}  # call ids the batch offers -> their caller ids
        self.new_ids: set[str] = set()  # callback and appointment ids the batch creates
        self.places: dict[tuple, int] = {}  # appointment places the batch takes (+) and frees (-)
        self.windows: dict[float, int] = {}  # callback windows the batch books, by start
        # what the batch asks for each number: (number, skill) -> callback, (number, start) -> appointment
        self.asked: dict[tuple[str, Any], str] = {}

    def fail(self, status: int, code: str, message: str, field: str, **more: Any) -> NoReturn:
        e = self.event
        raise EngineError(
            status, code, message, {"index": self.index, "id": e.id, "type": e.type, "field": field, **more}
        )

    def known_call(self, call_id: str, calls: Any) -> None:
        """The call named is known, or offered earlier in the batch."""
        if call_id not in calls and call_id not in self.offered:
            self.fail(422, "unknown_call", f"unknown call {call_id!r}", "call_id")

    def known_agent(self, agent_id: str, agents: Any, field: str = "agent_id") -> None:
        if agent_id not in agents:
            self.fail(422, "unknown_agent", f"unknown agent {agent_id!r}", field)

    def known(self, what: str, value: str, valid: Any, field: str, code: str | None = None) -> None:
        """`value` must be one of `valid` (a skill, a site): else 422 naming the valid ones."""
        if value not in valid:
            names = [*valid]
            self.fail(422, code or f"unknown_{what}", unknown(what, value, names), field, valid=names)


def check_configured(events: Any, skills: Any, sites: Any) -> None:
    """What a batch names that only `config/` defines, the skills and the sites, checked without
    the engine's state: a batch wrong by them gets its 4xx even while the state is unreachable
    (the store down: every other check needs the state, and a stale one could refuse what the
    leader has). The engine's own checks (`Engine.validate`) make the same ones first."""
    batch = Batch(0.0)
    for index, e in enumerate(events):
        batch.index, batch.event = index, e
        skill = getattr(e, "skill", None)
        if isinstance(skill, str):
            batch.known("skill", skill, skills, "skill")
        for need in getattr(e, "needs", None) or ():
            batch.known("skill", need, skills, "needs")
        for held in getattr(e, "skills", None) or ():
            batch.known("skill", held, skills, "skills")
        site = getattr(e, "site", None)
        if isinstance(site, str):
            batch.known("site", site, sites, "site")
