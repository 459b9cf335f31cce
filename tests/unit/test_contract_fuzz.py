"""Fuzzing the wire contract: 10,000 mutated messages, none of which may break ``decode``.

Every mutation below is something a faulty or hostile sender can put on the topic. The run is
seeded, so a failure names a line that reproduces it.
"""

from __future__ import annotations

import copy
import json
import random
from datetime import date
from typing import Any

from streams.contracts import (
    EARLIEST_DATE,
    LATEST_DATE,
    MAX_ACCOUNT_HOLDERS,
    MAX_BALANCE_CENTS,
    MAX_MONTHLY_CENTS,
    MAX_REASON_CHARS,
    LifeEvent,
    Rejection,
    decode,
    mask_payload,
)
from tests.events import (
    custody_started,
    death_registered,
    envelope,
    life_evidence,
    liveness_verified,
    person_registered,
)

SEED = 20_260_101
CASES = 10_000

UPPER_BOUNDS = {
    "monthly_pension_cents": MAX_MONTHLY_CENTS,
    "indexed_wage_cents": MAX_MONTHLY_CENTS,
    "regional_average_wage_cents": MAX_MONTHLY_CENTS,
    "personal_account_cents": MAX_BALANCE_CENTS,
    "account_holders": MAX_ACCOUNT_HOLDERS,
    "contribution_months": 1200,
    "year": LATEST_DATE.year,
    "cycle_year": LATEST_DATE.year,
    "mark": 366,
}


def valid_messages() -> list[dict[str, Any]]:
    return [
        person_registered("F1"),
        person_registered("F2", bank_account=None, pension_cents=0),
        death_registered("F1", "2026-05-04", "2026-05-01"),
        custody_started("F1", "2026-02-01"),
        life_evidence("F1", "2026-02-03"),
        liveness_verified("F1", "2026-02-04"),
        envelope("birthday_month_started", "F1", "2026-03-01", {"year": 2026}),
        envelope(
            "certification_deadline_reached", "F1", "2026-04-01", {"cycle_year": 2026, "mark": 30}
        ),
        envelope(
            "bank_account_changed",
            "F1",
            "2026-02-01",
            {"bank_account": "6222020200112233", "bank_region": "110101"},
        ),
        envelope(
            "retirement_eligible",
            "F1",
            "2026-01-01",
            {
                "scheme": "enterprise_employee",
                "contribution_months": 360,
                "indexed_wage_cents": 800_000,
                "regional_average_wage_cents": 900_000,
                "personal_account_cents": 12_000_000,
                "retirement_age": 60,
            },
        ),
        envelope("payment_due", "F1", "2026-03-01", {"month": "2026-03", "account_holders": 2}),
        envelope(
            "payment_reviewed",
            "F1",
            "2026-03-05",
            {"month": "2026-03", "kind": "pension", "approved": True},
        ),
    ]


def hostile_value(rng: random.Random, current: Any) -> Any:
    """A value of another type or shape than ``current``, or a nasty one of the same type."""
    choice = rng.randrange(16)
    if choice == 0:
        return rng.choice([1, -1]) * 10 ** rng.randrange(1, 400)
    if choice == 1:
        return rng.choice([0.0, -0.0, 1.5, 60.0, 1e308, 2026.0, float(rng.randrange(10**6))])
    if choice == 2:
        return rng.choice([True, False])
    if choice == 3:
        return None
    if choice == 4:
        depth = rng.randrange(1, 60)
        value: Any = current
        for _ in range(depth):
            value = [value]
        return value
    if choice == 5:
        return rng.choice('x李\\"[{0') * rng.choice([201, 5000, 70_000])
    if choice == 6:
        return rng.choice(["\ud800", "a\udfff", "\udbff\udbff", "\ud83d"])  # dumped as escapes
    if choice == 7:
        return rng.choice(["\x00", "a\x1bb", "\n", "\u202e", "\ufeff", ""])
    if choice == 8:
        return rng.choice(["1899-12-31", "2100-01-01", "0001-01-01", "9999-12-31", "2026-02-30"])
    if choice == 9:
        return rng.choice(
            ["１９５５-１２-１２", "２０２６-03", "١٩٥٥", "2026-01-01\n", " 2026-01-01"]
        )
    if choice == 10:
        return str(current)
    if choice == 11 and isinstance(current, str) and current.isdigit():
        return int(current)
    if choice == 12:
        return {"nested": current, "name": "李明"}
    if choice == 13 and isinstance(current, int) and not isinstance(current, bool):
        return current + rng.choice([-1, 1, 10**9, 10**11, -(10**6)])
    if choice == 14:
        return rng.choice([1900, 2099, 2100, 1899, 0, -1, 10_001, 1_000_000_001])
    return [current, current]


