"""Recorded equals derived: the person's status as the facts now call for it, and the explicit
corrections that bring what was recorded into line with it.

After every fact the aggregate compares the status it recorded last with the status derived from
all facts. A difference that none of this step's decisions explains (a late fact changed a
standing, an amount, a set of months, a certification) becomes a correcting decision carrying
the old value, the new value, the delta and the causing ``event_id``. Nothing recorded earlier is
rewritten or dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from domain.entitlement import (
    RISK_ORDER,
    Assessment,
    BenefitStatus,
    Decision,
    Fact,
    RiskLevel,
    Standing,
    fingerprint,
    transition,
)
from domain.money import Instruction, Settlement, mask_account
from domain.policy import policy_in_force

# Decisions that explain a change of the monthly pension from or to none.
PENSION_DECISIONS = frozenset({"activated", "deactivated"})
# The parts of a cycle that are outcomes (the pending deadlines are progress, not outcomes).
CERTIFICATION_OUTCOME = ("year", "status", "method", "certified_on")


def with_alert_risk(standing: Standing, alert_risk: RiskLevel) -> Standing:
    """Open payment reviews raise the risk level: the headline must never read "risk none"."""
    if RISK_ORDER.index(alert_risk) <= RISK_ORDER.index(standing.risk_level):
        return standing
    return Standing(standing.benefit_status, alert_risk, standing.reason or "payment_review")


def summarise(assessment: Assessment, settlement: Settlement) -> dict[str, Any]:
    """The person's status as all facts call for it: what status, history and indexes show."""
    assert assessment.standing is not None
    standing = with_alert_risk(assessment.standing, settlement.alert_risk)
    record = assessment.record
    account = assessment.account
    arrears = settlement.arrears_owed
    return {
        **standing.as_dict(),
        "monthly_pension_cents": assessment.pension_cents,
        "overpayment_cents": sum(settlement.recovered.values()),
        "overpayment_by_month": settlement.recovered,
        "arrears_owed": arrears,
        "arrears_owed_cents": sum(arrears.values()),
        "payments_withheld": settlement.withheld,
        "payment_alerts": settlement.payment_alerts,
        "certification": assessment.cycle.summary() if assessment.cycle else None,
        "death_date": assessment.death_date.isoformat() if assessment.death_date else None,
        "birth_month": int(str(record["birth_date"])[5:7]),
        "region": record["region"],
        "bank_account": mask_account(account[0]) if account else None,
        "bank_region": account[1] if account else None,
        "account_key": fingerprint(account[0]) if account else None,
        "name": record["name"],
        "national_id_last4": str(record["national_id"])[-4:],
        "proxies": [grant.as_dict() for grant in assessment.proxies.values()],
        "open_reviews": open_reviews(assessment, settlement),
    }


def open_reviews(assessment: Assessment, settlement: Settlement) -> list[dict[str, Any]]:
    """What waits for a caseworker about this person: proxy requests whose kinship proof scored
    below the threshold, payments a fund-flow check held, evidence of life after the death."""
    items = [
        {
            "kind": "proxy_request",
            "key": grant.request_id,
            "opened_on": grant.requested_on.isoformat(),
            "details": {
                "requester_id": grant.requester_id,
                "relationship": grant.relationship,
                "scopes": list(grant.scopes),
                "kinship_proof_score": grant.proof_score,
            },
        }
        for grant in assessment.proxies.values()
        if grant.status == "pending"
    ]
    items += [
        {
            "kind": "payment_review",
            "key": f"{alert['kind']}:{alert['month']}",
            "opened_on": alert["opened_on"],
            "details": {k: alert[k] for k in ("level", "reason", "month", "kind", "amount_cents")},
        }
        for alert in settlement.payment_alerts
        if alert["status"] == "open"
    ]
    items += [
        {
            "kind": "evidence_after_death",
            "key": event_id,
            "opened_on": alert["on"],
            "details": {
                "fact": alert["kind"],
                "evidence": alert["evidence"],
                "death_date": alert["death_date"],
            },
        }
        for event_id, alert in assessment.evidence_alerts.items()
    ]
    return items


def standing_of(status: dict[str, Any]) -> Standing:
    return Standing(
        BenefitStatus(status["benefit_status"]), RiskLevel(status["risk_level"]), status["reason"]
    )


