"""What a person's facts call for, derived by replaying every fact in date order.

The replay is a pure function of the *set* of facts (plus the few things history has already
made true, such as a hold that was really in force): facts are sorted by their date, then by a
fixed order of kinds within a day (agencies' events, then the scheduler's deadline marks, then
cycle openings, then the payroll), then by event ID. So neither arrival order nor duplicates can
change the outcome. It yields the person's standing, the certification cycles, every decision and
notification the facts call for (each with a stable key), and, for each payment run the person
has had, where they stood on its day. Money is settled from those run points in
``domain.payments``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from domain.award import AwardInputs, calculate
from domain.policy import PolicyVersion, policy_in_force

# Within one day: other agencies' events first (as a file replay applies them), then the
# scheduler's deadline marks, then cycle openings, then the payroll. So a hold that falls on the
# first of a month takes effect before that month's payroll. Evidence of life comes before a
# death registered the same day: the person was alive that day.
FACT_ORDER: dict[str, int] = {
    "person_registered": 0,
    "bank_account_changed": 1,
    "retirement_eligible": 2,
    "life_evidence": 3,
    "liveness_verified": 4,
    "death_registered": 5,
    "custody_started": 6,
    "custody_ended": 7,
    "payment_reviewed": 8,
    "evidence_reviewed": 9,
    "proxy_requested": 10,
    "proxy_request_reviewed": 11,
    "proxy_revoked": 12,
    "certification_deadline_reached": 13,
    "birthday_month_started": 14,
    "payment_due": 15,
}


# Facts about an open certification cycle: judged under the version in force when it opened.
CYCLE_FACTS = frozenset({"certification_deadline_reached", "life_evidence", "liveness_verified"})


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


@dataclass(frozen=True)
class History:
    """What really happened and no later fact can undo: the months whose payment a hold really
    stopped, by cycle (so a certification that comes late still resumes, with arrears)."""

    held_months: Mapping[int, frozenset[str]] = field(default_factory=dict)

    def was_held(self, cycle_year: int) -> bool:
        return cycle_year in self.held_months


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
    # Marks reached while the person was suspended: they take effect when the suspension ends.
    deferred: set[int] = field(default_factory=set)
    held_on: date | None = None
    arrears_months: int = 0

    def held_months(self, until: date) -> set[str]:
        """The months whose first day fell from the hold up to (not including) ``until``."""
        months: set[str] = set()
        if self.held_on is None:
            return months
        first = _first_of_month_on_or_after(self.held_on)
        while first < until:
            months.add(f"{first.year:04d}-{first.month:02d}")
            first = _next_month(first)
        return months

    def summary(self) -> dict[str, Any]:
        return {
            "year": self.year,
            "status": "none" if self.status == "closed" else self.status,
            "method": self.method,
            "opened_on": self.opened_on.isoformat(),
            "certified_on": self.certified_on.isoformat() if self.certified_on else None,
            "evidence_event_id": self.evidence_event_id,
            "held_on": self.held_on.isoformat() if self.held_on else None,
            "arrears_months": self.arrears_months,
            "deadlines": [
                {"mark": m, "due_on": (self.opened_on + timedelta(days=m)).isoformat()}
                for m in self.marks
                if self.status == "open" and m not in self.reached
            ],
        }


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


@dataclass
class ProxyGrant:
    """A relative's request to act for the person, and what became of it."""

    request_id: str
    requester_id: str
    relationship: str
    scopes: tuple[str, ...]
    valid_until: date
    requested_on: date
    proof_reference: str
    proof_score: float
    status: str = "pending"  # pending | granted | rejected | refused | revoked | ended
    decided_on: date | None = None
    decided_by: str | None = None
    reason: str | None = None

    def active_on(self, day: date) -> bool:
        """A grant ends on ``valid_until``: reads after that day see it ended, no job needed."""
        return self.status == "granted" and day <= self.valid_until

    def as_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "requester_id": self.requester_id,
            "relationship": self.relationship,
            "scopes": list(self.scopes),
            "valid_until": self.valid_until.isoformat(),
            "requested_on": self.requested_on.isoformat(),
            "kinship_proof": {"reference": self.proof_reference, "score": self.proof_score},
            "status": self.status,
            "decided_on": self.decided_on.isoformat() if self.decided_on else None,
            "decided_by": self.decided_by,
            "reason": self.reason,
        }


def grant_active(grant: Mapping[str, Any], day: date) -> bool:
    """``ProxyGrant.active_on`` for a grant as the status shows it."""
    return grant["status"] == "granted" and day.isoformat() <= grant["valid_until"]


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


