"""What a person's facts call for, derived by replaying every fact in date order.

The replay is a pure function of the *set* of facts (plus the few things history has already made
true, such as a hold that was really in force): facts are sorted by their date, then by their
type's order within a day (``domain.facts``), then by event ID, so neither arrival order nor
duplicates can change the outcome. Each fact is handed to the rule module registered for its
type (standing, certification, award, proxies, payroll); the replay holds the state they share
and yields the standing, the cycles, the decisions and notifications (each with a stable key),
and the month points money is settled from (``domain.payments``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

# The rule modules register their life-event types when imported.
from domain import award, certification, death_evidence, payroll, proxies, standing  # noqa: F401
from domain.certification import CYCLE_FACTS, Cycle, History, first_of_months
from domain.facts import (
    FACT_TYPES,
    RISK_ORDER,
    BenefitStatus,
    Decision,
    Fact,
    Notice,
    RiskLevel,
    Standing,
)
from domain.payroll import MonthPoint, Review
from domain.policy import PolicyVersion, policy_in_force
from domain.proxies import ProxyGrant, grant_active
from domain.standing import (
    current_record,
    death_date_of,
    registered_death_date,
    transition,
    transition_key,
)

__all__ = [
    "RISK_ORDER",
    "Assessment",
    "BenefitStatus",
    "Cycle",
    "Decision",
    "Fact",
    "History",
    "MonthPoint",
    "Notice",
    "ProxyGrant",
    "Replay",
    "RiskLevel",
    "Standing",
    "current_record",
    "fingerprint",
    "first_of_months",
    "grant_active",
    "transition",
    "transition_key",
]


@dataclass
class Assessment:
    standing: Standing | None
    record: dict[str, Any]
    death_date: date | None
    cycle: Cycle | None
    cycles: dict[int, Cycle]
    decisions: list[Decision]
    notices: list[Notice]
    months: dict[str, MonthPoint]
    reviews: list[Review]
    account: tuple[str, str] | None
    pension_cents: int
    proxies: dict[str, ProxyGrant]
    evidence_alerts: dict[str, dict[str, Any]]  # open alerts: evidence after death, by event ID


class Replay:
    """The replay in progress. ``extend`` continues it with a fact that sorts after every fact
    replayed so far and changes nothing already replayed, which gives exactly what a full replay
    would (``can_extend``); anything else needs a full replay (``Replay.of``)."""

    @classmethod
    def of(cls, facts: Iterable[Fact], history: History | None = None) -> Replay:
        ordered = sorted(facts, key=Fact.sort_key)
        replay = cls(death_date_of(ordered), history or History())
        for fact in ordered:
            replay.apply(fact)
        return replay

    def can_extend(self, fact: Fact) -> bool:
        if self.last_key is None or not fact.sort_key() > self.last_key:
            return False
        if fact.kind != "death_registered":
            return True
        # The death date counts for every fact dated after it (evidence after death, a proxy
        # asked for by the dead), so a full replay starts from it. A first death dated on or
        # after every fact replayed so far touches none of them: continuing is exact.
        return self.known_death_date is None and registered_death_date(fact) >= self.last_key[0]

    def extend(self, fact: Fact) -> None:
        """Continue with ``fact``, which ``can_extend``."""
        if fact.kind == "death_registered":
            self.known_death_date = registered_death_date(fact)
        self.apply(fact)

    def assessment(self) -> Assessment:
        return Assessment(
            standing=self.standing(),
            record=self.record,
            death_date=self.known_death_date,
            cycle=self.cycle,
            cycles=self.cycles,
            decisions=self.decisions,
            notices=self.notices,
            months=self.months,
            reviews=self.reviews,
            account=self.account,
            pension_cents=self.pension_cents(),
            proxies=self.proxies,
            evidence_alerts={k: v for k, v in self.evidence_alerts.items() if v["open"]},
        )

    def __init__(self, known_death_date: date | None, history: History) -> None:
        self.last_key: tuple[date, float, str] | None = None
        self.applied = 0  # facts replayed so far
        self.known_death_date = known_death_date
        self.history = history
        self.record: dict[str, Any] = {}
        self.record_key: tuple[date, str] | None = None
        self.account: tuple[str, str] | None = None
        self.award_cents: int | None = None
        self.pension_start: date | None = None
        self.dead = False
        self.custody: dict[str, date] = {}  # open cases: case_ref -> since
        self.evidence: list[Fact] = []
        self.checks: list[Fact] = []  # liveness checks
        self.cycles: dict[int, Cycle] = {}
        self.cycle: Cycle | None = None
        self.decisions: list[Decision] = []
        self.notices: list[Notice] = []
        self.months: dict[str, MonthPoint] = {}
        self.points_from: date | None = None  # the first month a payment run can owe
        self._next_point: date | None = None
        self.reviews: list[Review] = []
        self.proxies: dict[str, ProxyGrant] = {}
        self.evidence_alerts: dict[str, dict[str, Any]] = {}
        self._standing: Standing | None = None

    # ----- the standing at this point of the replay -------------------------------------------

    def standing(self, as_if_alive: bool = False) -> Standing | None:
        """None until the person's registration (facts dated before it still count)."""
        if not self.record:
            return None
        if self.dead and not as_if_alive:
            return Standing(BenefitStatus.TERMINATED, RiskLevel.RED, "death")
        if self.pension_cents() == 0:
            return Standing(BenefitStatus.NOT_RETIRED, RiskLevel.NONE, None)
        if self.in_custody():
            return Standing(BenefitStatus.SUSPENDED, RiskLevel.RED, "custody")
        cycle = self.open_cycle()
        if cycle is not None and cycle.held_on is not None:
            return Standing(BenefitStatus.HELD, RiskLevel.YELLOW, "certification_overdue")
        if cycle is not None and len(cycle.marks) > 1 and cycle.marks[1] in cycle.reached:
            return Standing(BenefitStatus.ACTIVE, RiskLevel.BLUE, "certification_overdue")
        return Standing(BenefitStatus.ACTIVE, RiskLevel.NONE, None)

    def in_custody(self) -> bool:
        return bool(self.custody)

    def pension_cents(self) -> int:
        """The monthly pension: an award's, else the registered record's."""
        if self.award_cents is not None:
            return self.award_cents
        return int(self.record.get("monthly_pension_cents", 0))

    def open_cycle(self) -> Cycle | None:
        return self.cycle if self.cycle is not None and self.cycle.status == "open" else None

    # ----- facts ------------------------------------------------------------------------------

    def apply(self, fact: Fact) -> None:
        payroll.note_months_until(self, fact)
        self.last_key = fact.sort_key()
        self.applied += 1
        policy = self._governing(fact)
        FACT_TYPES[fact.kind].handler(self, fact, policy)
        self._note_transition(fact, policy)

    def _governing(self, fact: Fact) -> PolicyVersion:
        """The version a fact is judged under: an open cycle's, from its opening day, for what
        concerns it (its marks, evidence and checks); otherwise the one on the fact's date."""
        cycle = self.open_cycle()
        if cycle is not None and fact.kind in CYCLE_FACTS and fact.on >= cycle.opened_on:
            return policy_in_force(cycle.opened_on)
        return policy_in_force(fact.on)

    # ----- decisions and notices (for the rule modules) ---------------------------------------

    def decide(
        self,
        key: str,
        kind: str,
        fact: Fact,
        policy: PolicyVersion,
        reason: str | None,
        on: date | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        self.decisions.append(
            Decision(key, kind, on or fact.on, reason, fact.event_id, policy.version, details or {})
        )

    def notice(self, key: str, template: str, fact: Fact, details: dict[str, Any]) -> None:
        self.notices.append(Notice(key, template, fact.on, fact.event_id, details))

    def notify(self, template: str, cycle: Cycle, fact: Fact, on: date | None = None) -> None:
        """A notification about a cycle: each template at most once per cycle."""
        self.notices.append(
            Notice(
                key=f"{template}:{cycle.year}",
                template=template,
                on=on or fact.on,
                event_id=fact.event_id,
                details={"cycle_year": cycle.year},
            )
        )

    def _note_transition(self, fact: Fact, policy: PolicyVersion) -> None:
        """Record a change of standing as a decision named for the transition."""
        new, old = self.standing(), self._standing
        self._standing = new
        if new is None or new == old:
            return
        kind, reason = transition(old, new)
        if kind is None:
            return
        key = transition_key(kind, fact.event_id, self.cycle.year if self.cycle else None)
        details = {}
        if kind == "held" and self.cycle is not None:
            details = {"cycle_year": self.cycle.year}
        self.decide(key, kind, fact, policy, reason, details=details)


@lru_cache(maxsize=65_536)
def fingerprint(account: str) -> str:
    """A stable token for an account, so keys and indexes never carry the number itself."""
    return hashlib.sha256(account.encode()).hexdigest()
