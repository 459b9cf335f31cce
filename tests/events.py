"""Builders for life-event messages as other agencies would send them."""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import date
from pathlib import Path
from typing import Any

from domain.resident_id import make_resident_id

_ids = itertools.count(1)


def envelope(
    kind: str, person_id: str, on: str, data: dict[str, Any], event_id: str | None = None
) -> dict[str, Any]:
    return {
        "event_id": event_id or f"evt-{next(_ids):06d}",
        "type": kind,
        "person_id": person_id,
        "occurred_on": on,
        "source": "test-agency",
        "data": data,
    }


def person_registered(
    person_id: str,
    on: str = "2026-01-01",
    pension_cents: int = 350_000,
    birth_date: str = "1955-12-12",
    bank_account: str | None = "own",
    bank_region: str = "110101",
    region: str = "110101",
    name: str = "李明",
    **kw: Any,
) -> dict[str, Any]:
    birth = date.fromisoformat(birth_date)
    data = {
        "national_id": make_resident_id(region, birth, sum(map(ord, person_id)) % 1000, True),
        "name": name,
        "birth_date": birth.isoformat(),
        "sex": "M",
        "region": region,
        "monthly_pension_cents": pension_cents,
    }
    if bank_account == "own":  # everyone their own account unless a test says otherwise
        digest = int(hashlib.sha256(person_id.encode()).hexdigest(), 16)
        bank_account = f"6222{digest % 10**12:012d}"
    if bank_account:
        data |= {"bank_account": bank_account, "bank_region": bank_region}
    return envelope("person_registered", person_id, on, data, kw.get("event_id"))


def death_registered(person_id: str, on: str, death_date: str, **kw: Any) -> dict[str, Any]:
    return envelope(
        "death_registered", person_id, on, {"death_date": death_date}, kw.get("event_id")
    )


def custody_started(person_id: str, on: str, case_ref: str = "CASE-1", **kw: Any) -> dict[str, Any]:
    return envelope("custody_started", person_id, on, {"case_ref": case_ref}, kw.get("event_id"))


def custody_ended(person_id: str, on: str, case_ref: str = "CASE-1", **kw: Any) -> dict[str, Any]:
    return envelope("custody_ended", person_id, on, {"case_ref": case_ref}, kw.get("event_id"))


def write_jsonl(path: Path, events: list[dict[str, Any] | str], mode: str = "w") -> Path:
    with path.open(mode, encoding="utf-8") as handle:
        for event in events:
            line = event if isinstance(event, str) else json.dumps(event, ensure_ascii=False)
            handle.write(line + "\n")
    return path


def life_evidence(
    person_id: str, on: str, kind: str = "hospital_visit", **kw: Any
) -> dict[str, Any]:
    return envelope("life_evidence", person_id, on, {"kind": kind}, kw.get("event_id"))


def liveness_verified(person_id: str, on: str, channel: str = "app", **kw: Any) -> dict[str, Any]:
    return envelope("liveness_verified", person_id, on, {"channel": channel}, kw.get("event_id"))


def retirement_eligible(
    person_id: str, on: str, contribution_months: int = 360, **data: Any
) -> dict[str, Any]:
    """Eligibility with round figures: (800,000 + 600,000) / 2 a month of basic per year at the
    accrual rate, plus 12,345,600 of personal account over the divisor for age 60 (139)."""
    return envelope(
        "retirement_eligible",
        person_id,
        on,
        {
            "scheme": "enterprise_employee",
            "contribution_months": contribution_months,
            "indexed_wage_cents": 600_000,
            "regional_average_wage_cents": 800_000,
            "personal_account_cents": 12_345_600,
            "retirement_age": 60,
        }
        | data,
    )
