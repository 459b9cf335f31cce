"""Dated policy: the parameters every rule uses, as versions in force from their dates.

The values live as data in ``policy/*.yaml`` (description, unit, and values keyed by effective
date, each with its regulation reference); the ``policy`` package loads and validates them and
installs the resulting ``PolicyBook`` here, so the domain itself reads no file. A decision records
the version in force on the date that governs it: a cycle's opening day, a payment's month's
first day, otherwise the fact's date.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class CertificationRules:
    evidence_lookback_days: int
    invitation_day: int
    blue_flag_day: int
    hold_day: int

    @property
    def marks(self) -> tuple[int, ...]:
        return (self.invitation_day, self.blue_flag_day, self.hold_day)


@dataclass(frozen=True)
class AwardRules:
    minimum_contribution_months: int
    accrual_rate_per_year: Fraction
    account_divisor_age_60: int
    account_divisor_age_55: int
    account_divisor_age_50: int

    @property
    def account_divisors(self) -> dict[int, int]:
        return {
            60: self.account_divisor_age_60,
            55: self.account_divisor_age_55,
            50: self.account_divisor_age_50,
        }


@dataclass(frozen=True)
class PaymentRules:
    red_ceiling_multiple: int


@dataclass(frozen=True)
class ProxyRules:
    auto_grant_score: float
    liveness_min_score: float
    default_validity_days: int


# The rule families, and the shape of each one's parameters.
FAMILIES: dict[str, type] = {
    "certification": CertificationRules,
    "award": AwardRules,
    "payment": PaymentRules,
    "proxy": ProxyRules,
}


@dataclass(frozen=True)
class Value:
    """One parameter's value from a date, and where the regulation says so."""

    effective: date
    value: Any
    reference: str


@dataclass(frozen=True)
class Parameter:
    name: str  # family.parameter, e.g. certification.hold_day
    description: str
    unit: str
    values: tuple[Value, ...]  # by effective date

    def on(self, day: date) -> Value:
        """The value in force on ``day`` (the first one before any)."""
        found = self.values[0]
        for value in self.values:
            if value.effective <= day:
                found = value
        return found


@dataclass(frozen=True)
class PolicyVersion:
    """The set of parameter values in force from ``effective_from``."""

    version: str
    effective_from: date
    certification: CertificationRules
    award: AwardRules
    payment: PaymentRules
    proxy: ProxyRules


@dataclass(frozen=True)
class PolicyBook:
    parameters: Mapping[str, Parameter]
    versions: tuple[PolicyVersion, ...]  # by effective date
    labels: Mapping[date, str] = field(default_factory=dict)

    @cached_property
    def fingerprint(self) -> str:
        """The same for the same parameter values, dates and labels: what a replay under this
        book is stamped with."""
        described = repr((self.versions, sorted(self.labels.items())))
        return hashlib.sha256(described.encode()).hexdigest()

    def in_force(self, on: date) -> PolicyVersion:
        found = self.versions[0]
        for version in self.versions:
            if version.effective_from <= on:
                found = version
        return found

    @classmethod
    def of(cls, parameters: Mapping[str, Parameter], labels: Mapping[date, str]) -> PolicyBook:
        """Every version the parameters' dates make: one per distinct effective date."""
        days = sorted({v.effective for p in parameters.values() for v in p.values})
        versions = []
        for day in days:
            families = {}
            for family, shape in FAMILIES.items():
                values = {
                    name.split(".", 1)[1]: p.on(day).value
                    for name, p in parameters.items()
                    if name.startswith(f"{family}.")
                }
                families[family] = shape(**values)
            label = labels.get(day, day.isoformat())
            versions.append(PolicyVersion(version=label, effective_from=day, **families))
        return cls(parameters=dict(parameters), versions=tuple(versions), labels=dict(labels))


_BOOK: PolicyBook | None = None


def install(book: PolicyBook) -> None:
    """Make ``book`` the policy in force (the engine does this at start-up, from policy/)."""
    global _BOOK
    _BOOK = book


def installed() -> PolicyBook:
    if _BOOK is None:
        raise RuntimeError("no policy installed: the engine loads policy/ at start-up")
    return _BOOK


def policy_in_force(on: date) -> PolicyVersion:
    """The version whose effective date is the latest on or before ``on``."""
    return installed().in_force(on)
