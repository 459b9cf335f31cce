"""Why a decision was made: the chain from the facts (with their event IDs and dates) through the
rule and the parameter values in force (with their references) to the decision — the counterpart
of OpenFisca's ``/trace``. Pure: it is given the decision, the person's facts and the policy."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from domain.entitlement import Fact
from domain.policy import PolicyBook


@dataclass(frozen=True)
class Rule:
    family: str
    module: str
    statement: str
    parameters: tuple[str, ...] = ()


CERT = "domain/certification.py"
STANDING = "domain/standing.py"
PROXIES = "domain/proxies.py"
PAY = "domain/payments.py"
FLOW = "domain/fundflow.py"
RECOVER = "domain/recovery.py"
MARKS = ("certification.invitation_day", "certification.blue_flag_day", "certification.hold_day")
# Each decision kind, the rule that makes it and the parameters that rule reads.
RULES: dict[str, Rule] = {
    "registered": Rule("standing", STANDING, "A first registration records the person."),
    "activated": Rule("standing", STANDING, "A pension on record (or awarded) makes a person active."),
    "deactivated": Rule("standing", STANDING, "No pension on record: not retired."),
    "suspended": Rule("standing", STANDING, "An open custody case suspends the pension."),
    "reinstated": Rule("standing", STANDING, "The custody case ended: the pension is paid again."),
    "terminated": Rule("standing", STANDING, "A registered death ends the pension; the registration with the latest occurred_on stands."),
    "cycle_opened": Rule("certification", CERT, "A cycle opens on the first day of the birth month for an active or held pensioner."),
    "silently_certified": Rule("certification", CERT, "Life evidence dated no earlier than the look-back before the opening certifies the cycle silently, dated the later of the opening and the evidence.", ("certification.evidence_lookback_days",)),
    "certified_by_liveness": Rule("certification", CERT, "A liveness check certifies an open cycle (a proxy's in-app check at or above the threshold).", ("proxy.liveness_min_score",)),
    "liveness_not_accepted": Rule("certification", CERT, "A proxy's in-app check below the threshold certifies nothing.", ("proxy.liveness_min_score",)),
    "liveness_invited": Rule("certification", CERT, "A cycle still open on the invitation day invites a liveness check.", MARKS[:1]),
    "flagged_blue": Rule("certification", CERT, "A cycle still open on the blue-flag day is flagged blue; payments continue.", MARKS[1:2]),
    "held": Rule("certification", CERT, "A cycle still open on the hold day holds payments (a mark reached in custody takes effect when it ends).", MARKS[2:]),
    "resumed": Rule("certification", CERT, "Certifying a held cycle restores payments; the held months are owed as arrears."),
    "evidence_after_death": Rule("evidence after death", "domain/death_evidence.py", "Evidence dated after the registered death date reactivates no one; a person reviews it."),
    "awarded": Rule("award", "domain/award.py", "With enough contribution months a pension is awarded: basic = (regional average + indexed wage) / 2 x years x accrual; personal = account / divisor by age; rounded half up once.", ("award.minimum_contribution_months", "award.accrual_rate_per_year", "award.account_divisor_age_60", "award.account_divisor_age_55", "award.account_divisor_age_50")),
    "award_refused": Rule("award", "domain/award.py", "Fewer contribution months than the minimum (or a death, or a pension already paid) refuses the award.", ("award.minimum_contribution_months",)),
    "payment_blocked": Rule("payroll", PAY, "A run pays an active person with an account; it holds a payment above the red ceiling or into a shared account for review, and skips the held, the suspended and those without an account.", ("payment.red_ceiling_multiple",)),
    "payment_blocked:held": Rule("payroll", PAY, "A run pays nothing for a month while the person's cycle is held (still uncertified at the hold mark); the month stays owed and is paid as arrears once the cycle is certified."),
    "payment_blocked:suspended": Rule("payroll", PAY, "A run pays nothing for a month of an open custody case."),
    "payment_blocked:no_account": Rule("payroll", PAY, "A run cannot pay a person with no bank account on record; the month stays owed."),
    "payment_blocked:review_amount_above_ceiling": Rule("fund-flow checks", FLOW, "A payment above the red ceiling (a multiple of the established pension) is held for review (red).", ("payment.red_ceiling_multiple",)),
    "payment_blocked:review_account_shared": Rule("fund-flow checks", FLOW, "A payment into an account with more than one living holder is held for review (yellow)."),
    "payment_alert": Rule("fund-flow checks", FLOW, "The first payment to an account in another region than the person's is flagged blue and paid."),
    "payment_approved": Rule("fund-flow checks", FLOW, "A reviewer approved a held payment: the next run pays it as arrears."),
    "payment_rejected": Rule("fund-flow checks", FLOW, "A reviewer refused a held payment: it is not owed; what was paid before stands."),
    "overpayment_recovery": Rule("recovery", RECOVER, "Whatever was paid for a month beyond what it owes (after the death date, in custody, at a lower pension) is recovered."),
    "overpayment_corrected": Rule("recovery", RECOVER, "A later fact changed what is overpaid: the recovery is corrected by the delta."),
    "arrears_owed": Rule("recovery", "domain/reconciliation.py", "What past months owe changed: the next run pays the difference as arrears, dated that run."),
    "pension_corrected": Rule("standing", "domain/reconciliation.py", "The monthly pension on record changed (old, new, delta)."),
    "certification_corrected": Rule("certification", "domain/reconciliation.py", "A late fact changed a cycle's outcome (old, new)."),
    "death_corrected": Rule("standing", "domain/reconciliation.py", "A later death registration moved the death date."),
    "standing_corrected": Rule("standing", "domain/reconciliation.py", "A late fact changed the standing with no other decision to carry it."),
    "review_withdrawn": Rule("standing", "domain/reconciliation.py", "Review items a later fact made moot were withdrawn."),
    "proxy_granted": Rule("proxies", PROXIES, "A kinship proof at or above the threshold is granted at once (else after a caseworker's approval).", ("proxy.auto_grant_score", "proxy.default_validity_days")),
    "proxy_review_requested": Rule("proxies", PROXIES, "A kinship proof below the threshold waits for a caseworker.", ("proxy.auto_grant_score",)),
    "proxy_rejected": Rule("proxies", PROXIES, "A caseworker rejected the request."),
    "proxy_refused": Rule("proxies", PROXIES, "A request for a deceased principal is refused."),
    "proxy_revoked": Rule("proxies", PROXIES, "The principal, the proxy or a caseworker ended the grant."),
    "proxy_ended": Rule("proxies", PROXIES, "The principal's death ends every grant."),
    "evidence_reviewed": Rule("evidence after death", "domain/death_evidence.py", "A caseworker's finding on evidence after a death closes the alert."),
}  # fmt: skip
MASKED = {"national_id": "last4", "name": "first1", "bank_account": "last4"}


def explain(
    number: int,
    decision: Mapping[str, Any],
    facts: Iterable[Fact],
    book: PolicyBook,
    mask: bool = True,
) -> dict[str, Any]:
    """The explanation of the person's decision ``number`` (1 = oldest), from their facts."""
    by_id = {f.event_id: f for f in facts}
    rule = RULES.get(f"{decision['decision']}:{decision.get('reason')}") or RULES.get(
        decision["decision"], Rule("unknown", "", "No rule is registered for it.")
    )
    details = decision.get("details") or {}
    cited = [decision["event_id"], *_event_ids(details)]
    if rule.family == "certification" or details.get("cycle_year"):
        year = details.get("cycle_year") or _year(decision)
        cited += [f.event_id for f in by_id.values() if f.kind == "birthday_month_started"
                  and f.data.get("year") == year]  # fmt: skip
    if decision.get("reason") == "held":  # the marks that held the cycle
        cited += [f.event_id for f in by_id.values() if f.kind == "certification_deadline_reached"
                  and f.data.get("cycle_year") == details.get("cycle_year")]  # fmt: skip
    shown, seen = [], set()
    for event_id in cited:
        fact = by_id.get(event_id)
        if fact is not None and event_id not in seen:
            seen.add(event_id)
            shown.append(_fact(fact, mask))
    version = _version(book, decision["rule_version"], date.fromisoformat(decision["on"]))
    parameters = []
    for name in rule.parameters:
        parameter = book.parameters[name]
        value = parameter.on(version)
        parameters.append(
            {
                "parameter": name,
                "value": _plain(value.value),
                "unit": parameter.unit,
                "since": value.effective.isoformat(),
                "reference": value.reference,
            }
        )
    return {
        "number": number,
        "decision": dict(decision),
        "rule": {"family": rule.family, "where": rule.module, "statement": rule.statement},
        "rule_version": decision["rule_version"],
        "parameters": parameters,
        "facts": sorted(shown, key=lambda f: (f["occurred_on"], f["event_id"])),
    }


