"""The call record: one contact's whole story, built from the engine's `Call` when it ends."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

#: Dates in queries are local dates of the national line.
LINE_TZ = ZoneInfo("Europe/Paris")


def line_date(ts: float) -> date:
    """The national line's calendar day of the instant `ts` (unix seconds): the day a record
    counts in, and the day the retention counts back from."""
    return datetime.fromtimestamp(ts, LINE_TZ).date()


#: Hung up within this wait (included): a short abandon, left out of `offered` and counted apart.
SHORT_ABANDON_S = 5.0


def short_abandon(wait_s: float) -> bool:
    """Whether a caller who hung up after `wait_s` of waiting is a short abandon: within
    `SHORT_ABANDON_S`, included, to the millisecond as the records publish waits."""
    return round(wait_s, 3) <= SHORT_ABANDON_S


#: Waits are published to the millisecond (`wait_s`) and compared with the indicators' thresholds
#: as published: a wait is within `x` seconds when it is below `x + WAIT_ROUNDING_S`. Times given with
#: microseconds differ by a few tenths of a microsecond of float noise either side of the second.
WAIT_ROUNDING_S = 0.0005

KINDS = ("call", "callback", "appointment")
OUTCOMES = (
    "answered",
    "abandoned",
    "overflowed",
    "callback",
    "closed",
    "lost",
    "failed",
    "no_show",
    "cancelled",
)

#: The columns of `call_records`, in order (the API's and the export's fields follow it).
COLUMNS = (
    "call_id",
    "kind",
    "skill",
    "department",
    "site",
    "agent_id",
    "priority",
    "needs",
    "offered_at",
    "queued_at",
    "connected_at",
    "answered_at",
    "ended_at",
    "wait_s",
    "outcome",
    "end_reason",
    "callback_id",
    "appointment_id",
    "origin_call_id",
    "overflow_service",
    "survey_score",
    "offered_ts",
    "local_day",
    "local_hour",
)
TIME_COLUMNS = ("offered_at", "queued_at", "connected_at", "answered_at", "ended_at")


@dataclass(slots=True)
class Record:
    call_id: str
    kind: str
    skill: str
    department: str | None
    site: str | None
    agent_id: str | None
    priority: int
    needs: str  # comma-separated extra skills
    offered_at: float
    queued_at: float | None
    connected_at: float | None
    answered_at: float | None
    ended_at: float | None
    wait_s: float | None
    outcome: str
    end_reason: str | None = None
    callback_id: str | None = None
    appointment_id: str | None = None
    origin_call_id: str | None = None
    overflow_service: str | None = None
    survey_score: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.call_id, self.kind

    def row(self) -> dict[str, Any]:
        """The database row: times as aware datetimes, plus the ordering key and local date/hour."""
        out = dict(zip(COLUMNS, self.params(), strict=True))
        for name in TIME_COLUMNS:
            value = out[name]
            out[name] = None if value is None else datetime.fromtimestamp(value, UTC)
        out["local_day"] = out["local_day"].isoformat()
        return out

    def params(self) -> list[Any]:
        """The row's values in `COLUMNS` order, times left as unix seconds and the local day a
        `date` (each backend writes them its way); the fields read one by one, as the writer
        does this for every record."""
        local = datetime.fromtimestamp(self.offered_at, LINE_TZ)
        return [
            self.call_id,
            self.kind,
            self.skill,
            self.department,
            self.site,
            self.agent_id,
            self.priority,
            self.needs,
            self.offered_at,
            self.queued_at,
            self.connected_at,
            self.answered_at,
            self.ended_at,
            self.wait_s,
            self.outcome,
            self.end_reason,
            self.callback_id,
            self.appointment_id,
            self.origin_call_id,
            self.overflow_service,
            self.survey_score,
            self.offered_at,  # offered_ts
            local.date(),  # local_day
            local.hour,  # local_hour
        ]


def wire_time(value: Any) -> str | None:
    """A stored time as RFC 3339 in the line's time zone (datetimes from PostgreSQL, text from SQLite)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(LINE_TZ).isoformat()
