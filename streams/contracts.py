"""The life-event wire contract (version 1): one JSON object per message, validated with pydantic.

``decode`` never raises: it returns either a valid ``LifeEvent`` or a ``Rejection`` whose reason a
person can read.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    model_validator,
)

from domain.resident_id import resident_id_problem

CONTRACT_VERSION = 1
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.match(value):
        raise ValueError(f"must be a date written YYYY-MM-DD, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"is not a real calendar date: {value!r}") from None


def _resident_id(value: str) -> str:
    problem = resident_id_problem(value)
    if problem:
        raise ValueError(f"is not a valid resident ID: {problem}")
    return value.upper()


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
Text = Annotated[str, Field(min_length=1, max_length=200, strict=True)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


BankAccount = Annotated[str, Field(strict=True, pattern=r"^[0-9A-Za-z]{6,34}$")]
RegionCode = Annotated[str, Field(strict=True, pattern=r"^[0-9]{6}$")]
Cents = Annotated[StrictInt, Field(ge=0)]
Month = Annotated[str, Field(strict=True, pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]


class PersonRegisteredData(_Strict):
    national_id: Annotated[str, Field(strict=True), AfterValidator(_resident_id)]
    name: Text
    birth_date: IsoDate
    sex: Literal["M", "F"]
    region: Text
    monthly_pension_cents: Cents
    bank_account: BankAccount | None = None
    bank_region: RegionCode | None = None

    @model_validator(mode="after")
    def _account_with_region(self) -> PersonRegisteredData:
        if (self.bank_account is None) != (self.bank_region is None):
            raise ValueError("bank_account and bank_region come together or not at all")
        return self


class BankAccountChangedData(_Strict):
    bank_account: BankAccount
    bank_region: RegionCode


class RetirementEligibleData(_Strict):
    scheme: Literal["enterprise_employee"]
    contribution_months: Annotated[StrictInt, Field(ge=0, le=1200)]
    indexed_wage_cents: Cents
    regional_average_wage_cents: Cents
    personal_account_cents: Cents
    retirement_age: Literal[50, 55, 60]


class PaymentDueData(_Strict):
    month: Month
    # Living pensioners paid into the same account (the yellow fund-flow check).
    account_holders: Annotated[StrictInt, Field(ge=0)] = 1


class PaymentReviewedData(_Strict):
    month: Month
    kind: Literal["pension", "arrears"]
    approved: StrictBool


class DeathRegisteredData(_Strict):
    death_date: IsoDate


class CustodyData(_Strict):
    case_ref: Text


class LifeEvidenceData(_Strict):
    kind: Literal[
        "hospital_visit",
        "pharmacy_purchase",
        "transit_tap",
        "bank_counter",
        "utility_payment",
        "community_check",
    ]


class LivenessVerifiedData(_Strict):
    channel: Literal["app", "kiosk", "home_visit"]


class BirthdayMonthStartedData(_Strict):
    year: Annotated[StrictInt, Field(ge=1900, le=2200)]


class CertificationDeadlineData(_Strict):
    cycle_year: Annotated[StrictInt, Field(ge=1900, le=2200)]
    mark: Annotated[StrictInt, Field(ge=1, le=366)]


# The one table from wire type to the shape of its data.
DATA_MODELS: dict[str, type[_Strict]] = {
    "person_registered": PersonRegisteredData,
    "death_registered": DeathRegisteredData,
    "custody_started": CustodyData,
    "custody_ended": CustodyData,
    "life_evidence": LifeEvidenceData,
    "liveness_verified": LivenessVerifiedData,
    "birthday_month_started": BirthdayMonthStartedData,
    "certification_deadline_reached": CertificationDeadlineData,
    "bank_account_changed": BankAccountChangedData,
    "retirement_eligible": RetirementEligibleData,
    "payment_due": PaymentDueData,
    "payment_reviewed": PaymentReviewedData,
}


class Envelope(_Strict):
    event_id: Text
    type: Text
    person_id: Text
    occurred_on: IsoDate
    source: Text
    data: dict[str, Any]
    version: Literal[1] = 1

    @model_validator(mode="after")
    def _known_type(self) -> Envelope:
        if self.type not in DATA_MODELS:
            known = ", ".join(sorted(DATA_MODELS))
            raise ValueError(f"unknown event type {self.type!r} (known: {known})")
        return self


@dataclass(frozen=True)
class LifeEvent:
    """A validated life event, ready for the domain."""

    event_id: str
    type: str
    person_id: str
    occurred_on: date
    source: str
    data: BaseModel


@dataclass(frozen=True)
class Rejection:
    """A message that failed the contract, kept whole with the reason."""

    payload: str
    reason: str
    event_id: str | None = None

    @property
    def fingerprint(self) -> str:
        """Stable identity of the rejected payload, so the same bad message is kept once."""
        return hashlib.sha256(self.payload.encode("utf-8", "replace")).hexdigest()


def _describe(error: ValidationError, prefix: str = "") -> str:
    parts = []
    for e in error.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{prefix}{loc}: {msg}" if loc else f"{prefix}{msg}".rstrip())
    return "; ".join(parts)


def decode(raw: bytes | str) -> LifeEvent | Rejection:
    """Decode and validate one message. Never raises."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        return Rejection(payload=raw.decode("utf-8", "replace"), reason="message is not UTF-8")
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        return Rejection(payload=text, reason=f"message is not valid JSON: {exc}")
    if not isinstance(obj, dict):
        return Rejection(payload=text, reason="message must be a JSON object")
    event_id = obj.get("event_id") if isinstance(obj.get("event_id"), str) else None
    try:
        envelope = Envelope.model_validate(obj)
        data = DATA_MODELS[envelope.type].model_validate(envelope.data)
    except ValidationError as exc:
        prefix = "data." if "envelope" in locals() else ""
        return Rejection(payload=text, reason=_describe(exc, prefix), event_id=event_id)
    problem = _cross_field_problem(envelope, data)
    if problem:
        return Rejection(payload=text, reason=problem, event_id=event_id)
    return LifeEvent(
        event_id=envelope.event_id,
        type=envelope.type,
        person_id=envelope.person_id,
        occurred_on=envelope.occurred_on,
        source=envelope.source,
        data=data,
    )