def _version(book: PolicyBook, label: str, on: date) -> date:
    """The effective date of the version a decision recorded (else the one in force then)."""
    for version in book.versions:
        if version.version == label:
            return version.effective_from
    return book.in_force(on).effective_from


def _year(decision: Mapping[str, Any]) -> int | None:
    suffix = str(decision.get("key", "")).rsplit(":", 1)[-1]
    return int(suffix) if suffix.isdigit() else int(decision["on"][:4])


def _event_ids(details: Mapping[str, Any]) -> list[str]:
    return [str(v) for k, v in details.items() if k.endswith("event_id") and v]


def _fact(fact: Fact, mask: bool) -> dict[str, Any]:
    data = {k: (_masked(k, v) if mask and k in MASKED else v) for k, v in fact.data.items()}
    return {
        "event_id": fact.event_id,
        "type": fact.kind,
        "occurred_on": fact.on.isoformat(),
        "data": data,
    }


def _masked(key: str, value: Any) -> str:
    text = str(value)
    if MASKED[key] == "first1":
        return text[:1] + "*" * max(0, len(text) - 1)
    return "*" * max(0, len(text) - 4) + text[-4:]


def _plain(value: Any) -> Any:
    from fractions import Fraction

    if isinstance(value, Fraction):
        return f"{float(value):g}"
    return value
