"""Fund-flow checks: a payment the facts call for is checked before it is instructed.

- **red**: an amount above ``payment.red_ceiling_multiple`` times the established pension (the
  last monthly pension actually paid, else the awarded one) is held for review;
- **yellow**: a payment into an account with more than one living holder is held for review;
- **blue**: the first payment to an account in another region than the person's registered one
  is paid and noted.

A payment a reviewer approved is not checked again. A held payment's alert is ``open`` until
reviewed (``approved`` / ``rejected``), or ``withdrawn`` if the month is no longer owed.
Parameters: ``payment.red_ceiling_multiple`` (in force on the payment month's first day).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from domain.money import Block, MonthPosition
from domain.policy import PaymentRules

OTHER_REGION = "first_payment_to_account_in_other_region"


@dataclass(frozen=True)
class ReviewHold:
    """Why a payment is held for review: the reason, its level and the evidence."""

    reason: str
    level: str
    evidence: dict[str, Any]


def review_hold(
    amount_cents: int, baseline_cents: int, account_holders: int, rules: PaymentRules
) -> ReviewHold | None:
    """The red or yellow check a payment fails (red first), or None if it may be paid."""
    ceiling = rules.red_ceiling_multiple * baseline_cents
    if amount_cents > ceiling:
        return ReviewHold("review_amount_above_ceiling", "red", {"ceiling_cents": ceiling})
    if account_holders > 1:
        return ReviewHold(
            "review_account_shared", "yellow", {"living_account_holders": account_holders}
        )
    return None


def other_region(first_to_account: bool, bank_region: str, registered: str | None) -> bool:
    """The blue check: a first payment to an account outside the person's registered region."""
    return first_to_account and bank_region != registered


def alerts(
    review_blocks: Iterable[Block],
    review_state: Callable[[str], str | None],
    positions: Mapping[str, MonthPosition],
    blue: Iterable[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Every fund-flow alert with its status: reviews first (oldest first), then blue notes."""
    shown = []
    for block in review_blocks:
        state = review_state(block.month)
        position = positions.get(block.month)
        if state == "pending":
            status = "open" if position is None or position.state != "not_owed" else "withdrawn"
        else:
            status = state or "open"
        shown.append(
            {
                "level": block.level,
                "reason": block.reason,
                "month": block.month,
                "kind": block.kind,
                "amount_cents": block.amount_cents,
                "opened_on": block.on.isoformat() if block.on else None,
                "status": status,
            }
        )
    for alert in blue:
        shown.append(
            {
                "level": "blue",
                "reason": alert.get("reason", OTHER_REGION),
                "month": alert["month"],
                "kind": "pension",
                "status": "noted",
            }
        )
    return shown