def corrections(
    recorded: dict[str, Any] | None,
    derived: dict[str, Any],
    decided: Sequence[Decision],
    instructed: Sequence[Instruction],
    fact: Fact,
    as_of: date,
) -> list[Decision]:
    """The correcting decisions that reconcile ``recorded`` with ``derived`` after ``fact``,
    given this step's own decisions and instructions (which explain some differences). They are
    dated ``as_of``, the latest date the person's facts know."""
    if recorded is None:
        return []
    kinds = {d.kind for d in decided}
    version = policy_in_force(fact.on).version
    out: list[Decision] = []

    def correct(kind: str, reason: str | None, details: dict[str, Any]) -> None:
        out.append(
            Decision(
                f"{kind}:{fact.event_id}", kind, as_of, reason, fact.event_id, version, details
            )
        )

    old, new = standing_of(recorded), standing_of(derived)
    if old != new:
        kind, reason = transition(old, new)
        change = {"old": old.as_dict(), "new": new.as_dict()}
        if kind is not None and kind not in kinds:
            if kind == "held" and derived["certification"]:
                change["cycle_year"] = derived["certification"]["year"]
            correct(kind, reason, change)
        elif kind is None and not decided:
            correct("standing_corrected", new.reason, change)

    old_cents, new_cents = recorded["monthly_pension_cents"], derived["monthly_pension_cents"]
    awarded_now = any(
        d.kind == "awarded" and d.details.get("monthly_pension_cents") == new_cents for d in decided
    )
    if old_cents != new_cents and not awarded_now and not kinds & PENSION_DECISIONS:
        correct(
            "pension_corrected",
            "record_corrected",
            {"old_cents": old_cents, "new_cents": new_cents, "delta_cents": new_cents - old_cents},
        )

    old_death, new_death = recorded.get("death_date"), derived.get("death_date")
    if old_death and new_death and old_death != new_death:
        correct("death_corrected", "death_registration", {"old": old_death, "new": new_death})

    before, after = _outcome(recorded["certification"]), _outcome(derived["certification"])
    if before != after and not _certification_explained(after, decided):
        correct("certification_corrected", "late_fact", {"old": before, "new": after})

    withdrawn = _withdrawn_reviews(recorded, derived, decided)
    if withdrawn:
        correct("review_withdrawn", "no_longer_applies", {"items": withdrawn})

    expected = _arrears_after(recorded["arrears_owed"], decided, instructed)
    if derived["arrears_owed"] != expected:
        old_owed, new_owed = recorded["arrears_owed"], derived["arrears_owed"]
        correct(
            "arrears_owed",
            "entitlement_changed",
            {
                "old_cents": sum(old_owed.values()),
                "new_cents": sum(new_owed.values()),
                "delta_cents": sum(new_owed.values()) - sum(old_owed.values()),
                "old_months": sorted(old_owed),
                "new_months": sorted(new_owed),
                "months_added": sorted(set(new_owed) - set(old_owed)),
                "months_removed": sorted(set(old_owed) - set(new_owed)),
                "by_month": new_owed,
            },
        )
    return out


def _certification_explained(after: dict[str, Any] | None, decided: Sequence[Decision]) -> bool:
    """Whether this step's decisions state the certification's new outcome themselves."""
    for d in decided:
        if d.kind in ("silently_certified", "certified_by_liveness") and after is not None:
            method = "silent" if d.kind == "silently_certified" else "liveness"
            if (after["status"], after["method"], after["certified_on"]) == (
                "certified",
                method,
                d.on.isoformat(),
            ):
                return True
        if d.kind == "cycle_opened" and after is not None and after["status"] == "open":
            return True
        if d.kind == "terminated" and (after is None or after["status"] == "none"):
            return True
    return False


# The decisions that close a review item, by its kind, and where they name the item.
CLOSING = {
    "evidence_reviewed": ("evidence_after_death", lambda d: d.details["evidence_event_id"]),
    "payment_approved": ("payment_review", lambda d: f"{d.details['kind']}:{d.details['month']}"),
    "payment_rejected": ("payment_review", lambda d: f"{d.details['kind']}:{d.details['month']}"),
}
PROXY_DECISIONS = (
    "proxy_granted",
    "proxy_rejected",
    "proxy_revoked",
    "proxy_refused",
    "proxy_ended",
)


def _withdrawn_reviews(
    recorded: dict[str, Any], derived: dict[str, Any], decided: Sequence[Decision]
) -> list[dict[str, Any]]:
    """Review items that were open and no longer are, with no decision of this step closing
    them (a corrected death date withdraws an alert about evidence after it)."""
    closed = set()
    for d in decided:
        if d.kind in CLOSING:
            kind, key = CLOSING[d.kind]
            closed.add((kind, key(d)))
        elif d.kind in PROXY_DECISIONS:
            closed.add(("proxy_request", d.details["request_id"]))
    still_open = {(r["kind"], r["key"]) for r in derived.get("open_reviews", ())}
    return [
        {"kind": r["kind"], "key": r["key"]}
        for r in recorded.get("open_reviews", ())
        if (r["kind"], r["key"]) not in still_open | closed
    ]


def _outcome(certification: dict[str, Any] | None) -> dict[str, Any] | None:
    if certification is None:
        return None
    return {k: certification[k] for k in CERTIFICATION_OUTCOME}


def _arrears_after(
    owed: dict[str, int], decided: Sequence[Decision], instructed: Sequence[Instruction]
) -> dict[str, int]:
    """What is owed after this step if only its own run changed it: months it paid leave, a
    month blocked for want of an account joins, a month sent to review waits."""
    expected = dict(owed)
    for instruction in instructed:
        left = expected.get(instruction.month, 0) - instruction.amount_cents
        if left > 0:
            expected[instruction.month] = left
        else:
            expected.pop(instruction.month, None)
    for decision in decided:
        if decision.kind != "payment_blocked":
            continue
        month = decision.details["month"]
        if decision.reason == "no_account":
            expected[month] = decision.details["amount_cents"]
        elif (decision.reason or "").startswith("review_"):
            expected.pop(month, None)
    return dict(sorted(expected.items()))
