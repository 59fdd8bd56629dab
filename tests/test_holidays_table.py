"""The French public holidays acd ships (acd/data/holidays-fr.json, acd/holidays_fr.py) are the
`holidays` library's, date by date and name by name, for every subdivision acd uses; outside
the table's years the library itself answers."""

from __future__ import annotations

from datetime import date, datetime

import holidays
import pytest

from acd import holidays_fr
from acd.calendar import HOLIDAY_SUBDIVISION, french_holidays
from acd.events import FIRST_YEAR, LAST_YEAR
from acd.holidays_fr import Holidays
from tools import holidays_table

SUBDIVISIONS = [None, *sorted(set(HOLIDAY_SUBDIVISION.values()))]


def test_the_library_installed_is_the_one_the_table_was_made_from() -> None:
    """pyproject.toml pins `holidays` in the test extra to the table's source: a new pin without
    the table written again fails here first, by name."""
    from importlib.metadata import version

    source = holidays_fr._table()["source"]
    assert source.startswith(f"holidays {version('holidays')},"), source


@pytest.mark.parametrize("subdiv", SUBDIVISIONS, ids=lambda s: s or "national")
def test_the_shipped_table_is_the_library_s_every_day_of_every_year(subdiv: str | None) -> None:
    library = holidays.France(subdiv=subdiv, language="fr", years=range(FIRST_YEAR, LAST_YEAR + 1))
    shipped = Holidays(subdiv)
    day, end = date(FIRST_YEAR, 1, 1), date(LAST_YEAR, 12, 31)
    differ = []
    while day <= end:
        if shipped.get(day) != library.get(day) or (day in shipped) != (day in library):
            differ.append((day, shipped.get(day), library.get(day)))
        day = date.fromordinal(day.toordinal() + 1)
    assert not differ, differ[:10]


def test_the_tool_says_when_the_shipped_table_is_not_the_library_s(tmp_path, monkeypatch, capsys) -> None:
    assert holidays_table.main([]) == 0
    edited = tmp_path / "holidays-fr.json"
    edited.write_text(holidays_table.TABLE.read_text(encoding="utf-8").replace('"Noël"', '"Noel"', 1))
    monkeypatch.setattr(holidays_table, "TABLE", edited)
    assert holidays_table.main([]) == 1
    assert "differs" in capsys.readouterr().out


@pytest.mark.parametrize("year", [1999, LAST_YEAR + 1, 2150])
def test_outside_the_table_s_years_the_library_answers(year: int) -> None:
    shipped, library = Holidays("57"), holidays.France(subdiv="57", language="fr")
    for day in (date(year, 7, 14), date(year, 7, 15), date(year, 12, 25), date(year, 12, 26)):
        assert shipped.get(day) == library.get(day), day
        assert (day in shipped) == (day in library), day
    assert shipped.get(date(1999, 12, 26)) == "Saint-Étienne"  # Moselle's own, from the library


def test_a_day_is_asked_as_a_date_a_datetime_reads_as_its_day() -> None:
    national = french_holidays(None)
    assert national.get(datetime(2026, 12, 25, 10, 0)) == "Noël"
    assert "2026-12-25" not in national  # not a date
    assert national.get(date(2026, 12, 24)) is None
    assert date(2026, 5, 14) in national  # Ascension
    assert date(2026, 4, 3) not in national and date(2026, 4, 3) in french_holidays("6AE")  # Good Friday
