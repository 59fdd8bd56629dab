"""French public holidays from the table acd ships (acd/data/holidays-fr.json).

The table is the `holidays` library's list for France and each subdivision acd uses, over the
years events may name (2000-2099), made by `python -m tools.holidays_table --write` and checked
against the installed library by tests/test_holidays_table.py. Reaching the library's `France`
loads every country's module (about 280): 0.2-0.3 s of every process's start, paid by a
restart's recovery and by each `acd simulate`. Outside the table's years the library itself is
asked (loaded then, once).
"""

from __future__ import annotations

import json
from datetime import date, datetime
from functools import cache
from importlib import resources
from typing import Any


@cache
def _table() -> dict[str, Any]:
    text = resources.files("acd").joinpath("data/holidays-fr.json").read_text(encoding="utf-8")
    return json.loads(text)  # type: ignore[no-any-return]


class Holidays:
    """One subdivision's public holidays (None: the national list): `get(day)` names the holiday
    on a day (None when none), `day in holidays` says whether there is one."""

    def __init__(self, subdiv: str | None) -> None:
        table = _table()
        self.subdiv = subdiv
        self.first, self.last = table["years"]
        days = dict(table["national"])
        if subdiv is not None:
            days.update(table["subdivisions"][subdiv])
        self._days = {date.fromisoformat(day): name for day, name in days.items()}
        self._library: Any = None

    def get(self, day: date, default: str | None = None) -> str | None:
        if isinstance(day, datetime):
            day = day.date()
        if self.first <= day.year <= self.last:
            return self._days.get(day, default)
        return self._outside().get(day, default)  # type: ignore[no-any-return]

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and self.get(day) is not None

    def _outside(self) -> Any:
        if self._library is None:
            import holidays

            self._library = holidays.France(subdiv=self.subdiv, language="fr")
        return self._library
