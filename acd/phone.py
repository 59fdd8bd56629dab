"""Callers' numbers as the platform gives them, and the E.164 form acd dials.

A platform's caller id is whatever its trunk says: `+33612345678`, the national `06 12 34 56 78`,
the international prefix `0033...`, or no number at all: a withheld one (`anonymous`, RFC 3323's
From of a private call, `restricted`, `unknown`), common on a public helpline. A call is taken
whatever its caller id says (refusing it refused the whole batch it came in, and the caller
never reached the line); a number in a form the French numbering plan makes certain is written
in E.164, the form acd dials and matches (one open callback per number): the national ten digits
with the overseas departments' own country codes (0590 and 0690 Guadeloupe, 0594 Guyane, 0596
Martinique, 0262 and 0692 La Réunion, 0269 and 0639 Mayotte; 0508 Saint-Pierre-et-Miquelon's six
digits after +508), `00`
as `+`, `+33 0...` without its 0, separators (spaces, dots, dashes, parentheses) dropped, and a
`sip:` or `tel:` URI read for its user part.
Anything else stays as given, and is no number to call back (`diallable`).

Nor is a number acd must not dial (`refusal`, ARCEP's plan): a French one (+33, and the overseas
departments' +262, +590, +594, +596, +508) of the wrong length, which nobody answers; a
special-rate one, 081x to 089x (up to 3 EUR a minute, paid by the line: a known toll-fraud
vector), or a short one (3BPQ such as 3949, 1X, 118XYZ), special-rate or diallable only inside
France. Free numbers (0800-0805) and the rest of 080, geographic (01-05), mobile (06, 07) and
non-geographic (09) numbers are called back; so are foreign numbers and the collectivities with
their own plans (+681, +687, +689), as given, but for one under 7 digits, no number anywhere.
"""

from __future__ import annotations

import re

E164_PATTERN = r"^\+[1-9][0-9]{1,14}$"
_E164 = re.compile(E164_PATTERN)
#: The separators a number acd dials may be written with: a space (a no-break or a narrow one,
#: pasted from a page or a letter), a tab, . - ( ) /.
_SEP = r"[ \t\u00a0\u202f.()/-]"
#: What a number acd dials may look like as given, before `normalize`: digits and separators
#: with one `+` before the digits, or a sip:, sips: or tel: URI. The API checks it and publishes
#: it (/openapi.json); explicit classes only (no \s), so ECMA-262 and Python read it alike.
NUMBER_PATTERN = (
    rf"^(?:{_SEP}*\+?{_SEP}*[0-9](?:[0-9]|{_SEP})*|[ \t]*(?:[Ss][Ii][Pp][Ss]?|[Tt][Ee][Ll]):[\s\S]+)$"
)
NUMBER = re.compile(NUMBER_PATTERN)
_SEPARATORS = re.compile(r"[\s.\-()/]")
_NATIONAL = re.compile(r"^0[1-9][0-9]{8}$")

#: The national prefixes (after the leading 0) of the overseas departments and collectivities
#: numbered in the French plan, with their country code (ARCEP's plan; the rest is +33).
OVERSEAS_PREFIXES: dict[str, str] = {
    "590": "590",  # Guadeloupe, Saint-Martin, Saint-Barthélemy: fixed
    "690": "590",  # ... mobile
    "691": "590",
    "594": "594",  # Guyane
    "694": "594",
    "596": "596",  # Martinique
    "696": "596",
    "697": "596",
    "262": "262",  # La Réunion
    "263": "262",
    "692": "262",
    "693": "262",
    "269": "262",  # Mayotte
    "639": "262",
}
#: Saint-Pierre-et-Miquelon: 05 08 41 23 45 at home is +508 41 23 45 (its own six-digit plan).
_SPM = "508"


