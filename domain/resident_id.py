"""The 18-character resident ID number (GB 11643-1999) and its ISO 7064 MOD 11-2 check digit."""

from __future__ import annotations

from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARACTERS = "10X98765432"


def _ascii_digits(text: str) -> bool:
    # str.isdigit alone also accepts fullwidth ('１') and Arabic-Indic ('١') digits.
    return text.isascii() and text.isdigit()


def check_character(first_17_digits: str) -> str:
    """The check character for the first 17 digits of a resident ID."""
    if len(first_17_digits) != 17 or not _ascii_digits(first_17_digits):
        raise ValueError("expected 17 digits")
    total = sum(int(d) * w for d, w in zip(first_17_digits, _WEIGHTS, strict=True))
    return _CHECK_CHARACTERS[total % 11]


def resident_id_problem(value: str) -> str | None:
    """Why ``value`` is not a valid resident ID, or None when it is."""
    if len(value) != 18:
        return f"must be 18 characters, got {len(value)}"
    body, last = value[:17], value[17]
    if not _ascii_digits(body) or not (_ascii_digits(last) or last in "Xx"):
        return "must be 17 digits followed by a digit or X"
    if check_character(body) != last.upper():
        return "check digit does not match"
    return None


def make_resident_id(region: str, birth_date: date, sequence: int, male: bool) -> str:
    """Compose a valid resident ID; the sequence's last digit is odd for men, even for women."""
    if len(region) != 6 or not _ascii_digits(region):
        raise ValueError("region must be a 6-digit code")
    order = sequence % 1000
    if (order % 2 == 1) != male:
        order = (order + 1) % 1000
    body = f"{region}{birth_date:%Y%m%d}{order:03d}"
    return body + check_character(body)
