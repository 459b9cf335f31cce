"""What a person's facts entitle them to, derived by replaying every fact in date order.

The replay is a pure function of the *set* of facts: facts are sorted by their date, then by a
fixed order of kinds within a day (agencies' events, then the scheduler's deadline marks, then
cycle openings), then by event ID. So neither arrival order nor duplicates can change the outcome.
It yields the person's standing, the current certification cycle, and every decision and
notification the facts call for, each with a stable key so it is recorded at most once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from domain.policy import PolicyVersion, policy_in_force

# Within one day: other agencies' events first (as a file replay applies them), then the
# scheduler's deadline marks, then cycle openings; the payroll (later) runs after those.
FACT_ORDER: dict[str, int] = {
    "person_registered": 0,
    "death_registered": 1,
    "custody_started": 2,
    "custody_ended": 3,
    "life_evidence": 4,
    "liveness_verified": 5,
    "certification_deadline_reached": 6,
    "birthday_month_started": 7,
}


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


@dataclass(frozen=True)
class Standing:
    """Where a person stands: what the benefit does now, how worried we are, and why."""

    benefit_status: BenefitStatus
    risk_level: RiskLevel
    reason: str | None


@dataclass(frozen=True)
class Fact:
    """One accepted life event (or scheduler mark) about the person."""

    kind: str
    event_id: str
    on: date
    data: Mapping[str, Any]

    def sort_key(self) -> tuple[date, int, str]:
        return (self.on, FACT_ORDER[self.kind], self.event_id)


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


@dataclass
class Cycle:
    """One year's certification cycle."""

    year: int
    opened_on: date
    rule_version: str
    marks: tuple[int, ...]
    status: str = "open"  # open | certified | closed (death)
    method: str | None = None
    certified_on: date | None = None
    evidence_event_id: str | None = None
    reached: set[int] = field(default_factory=set)
    held_on: date | None = None
    arrears_months: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "status": "none" if self.status == "closed" else self.status,
            "method": self.method,
            "opened_on": self.opened_on.isoformat(),
            "certified_on": self.certified_on.isoformat() if self.certified_on else None,
            "evidence_event_id": self.evidence_event_id,
            "arrears_months": self.arrears_months,
            "deadlines": [
                {"mark": m, "due_on": (self.opened_on + timedelta(days=m)).isoformat()}
                for m in self.marks
                if self.status == "open" and m not in self.reached
            ],
        }


@dataclass
class Assessment:
    standing: Standing
    record: dict[str, Any]
    death_date: date | None
    cycle: Cycle | None
    decisions: list[Decision]
    notices: list[Notice]


def first_of_months(start: date, end: date) -> int:
    """How many first-of-month days d satisfy start <= d < end."""
    if end <= start:
        return 0
    first = date(start.year, start.month, 1)
    if first < start:
        first = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    count = 0
    while first < end:
        count += 1
        first = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return count


def death_date_of(facts: Iterable[Fact]) -> date | None:
    """From the latest-dated death registration (a correction supersedes an earlier one)."""
    deaths = [f for f in facts if f.kind == "death_registered"]
    if not deaths:
        return None
    latest = max(deaths, key=lambda f: (f.on, f.event_id))
    return date.fromisoformat(latest.data["death_date"])


def current_record(facts: Iterable[Fact]) -> dict[str, Any]:
    """The registration that stands: latest ``occurred_on`` wins, ties go to the larger event ID."""
    registrations = [f for f in facts if f.kind == "person_registered"]
    return dict(max(registrations, key=lambda f: (f.on, f.event_id)).data)


def assess(facts: Iterable[Fact]) -> Assessment:
    """Replay all facts in date order and say where the person stands and what was decided."""
    ordered = sorted(facts, key=Fact.sort_key)
    replay = _Replay(death_date_of(ordered))
    for fact in ordered:
        replay.apply(fact)
    return Assessment(
        standing=replay.standing(),
        record=replay.record,
        death_date=replay.known_death_date,
        cycle=replay.cycle,
        decisions=replay.decisions,
        notices=replay.notices,
    )


