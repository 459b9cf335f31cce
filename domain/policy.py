"""Dated policy parameters: every number a rule uses, with the version and date it took effect.

A decision records the rule version in force on the day it was made, so an auditor can replay it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction


@dataclass(frozen=True)
class CertificationRules:
    """Annual no-touch certification (policy 2026.1)."""

    # Life evidence this many days before the cycle opens (or later) certifies silently.
    evidence_lookback_days: int = 30
    # Days after opening at which an open cycle escalates.
    invitation_day: int = 30
    blue_flag_day: int = 90
    hold_day: int = 120

    @property
    def marks(self) -> tuple[int, ...]:
        return (self.invitation_day, self.blue_flag_day, self.hold_day)


@dataclass(frozen=True)
class AwardRules:
    """Enterprise-employee basic pension award (policy 2026.1)."""

    minimum_contribution_months: int = 180
    # Basic pension: (regional average wage + indexed wage) / 2 x years of contribution x rate.
    basic_rate_per_year: Fraction = Fraction(1, 100)
    # Personal-account pension: account balance / months divisor, by retirement age.
    account_divisors: dict[int, int] = field(default_factory=lambda: {60: 139, 55: 170, 50: 195})


@dataclass(frozen=True)
class PaymentRules:
    """The monthly payment run and its fund-flow risk checks (policy 2026.1)."""

    # Red: an instruction above this multiple of the person's established monthly pension
    # (the last pension paid, or the current pension before any payment) goes to review.
    ceiling_multiple: int = 3


@dataclass(frozen=True)
class ProxyRules:
    """Family proxies (policy 2026.1)."""

    # A kinship proof scoring at least this is granted at once; below, a caseworker reviews it.
    auto_grant_score: float = 0.93
    # A liveness check a proxy runs on the person in the app certifies at or above this score.
    liveness_min_score: float = 0.90
    # A grant lasts this long unless the request asks for less (or up to three years).
    default_validity_days: int = 365


@dataclass(frozen=True)
class PolicyVersion:
    """One version of the rules and the day from which it applies."""

    version: str
    effective_from: date
    certification: CertificationRules = field(default_factory=CertificationRules)
    award: AwardRules = field(default_factory=AwardRules)
    payment: PaymentRules = field(default_factory=PaymentRules)
    proxy: ProxyRules = field(default_factory=ProxyRules)


POLICY_VERSIONS: tuple[PolicyVersion, ...] = (
    PolicyVersion(version="2026.1", effective_from=date(1990, 1, 1)),
)


def policy_in_force(on: date) -> PolicyVersion:
    """The latest policy version whose effective date is on or before ``on``."""
    candidates = [p for p in POLICY_VERSIONS if p.effective_from <= on]
    if not candidates:
        return POLICY_VERSIONS[0]
    return max(candidates, key=lambda p: p.effective_from)
