"""Opening hours, public holidays (Alsace-Moselle and overseas included) and the nights clocks change."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from acd.calendar import WEEKDAYS, Calendar, CalendarConfig, Hours, OpeningHours
from acd.config import DEFAULT_SERVICE_HOURS

PARIS = ZoneInfo("Europe/Paris")


def at(text: str, zone: ZoneInfo = PARIS) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=zone).timestamp()


def paris(t: float | None) -> str:
    assert t is not None
    return datetime.fromtimestamp(t, PARIS).isoformat()


@pytest.fixture(scope="module")
def national() -> Calendar:
    return Calendar(CalendarConfig())


def test_open_on_a_working_morning(national):
    assert national.is_open(at("2026-03-02T08:30:00"))  # Monday, opening instant
    assert national.is_open(at("2026-03-02T18:59:59"))


def test_closed_at_19_00_sharp_and_reopens_next_morning(national):
    t = at("2026-03-02T19:00:00")
    assert not national.is_open(t)
    assert paris(national.next_opening(t)) == "2026-03-03T08:30:00+01:00"


def test_closed_before_08_30(national):
    t = at("2026-03-03T08:29:59")
    assert not national.is_open(t)
    assert paris(national.next_opening(t)) == "2026-03-03T08:30:00+01:00"


def test_sunday_reopens_monday(national):
    t = at("2026-03-08T11:00:00")
    assert not national.is_open(t)
    assert paris(national.next_opening(t)) == "2026-03-09T08:30:00+01:00"


def test_friday_evening_reopens_monday(national):
    assert paris(national.next_opening(at("2026-03-06T19:30:00"))) == "2026-03-09T08:30:00+01:00"


def test_christmas_is_closed_and_reopens_after_the_weekend(national):
    t = at("2026-12-25T10:00:00")  # a Friday
    assert not national.is_open(t)
    assert paris(national.next_opening(t)) == "2026-12-28T08:30:00+01:00"


def test_ascension_thursday_is_closed(national):
    t = at("2026-05-14T10:00:00")
    assert not national.is_open(t)
    assert national.hours.holiday(datetime(2026, 5, 14).date()) is not None
    assert paris(national.next_opening(t)) == "2026-05-15T08:30:00+02:00"


def test_easter_monday_and_whit_monday_are_closed(national):
    assert not national.is_open(at("2026-04-06T10:00:00"))
    assert not national.is_open(at("2026-05-25T10:00:00"))


def test_good_friday_is_a_working_day_for_the_national_line(national):
    assert national.is_open(at("2026-04-03T10:00:00"))


def test_alsace_moselle_closes_on_good_friday_and_26_december():
    strasbourg = Hours(OpeningHours(), "67")
    metz = Hours(OpeningHours(), "57")
    lille = Hours(OpeningHours(), "59")
    good_friday = at("2026-04-03T10:00:00")
    st_stephen = at("2028-12-26T10:00:00")  # a Tuesday
    assert not strasbourg.is_open(good_friday) and not strasbourg.is_open(st_stephen)
    assert not metz.is_open(good_friday) and not metz.is_open(st_stephen)
    assert lille.is_open(good_friday) and lille.is_open(st_stephen)
    assert strasbourg.holiday(datetime(2028, 12, 26).date()) is not None


def test_overseas_services_keep_their_own_holidays_and_time_zone():
    guadeloupe_zone = ZoneInfo("America/Guadeloupe")
    spec = DEFAULT_SERVICE_HOURS.model_copy(update={"timezone": "America/Guadeloupe"})
    guadeloupe = Hours(spec, "971")
    assert guadeloupe.is_open(at("2026-03-02T10:00:00", guadeloupe_zone))  # 15:00 in Paris
    assert not guadeloupe.is_open(at("2026-05-27T10:00:00", guadeloupe_zone))  # abolition of slavery


def test_exceptional_day_closes_early(national):
    configured = Calendar(
        CalendarConfig(hours=OpeningHours(exceptions={datetime(2026, 12, 24).date(): ["08:30-16:00"]}))
    )
    t = at("2026-12-24T16:30:00")
    assert national.is_open(t)
    assert not configured.is_open(t)
    assert paris(configured.next_opening(t)) == "2026-12-28T08:30:00+01:00"  # 25th holiday, then weekend


def test_an_exceptional_day_opens_a_public_holiday_it_names():
    """Whit Monday is the solidarity day many administrations work: a deployment that opens it
    writes it in `exceptions`. The holiday list won over the dated exception, silently: the line
    stayed closed that day and its calls were answered `closed` (reason: the holiday)."""
    whit_monday = datetime(2027, 5, 17).date()
    configured = Calendar(CalendarConfig(hours=OpeningHours(exceptions={whit_monday: ["08:30-19:00"]})))
    t = at("2027-05-17T10:00:00")
    assert not Calendar(CalendarConfig()).is_open(t)  # the holiday, without the exception
    assert configured.is_open(t) and configured.closed_reason(t) is None
    assert paris(configured.next_opening(at("2027-05-14T19:00:00"))) == "2027-05-17T08:30:00+02:00"
    assert configured.closed_reason(at("2027-05-17T19:30:00")).startswith("exceptional hours on 2027-05-17")


def test_a_national_exception_does_not_open_a_department_s_own_holiday():
    """The exceptions are the national line's: one giving 26 December special hours leaves the
    Alsace-Moselle sites closed on their own holiday; a holiday closed by an empty exception is
    still said to be the holiday."""
    st_stephen = datetime(2028, 12, 26).date()  # a Tuesday
    spec = OpeningHours(exceptions={st_stephen: ["08:30-17:00"]})
    t = at("2028-12-26T10:00:00")
    assert Hours(spec, "59").is_open(t) and not Hours(spec, "67").is_open(t)
    assert Hours(spec, "67").closed_reason(t).startswith("public holiday")
    closed = Hours(OpeningHours(exceptions={datetime(2027, 5, 17).date(): []}))
    assert closed.closed_reason(at("2027-05-17T10:00:00")).startswith("public holiday")


def test_spring_forward_night_next_opening_is_08_30_summer_time(national):
    # Clocks go from 02:00 to 03:00 in the night of Saturday 28 to Sunday 29 March 2026.
    t = at("2026-03-27T19:30:00")
    assert paris(national.next_opening(t)) == "2026-03-30T08:30:00+02:00"
    assert national.next_opening(t) - t == pytest.approx(60 * 3600)  # 61 h on the clock, one lost


def test_fall_back_night_next_opening_is_08_30_winter_time(national):
    # Clocks go from 03:00 back to 02:00 in the night of Saturday 24 to Sunday 25 October 2026.
    t = at("2026-10-23T19:30:00")
    assert paris(national.next_opening(t)) == "2026-10-26T08:30:00+01:00"
    assert national.next_opening(t) - t == pytest.approx(62 * 3600)  # 61 h on the clock, one gained


def test_hours_that_span_the_change_last_what_the_clock_says():
    night = OpeningHours(
        week={d: ["01:00-04:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        public_holidays=False,
    )
    hours = Hours(night)
    [(start, end)] = hours.intervals(datetime(2026, 3, 29).date())
    assert end - start == 2 * 3600  # 02:00-03:00 does not exist that night
    [(start, end)] = hours.intervals(datetime(2026, 10, 25).date())
    assert end - start == 4 * 3600  # 02:00-03:00 happens twice
    assert hours.is_open(at("2026-03-29T03:30:00"))


def test_next_change_alternates_opening_and_closing(national):
    t = at("2026-03-02T07:00:00")
    opening = national.hours.next_change(t)
    closing = national.hours.next_change(opening)
    assert paris(opening) == "2026-03-02T08:30:00+01:00"
    assert paris(closing) == "2026-03-02T19:00:00+01:00"


def test_always_open_ignores_hours_and_holidays():
    calendar = Calendar(CalendarConfig(always_open=True))
    t = at("2026-12-25T03:00:00")
    assert calendar.is_open(t)
    assert calendar.next_opening(t) == t


def test_campaign_is_found_by_local_date(shipped_config):
    calendar = Calendar(shipped_config.calendar)
    assert calendar.campaign(at("2026-05-20T10:00:00")).id == "declaration-2026"
    assert calendar.campaign(at("2026-08-20T10:00:00")).id == "avis-2026"
    assert calendar.campaign(at("2026-03-02T10:00:00")) is None


@pytest.mark.parametrize(
    "week",
    [
        {"mon": ["19:00-08:30"]},
        {"mon": ["8:30-19:00"]},
        {"mon": ["08:30-12:00", "11:00-14:00"]},
        {"lundi": []},
    ],
)
def test_bad_hours_are_refused(week):
    with pytest.raises(ValueError):
        OpeningHours(week=week)


#: 27 March to 8 April 2026: a weekend, the spring DST night (29 March), Good Friday (3 April, a
#: holiday in Alsace-Moselle only), Easter Monday (6 April, national) and ordinary days.
PROPERTY_DAYS = [
    f"2026-{m:02d}-{d:02d}" for m, d in [(3, d) for d in range(27, 32)] + [(4, d) for d in range(1, 9)]
]
EASTER_MONDAY_10H = at("2026-04-06T10:00:00")
DST_NIGHT = at("2026-03-29T01:59:59")


def _instant(day: str, second: float) -> float:
    return at(f"{day}T00:00:00") + second


@given(
    instants=st.lists(
        st.builds(_instant, st.sampled_from(PROPERTY_DAYS), st.floats(0, 86_399.999, allow_nan=False)),
        min_size=1,
    ),
    lunch=st.booleans(),
)
@example(instants=[EASTER_MONDAY_10H, DST_NIGHT, DST_NIGHT + 2.0, at("2026-04-07T08:30:00")], lunch=False)
@example(instants=[at("2026-04-07T12:30:00"), EASTER_MONDAY_10H, at("2026-04-03T09:00:00")], lunch=True)
@settings(max_examples=200, deadline=None)
def test_is_open_answers_as_the_day_intervals_say_whatever_the_order_of_questions(instants, lunch):
    """is_open remembers the stretch it last found; asked in any order, across days, a weekend,
    Easter Monday and the spring DST night, it answers what the day's intervals say."""
    week = {d: ["08:30-12:00", "13:00-19:00"] if lunch else ["08:30-19:00"] for d in WEEKDAYS[:5]}
    week["sat"] = ["22:00-24:00"]
    week["sun"] = ["00:00-03:00"]
    hours = Hours(OpeningHours(week=week))
    for t in instants:
        expected = any(t0 <= t < t1 for t0, t1 in hours.intervals(hours.local_date(t)))
        assert hours.is_open(t) == expected, paris(t)