class _Replay:
    def __init__(self, known_death_date: date | None) -> None:
        self.known_death_date = known_death_date
        self.record: dict[str, Any] = {}
        self.record_key: tuple[date, str] | None = None
        self.dead = False
        self.custody: dict[str, dict[str, date]] = {}
        self.evidence: list[Fact] = []
        self.cycles: dict[int, Cycle] = {}
        self.cycle: Cycle | None = None
        self.decisions: list[Decision] = []
        self.notices: list[Notice] = []
        self._standing: Standing | None = None

    # ----- the standing at this point of the replay -------------------------------------------

    def standing(self) -> Standing:
        if self.dead:
            return Standing(BenefitStatus.TERMINATED, RiskLevel.RED, "death")
        if self.record.get("monthly_pension_cents", 0) == 0:
            return Standing(BenefitStatus.NOT_RETIRED, RiskLevel.NONE, None)
        if any(
            "started" in c and not ("ended" in c and c["ended"] >= c["started"])
            for c in self.custody.values()
        ):
            return Standing(BenefitStatus.SUSPENDED, RiskLevel.RED, "custody")
        cycle = self.open_cycle()
        if cycle is not None and cycle.held_on is not None:
            return Standing(BenefitStatus.HELD, RiskLevel.YELLOW, "certification_overdue")
        if cycle is not None and len(cycle.marks) > 1 and cycle.marks[1] in cycle.reached:
            return Standing(BenefitStatus.ACTIVE, RiskLevel.BLUE, "certification_overdue")
        return Standing(BenefitStatus.ACTIVE, RiskLevel.NONE, None)

    def open_cycle(self) -> Cycle | None:
        return self.cycle if self.cycle is not None and self.cycle.status == "open" else None

    # ----- facts ------------------------------------------------------------------------------

    def apply(self, fact: Fact) -> None:
        policy = policy_in_force(fact.on)
        handler = getattr(self, f"_on_{fact.kind}")
        handler(fact, policy)
        self._settle(fact, policy)

    def _on_person_registered(self, fact: Fact, policy: PolicyVersion) -> None:
        key = (fact.on, fact.event_id)
        if self.record_key is None or key > self.record_key:
            self.record, self.record_key = dict(fact.data), key

    def _on_death_registered(self, fact: Fact, policy: PolicyVersion) -> None:
        self.dead = True
        if self.open_cycle() is not None:
            self.cycle.status = "closed"  # type: ignore[union-attr]

    def _on_custody_started(self, fact: Fact, policy: PolicyVersion) -> None:
        case = self.custody.setdefault(fact.data["case_ref"], {})
        case["started"] = min(fact.on, case.get("started", fact.on))

    def _on_custody_ended(self, fact: Fact, policy: PolicyVersion) -> None:
        case = self.custody.setdefault(fact.data["case_ref"], {})
        case["ended"] = max(fact.on, case.get("ended", fact.on))

    def _after_death(self, fact: Fact, policy: PolicyVersion) -> bool:
        if self.known_death_date is None or fact.on <= self.known_death_date:
            return False
        self._decide(
            f"evidence_after_death:{fact.event_id}",
            "evidence_after_death",
            fact,
            policy,
            reason=f"{fact.kind} dated after the registered death date",
            details={"evidence": dict(fact.data), "death_date": self.known_death_date.isoformat()},
        )
        return True

    def _on_life_evidence(self, fact: Fact, policy: PolicyVersion) -> None:
        if self._after_death(fact, policy):
            return
        self.evidence.append(fact)
        cycle = self.open_cycle()
        if cycle is not None and fact.on >= cycle.opened_on:
            self._certify(cycle, "silent", fact, fact.on, policy)

    def _on_liveness_verified(self, fact: Fact, policy: PolicyVersion) -> None:
        if self._after_death(fact, policy):
            return
        cycle = self.open_cycle()
        if cycle is not None and fact.on >= cycle.opened_on:
            self._certify(cycle, "liveness", fact, fact.on, policy)

    def _on_birthday_month_started(self, fact: Fact, policy: PolicyVersion) -> None:
        year = int(fact.data["year"])
        if year in self.cycles or self.open_cycle() is not None:
            return
        if self.standing().benefit_status not in (BenefitStatus.ACTIVE, BenefitStatus.HELD):
            return
        rules = policy.certification
        cycle = Cycle(year=year, opened_on=fact.on, rule_version=policy.version, marks=rules.marks)
        self.cycles[year] = self.cycle = cycle
        self._decide(f"cycle_opened:{year}", "cycle_opened", fact, policy, "birthday_month")
        window_start = fact.on - timedelta(days=rules.evidence_lookback_days)
        recent = [e for e in self.evidence if window_start <= e.on <= fact.on]
        if recent:
            evidence = max(recent, key=Fact.sort_key)
            self._certify(cycle, "silent", evidence, max(fact.on, evidence.on), policy, fact)

    def _on_certification_deadline_reached(self, fact: Fact, policy: PolicyVersion) -> None:
        cycle = self.open_cycle()
        mark = int(fact.data["mark"])
        if (
            cycle is None
            or cycle.year != int(fact.data["cycle_year"])
            or mark not in cycle.marks
            or mark in cycle.reached
            or fact.on < cycle.opened_on + timedelta(days=mark)
        ):
            return
        cycle.reached.add(mark)
        invitation, blue, hold = cycle.marks
        if mark == invitation:
            self._decide(
                f"liveness_invited:{cycle.year}",
                "liveness_invited",
                fact,
                policy,
                f"not certified {mark} days after opening",
            )
            self._notify("liveness_invitation", cycle, fact)
        elif mark == blue:
            self._notify("liveness_reminder", cycle, fact)
        elif mark == hold:
            cycle.held_on = fact.on
            self._notify("payments_held", cycle, fact)

    # ----- decisions and notices --------------------------------------------------------------

    def _certify(
        self,
        cycle: Cycle,
        method: str,
        evidence: Fact,
        on: date,
        policy: PolicyVersion,
        trigger: Fact | None = None,
    ) -> None:
        cycle.status = "certified"
        cycle.method = method
        cycle.certified_on = on
        cycle.evidence_event_id = evidence.event_id
        if cycle.held_on is not None:
            cycle.arrears_months = first_of_months(cycle.held_on, on)
        kind = "silently_certified" if method == "silent" else "certified_by_liveness"
        self._decide(
            f"certified:{cycle.year}",
            kind,
            trigger or evidence,
            policy,
            reason=f"{evidence.kind}:{evidence.data.get('kind') or evidence.data.get('channel')}",
            on=on,
            details={
                "cycle_year": cycle.year,
                "evidence_event_id": evidence.event_id,
                "evidence_on": evidence.on.isoformat(),
                "arrears_months": cycle.arrears_months,
            },
        )
        template = "pension_resumed" if cycle.held_on is not None else "pension_continues"
        self._notify(template, cycle, trigger or evidence, on=on)

    def _decide(
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

    def _notify(self, template: str, cycle: Cycle, fact: Fact, on: date | None = None) -> None:
        self.notices.append(
            Notice(
                key=f"{template}:{cycle.year}",
                template=template,
                on=on or fact.on,
                event_id=fact.event_id,
                details={"cycle_year": cycle.year},
            )
        )

    def _settle(self, fact: Fact, policy: PolicyVersion) -> None:
        """Record a change of standing as a decision named for the transition."""
        new, old = self.standing(), self._standing
        self._standing = new
        if new == old:
            return
        kind, reason = _transition(old, new)
        if kind is not None:
            self._decide(f"{kind}:{fact.event_id}", kind, fact, policy, reason)


def _transition(old: Standing | None, new: Standing) -> tuple[str | None, str | None]:
    """Which decision a change of standing is, in the domain's words."""
    status = new.benefit_status
    if old is None:
        return "registered", new.reason
    if status is BenefitStatus.TERMINATED:
        return "terminated", new.reason
    if status is BenefitStatus.SUSPENDED:
        return "suspended", new.reason
    if status is BenefitStatus.NOT_RETIRED:
        return "deactivated", "no_pension_on_record"
    if status is BenefitStatus.HELD:
        return "held", new.reason
    # Now active.
    if old.benefit_status is BenefitStatus.SUSPENDED:
        return "reinstated", "custody_ended"
    if old.benefit_status is BenefitStatus.HELD:
        return "resumed", "certified"
    if old.benefit_status is BenefitStatus.NOT_RETIRED:
        return "activated", "pension_on_record"
    if new.risk_level is RiskLevel.BLUE:
        return "flagged_blue", new.reason
    return None, None  # blue cleared by a certification, which is its own decision
