"""What a person's facts entitle them to, derived by replaying every fact in date order.

The replay is a pure function of the *set* of facts: facts are sorted by their date, then by a
fixed order of kinds within a day (agencies' events, then the scheduler's deadline marks, then
cycle openings), then by event ID. So neither arrival order nor duplicates can change the outcome.
It yields the person's standing, the current certification cycle, and every decision and
notification the facts call for, each with a stable key so it is recorded at most once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from domain.award import AwardInputs, calculate
from domain.payments import Instruction, Ledger, MonthOwed, first_day, month_after, month_of
from domain.policy import PolicyVersion, policy_in_force

# Within one day: other agencies' events first (as a file replay applies them), then the
# scheduler's deadline marks, then cycle openings, then the payroll. So a hold that falls on the
# first of a month takes effect before that month's payroll.
FACT_ORDER: dict[str, int] = {
    "person_registered": 0,
    "bank_account_changed": 1,
    "retirement_eligible": 2,
    "death_registered": 3,
    "custody_started": 4,
    "custody_ended": 5,
    "life_evidence": 6,
    "liveness_verified": 7,
    "payment_reviewed": 8,
    "certification_deadline_reached": 9,
    "birthday_month_started": 10,
    "payment_due": 11,
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
    ledger: Ledger


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


def assess(facts: Iterable[Fact], issued: Mapping[str, Instruction] | None = None) -> Assessment:
    """Replay all facts in date order and say where the person stands and what was decided.

    ``issued`` are the payment instructions really given so far: the replay never instructs a
    month twice, and recovers what was paid for months after a death.
    """
    return Replay.of(facts, issued).assessment()


class Replay:
    """The replay in progress. ``extend`` continues it with a fact that sorts after every fact
    replayed so far and changes nothing global (not a death), which gives exactly what a full
    replay would; anything else needs a full replay (``Replay.of``)."""

    @classmethod
    def of(cls, facts: Iterable[Fact], issued: Mapping[str, Instruction] | None = None) -> Replay:
        ordered = sorted(facts, key=Fact.sort_key)
        replay = cls(death_date_of(ordered), Ledger(dict(issued or {})))
        for fact in ordered:
            replay.apply(fact)
        return replay

    def can_extend(self, fact: Fact) -> bool:
        return (
            fact.kind != "death_registered"
            and self.last_key is not None
            and fact.sort_key() > self.last_key
        )

    def assessment(self) -> Assessment:
        return Assessment(
            standing=self.standing(),
            record=self.record,
            death_date=self.known_death_date,
            cycle=self.cycle,
            decisions=self.decisions,
            notices=self.notices,
            ledger=self.ledger,
        )

    def __init__(self, known_death_date: date | None, ledger: Ledger) -> None:
        self.last_key: tuple[date, int, str] | None = None
        self.known_death_date = known_death_date
        self.ledger = ledger
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
        if self.pension_cents() == 0:
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

    def pension_cents(self) -> int:
        """The monthly pension: an award's, else the registered record's."""
        if self.ledger.award_cents is not None:
            return self.ledger.award_cents
        return int(self.record.get("monthly_pension_cents", 0))

    def open_cycle(self) -> Cycle | None:
        return self.cycle if self.cycle is not None and self.cycle.status == "open" else None

    # ----- facts ------------------------------------------------------------------------------

    def apply(self, fact: Fact) -> None:
        self.last_key = fact.sort_key()
        policy = policy_in_force(fact.on)
        handler = getattr(self, f"_on_{fact.kind}")
        handler(fact, policy)
        self._settle(fact, policy)

    def _on_person_registered(self, fact: Fact, policy: PolicyVersion) -> None:
        key = (fact.on, fact.event_id)
        if self.record_key is None or key > self.record_key:
            self.record, self.record_key = dict(fact.data), key
            if fact.data.get("bank_account"):
                self.ledger.account = (fact.data["bank_account"], fact.data["bank_region"])

    def _on_bank_account_changed(self, fact: Fact, policy: PolicyVersion) -> None:
        self.ledger.account = (fact.data["bank_account"], fact.data["bank_region"])

    def _on_death_registered(self, fact: Fact, policy: PolicyVersion) -> None:
        self.dead = True
        if self.open_cycle() is not None:
            self.cycle.status = "closed"  # type: ignore[union-attr]
        assert self.known_death_date is not None
        overpaid = self.ledger.paid_after(self.known_death_date)
        if overpaid:
            total = sum(i.amount_cents for i in overpaid)
            self.ledger.recovered.update(i.key for i in overpaid)
            self.ledger.overpayment_cents += total
            self._decide(
                f"overpayment_recovery:{fact.event_id}",
                "overpayment_recovery",
                fact,
                policy,
                reason="paid_after_death",
                details={
                    "death_date": self.known_death_date.isoformat(),
                    "months": [i.month for i in overpaid],
                    "instructions": [i.key for i in overpaid],
                    "total_cents": total,
                },
            )

    # ----- award ------------------------------------------------------------------------------

    def _on_retirement_eligible(self, fact: Fact, policy: PolicyVersion) -> None:
        rules = policy.award
        months = int(fact.data["contribution_months"])
        if self.dead or self.pension_cents() > 0:
            reason = "deceased" if self.dead else "already_receiving_pension"
            self._decide(f"award_refused:{fact.event_id}", "award_refused", fact, policy, reason)
            return
        if months < rules.minimum_contribution_months:
            shortfall = rules.minimum_contribution_months - months
            details = {"contribution_months": months, "shortfall_months": shortfall}
            self._decide(
                f"award_refused:{fact.event_id}",
                "award_refused",
                fact,
                policy,
                "insufficient_contributions",
                details=details,
            )
            self._notice(f"award_refused:{fact.event_id}", "award_refused", fact, details)
            return
        calculation = calculate(
            AwardInputs(
                contribution_months=months,
                indexed_wage_cents=int(fact.data["indexed_wage_cents"]),
                regional_average_wage_cents=int(fact.data["regional_average_wage_cents"]),
                personal_account_cents=int(fact.data["personal_account_cents"]),
                retirement_age=int(fact.data["retirement_age"]),
            ),
            rules,
        )
        self.ledger.award_cents = calculation.monthly_pension_cents
        self.ledger.pension_start = month_after(fact.on)
        details = calculation.explain() | {"pension_starts": month_of(self.ledger.pension_start)}
        self._decide(
            f"awarded:{fact.event_id}",
            "awarded",
            fact,
            policy,
            "retirement_eligible",
            details=details,
        )
        self._notice(f"pension_awarded:{fact.event_id}", "pension_awarded", fact, details)

    # ----- payroll ----------------------------------------------------------------------------

    def _on_payment_due(self, fact: Fact, policy: PolicyVersion) -> None:
        """The monthly payment run reached this person (on the first day of ``month``)."""
        month = fact.data["month"]
        day = first_day(month)
        recorded = self.ledger.issued.get(f"pension:{month}")
        if recorded is not None:
            self.ledger.issue(recorded)  # paid before: it is the established pension now
        status = self.standing().benefit_status
        started = self.ledger.pension_start is None or self.ledger.pension_start <= day
        if status is BenefitStatus.ACTIVE and started and not self.ledger.is_paid(month):
            amount = self.pension_cents()
            if self.ledger.account is None:
                self.ledger.months[month] = MonthOwed(month, amount, "owed")
                self._payment_blocked(fact, policy, month, "pension", "no_account", amount)
            else:
                self._instruct("pension", month, amount, fact, policy)
        elif status is BenefitStatus.HELD and started and not self.ledger.is_paid(month):
            self.ledger.months[month] = MonthOwed(month, self.pension_cents(), "pending_hold")
            self._payment_blocked(fact, policy, month, "pension", "held", self.pension_cents())
        elif status is BenefitStatus.SUSPENDED:
            # Custody months are not owed later.
            self._payment_blocked(fact, policy, month, "pension", "suspended", 0)
        if status is BenefitStatus.ACTIVE and self.ledger.account is not None:
            for owed in self.ledger.owed():
                self._instruct("arrears", owed.month, owed.amount_cents, fact, policy)

    def _on_payment_reviewed(self, fact: Fact, policy: PolicyVersion) -> None:
        month, kind = fact.data["month"], fact.data["kind"]
        owed = self.ledger.months.get(month)
        if owed is None or owed.state != "pending_review":
            return
        if not fact.data["approved"]:
            owed.state = "rejected"
            self._decide(
                f"payment_rejected:{kind}:{month}",
                "payment_rejected",
                fact,
                policy,
                "review_rejected",
                details={"month": month, "kind": kind},
            )
            return
        if self.dead or self.ledger.account is None:
            return
        self._decide(
            f"payment_approved:{kind}:{month}",
            "payment_approved",
            fact,
            policy,
            "review_approved",
            details={"month": month, "kind": kind},
        )
        self._instruct(kind, month, owed.amount_cents, fact, policy, reviewed=True)

    def _instruct(
        self,
        kind: str,
        month: str,
        amount: int,
        fact: Fact,
        policy: PolicyVersion,
        reviewed: bool = False,
    ) -> None:
        """Issue an instruction unless a fund-flow risk check routes it to review."""
        assert self.ledger.account is not None
        account, region = self.ledger.account
        key = f"{kind}:{month}"
        if key in self.ledger.issued:
            self.ledger.issue(self.ledger.issued[key])
            return
        if not reviewed:
            baseline = self.ledger.last_pension_cents or self.pension_cents()
            ceiling = policy.payment.ceiling_multiple * baseline
            review = None
            if amount > ceiling:
                review = ("red", "amount_above_ceiling", {"ceiling_cents": ceiling})
            elif int(fact.data.get("account_holders", 0)) > 1:
                holders = int(fact.data["account_holders"])
                review = ("yellow", "account_shared", {"living_account_holders": holders})
            if review is not None:
                level, reason, evidence = review
                self.ledger.months[month] = MonthOwed(month, amount, "pending_review")
                self._payment_blocked(
                    fact,
                    policy,
                    month,
                    kind,
                    f"review_{reason}",
                    amount,
                    level=level,
                    evidence=evidence,
                )
                return
        if account not in self.ledger.paid_accounts and region != self.record.get("region"):
            self._decide(
                f"payment_alert:blue:{_fingerprint(account)}:{month}",
                "payment_alert",
                fact,
                policy,
                "first_payment_to_account_in_other_region",
                details={
                    "level": "blue",
                    "month": month,
                    "bank_region": region,
                    "registered_region": self.record.get("region"),
                },
            )
        self.ledger.issue(Instruction(key, kind, month, amount, fact.on, account, region))

    def _payment_blocked(
        self,
        fact: Fact,
        policy: PolicyVersion,
        month: str,
        kind: str,
        reason: str,
        amount: int,
        level: str | None = None,
        evidence: dict[str, Any] | None = None,
    ) -> None:
        details: dict[str, Any] = {"month": month, "kind": kind, "amount_cents": amount}
        if level is not None:
            details["level"] = level
        details.update(evidence or {})
        self._decide(
            f"payment_blocked:{kind}:{month}",
            "payment_blocked",
            fact,
            policy,
            reason,
            details=details,
        )

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
            self.ledger.restore_held_months()
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

    def _notice(self, key: str, template: str, fact: Fact, details: dict[str, Any]) -> None:
        self.notices.append(Notice(key, template, fact.on, fact.event_id, details))

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
        return "activated", "pension_awarded_or_on_record"
    if new.risk_level is RiskLevel.BLUE:
        return "flagged_blue", new.reason
    return None, None  # blue cleared by a certification, which is its own decision


def _fingerprint(account: str) -> str:
    """A short stable token for an account, so keys never carry the number itself."""
    return hashlib.sha256(account.encode()).hexdigest()[:12]
