"""The wire contract: valid messages decode; malformed ones are rejected with a reason."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from streams.contracts import LifeEvent, Rejection, decode
from tests.events import custody_started, death_registered, person_registered


def reason_for(message: dict[str, Any] | str) -> str:
    result = decode(message if isinstance(message, str) else json.dumps(message))
    assert isinstance(result, Rejection)
    return result.reason


def test_valid_registration_decodes() -> None:
    result = decode(json.dumps(person_registered("P1")))
    assert isinstance(result, LifeEvent)
    assert result.type == "person_registered"
    assert result.data.monthly_pension_cents == 350_000


def test_unknown_type_is_rejected_not_ignored() -> None:
    message = custody_started("P1", "2026-02-01") | {"type": "marriage_registered"}
    assert "unknown event type 'marriage_registered'" in reason_for(message)


def test_bad_check_digit_is_rejected() -> None:
    message = person_registered("P1")
    nid = message["data"]["national_id"]
    message["data"]["national_id"] = nid[:17] + ("1" if nid[17] != "1" else "2")
    assert (
        reason_for(message)
        == "data.national_id: is not a valid resident ID: check digit does not match"
    )


def test_dates_must_be_iso_calendar_dates() -> None:
    assert "YYYY-MM-DD" in reason_for(custody_started("P1", "2026/02/01"))
    assert "not a real calendar date" in reason_for(custody_started("P1", "2026-02-30"))


def test_pension_must_be_whole_non_negative_cents() -> None:
    for bad in (1.5, -1, "100", True):
        message = person_registered("P1")
        message["data"]["monthly_pension_cents"] = bad
        assert reason_for(message).startswith("data.monthly_pension_cents")


def test_death_cannot_be_after_its_registration() -> None:
    assert "death_date" in reason_for(death_registered("P1", "2026-03-01", "2026-03-02"))


def test_missing_and_extra_fields_are_named() -> None:
    message = death_registered("P1", "2026-03-01", "2026-02-27")
    del message["source"]
    message["surprise"] = 1
    reason = reason_for(message)
    assert "source: Field required" in reason and "surprise" in reason


def test_not_json_and_not_an_object() -> None:
    assert reason_for("{oops").startswith("message is not valid JSON")
    assert reason_for("[1, 2]") == "message must be a JSON object"
    assert decode(b"\xff\xfe").reason == "message is not UTF-8"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    result = decode(raw)
    assert isinstance(result, (LifeEvent, Rejection))
    if isinstance(result, Rejection):
        assert result.reason


@given(
    field=st.sampled_from(["event_id", "type", "person_id", "occurred_on", "source", "data"]),
    value=json_values,
    data_field=st.sampled_from(
        ["national_id", "name", "birth_date", "sex", "region", "monthly_pension_cents"]
    ),
    data_value=json_values,
)
def test_corrupting_any_field_is_rejected_with_a_reason(
    field, value, data_field, data_value
) -> None:
    message = person_registered("P1")
    message[field] = value
    message["data"] = (
        dict(message["data"]) if isinstance(message["data"], dict) else message["data"]
    )
    if isinstance(message["data"], dict):
        message["data"][data_field] = data_value
    result = decode(json.dumps(message))
    if isinstance(result, Rejection):
        assert result.reason and result.payload == json.dumps(message)
    else:  # the corruption happened to be valid: it must then satisfy the contract
        assert result.type == "person_registered" and result.data.monthly_pension_cents >= 0
