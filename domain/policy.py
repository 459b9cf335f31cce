"""Dated policy parameters: every number a rule uses, with the version and date it took effect.

A decision records the rule version in force on the day it was made, so an auditor can replay it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class PolicyVersion:
    """One version of the rules and the day from which it applies."""

    version: str
    effective_from: date


POLICY_VERSIONS: tuple[PolicyVersion, ...] = (
    PolicyVersion(version="2026.1", effective_from=date(1990, 1, 1)),
)


def policy_in_force(on: date) -> PolicyVersion:
    """The latest policy version whose effective date is on or before ``on``."""
    candidates = [p for p in POLICY_VERSIONS if p.effective_from <= on]
    if not candidates:
        return POLICY_VERSIONS[0]
    return max(candidates, key=lambda p: p.effective_from)