def mutate_structure(rng: random.Random, message: dict[str, Any]) -> dict[str, Any]:
    message = copy.deepcopy(message)
    data = message.get("data")
    target = data if isinstance(data, dict) and rng.random() < 0.6 else message
    keys = list(target)
    action = rng.randrange(6)
    if action == 0 and keys:
        del target[rng.choice(keys)]
    elif action == 1:
        target[rng.choice(["surprise", "version", "national_id", "x" * 300, "\ud800"])] = 1
    elif action == 2 and keys:
        target.update(rng.choice([{"version": v} for v in (1, True, 1.0, "1", 2)]))
    else:
        key = rng.choice(keys) if keys else "data"
        target[key] = hostile_value(rng, target.get(key))
    return message


def mutate_bytes(rng: random.Random, line: bytes) -> bytes:
    data = bytearray(line)
    action = rng.randrange(9)
    at = rng.randrange(len(data) + 1)
    if action == 0 and data:  # flip a bit
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)
    elif action == 1:  # insert random bytes
        data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4)))
    elif action == 2:  # delete a run
        del data[at : at + rng.randrange(1, 8)]
    elif action == 3:  # truncate
        del data[at:]
    elif action == 4:  # bytes that are not UTF-8
        data[at:at] = rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\x80"])
    elif action == 5:  # a lone surrogate escape wherever it lands
        data[at:at] = rng.choice([b"\\ud800", b"\\udfff", b"\\ud83d"])
    elif action == 6:  # a key twice, at the top or in data
        dup = rng.choice([b'"type": "x", ', b'"national_id": 1, ', b'"month": "2026-03", '])
        anchor = data.find(b'"data": {') + len(b'"data": {') if rng.random() < 0.5 else 1
        data[anchor:anchor] = dup
    elif action == 7:  # deep brackets
        depth = rng.choice([10, 33, 1000, 40_000])
        data[at:at] = b"[" * depth + b"]" * rng.choice([0, depth])
    else:  # NaN, Infinity, huge numbers where a number goes
        data = bytearray(
            bytes(data).replace(
                b"350000", rng.choice([b"NaN", b"Infinity", b"1e999", b"9" * 5000, b"-0"]), 1
            )
        )
    return bytes(data)


def fuzzed_lines(rng: random.Random) -> list[bytes | str]:
    messages = valid_messages()
    lines: list[bytes | str] = []
    for _ in range(CASES):
        message = rng.choice(messages)
        for _ in range(rng.choice([0, 1, 1, 2])):
            message = mutate_structure(rng, message)
        line = json.dumps(message, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
        for _ in range(rng.choice([0, 0, 1, 2, 3])):
            line = mutate_bytes(rng, line)
        # Some callers hand over text; bytes that are not UTF-8 then arrive as lone surrogates.
        lines.append(line.decode("utf-8", "surrogateescape") if rng.random() < 0.1 else line)
    return lines


def assert_within_contract(event: LifeEvent) -> None:
    assert EARLIEST_DATE <= event.occurred_on <= LATEST_DATE
    for text in (event.event_id, event.type, event.person_id, event.source):
        text.encode("utf-8")
    for field, value in event.data:
        if isinstance(value, date):
            assert EARLIEST_DATE <= value <= LATEST_DATE, field
        elif isinstance(value, str):
            value.encode("utf-8")
        elif isinstance(value, int) and not isinstance(value, bool):
            assert type(value) is int, field
            assert 0 <= value <= UPPER_BOUNDS.get(field, 60), field
        if field.endswith("_cents"):
            assert type(value) is int, field


def test_ten_thousand_mutated_messages_never_break_decode() -> None:
    rng = random.Random(SEED)
    outcomes = {"accepted": 0, "rejected": 0}
    for line in fuzzed_lines(rng):
        try:
            result = decode(line)
            if isinstance(result, Rejection):
                outcomes["rejected"] += 1
                assert 0 < len(result.reason) <= MAX_REASON_CHARS
                assert not result.reason.startswith("internal error")
                result.reason.encode("utf-8")
                result.payload.encode("utf-8")
                mask_payload(result.payload).encode("utf-8")
                assert len(result.fingerprint) == 64
            else:
                outcomes["accepted"] += 1
                assert_within_contract(result)
        except Exception as exc:  # name the line that reproduces it
            raise AssertionError(f"{type(exc).__name__} on {line[:300]!r}") from exc
    # The mutations must both keep some messages valid and break most of them.
    assert outcomes["accepted"] > CASES // 20 and outcomes["rejected"] > CASES // 2, outcomes
