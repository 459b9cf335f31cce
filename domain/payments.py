"""Money: the monthly pension and arrears a person is owed, what has been instructed, and what must
be recovered. Used by the entitlement replay; amounts are integer cents, months ``YYYY-MM``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def first_day(month: str) -> date:
    year, number = month.split("-")
    return date(int(year), int(number), 1)


def month_after(day: date) -> date:
    """The first day of the month after ``day``."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def mask_account(account: str | None) -> str | None:
    """Account numbers are personal data: only the last four characters are ever shown."""
    if not account:
        return account
    return "*" * max(0, len(account) - 4) + account[-4:]


@dataclass(frozen=True)
class Instruction:
    """One payment instruction: a month's pension, or a missed month paid later as arrears."""

    key: str  # "pension:2026-03" | "arrears:2026-01"
    kind: str
    month: str
    amount_cents: int
    on: date
    bank_account: str
    bank_region: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "kind": self.kind,
            "month": self.month,
            "amount_cents": self.amount_cents,
            "on": self.on.isoformat(),
            "bank_account": self.bank_account,
            "bank_region": self.bank_region,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Instruction:
        return cls(
            key=data["key"],
            kind=data["kind"],
            month=data["month"],
            amount_cents=data["amount_cents"],
            on=date.fromisoformat(data["on"]),
            bank_account=data["bank_account"],
            bank_region=data["bank_region"],
        )


@dataclass
class MonthOwed:
    """A month whose pension was not paid on its first day, and why."""

    month: str
    amount_cents: int
    state: str  # pending_hold | owed | pending_review | rejected | paid


@dataclass
class Ledger:
    """Payment state during a replay. ``issued`` starts with what was really instructed."""

    issued: dict[str, Instruction]
    new: list[Instruction] = field(default_factory=list)
    months: dict[str, MonthOwed] = field(default_factory=dict)
    account: tuple[str, str] | None = None
    paid_accounts: set[str] = field(default_factory=set)
    award_cents: int | None = None
    pension_start: date | None = None
    last_pension_cents: int | None = None
    recovered: set[str] = field(default_factory=set)
    overpayment_cents: int = 0

    def __post_init__(self) -> None:
        for instruction in self.issued.values():
            self.paid_accounts.add(instruction.bank_account)

    def issue(self, instruction: Instruction) -> None:
        if instruction.key not in self.issued:
            self.issued[instruction.key] = instruction
            self.new.append(instruction)
        self.paid_accounts.add(instruction.bank_account)
        if instruction.kind == "pension":
            self.last_pension_cents = instruction.amount_cents
        self.months.setdefault(
            instruction.month, MonthOwed(instruction.month, instruction.amount_cents, "paid")
        ).state = "paid"

    def is_paid(self, month: str) -> bool:
        return f"pension:{month}" in self.issued or f"arrears:{month}" in self.issued

    def owed(self) -> list[MonthOwed]:
        return [m for _, m in sorted(self.months.items()) if m.state == "owed"]

    def restore_held_months(self) -> None:
        """A held cycle was certified: the months it held become owed as arrears."""
        for owed in self.months.values():
            if owed.state == "pending_hold":
                owed.state = "owed"

    def paid_after(self, death_date: date) -> list[Instruction]:
        """Instructions for months starting after ``death_date`` not yet recovered."""
        return [
            i
            for key, i in sorted(self.issued.items())
            if first_day(i.month) > death_date and key not in self.recovered
        ]