def test_the_property_test_reaches_the_days_it_names():
    """The strategy above draws from these days, Easter Monday (a national holiday, closed all
    day) and the DST night among them: its examples are not all ordinary days."""
    hours = Hours(OpeningHours(week={d: ["08:30-19:00"] for d in WEEKDAYS[:5]}))
    assert "2026-04-06" in PROPERTY_DAYS and "2026-03-29" in PROPERTY_DAYS
    assert hours.holiday(hours.local_date(EASTER_MONDAY_10H)) is not None
    assert hours.intervals(hours.local_date(EASTER_MONDAY_10H)) == []
    assert not hours.is_open(EASTER_MONDAY_10H)
    assert hours.is_open(at("2026-04-07T10:00:00"))


def test_campaign_answer_follows_the_local_day(shipped_config):
    calendar = Calendar(shipped_config.calendar)
    campaign = shipped_config.calendar.campaigns[0]
    first = datetime.combine(campaign.start, datetime.min.time(), PARIS).timestamp()
    assert calendar.campaign(first - 1.0) is None  # the evening before, then the first instant
    assert calendar.campaign(first) == campaign
    assert calendar.campaign(first - 1.0) is None  # asked again, out of order


@pytest.mark.parametrize(
    "t",
    [
        datetime(9999, 12, 31, 23, 0, tzinfo=ZoneInfo("UTC")).timestamp(),  # the not_before
        datetime(1, 1, 1, 12, 0, tzinfo=ZoneInfo("UTC")).timestamp(),
        1e300,
        -1e300,
        float("inf"),
        float("-inf"),
        float("nan"),
    ],
)
def test_calendar_arithmetic_on_any_instant_never_raises(t):
    """Dates near year 9999 made `next_opening` raise OverflowError (a 500): outside the range it
    reasons about (2000-2200) the calendar is closed and never opens, and says so."""
    hours = Hours(OpeningHours(exceptions={"2026-12-24": ["08:30-12:00"]}))
    calendar = Calendar(CalendarConfig())
    assert hours.is_open(t) is False
    assert hours.next_opening(t) is None and calendar.next_opening(t) is None
    assert hours.next_change(t) is None
    assert hours.closed_reason(t) == "outside the calendar's range of dates"
    assert isinstance(hours.isoformat(t), str)
    assert calendar.campaign(t) is None


