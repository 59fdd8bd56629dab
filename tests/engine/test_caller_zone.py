"""The caller's time zone and holiday calendar (acd/engine/caller_hours.py), from its department
or its number: every overseas prefix, the two Mayotte prefixes within Réunion's +262, and
metropolitan numbers on the line's own zone (None)."""

from __future__ import annotations

import pytest

from acd.engine.caller_hours import caller_subdivision, caller_zone

CASES = [
    # (department, number, zone, holiday subdivision)
    (None, "+262262123456", "Indian/Reunion", "974"),
    (None, "+262692123456", "Indian/Reunion", "974"),
    (None, "+262269601234", "Indian/Mayotte", "976"),
    (None, "+262639001234", "Indian/Mayotte", "976"),
    (None, "+590590123456", "America/Guadeloupe", "971"),
    (None, "+594594123456", "America/Cayenne", "973"),
    (None, "+596596123456", "America/Martinique", "972"),
    (None, "+508411234", "America/Miquelon", None),  # Saint-Pierre-et-Miquelon: national holidays
    ("975", "+33612345678", "America/Miquelon", None),
    (None, "+33612345678", None, None),
    (None, "+32470123456", None, None),  # abroad, not overseas France: the line's zone
    ("59", "+33320123456", None, None),
    ("67", "+33388123456", None, "6AE"),  # Alsace: Paris time, its own holidays
    ("974", "+33612345678", "Indian/Reunion", "974"),  # an overseas department, whatever the number
    # a metropolitan department and an overseas number: rung on the number's clock (where the
    # phone is: never in its night), the department's holidays
    ("75", "+262262123456", "Indian/Reunion", None),
]


@pytest.mark.parametrize(("department", "number", "zone", "subdivision"), CASES)
def test_the_caller_zone_and_holidays_from_department_or_number(
    department: str | None, number: str, zone: str | None, subdivision: str | None
) -> None:
    found = caller_zone(department, number)
    assert (None if found is None else found.key) == zone
    assert caller_subdivision(department, number) == subdivision