def first_of_months(start: date, end: date) -> int:
    """How many first-of-month days d satisfy start <= d < end."""
    count, first = 0, _first_of_month_on_or_after(start)
    while first < end:
        count += 1
        first = _next_month(first)
    return count


def _first_of_month_on_or_after(day: date) -> date:
    return day if day.day == 1 else _next_month(day)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


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


class Replay:
    """The replay in progress. ``apply`` continues it with a fact that sorts after every fact
    replayed so far and changes nothing global (not a death), which gives exactly what a full
    replay would (``can_extend``); anything else needs a full replay (``Replay.of``)."""

    @classmethod
    def of(cls, facts: Iterable[Fact], history: History | None = None) -> Replay:
        ordered = sorted(facts, key=Fact.sort_key)
        replay = cls(death_date_of(ordered), history or History())
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
        self.last_key: tuple[date, int, str] | None = None
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
        self._note_months_until(fact)
        self.last_key = fact.sort_key()
        policy = self._governing(fact)
        handler = getattr(self, f"_on_{fact.kind}")
        handler(fact, policy)
        self._note_transition(fact, policy)

    def _governing(self, fact: Fact) -> PolicyVersion:
        """The version a fact is judged under: an open cycle's, from its opening day, for what
        concerns it (its marks, evidence and checks); otherwise the one on the fact's date."""
        cycle = self.open_cycle()
        if cycle is not None and fact.kind in CYCLE_FACTS and fact.on >= cycle.opened_on:
            return policy_in_force(cycle.opened_on)
        return policy_in_force(fact.on)

    def _on_person_registered(self, fact: Fact, policy: PolicyVersion) -> None:
        key = (fact.on, fact.event_id)
        if self.record_key is None or key > self.record_key:
            self.record, self.record_key = dict(fact.data), key
            if fact.data.get("bank_account"):
                self.account = (fact.data["bank_account"], fact.data["bank_region"])

    def _on_bank_account_changed(self, fact: Fact, policy: PolicyVersion) -> None:
        self.account = (fact.data["bank_account"], fact.data["bank_region"])

    def _on_death_registered(self, fact: Fact, policy: PolicyVersion) -> None:
        self.dead = True
        if self.open_cycle() is not None:
            self.cycle.status = "closed"  # type: ignore[union-attr]
        for grant in self.proxies.values():
            if grant.status in ("granted", "pending"):
                self._end_grant(grant, "ended", fact, "principal_death", "proxy_ended", policy)

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
        self.award_cents = calculation.monthly_pension_cents
        self.pension_start = _next_month(fact.on)
        if self.points_from is None:
            self.points_from = self.pension_start
        start = f"{self.pension_start.year:04d}-{self.pension_start.month:02d}"
        details = calculation.explain() | {"pension_starts": start}
        self._decide(
            f"awarded:{fact.event_id}",
            "awarded",
            fact,
            policy,
            "retirement_eligible",
            details=details,
        )
        self._notice(f"pension_awarded:{fact.event_id}", "pension_awarded", fact, details)

    # ----- payroll: only where the person stood; money is settled in domain.payments ----------

    def _on_payment_due(self, fact: Fact, policy: PolicyVersion) -> None:
        if self.points_from is None:
            self.points_from = fact.on
            self._note_months_until(fact)

    def _note_months_until(self, fact: Fact) -> None:
        """Note where the person stood on each first of a month the replay has now passed: the
        first days before ``fact``'s, and its own day when it is the payroll (the day's last)."""
        if self.points_from is None or self.standing() is None:
            return
        day = self._next_point or _first_of_month_on_or_after(self.points_from)
        while day < fact.on or (day == fact.on and fact.kind == "payment_due"):
            standing = self.standing(as_if_alive=True)
            status = standing.benefit_status if standing else None
            cycle = self.open_cycle()
            month = f"{day.year:04d}-{day.month:02d}"
            self.months[month] = MonthPoint(
                month=month,
                on=day,
                status=status,
                pension_cents=self.pension_cents(),
                started=self.pension_start is None or self.pension_start <= day,
                held_cycle=cycle.year if status is BenefitStatus.HELD and cycle else None,
            )
            day = _next_month(day)
        self._next_point = day

    def _on_payment_reviewed(self, fact: Fact, policy: PolicyVersion) -> None:
        self.reviews.append(
            Review(
                fact.data["month"],
                fact.data["kind"],
                bool(fact.data["approved"]),
                fact.on,
                fact.event_id,
            )
        )

    # ----- custody ----------------------------------------------------------------------------

    def _on_custody_started(self, fact: Fact, policy: PolicyVersion) -> None:
        self.custody.setdefault(fact.data["case_ref"], fact.on)

    def _on_custody_ended(self, fact: Fact, policy: PolicyVersion) -> None:
        # In date order an end closes the case's open stint; a case can start again later.
        self.custody.pop(fact.data["case_ref"], None)
        cycle = self.open_cycle()
        if cycle is not None and cycle.deferred and not self.in_custody() and not self.dead:
            for mark in sorted(cycle.deferred):
                self._escalate(cycle, mark, fact, policy)
            cycle.deferred.clear()

    # ----- certification ----------------------------------------------------------------------

    def _after_death(self, fact: Fact, policy: PolicyVersion) -> bool:
        if self.known_death_date is None or fact.on <= self.known_death_date:
            return False
        self.evidence_alerts.setdefault(
            fact.event_id,
            {
                "open": True,
                "on": fact.on.isoformat(),
                "kind": fact.kind,
                "evidence": dict(fact.data),
                "death_date": self.known_death_date.isoformat(),
            },
        )
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
        score = fact.data.get("score")
        if score is not None and score < policy.proxy.liveness_min_score:
            self._decide(
                f"liveness_not_accepted:{fact.event_id}",
                "liveness_not_accepted",
                fact,
                policy,
                "score_below_threshold",
                details={"score": score, "threshold": policy.proxy.liveness_min_score},
            )
            return
        self.checks.append(fact)
        cycle = self.open_cycle()
        if cycle is not None and fact.on >= cycle.opened_on:
            self._certify(cycle, "liveness", fact, fact.on, policy)

    def _on_birthday_month_started(self, fact: Fact, policy: PolicyVersion) -> None:
        year = int(fact.data["year"])
        if year in self.cycles or self.open_cycle() is not None:
            return
        standing = self.standing()
        if standing is None or standing.benefit_status not in (
            BenefitStatus.ACTIVE,
            BenefitStatus.HELD,
        ):
            return
        rules = policy.certification
        cycle = Cycle(year=year, opened_on=fact.on, rule_version=policy.version, marks=rules.marks)
        self.cycles[year] = self.cycle = cycle
        self._decide(f"cycle_opened:{year}", "cycle_opened", fact, policy, "birthday_month")
        window_start = fact.on - timedelta(days=rules.evidence_lookback_days)
        recent = [e for e in self.evidence if window_start <= e.on <= fact.on]
        same_day = [c for c in self.checks if c.on == fact.on]  # a check on the opening day
        if same_day:
            self._certify(
                cycle, "liveness", max(same_day, key=Fact.sort_key), fact.on, policy, fact
            )
        elif recent:
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
        if self.in_custody():
            # A suspended person is not invited, reminded or held; the mark is reached (it is
            # never raised again) and takes effect if the suspension ends with the cycle open.
            cycle.deferred.add(mark)
            return
        self._escalate(cycle, mark, fact, policy)

    def _escalate(self, cycle: Cycle, mark: int, fact: Fact, policy: PolicyVersion) -> None:
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

    # ----- family proxies and reviews ---------------------------------------------------------

    def _on_proxy_requested(self, fact: Fact, policy: PolicyVersion) -> None:
        data = fact.data
        proof = data["kinship_proof"]
        grant = ProxyGrant(
            request_id=fact.event_id,
            requester_id=data["requester_id"],
            relationship=data["relationship"],
            scopes=tuple(data["scopes"]),
            valid_until=date.fromisoformat(str(data["valid_until"])),
            requested_on=fact.on,
            proof_reference=proof["reference"],
            proof_score=float(proof["score"]),
        )
        self.proxies[fact.event_id] = grant
        died = self.known_death_date is not None and fact.on > self.known_death_date
        if self.dead or died:
            self._end_grant(grant, "refused", fact, "principal_deceased", "proxy_refused", policy)
        elif grant.proof_score >= policy.proxy.auto_grant_score:
            self._end_grant(grant, "granted", fact, "kinship_proof_score", "proxy_granted", policy)
            self._notice(
                f"proxy_granted:{grant.request_id}", "proxy_granted", fact, self._grant(grant)
            )
        else:
            self._decide(
                f"proxy_review_requested:{grant.request_id}",
                "proxy_review_requested",
                fact,
                policy,
                "kinship_proof_below_threshold",
                details=self._grant(grant) | {"threshold": policy.proxy.auto_grant_score},
            )

    def _on_proxy_request_reviewed(self, fact: Fact, policy: PolicyVersion) -> None:
        grant = self.proxies.get(fact.data["request_id"])
        if grant is None or grant.status != "pending":
            return
        grant.decided_by = fact.data["reviewer"]
        if fact.data["approved"]:
            self._end_grant(grant, "granted", fact, "review_approved", "proxy_granted", policy)
            self._notice(
                f"proxy_granted:{grant.request_id}", "proxy_granted", fact, self._grant(grant)
            )
        else:
            self._end_grant(grant, "rejected", fact, "review_rejected", "proxy_rejected", policy)

    def _on_proxy_revoked(self, fact: Fact, policy: PolicyVersion) -> None:
        grant = self.proxies.get(fact.data["request_id"])
        if grant is None or grant.status not in ("granted", "pending"):
            return
        grant.decided_by = fact.data["revoked_by"]
        reason = f"revoked_by_{fact.data['role']}"
        self._end_grant(grant, "revoked", fact, reason, "proxy_revoked", policy)

    def _end_grant(
        self,
        grant: ProxyGrant,
        status: str,
        fact: Fact,
        reason: str,
        decision: str,
        policy: PolicyVersion,
    ) -> None:
        grant.status, grant.decided_on, grant.reason = status, fact.on, reason
        details = self._grant(grant)
        if fact.kind != "proxy_requested" and fact.data.get("reason"):
            details["review_reason"] = fact.data["reason"]
        self._decide(
            f"{decision}:{grant.request_id}", decision, fact, policy, reason, details=details
        )

    @staticmethod
    def _grant(grant: ProxyGrant) -> dict[str, Any]:
        return {
            "request_id": grant.request_id,
            "requester_id": grant.requester_id,
            "relationship": grant.relationship,
            "scopes": list(grant.scopes),
            "valid_until": grant.valid_until.isoformat(),
            "decided_by": grant.decided_by,
        }

    def _on_evidence_reviewed(self, fact: Fact, policy: PolicyVersion) -> None:
        alert = self.evidence_alerts.get(fact.data["evidence_event_id"])
        if alert is None or not alert["open"]:
            return
        alert["open"] = False
        self._decide(
            f"evidence_reviewed:{fact.data['evidence_event_id']}",
            "evidence_reviewed",
            fact,
            policy,
            fact.data["reason"],
            details={
                "evidence_event_id": fact.data["evidence_event_id"],
                "death_stands": fact.data["approved"],
                "reviewer": fact.data["reviewer"],
            },
        )

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
        resumed = cycle.held_on is not None or self.history.was_held(cycle.year)
        cycle.status = "certified"
        cycle.method = method
        cycle.certified_on = on
        cycle.evidence_event_id = evidence.event_id
        held = cycle.held_months(on) | set(self.history.held_months.get(cycle.year, ()))
        cycle.arrears_months = len(held)
        kind = "silently_certified" if method == "silent" else "certified_by_liveness"
        submitted = {
            k: evidence.data[k] for k in ("reference", "submitted_by") if evidence.data.get(k)
        }
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
            }
            | submitted,
        )
        template = "pension_resumed" if resumed else "pension_continues"
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
        self._decide(key, kind, fact, policy, reason, details=details)


