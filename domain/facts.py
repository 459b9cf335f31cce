"""The domain's vocabulary (facts, decisions, notices, standings) and the one registration of each
life-event type: its kind, its order within a day, the rule that handles it and the decisions it
can yield. A rule module registers its types with ``@handles``; adding a type touches only its
contract entry (streams/contracts.py), its rule module and its tests (docs/rules.md shows one).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any


class BenefitStatus(StrEnum):
    ACTIVE = "active"
    HELD = "held"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"
    NOT_RETIRED = "not_retired"


class RiskLevel(StrEnum):
    NONE = "none"
    BLUE = "blue"
    YELLOW = "yellow"
    RED = "red"


RISK_ORDER = (RiskLevel.NONE, RiskLevel.BLUE, RiskLevel.YELLOW, RiskLevel.RED)


@dataclass(frozen=True)
class Standing:
    """Where a person stands: what the benefit does now, how worried we are, and why."""

    benefit_status: BenefitStatus
    risk_level: RiskLevel
    reason: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "benefit_status": self.benefit_status.value,
            "risk_level": self.risk_level.value,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class FactType:
    """One life-event type as the domain knows it."""

    kind: str
    # Within one day: agencies' events, then the scheduler's marks, openings, payroll. A number
    # between two others slots a new type in between.
    order: float
    handler: Callable[..., None]  # (replay, fact, policy) -> None
    decisions: tuple[str, ...]
    family: str  # the rule module that handles it


FACT_TYPES: dict[str, FactType] = {}


def handles(
    kind: str, order: float, decisions: tuple[str, ...] = ()
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register a rule module's handler for a life-event type."""

    def register(handler: Callable[..., None]) -> Callable[..., None]:
        if kind in FACT_TYPES:
            raise ValueError(f"{kind} is registered twice")
        family = handler.__module__.rsplit(".", 1)[-1]
        FACT_TYPES[kind] = FactType(kind, order, handler, decisions, family)
        return handler

    return register


@dataclass(frozen=True)
class Fact:
    """One accepted life event (or scheduler mark) about the person."""

    kind: str
    event_id: str
    on: date
    data: Mapping[str, Any]

    def sort_key(self) -> tuple[date, float, str]:
        return (self.on, FACT_TYPES[self.kind].order, self.event_id)


@dataclass(frozen=True)
class Decision:
    key: str
    kind: str
    on: date
    reason: str | None
    event_id: str
    rule_version: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Notice:
    key: str
    template: str
    on: date
    event_id: str
    details: dict[str, Any] = field(default_factory=dict)


def first_day_after(day: date) -> date:
    """The first day of the month after ``day``."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def first_of_month_on_or_after(day: date) -> date:
    return day if day.day == 1 else first_day_after(day)


def month_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"
