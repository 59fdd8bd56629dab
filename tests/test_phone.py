"""Callers' numbers: the French plan's forms written in E.164, a withheld caller id kept as
given and never called back (acd/phone.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acd.phone import _E164, _FRENCH_COMMON, _plan_refusal, diallable, normalize, refusal

#: Each form of a number acd takes, and the E.164 it writes (also checked against the published
#: schema: tests/api/test_openapi_document.py).
CERTAIN_FORMS = [
    ("+33612345678", "+33612345678"),
    ("0612345678", "+33612345678"),
    ("06 12 34 56 78", "+33612345678"),
    ("06.12.34.56.78", "+33612345678"),
    ("06-12-34-56-78", "+33612345678"),
    ("+33 6 12 34 56 78", "+33612345678"),
    ("+33 (0)6 12 34 56 78", "+33612345678"),  # the 0 kept after the country code
    ("+330612345678", "+33612345678"),
    ("0033612345678", "+33612345678"),
    ("01 42 00 00 00", "+33142000000"),
    ("0590 12 34 56", "+590590123456"),  # Guadeloupe
    ("0690 12 34 56", "+590690123456"),
    ("0594 12 34 56", "+594594123456"),  # Guyane
    ("0696 12 34 56", "+596696123456"),  # Martinique
    ("0262 12 34 56", "+262262123456"),  # La Réunion
    ("0692 12 34 56", "+262692123456"),
    ("0269 61 11 11", "+262269611111"),  # Mayotte
    ("0639 61 11 11", "+262639611111"),
    ("05 08 41 23 45", "+508412345"),  # Saint-Pierre-et-Miquelon: its own six digits
    ("0044 20 7946 0000", "+442079460000"),
    ("sip:+33612345678@trunk.example;user=phone", "+33612345678"),
    ("tel:+33-6-12-34-56-78", "+33612345678"),
    ("SIP:0612345678@10.0.0.1", "+33612345678"),
]


@pytest.mark.parametrize(("raw", "e164"), CERTAIN_FORMS)
def test_a_number_in_a_certain_form_is_written_in_e164(raw, e164):
    assert normalize(raw) == e164 and diallable(normalize(raw))


@pytest.mark.parametrize(
    "raw",
    [
        "anonymous",
        "Anonymous",
        "restricted",
        "unknown",
        "",
        "123",
        "06 12",
        "sip:anonymous@anonymous.invalid",
        "sip:",
    ],
)
def test_a_withheld_or_partial_caller_id_is_kept_and_is_no_number(raw):
    assert normalize(raw) == raw.strip() and not diallable(normalize(raw))


def test_none_is_no_number():
    assert not diallable(None)


# -- numbers acd must not dial back (D7): the French plan's lengths and its special-rate ranges


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("+331", "number_wrong_length"),  # one digit after +33: nobody answers it
        ("+3361234567", "number_wrong_length"),  # 8 digits
        ("+336123456789", "number_wrong_length"),  # 10 digits
        ("+33012345678", "number_not_in_plan"),  # 9 digits, but no national number begins with 0
        ("0899123456", "number_surcharged"),  # the premium range (up to 3 EUR a minute)
        ("08 99 12 34 56", "number_surcharged"),
        ("+33899123456", "number_surcharged"),
        ("+33 8 91 12 34 56", "number_surcharged"),
        ("0810123456", "number_surcharged"),  # 081x to 089x: every special-rate number
        ("0821123456", "number_surcharged"),
        ("0825123456", "number_surcharged"),
        ("0836123456", "number_surcharged"),
        ("0844123456", "number_surcharged"),
        ("0863123456", "number_surcharged"),
        ("0870123456", "number_surcharged"),
        ("0884123456", "number_surcharged"),
        ("0033899123456", "number_surcharged"),
        ("3949", "number_short"),  # 3BPQ: special-rate short numbers, diallable only in France
        ("39 49", "number_short"),
        ("+333949", "number_short"),
        ("3646", "number_short"),
        ("118712", "number_short"),  # directory enquiries
        ("15", "number_short"),
        ("112", "number_short"),
        ("+590 5901234", "number_wrong_length"),  # Guadeloupe's numbers are French: 9 digits
        ("+26269212345678", "number_wrong_length"),  # La Réunion
        ("+5084123456", "number_wrong_length"),  # Saint-Pierre-et-Miquelon: six digits
        ("+10", "number_wrong_length"),  # E.164's pattern takes 2 digits; no country's number has under 7
        ("/+10", "number_wrong_length"),
        ("+44 20", "number_wrong_length"),
        ("00 1 555", "number_wrong_length"),
    ],
)
def test_a_number_acd_must_not_dial_back_is_refused_with_its_reason(raw, code):
    why = refusal(normalize(raw))
    assert why is not None and why[0] == code, why
    assert why[1]  # a sentence saying why
    assert not diallable(normalize(raw))


@pytest.mark.parametrize(
    "raw",
    [
        "01 42 00 00 00",  # geographic 01-05
        "05 56 00 00 00",
        "06 12 34 56 78",  # mobile 06 and 07
        "07 12 34 56 78",
        "09 70 12 34 56",  # non-geographic (VoIP boxes)
        "0800 12 34 56",  # free numbers: 0800-0805 (the line pays a normal call)
        "0805 12 34 56",
        "+33805123456",
        "0590 12 34 56",  # overseas departments, written with their own country codes
        "0692 12 34 56",
        "0269 61 11 11",  # Mayotte (+262)
        "05 08 41 23 45",  # Saint-Pierre-et-Miquelon (+508)
        "+262 692 12 34 56",
        "+594 694 12 34 56",
        "+596 696 12 34 56",
        "+508 41 23 45",
        "+681 72 12 34",  # Wallis-et-Futuna, New Caledonia, French Polynesia: their own plans, as today
        "+687 28 12 34",
        "+689 87 12 34 56",
        "+269 77 12 345",  # the Comoros' code (Mayotte's before 2007): a foreign number, as today
        "0044 20 7946 0000",  # foreign numbers: as today
        "+1 212 555 0100",
        "+683 4002",  # Niue: 4 digits after its code, the shortest international numbers (7 digits)
    ],
)
def test_a_number_acd_may_dial_back_is_no_refusal(raw):
    assert refusal(normalize(raw)) is None and diallable(normalize(raw))


@given(st.from_regex(r"\+33[0-9]{7,11}|\+3[0-9]{9,11}|\+[0-9]{8,14}", fullmatch=True))
def test_the_common_french_form_taken_at_once_is_one_the_plan_takes(number: str) -> None:
    """`diallable` takes the common French form (+33, then 1-7 or 9 and eight digits) without the
    plan's rules: each such number must be one those rules take, and any other gets them."""
    by_rules = _E164.match(number) is not None and _plan_refusal(number) is None
    if _FRENCH_COMMON.fullmatch(number):
        assert by_rules
    assert diallable(number) == by_rules
