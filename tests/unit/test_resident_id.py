from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.resident_id import check_character, make_resident_id, resident_id_problem


def test_published_example_is_valid() -> None:
    # The worked example from GB 11643-1999.
    assert resident_id_problem("11010519491231002X") is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("110105194912310021", "check digit does not match"),
        ("11010519491231002", "must be 18 characters, got 17"),
        ("1101051949123100AX", "must be 17 digits followed by a digit or X"),
    ],
)
def test_invalid_ids_say_why(value: str, problem: str) -> None:
    assert resident_id_problem(value) == problem


@given(
    birth=st.dates(min_value=date(1920, 1, 1), max_value=date(2010, 12, 31)),
    sequence=st.integers(0, 999),
    male=st.booleans(),
)
def test_generated_ids_are_valid_and_encode_sex(birth: date, sequence: int, male: bool) -> None:
    value = make_resident_id("310101", birth, sequence, male)
    assert resident_id_problem(value) is None
    assert value[6:14] == birth.strftime("%Y%m%d")
    assert (int(value[16]) % 2 == 1) == male


FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@pytest.mark.parametrize("digits", [FULLWIDTH, ARABIC_INDIC], ids=["fullwidth", "arabic-indic"])
def test_only_ascii_digits_count_as_digits(digits: dict[int, str]) -> None:
    valid = "11010519491231002X"
    assert resident_id_problem(valid[:17].translate(digits) + "X") == (
        "must be 17 digits followed by a digit or X"
    )
    one_digit = valid[:5] + valid[5].translate(digits) + valid[6:]
    assert resident_id_problem(one_digit) == "must be 17 digits followed by a digit or X"
    ends_in_digit = make_resident_id("110101", date(1950, 3, 7), 13, True)
    last = ends_in_digit[17].translate(digits)
    assert last != ends_in_digit[17]
    assert resident_id_problem(ends_in_digit[:17] + last) == (
        "must be 17 digits followed by a digit or X"
    )
    with pytest.raises(ValueError, match="expected 17 digits"):
        check_character(valid[:17].translate(digits))
    with pytest.raises(ValueError, match="region must be a 6-digit code"):
        make_resident_id("110101".translate(digits), date(1950, 3, 7), 1, True)


def test_lower_case_x_is_the_check_character_x() -> None:
    assert resident_id_problem("11010519491231002x") is None
