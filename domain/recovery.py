"""Recovery: whatever was paid for a month beyond what the facts say it owes is recovered.

A month paid after the death date, during custody, under a review that was refused, held by a
cycle a death closed uncertified, or at a pension since reduced is overpaid by the difference
(a month that may still be owed, held or under review, never is). The first overpayment opens
an ``overpayment_recovery``; every later change to what is overpaid is an
``overpayment_corrected`` carrying the old and new totals, the delta and the months added or
removed, so a correction is explicit and never a silent drop. No parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from domain.money import MonthPosition

RECOVERY_REASONS = {
    "death": "paid_after_death",
    "custody": "paid_during_custody",
    "review_rejected": "review_rejected",
    "held_uncertified": "held_never_certified",
    "not_due": "not_due",
}


def overpaid(positions: Mapping[str, MonthPosition]) -> dict[str, int]:
    """Month -> cents paid beyond what the month owes."""
    return {m: p.overpaid_cents for m, p in positions.items() if p.overpaid_cents}


def recovery(
    positions: Mapping[str, MonthPosition],
    recovered: Mapping[str, int],
    previously: Mapping[str, int],
    opened: bool,
    death_date: date | None,
) -> tuple[str, str, dict[str, Any]]:
    """The decision (kind, reason, details) that takes the recorded recovery from
    ``previously`` to ``recovered``; ``opened`` says whether one was recorded before."""
    causes = [positions[m].why for m in sorted(recovered)]
    if not causes:
        reason = "no_longer_overpaid"
    else:
        reason = RECOVERY_REASONS.get(causes[0] or "", "pension_reduced")
    details: dict[str, Any] = {
        "months": sorted(recovered),
        "total_cents": sum(recovered.values()),
        "by_month": dict(sorted(recovered.items())),
    }
    if death_date is not None:
        details["death_date"] = death_date.isoformat()
    if not opened:
        return "overpayment_recovery", reason, details
    old_total = sum(previously.values())
    details |= {
        "old_cents": old_total,
        "new_cents": details["total_cents"],
        "delta_cents": details["total_cents"] - old_total,
        "old_months": sorted(previously),
        "new_months": sorted(recovered),
        "months_added": sorted(set(recovered) - set(previously)),
        "months_removed": sorted(set(previously) - set(recovered)),
    }
    return "overpayment_corrected", reason, details