def test_the_last_and_first_days_datetime_holds_have_no_hours():
    from datetime import date

    hours = Hours(OpeningHours(week={d: ["00:00-24:00"] for d in WEEKDAYS}))
    assert hours.intervals(date.max) == [] and hours.intervals(date.min) == []


@pytest.mark.parametrize(
    ("when", "reason"),
    [
        ("2026-03-02T20:00:00", "outside opening hours: Monday to Friday 08:30-19:00 (Europe/Paris)"),
        ("2026-03-07T10:00:00", "outside opening hours: Monday to Friday 08:30-19:00 (Europe/Paris)"),
        ("2026-12-25T10:00:00", "public holiday: Noël"),
        ("2026-12-24T15:00:00", "exceptional hours on 2026-12-24: 08:30-12:00 (Europe/Paris)"),
        ("2026-12-31T10:00:00", "closed on 2026-12-31 (exceptional closure)"),
        ("2026-03-02T10:00:00", None),
    ],
)
def test_closed_reason_says_why_the_line_is_closed(when, reason):
    hours = Hours(OpeningHours(exceptions={"2026-12-24": ["08:30-12:00"], "2026-12-31": []}))
    assert hours.closed_reason(datetime.fromisoformat(when).replace(tzinfo=PARIS).timestamp()) == reason