def _cross_field_problem(envelope: Envelope, data: BaseModel) -> str | None:
    if isinstance(data, DeathRegisteredData) and data.death_date > envelope.occurred_on:
        return "data.death_date: is after the day the death was registered (occurred_on)"
    if isinstance(data, PersonRegisteredData) and data.birth_date > envelope.occurred_on:
        return "data.birth_date: is after occurred_on"
    if isinstance(data, BirthdayMonthStartedData) and (
        envelope.occurred_on.day != 1 or envelope.occurred_on.year != data.year
    ):
        return "occurred_on: a birthday month starts on the first day of a month in data.year"
    if isinstance(data, PaymentDueData) and (
        envelope.occurred_on.day != 1 or envelope.occurred_on.isoformat()[:7] != data.month
    ):
        return "occurred_on: a payment run is dated the first day of data.month"
    return None


def mask_payload(payload: str) -> str:
    """The payload as it may be shown: a bank account number keeps only its last four."""
    try:
        obj = json.loads(payload)
    except (json.JSONDecodeError, RecursionError):
        return re.sub(r"\d{8,}", lambda m: "*" * (len(m.group()) - 4) + m.group()[-4:], payload)
    data = obj.get("data") if isinstance(obj, dict) else None
    if isinstance(data, dict) and isinstance(data.get("bank_account"), str):
        account = data["bank_account"]
        data["bank_account"] = "*" * max(0, len(account) - 4) + account[-4:]
        return json.dumps(obj, ensure_ascii=False)
    return payload
