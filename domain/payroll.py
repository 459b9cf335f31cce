"""The payroll as the replay sees it: where the person stood on each first of a month from their
first payment run (or an award's start) on, and the reviews of held payments. Money is settled
from these month points in ``domain.payments`` (no parameters here)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from domain.facts import (
    BenefitStatus,
    Fact,
    first_day_after,
    first_of_month_on_or_after,
    handles,
)
from domain.policy import PolicyVersion

if TYPE_CHECKING:
    from domain.entitlement import Replay

from dataclasses import dataclass


@dataclass(frozen=True)
class MonthPoint:
    """Where the person stood when a month's payment run came round (its first day, after that
    day's other facts). Taken for every month from the person's first run (or an award's start)
    on, whether or not the run reached them, so a late fact can make a missed month owed."""

    month: str
    on: date
    status: BenefitStatus | None  # as if alive: a death is judged by its date (``death_date``)
    pension_cents: int
    started: bool
    held_cycle: int | None


@dataclass(frozen=True)
class Review:
    """A person's review of a payment that a fund-flow check held."""

    month: str
    kind: str
    approved: bool
    on: date
    event_id: str


@handles("payment_due", order=15)
def payment_due(r: Replay, fact: Fact, policy: PolicyVersion) -> None:
    if r.points_from is None:
        r.points_from = fact.on
        note_months_until(r, fact)


def note_months_until(r: Replay, fact: Fact, its_own_day: bool = False) -> None:
    """Note where the person stood on each first of a month the replay has now passed: the
    first days before ``fact``'s, and its own day when it is the payroll (the day's last) or
    ``its_own_day`` says so."""
    if r.points_from is None or r.standing() is None:
        return
    day = r._next_point or first_of_month_on_or_after(r.points_from)
    own_day = its_own_day or fact.kind == "payment_due"
    while day < fact.on or (day == fact.on and own_day):
        standing = r.standing(as_if_alive=True)
        status = standing.benefit_status if standing else None
        cycle = r.open_cycle()
        month = f"{day.year:04d}-{day.month:02d}"
        r.months[month] = MonthPoint(
            month=month,
            on=day,
            status=status,
            pension_cents=r.pension_cents(),
            started=r.pension_start is None or r.pension_start <= day,
            held_cycle=cycle.year if status is BenefitStatus.HELD and cycle else None,
        )
        day = first_day_after(day)
    r._next_point = day


@handles("payment_reviewed", order=8)
def payment_reviewed(r: Replay, fact: Fact, policy: PolicyVersion) -> None:
    r.reviews.append(
        Review(
            fact.data["month"],
            fact.data["kind"],
            bool(fact.data["approved"]),
            fact.on,
            fact.event_id,
        )
    )