def test_describe_groups_days_with_the_same_hours():
    week = {"mon": ["08:30-12:00", "13:00-19:00"], "tue": ["08:30-19:00"], "wed": ["08:30-19:00"]}
    week |= {"sat": ["09:00-24:00"]}
    assert Hours(OpeningHours(week=week)).describe() == (
        "Monday 08:30-12:00, 13:00-19:00; Tuesday to Wednesday 08:30-19:00;"
        " Saturday 09:00-24:00 (Europe/Paris)"
    )


@pytest.mark.parametrize(
    ("day", "name"),
    [
        ("2027-01-01", "Jour de l'an"),
        ("2027-03-29", "Lundi de Pâques"),
        ("2027-05-06", "Ascension"),
        ("2027-05-17", "Lundi de Pentecôte"),
        ("2027-11-11", "Armistice"),
    ],
)
def test_the_shipped_line_closes_on_2027_s_public_holidays(shipped_config, day, name):
    """Holidays are computed (the `holidays` library), not listed by hand: 2027 needs no edit."""
    calendar = Calendar(shipped_config.calendar)
    assert not calendar.is_open(at(f"{day}T10:00:00"))
    assert calendar.closed_reason(at(f"{day}T10:00:00")) == f"public holiday: {name}"


@pytest.mark.parametrize("year", [2026, 2027])
def test_the_shipped_line_keeps_the_contract_s_hours_on_christmas_and_new_year_s_eves(shipped_config, year):
    """The contract's shipped calendar: open 08:30-19:00 every working day, closed on public
    holidays. An early close is a deployment's dated exception (config/calendar.yaml shows how),
    not the shipped product: shipped, it answered `closed` to callers the contract says are
    served (the 2026 and 2027 Eves closed at 16:00)."""
    calendar = Calendar(shipped_config.calendar)
    for day in (f"{year}-12-24", f"{year}-12-31"):  # weekdays both years
        assert calendar.is_open(at(f"{day}T18:59:00")), day
        assert not calendar.is_open(at(f"{day}T19:00:00")), day


def test_the_first_hours_of_2000_have_a_next_opening(national):
    """An instant the API takes (the year 2000 in its own offset) that is 1999 in UTC: closed,
    with its next opening said (before, `reopens_at` null and a callback due at once: the
    calendar's range began at 2000-01-01 UTC; /work/notes/audit-time.md, D1)."""
    t = datetime.fromisoformat("2000-01-01T00:30:00+01:00").timestamp()
    assert not national.is_open(t)
    assert paris(national.next_opening(t)) == "2000-01-03T08:30:00+01:00"  # after New Year's Day
