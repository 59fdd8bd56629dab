"""Callers' numbers: the French plan's forms written in E.164, a withheld caller id kept as
given and never called back (acd/phone.py)."""

from __future__ import annotations

import pytest

from acd.phone import diallable, normalize


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
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
    ],
)
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
