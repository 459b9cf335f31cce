"""What a caller sees: the service's response models, and the one place personal data is masked.

The national ID and the name are shown in full only to the person themself, read from the event
store (everyone else sees the ID's last four and the name's first character, as the read model
keeps them); bank accounts are always masked (the read model never holds them in clear). In the
access log a citizen sees the staff subject masked to its last four characters (auditors see it
whole).
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field

from api.auth import Caller
from domain.entitlement import grant_active
from domain.money import mask_account
from domain.pensioner import GoldenRecord, mask_name


class ErrorBody(BaseModel):
    code: str
    message: str


class Error(BaseModel):
    error: ErrorBody


class Health(BaseModel):
    status: Literal["ok"]
    writes: Literal["store", "kafka"]


class Certification(BaseModel):
    status: str
    method: str | None
    certified_on: str | None
    opened_on: str | None
    days_open: int | None
    arrears_months: int


class HistoryEntry(BaseModel):
    decision_id: int | None = None  # its place in the log (`benefits audit proof DECISION_ID`)
    on: str
    decision: str
    reason: str | None
    event_id: str
    rule_version: str
    details: dict[str, Any] = Field(default_factory=dict)


class Person(BaseModel):
    person_id: str
    name: str
    national_id: str
    headline: str
    benefit_status: str
    risk_level: str
    reason: str | None
    monthly_pension_cents: int
    overpayment_cents: int
    arrears_owed_cents: int
    arrears_owed: dict[str, int]
    payments_withheld: dict[str, int]
    payment_alerts: list[dict[str, Any]]
    open_alerts: list[dict[str, Any]]
    certification: Certification
    region: str | None
    bank_account: str | None
    death_date: str | None
    history: list[HistoryEntry]


class Instruction(BaseModel):
    instruction_id: str
    month: str
    kind: str
    amount_cents: int
    on: str
    bank_account: str | None
    bank_region: str


class Payments(BaseModel):
    person_id: str
    instructions: list[Instruction]
    recoveries: list[dict[str, Any]]
    paid_cents: int
    overpayment_cents: int


class Notification(BaseModel):
    template: str
    on: str
    event_id: str
    cycle_year: int | None = None


class ProxyRequest(BaseModel):
    request_id: str
    principal_id: str
    requester_id: str
    relationship: str
    scopes: list[str]
    valid_until: str
    requested_on: str
    status: str = Field(description="pending, granted, expired, rejected, refused, revoked, ended")
    decided_on: str | None
    decided_by: str | None
    reason: str | None
    kinship_proof_score: float


class ProxyList(BaseModel):
    holds: list[ProxyRequest]
    given: list[ProxyRequest]


class ReviewItem(BaseModel):
    item_id: str
    kind: Literal["proxy_request", "payment_review", "evidence_after_death"]
    person_id: str
    region: str | None
    opened_on: str | None
    age_days: int | None
    details: dict[str, Any]


class ReviewOutcome(BaseModel):
    item_id: str
    kind: str
    person_id: str
    approved: bool
    reason: str
    applied: bool


class Pending(BaseModel):
    status: Literal["pending"]
    write_id: str
    status_url: str


class WriteStatus(BaseModel):
    write_id: str
    status: Literal["pending", "applied", "waiting", "rejected"]
    reason: str | None = None
    resource_url: str | None = None


class Summary(BaseModel):
    people: int
    by_status: dict[str, int]
    review_backlog: dict[str, int]


class LivenessResult(BaseModel):
    person_id: str
    accepted: bool
    certification: Certification


class AccessLogEntry(BaseModel):
    at: str = Field(description="When the read was answered (UTC)")
    by: str = Field(description="The staff token's subject; masked but its last four for citizens")
    role: str
    route: str = Field(description="The route template, e.g. /v1/persons/{person_id}/history")
    status: int = Field(description="The HTTP status of the answer")


class AccessRecord(AccessLogEntry):
    person_id: str | None = Field(description="Null if the ID names no registered person")


def mask_national_id(last4: str | None) -> str:
    return "*" * 14 + (last4 or "????")


def mask_subject(subject: str) -> str:
    return mask_account(subject) or ""


def access_log_entry(entry: dict[str, Any], caller: Caller) -> AccessLogEntry:
    by = entry["by"] if caller.role == "auditor" else mask_subject(entry["by"])
    return AccessLogEntry(
        at=entry["at"], by=by, role=entry["role"], route=entry["route"], status=entry["status"]
    )


def person(doc: dict[str, Any], caller: Caller, particulars: GoldenRecord | None) -> Person:
    """The person's record for ``caller``: the national ID and the name in full (``particulars``,
    from the event store) only for the person themself, masked for everyone else."""
    own = particulars if caller.role == "citizen" and caller.sub == doc["person_id"] else None
    return Person(
        person_id=doc["person_id"],
        name=own.name if own else mask_name(doc.get("name") or ""),
        national_id=own.national_id if own else mask_national_id(doc.get("national_id_last4")),
        headline=doc["headline"],
        benefit_status=doc["benefit_status"],
        risk_level=doc["risk_level"],
        reason=doc.get("reason"),
        monthly_pension_cents=doc["monthly_pension_cents"],
        overpayment_cents=doc.get("overpayment_cents", 0),
        arrears_owed_cents=doc.get("arrears_owed_cents", 0),
        arrears_owed=doc.get("arrears_owed", {}),
        payments_withheld=doc.get("payments_withheld", {}),
        payment_alerts=doc.get("payment_alerts", []),
        open_alerts=doc.get("open_reviews", []),
        certification=Certification(**doc["certification"]),
        region=doc.get("region"),
        bank_account=doc.get("bank_account"),
        death_date=doc.get("death_date"),
        history=[HistoryEntry(**entry) for entry in doc["history"]],
    )


def proxy_request(grant: dict[str, Any], today: date) -> ProxyRequest:
    status = grant["status"]
    if status == "granted" and not grant_active(grant, today):
        status = "expired"
    return ProxyRequest(
        request_id=grant["request_id"],
        principal_id=grant["principal_id"],
        requester_id=grant["requester_id"],
        relationship=grant["relationship"],
        scopes=grant["scopes"],
        valid_until=grant["valid_until"],
        requested_on=grant["requested_on"],
        status=status,
        decided_on=grant.get("decided_on"),
        decided_by=grant.get("decided_by"),
        reason=grant.get("reason"),
        kinship_proof_score=grant["kinship_proof"]["score"],
    )


def review_item(item: dict[str, Any], today: date) -> ReviewItem:
    opened = item.get("opened_on")
    age = (today - date.fromisoformat(opened)).days if opened else None
    return ReviewItem(
        item_id=item["item_id"],
        kind=item["kind"],
        person_id=item["person_id"],
        region=item.get("region"),
        opened_on=opened,
        age_days=max(0, age) if age is not None else None,
        details=item.get("details", {}),
    )