# Registered and terminated happen once to a person; a cycle is flagged, held and resumed at most
# once. A later fact may move such a decision's date, but never records it a second time.
ONCE_PER_PERSON = ("registered", "terminated")
ONCE_PER_CYCLE = ("flagged_blue", "held", "resumed")


def transition_key(kind: str, event_id: str, cycle_year: int | None) -> str:
    if kind in ONCE_PER_PERSON:
        return kind
    if kind in ONCE_PER_CYCLE and cycle_year is not None:
        return f"{kind}:{cycle_year}"
    return f"{kind}:{event_id}"


def transition(old: Standing | None, new: Standing) -> tuple[str | None, str | None]:
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
        return (
            ("held", new.reason) if old.benefit_status is not BenefitStatus.HELD else (None, None)
        )
    # Now active.
    if old.benefit_status is BenefitStatus.SUSPENDED:
        return "reinstated", "custody_ended"
    if old.benefit_status is BenefitStatus.HELD:
        return "resumed", "certified"
    if old.benefit_status is BenefitStatus.NOT_RETIRED:
        return "activated", "pension_awarded_or_on_record"
    if new.risk_level is RiskLevel.BLUE and old.risk_level is RiskLevel.NONE:
        return "flagged_blue", new.reason
    return None, None  # blue cleared by a certification, which is its own decision


def fingerprint(account: str) -> str:
    """A stable token for an account, so keys and indexes never carry the number itself."""
    return hashlib.sha256(account.encode()).hexdigest()
