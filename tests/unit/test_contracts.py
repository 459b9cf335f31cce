"""The wire contract: valid messages decode; malformed ones are rejected with a reason."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.contracts import (
    MAX_ACCOUNT_HOLDERS,
    MAX_BALANCE_CENTS,
    MAX_MESSAGE_BYTES,
    MAX_MONTHLY_CENTS,
    MAX_REASON_CHARS,
    LifeEvent,
    Rejection,
    decode,
    mask_payload,
)
from tests.events import custody_started, death_registered, envelope, person_registered


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


# --- Hostile input: what fuzzing found --------------------------------------------------------


def retirement_eligible(**data: Any) -> dict[str, Any]:
    return envelope(
        "retirement_eligible",
        "P1",
        "2026-01-01",
        {
            "scheme": "enterprise_employee",
            "contribution_months": 360,
            "indexed_wage_cents": 800_000,
            "regional_average_wage_cents": 900_000,
            "personal_account_cents": 12_000_000,
            "retirement_age": 60,
        }
        | data,
    )


def payment_due(**data: Any) -> dict[str, Any]:
    return envelope("payment_due", "P1", "2026-03-01", {"month": "2026-03"} | data)


def payment_reviewed(**data: Any) -> dict[str, Any]:
    base = {"month": "2026-03", "kind": "pension", "approved": True}
    return envelope("payment_reviewed", "P1", "2026-03-05", base | data)


def birthday_month_started(year: Any = 2026) -> dict[str, Any]:
    return envelope("birthday_month_started", "P1", "2026-03-01", {"year": year})


def certification_deadline(**data: Any) -> dict[str, Any]:
    base = {"cycle_year": 2026, "mark": 30}
    return envelope("certification_deadline_reached", "P1", "2026-04-01", base | data)


def with_data(message: dict[str, Any], **data: Any) -> dict[str, Any]:
    return message | {"data": message["data"] | data}


def accepted(message: dict[str, Any] | str | bytes) -> LifeEvent:
    result = decode(message if isinstance(message, str | bytes) else json.dumps(message))
    assert isinstance(result, LifeEvent), result
    return result


def test_version_must_be_exactly_the_json_integer_1() -> None:
    assert accepted(person_registered("P1") | {"version": 1})
    for bad in (True, 1.0, "1", 2, None):
        assert reason_for(person_registered("P1") | {"version": bad}).startswith("version: ")


INTEGER_FIELDS = [
    (person_registered("P1"), "monthly_pension_cents"),
    (retirement_eligible(), "contribution_months"),
    (retirement_eligible(), "indexed_wage_cents"),
    (retirement_eligible(), "regional_average_wage_cents"),
    (retirement_eligible(), "personal_account_cents"),
    (retirement_eligible(), "retirement_age"),
    (payment_due(account_holders=2), "account_holders"),
    (birthday_month_started(), "year"),
    (certification_deadline(), "cycle_year"),
    (certification_deadline(), "mark"),
]


@pytest.mark.parametrize(("message", "field"), INTEGER_FIELDS, ids=[f for _, f in INTEGER_FIELDS])
def test_integer_fields_refuse_floats_booleans_and_strings(
    message: dict[str, Any], field: str
) -> None:
    value = message["data"][field]
    assert accepted(message)
    for bad in (float(value), True, False, str(value)):
        assert reason_for(with_data(message, **{field: bad})).startswith(f"data.{field}: ")


def test_approved_is_a_json_boolean_only() -> None:
    assert accepted(payment_reviewed(approved=False)).data.approved is False
    for bad in (1, 0, "true", None):
        assert reason_for(payment_reviewed(approved=bad)).startswith("data.approved: ")


def test_duplicate_keys_are_rejected_at_any_depth() -> None:
    text = json.dumps(person_registered("P1"))
    assert reason_for(text[:-1] + ', "type": "custody_started"}') == (
        "message has the key 'type' twice in one object"
    )
    inner = text.replace('"sex": "M"', '"sex": "M", "sex": "F"')
    assert reason_for(inner) == "message has the key 'sex' twice in one object"
    deep = '{"a": [{"b": {"c": 1, "c": 1}}]}'
    assert reason_for(deep) == "message has the key 'c' twice in one object"


def test_dates_lie_between_1900_and_2099() -> None:
    assert accepted(death_registered("P1", "2099-12-31", "1900-01-01"))
    for on in ("1899-12-31", "2100-01-01", "0001-01-01", "9999-12-31"):
        assert reason_for(custody_started("P1", on)) == (
            f"occurred_on: must be between 1900-01-01 and 2099-12-31, got '{on}'"
        )
    assert reason_for(death_registered("P1", "2026-01-01", "1899-12-31")).startswith(
        "data.death_date: must be between 1900-01-01 and 2099-12-31"
    )
    assert reason_for(person_registered("P1", birth_date="1899-12-31")).startswith(
        "data.birth_date: must be between 1900-01-01 and 2099-12-31"
    )


def test_years_and_months_lie_between_1900_and_2099() -> None:
    assert accepted(certification_deadline(cycle_year=2099))
    assert accepted(payment_reviewed(month="1900-01"))
    for year in (1899, 2100, 10**30):
        assert reason_for(birthday_month_started(year)).startswith("data.year: ")
        assert reason_for(certification_deadline(cycle_year=year)).startswith("data.cycle_year: ")
    for month in ("1899-12", "2100-01", "0000-01"):
        assert reason_for(payment_reviewed(month=month)) == (
            f"data.month: must be a month between 1900-01 and 2099-12, got '{month}'"
        )
    assert reason_for(payment_reviewed(month="２０２６-03")).startswith(
        "data.month: must be a month written YYYY-MM"
    )


def test_money_and_account_holders_have_documented_upper_bounds() -> None:
    assert accepted(person_registered("P1", pension_cents=MAX_MONTHLY_CENTS))
    for pension in (MAX_MONTHLY_CENTS + 1, 10**30):
        assert reason_for(person_registered("P1", pension_cents=pension)) == (
            "data.monthly_pension_cents: Input should be less than or equal to 1000000000"
        )
    for field in ("indexed_wage_cents", "regional_average_wage_cents"):
        assert accepted(retirement_eligible(**{field: MAX_MONTHLY_CENTS}))
        too_much = retirement_eligible(**{field: MAX_MONTHLY_CENTS + 1})
        assert reason_for(too_much).startswith(f"data.{field}: ")
    assert MAX_BALANCE_CENTS > MAX_MONTHLY_CENTS
    assert accepted(retirement_eligible(personal_account_cents=MAX_BALANCE_CENTS))
    too_much = retirement_eligible(personal_account_cents=MAX_BALANCE_CENTS + 1)
    assert reason_for(too_much).startswith("data.personal_account_cents: ")
    assert accepted(payment_due(account_holders=MAX_ACCOUNT_HOLDERS))
    too_many = payment_due(account_holders=MAX_ACCOUNT_HOLDERS + 1)
    assert reason_for(too_many).startswith("data.account_holders: ")


def test_national_id_digits_must_be_ascii() -> None:
    message = person_registered("P1")
    nid = message["data"]["national_id"]
    fullwidth = nid[:17].translate(str.maketrans("0123456789", "０１２３４５６７８９")) + nid[17]
    assert reason_for(with_data(message, national_id=fullwidth)) == (
        "data.national_id: is not a valid resident ID: must be 17 digits followed by a digit or X"
    )


def test_text_fields_refuse_control_characters() -> None:
    for bad in ("Li\x00Ming", "Li\x1b[2JMing", "Li\nMing"):
        reason = reason_for(with_data(person_registered("P1"), name=bad))
        assert reason == "data.name: must not contain control characters"
    assert reason_for(custody_started("P1", "2026-02-01", case_ref="A\x07")).startswith(
        "data.case_ref: "
    )


def assert_printable(reason: str) -> None:
    reason.encode("utf-8")  # a lone surrogate would raise here, as it did when stored or printed
    assert not any(0xD800 <= ord(c) <= 0xDFFF or ord(c) < 0x20 for c in reason)
    assert 0 < len(reason) <= MAX_REASON_CHARS


def test_a_lone_surrogate_anywhere_is_rejected_with_a_printable_reason() -> None:
    text = json.dumps(person_registered("P1"))
    nid = person_registered("P1")["data"]["national_id"]
    for before, after, where in [
        ('"name": "\\u674e\\u660e"', '"name": "\\ud800"', "data.name: text"),
        ('"source": "test-agency"', '"source": "agency\\udfff"', "source: text"),
        ('"source": "test-agency"', '"source": "agency\\uDA00"', "source: text"),
        ('"sex": "M"', '"sex": "M", "\\ud83d": 1', "data: a key"),
        ('"person_id": "P1"', '"\\udbff": 1', "message: a key"),
        ('"test-agency"', '["\\udc00"]', "source[0]: text"),
    ]:
        assert before in text
        result = decode(text.replace(before, after))
        assert isinstance(result, Rejection)
        assert_printable(result.reason)
        assert result.reason.startswith(f"{where} holds an unpaired UTF-16 surrogate")
        assert nid not in result.reason
    paired = text.replace('"\\u674e\\u660e"', '"\\ud83d\\ude00"')  # an emoji: a valid pair
    assert accepted(paired).data.name == "\U0001f600"


def test_text_holding_a_real_lone_surrogate_is_not_utf8() -> None:
    text = '{"event_id": "e1", "x": "\ud800"}'
    result = decode(text)
    assert isinstance(result, Rejection)
    assert result.reason == "message is not UTF-8"
    assert result.original == text.encode("utf-8", "surrogatepass")
    result.payload.encode("utf-8")


def test_deep_nesting_is_rejected_before_parsing() -> None:
    for text in ("[" * 1000 + "]" * 1000, "[" * 30_000, '{"a":' * 33 + "1" + "}" * 33):
        assert reason_for(text) == "message nests deeper than 32 levels"
    data = {"x": 1}
    for _ in range(40):
        data = {"x": data}
    assert reason_for(custody_started("P1", "2026-02-01") | {"data": data}) == (
        "message nests deeper than 32 levels"
    )
    brackets_in_strings = json.dumps(custody_started("P1", "2026-02-01", case_ref="[" * 150))
    assert accepted(brackets_in_strings)


def test_a_number_python_cannot_read_is_rejected_not_raised() -> None:
    text = json.dumps(person_registered("P1")).replace("350000", "9" * 5000)
    assert reason_for(text) == "message is not valid JSON: a number is too long"


def test_nan_and_infinity_are_not_json() -> None:
    for constant in ("NaN", "Infinity", "-Infinity"):
        text = json.dumps(person_registered("P1")).replace("350000", constant)
        assert reason_for(text) == f"message is not valid JSON: {constant} is not a JSON number"


def test_an_oversized_message_is_rejected_without_parsing() -> None:
    padding = "x" * MAX_MESSAGE_BYTES
    big = json.dumps(custody_started("P1", "2026-02-01") | {"padding": padding})
    size = len(big.encode("utf-8"))
    assert reason_for(big) == f"message is {size} bytes; at most 65536 are accepted"
    assert decode(("[" * 70_000).encode()).reason == (
        "message is 70000 bytes; at most 65536 are accepted"
    )
    wide = "{" + "李" * 30_000 + "}"  # 30,002 characters, 90,002 bytes
    assert reason_for(wide) == "message is 90002 bytes; at most 65536 are accepted"


def test_reasons_are_short_and_never_echo_a_long_value() -> None:
    long_value = "Z" * 5000
    for message in [
        custody_started("P1", "2026-02-01") | {"type": long_value[:200]},
        custody_started("P1", long_value),
        custody_started("P1", "2026-02-01") | {long_value: 1},
        with_data(person_registered("P1"), **{f"extra_{i}": i for i in range(100)}),
        payment_reviewed(month=long_value),
    ]:
        reason = reason_for(message)
        assert_printable(reason)
        assert "Z" * 41 not in reason
    many = reason_for(with_data(person_registered("P1"), **{f"extra_{i}": i for i in range(100)}))
    assert len(many) == MAX_REASON_CHARS and many.endswith("…")
    unknown = reason_for(custody_started("P1", "2026-02-01") | {"type": long_value[:200]})
    assert unknown.startswith("unknown event type 'ZZZZ") and "…" in unknown


def test_a_line_that_is_not_utf8_keeps_its_original_bytes() -> None:
    line = json.dumps(custody_started("P1", "2026-02-01")).encode()
    first, second = line.replace(b"CASE", b"\xffASE"), line.replace(b"CASE", b"\xfeASE")
    one, two = decode(first), decode(second)
    assert isinstance(one, Rejection) and isinstance(two, Rejection)
    assert (one.reason, one.original, two.original) == ("message is not UTF-8", first, second)
    assert one.payload == two.payload and "\ufffdASE" in one.payload
    assert one.fingerprint == hashlib.sha256(first).hexdigest()
    assert one.fingerprint != two.fingerprint  # two different bad lines are both kept
    assert Rejection(payload="x", reason="r").original is None


def test_valid_text_keeps_its_fingerprint() -> None:
    result = decode(b"{oops")
    assert isinstance(result, Rejection) and result.original is None
    assert result.fingerprint == hashlib.sha256(b"{oops").hexdigest()


# --- Masking ----------------------------------------------------------------------------------


def test_masking_keeps_last_four_of_ids_and_accounts_and_first_character_of_names() -> None:
    message = person_registered("P1", bank_account="6222020200112233")
    nid = message["data"]["national_id"]
    masked = json.loads(mask_payload(json.dumps(message, ensure_ascii=False)))
    assert masked["data"]["national_id"] == "*" * 14 + nid[-4:]
    assert masked["data"]["name"] == "李*"
    assert masked["data"]["bank_account"] == "************2233"
    assert masked | {"data": {}} == message | {"data": {}}


def test_masking_works_whatever_the_json_type_and_depth() -> None:
    payload = json.dumps(
        {
            "data": {"national_id": 110101195003070136, "name": ["李", "明"]},
            "people": [{"name": {"given": "明"}, "bank_account": True}],
            "nationalId": 110101195003070136.0,
        },
        ensure_ascii=False,
    )
    masked = mask_payload(payload)
    doc = json.loads(masked)
    assert doc["data"]["national_id"] == "**************0136"
    assert doc["data"]["name"] == "[*********"
    assert doc["people"][0]["name"].startswith("{") and "明" not in masked
    assert doc["people"][0]["bank_account"] == "true"
    assert "110101195003" not in masked


def test_masking_keeps_duplicate_keys_and_masks_each() -> None:
    masked = mask_payload('{"name": "Alice", "name": "Bob", "x": 1}')
    assert masked == '{"name": "A****", "name": "B**", "x": 1}'


def test_masking_leaves_a_payload_without_personal_data_as_it_was() -> None:
    payload = '{"type":"custody_started",  "data": {"case_ref": "CASE-1"}}'
    assert mask_payload(payload) == payload


def test_masking_text_that_is_not_json() -> None:
    line = json.dumps(person_registered("P1", bank_account="6222020200112233"), ensure_ascii=False)
    nid = person_registered("P1")["data"]["national_id"]
    cut = line[: line.index(nid) + 10]  # truncated inside the national ID
    assert nid[:10] not in mask_payload(cut) and mask_payload(cut).endswith('"******' + nid[6:10])
    broken = line.replace("{", "{{", 1)
    masked = mask_payload(broken)
    assert nid not in masked and "李明" not in masked and "6222020200112233" not in masked
    assert '"name": "李*"' in masked and '"bank_account": "************2233"' in masked
    assert mask_payload("id 110101195003070136 tel 13800138000") == (
        "id **************0136 tel *******8000"
    )
    assert mask_payload('{"national_id": 110101195003070136, oops') == (
        '{"national_id": **************0136, oops'
    )


def test_masking_a_json_string_or_number_masks_long_digit_runs() -> None:
    assert mask_payload('"110101195003070136"') == '"**************0136"'
    assert mask_payload("110101195003070136") == "**************0136"


def test_a_national_id_or_account_sent_where_it_does_not_belong_is_masked_too() -> None:
    nid, account = "110101195003070136", "6222020200112233"
    message = envelope(
        "bank_account_changed",
        "P-12345678",
        "2026-01-01",
        {"bank_region": nid, nid: [account, int(account)], "note": f"acct {account}"},
        event_id="evt-00000001",
    )
    masked = mask_payload(json.dumps(message))
    assert nid not in masked and account not in masked
    doc = json.loads(masked)
    assert doc["data"] == {
        "bank_region": "**************0136",
        "**************0136": ["************2233", "************2233"],
        "note": "acct ************2233",
    }
    assert (doc["event_id"], doc["person_id"]) == ("evt-00000001", "P-12345678")


def test_a_reason_quotes_a_national_id_or_account_only_by_its_last_four() -> None:
    nid = "110101195003070136"
    registration = person_registered("P1")
    registration["data"]["birth_date"] = nid
    stray = envelope("custody_started", "P1", "2026-01-01", {"case_ref": "K", nid: 1})
    for message in (registration, stray):
        rejection = decode(json.dumps(message))
        assert isinstance(rejection, Rejection)
        assert nid not in rejection.reason and "**************0136" in rejection.reason


def test_masking_never_raises_on_hostile_payloads() -> None:
    for payload in [
        '{"name": "\\ud800abc", "x": "\ud800"}',
        "[" * 100_000,
        '{"a":' * 5000 + "1" + "}" * 5000,
        '{"name": ' + "9" * 5000 + "}",
        "9" * 1_000_000,
        '{"name": NaN}',
        "",
        '"',
        '{"name": "\\',
    ]:
        masked = mask_payload(payload)
        masked.encode("utf-8")  # printable: no lone surrogate left in the output
    assert mask_payload('{"name": "\ud800bc"}') == '{"name": "\\ud800**"}'


def test_every_life_event_type_has_one_contract_and_one_rule() -> None:
    """One registration per type: its contract model here, its rule (with its same-day order and
    the decisions it can yield) in the rule module that handles it."""
    from domain.entitlement import Replay  # noqa: F401  (imports the rule modules)
    from domain.facts import FACT_TYPES
    from streams.contracts import DATA_MODELS

    assert set(DATA_MODELS) == set(FACT_TYPES)
    orders = [t.order for t in FACT_TYPES.values()]
    assert len(orders) == len(set(orders))  # a strict order within a day
    assert {t.family for t in FACT_TYPES.values()} == {
        "standing",
        "certification",
        "death_evidence",
        "award",
        "proxies",
        "payroll",
    }
