"""The money record: what the aggregate has recorded about payments (instructions, blocks,
reviews, recoveries, alerts) and the shapes a settlement returns. ``domain.payments`` decides
from these. Amounts are integer cents, months ``YYYY-MM``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from domain.entitlement import Decision, RiskLevel


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def first_day(month: str) -> date:
    year, number = month.split("-")
    return date(int(year), int(number), 1)


def mask_account(account: str | None) -> str | None:
    """Account numbers are personal data: only the last four characters are ever shown."""
    if not account:
        return account
    return "*" * max(0, len(account) - 4) + account[-4:]


@dataclass(frozen=True)
class Instruction:
    """One payment instruction: a month's pension, or money owed for a past month (arrears)."""

    key: str  # "pension:2026-03" | "arrears:2026-01:2026-04" (month owed : month of the run)
    kind: str
    month: str
    amount_cents: int
    on: date
    bank_account: str
    bank_region: str


@dataclass(frozen=True)
class Block:
    """A payment a run did not make, and why (a recorded ``payment_blocked`` decision)."""

    kind: str
    month: str
    reason: str
    amount_cents: int
    level: str | None = None
    cycle_year: int | None = None
    on: date | None = None

    @property
    def for_review(self) -> bool:
        return self.reason.startswith("review_")


@dataclass
class MoneyRecord:
    """What the aggregate has recorded about money: history that settlements build on."""

    instructions: dict[str, Instruction] = field(default_factory=dict)
    paid_by_month: dict[str, int] = field(default_factory=dict)
    blocks: dict[str, Block] = field(default_factory=dict)  # "kind:month" -> latest
    review_blocks: list[Block] = field(default_factory=list)
    reviewed: dict[str, str] = field(default_factory=dict)  # "kind:month" -> approved|rejected
    recovered: dict[str, int] = field(default_factory=dict)  # month -> cents, as last set
    recovery_opened: bool = False
    blue_alerts: list[dict[str, Any]] = field(default_factory=list)

    def note_instruction(self, instruction: Instruction) -> None:
        self.instructions[instruction.key] = instruction
        month = instruction.month
        self.paid_by_month[month] = self.paid_by_month.get(month, 0) + instruction.amount_cents

    def note_decision(
        self, kind: str, details: Mapping[str, Any], reason: str | None, on: date
    ) -> None:
        if kind == "payment_blocked":
            block = Block(
                kind=details["kind"],
                month=details["month"],
                reason=reason or "",
                amount_cents=int(details.get("amount_cents", 0)),
                level=details.get("level"),
                cycle_year=details.get("cycle_year"),
                on=on,
            )
            self.blocks[f"{block.kind}:{block.month}"] = block
            if block.for_review:
                self.review_blocks.append(block)
        elif kind in ("payment_approved", "payment_rejected"):
            self.reviewed[f"{details['kind']}:{details['month']}"] = kind.removeprefix("payment_")
        elif kind in ("overpayment_recovery", "overpayment_corrected"):
            self.recovered = {m: int(c) for m, c in details["by_month"].items()}
            self.recovery_opened = True
        elif kind == "payment_alert":
            self.blue_alerts.append(dict(details))

    def to_state(self) -> dict[str, Any]:
        """The record as plain data (for a snapshot)."""
        return {
            "instructions": [vars(i) for i in self.instructions.values()],
            "paid_by_month": dict(self.paid_by_month),
            "blocks": {key: vars(b) for key, b in self.blocks.items()},
            "review_blocks": [vars(b) for b in self.review_blocks],
            "reviewed": dict(self.reviewed),
            "recovered": dict(self.recovered),
            "recovery_opened": self.recovery_opened,
            "blue_alerts": [dict(a) for a in self.blue_alerts],
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> MoneyRecord:
        instructions = [Instruction(**i) for i in state["instructions"]]
        return cls(
            instructions={i.key: i for i in instructions},
            paid_by_month=dict(state["paid_by_month"]),
            blocks={key: Block(**b) for key, b in state["blocks"].items()},
            review_blocks=[Block(**b) for b in state["review_blocks"]],
            reviewed=dict(state["reviewed"]),
            recovered=dict(state["recovered"]),
            recovery_opened=state["recovery_opened"],
            blue_alerts=[dict(a) for a in state["blue_alerts"]],
        )

    def held_months(self) -> dict[int, frozenset[str]]:
        """Months whose pension a certification hold really stopped, by cycle."""
        held: dict[int, set[str]] = {}
        for block in self.blocks.values():
            if block.reason == "held" and block.cycle_year is not None:
                held.setdefault(block.cycle_year, set()).add(block.month)
        return {year: frozenset(months) for year, months in held.items()}

    def established_pension(self) -> int | None:
        """The last monthly pension actually paid (the baseline of the red check)."""
        pensions = [i for i in self.instructions.values() if i.kind == "pension"]
        return max(pensions, key=lambda i: i.month).amount_cents if pensions else None


@dataclass(frozen=True)
class MonthPosition:
    """One run month: what the facts say it owes, what was paid, and why if nothing is owed."""

    month: str
    state: str  # owed | pending_hold | pending_review | not_owed
    entitled_cents: int
    paid_cents: int
    why: str | None = None

    @property
    def due_cents(self) -> int:
        return max(0, self.entitled_cents - self.paid_cents) if self.state == "owed" else 0

    @property
    def overpaid_cents(self) -> int:
        # A month that may still be owed (held, under review) is never recovered.
        cap = 0 if self.state == "not_owed" else self.entitled_cents
        return max(0, self.paid_cents - cap)


@dataclass
class Settlement:
    decisions: list[Decision]
    instructions: list[Instruction]
    positions: dict[str, MonthPosition]
    recovered: dict[str, int]
    payment_alerts: list[dict[str, Any]]
    alert_risk: RiskLevel
    withheld: dict[str, int]

    @property
    def arrears_owed(self) -> dict[str, int]:
        return {m: p.due_cents for m, p in sorted(self.positions.items()) if p.due_cents}