def normalize(raw: str) -> str:
    """The number in E.164 when its form makes it certain, else `raw` as given (stripped). A
    `sip:`, `sips:` or `tel:` URI stands for its user part (`sip:+33612345678@trunk;user=phone`)."""
    if _E164.fullmatch(raw) and not raw.startswith("+330"):
        return raw  # the usual caller id: nothing to write (every call.offered passes here)
    text = raw.strip()
    scheme, colon, rest = text.partition(":")
    if colon and scheme.lower() in ("sip", "sips", "tel"):
        user = normalize(rest.split("@", 1)[0].split(";", 1)[0])
        return user if _E164.match(user) else text
    digits = _SEPARATORS.sub("", text)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if digits.startswith("+330") and len(digits) == 13:  # +33 (0)6 12 34 56 78
        digits = "+33" + digits[4:]
    if _NATIONAL.match(digits):
        national = digits[1:]
        if national.startswith(_SPM):
            digits = f"+{_SPM}{national[3:]}"
        else:
            digits = f"+{OVERSEAS_PREFIXES.get(national[:3], '33')}{national}"
    return digits if _E164.match(digits) else text


#: The national significant number's length in the French plan, by country code.
_FRENCH_LENGTHS = {"33": 9, "262": 9, "590": 9, "594": 9, "596": 9, _SPM: 6}
#: E.164's pattern takes 2 digits after +; the shortest numbers of any country have 7 (Niue's
#: +683 and four digits): fewer is no number anywhere.
MIN_INTERNATIONAL_DIGITS = 7
#: Short numbers (3BPQ, 1X, 11X, 10XY, 118XYZ): special-rate, or diallable only inside France.
_SHORT = re.compile(r"^(?:3[0-9]{3}|1[0-9]|11[0-9]|10[0-9]{2}|11[68][0-9]{3})$")
WRONG_LENGTH, NOT_IN_PLAN, SURCHARGED, SHORT = (
    "number_wrong_length",
    "number_not_in_plan",
    "number_surcharged",
    "number_short",
)
#: Every code `refusal` gives (the API's error codes).
REFUSALS = frozenset({WRONG_LENGTH, NOT_IN_PLAN, SURCHARGED, SHORT})


def refusal(number: str) -> tuple[str, str] | None:
    """Why acd must not dial `number` (as `normalize` writes it) back: `(code, sentence)`, or
    None. A short number is refused as such; anything else not in E.164 is left to the E.164
    check (a withheld caller id, a word)."""
    if not _E164.match(number):
        if _SHORT.fullmatch(_SEPARATORS.sub("", number.strip())):
            return SHORT, f"{number!r} is a short number (such as 3949): special-rate, not one to call back"
        return None
    return _plan_refusal(number)


def _plan_refusal(number: str) -> tuple[str, str] | None:
    """`refusal` of an E.164 number."""
    code = number[1:3] if number[1:3] == "33" else number[1:4] if number[1:4] in _FRENCH_LENGTHS else None
    if code is None and len(number) - 1 < MIN_INTERNATIONAL_DIGITS:
        return WRONG_LENGTH, (
            f"{number} has {len(number) - 1} digit(s) after +; no country's number has fewer than "
            f"{MIN_INTERNATIONAL_DIGITS} (its country code included)"
        )
    if code is None:
        return None  # a foreign number, or a plan of its own: as given
    national, length = number[1 + len(code) :], _FRENCH_LENGTHS[code]
    if code == "33" and _SHORT.fullmatch(national):
        return SHORT, f"{number} is a short number (+33 {national}): special-rate, not one to call back"
    if len(national) != length:
        return WRONG_LENGTH, (
            f"{number} has {len(national)} digit(s) after +{code}; a number there has {length} "
            f"(the national number without its leading 0)"
        )
    if code == "33" and national[0] == "0":
        return NOT_IN_PLAN, f"{number}: no French number begins with 0 after +33 (write +33 6..., or 06...)"
    if code == "33" and national[0] == "8" and national[1] != "0":
        return SURCHARGED, (
            f"{number} is a special-rate number (08{national[1]}x): calling it back would cost the line "
            "its surcharge (in 08, only 080x numbers, free or at a normal rate, are called back)"
        )
    return None


#: The numbers most callers have, which the plan takes (geographic, mobile, 09): checked at once.
_FRENCH_COMMON = re.compile(r"\+33[1-79][0-9]{8}")


def diallable(number: str | None) -> bool:
    """Whether acd may dial it back: an E.164 number (a withheld caller id is not) that the French
    plan does not refuse (`refusal`)."""
    if number is None:
        return False
    return _FRENCH_COMMON.fullmatch(number) is not None or (
        _E164.match(number) is not None and _plan_refusal(number) is None
    )
