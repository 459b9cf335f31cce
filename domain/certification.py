"""Annual no-touch certification: a cycle opens on the first day of the birth month; life evidence
dated no earlier than ``certification.evidence_lookback_days`` before the opening certifies it
silently, a liveness check (a proxy's at ``proxy.liveness_min_score`` or more) certifies it; still
open on ``certification.invitation_day``, ``blue_flag_day`` and ``hold_day`` it invites, flags
blue and holds. (Evidence dated after a registered death certifies nothing: it is an alert for a
caseworker, ``domain.death_evidence``.)"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from domain.death_evidence import after_death
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

from collections.abc import Mapping
from dataclasses import dataclass, field

# Facts about an open certification cycle: judged under the version in force when it opened.
CYCLE_FACTS = frozenset({"certification_deadline_reached", "life_evidence", "liveness_verified"})


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
        first = first_of_month_on_or_after(self.held_on)
        while first < until:
            months.add(f"{first.year:04d}-{first.month:02d}")
            first = first_day_after(first)
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


def first_of_months(start: date, end: date) -> int:
    """How many first-of-month days d satisfy start <= d < end."""
    count, first = 0, first_of_month_on_or_after(start)
    while first < end:
        count += 1
        first = first_day_after(first)
    return count


@handles(
    "life_evidence", order=3, decisions=("silently_certified", "evidence_after_death", "resumed")
)
def life_evidence(r: Replay, fact: Fact, policy: PolicyVersion) -> None:
    if after_death(r, fact, policy):
        return
    r.evidence.append(fact)
    certify_open_cycle(r, "silent", fact, policy)


@handles(
    "liveness_verified",
    order=4,
    decisions=("certified_by_liveness", "liveness_not_accepted", "evidence_after_death", "resumed"),
)
def liveness_verified(r: Replay, fact: Fact, policy: PolicyVersion) -> None:
    if after_death(r, fact, policy):
        return
    score = fact.data.get("score")
    if score is not None and score < policy.proxy.liveness_min_score:
        r.decide(
            f"liveness_not_accepted:{fact.event_id}",
            "liveness_not_accepted",
            fact,
            policy,
            "score_below_threshold",
            details={"score": score, "threshold": policy.proxy.liveness_min_score},
        )
        return
    r.checks.append(fact)
    certify_open_cycle(r, "liveness", fact, policy)


@handles(
    "life_certificate_submitted",
    order=4.5,  # like a liveness check: before a death registered the same day
    decisions=("certified_by_liveness", "evidence_after_death", "resumed"),
)
def life_certificate_submitted(r: Replay, fact: Fact, policy: PolicyVersion) -> None:
    """A life certificate certifies an open cycle on its date, as a liveness check does."""
    if after_death(r, fact, policy):
        return
    r.checks.append(fact)
    certify_open_cycle(r, "liveness", fact, policy)


@handles("birthday_month_started", order=14, decisions=("cycle_opened", "silently_certified"))
def birthday_month_started(r: Replay, fact: Fact, policy: PolicyVersion) -> None:
    year = int(fact.data["year"])
    if year in r.cycles or r.open_cycle() is not None:
        return
    standing = r.standing()
    if standing is None or standing.benefit_status not in (
        BenefitStatus.ACTIVE,
        BenefitStatus.HELD,
    ):
        return
    rules = policy.certification
    cycle = Cycle(year=year, opened_on=fact.on, rule_version=policy.version, marks=rules.marks)
    r.cycles[year] = r.cycle = cycle
    r.decide(f"cycle_opened:{year}", "cycle_opened", fact, policy, "birthday_month")
    window_start = fact.on - timedelta(days=rules.evidence_lookback_days)
    recent = [e for e in r.evidence if window_start <= e.on <= fact.on]
    same_day = [c for c in r.checks if c.on == fact.on]  # a check on the opening day
    if same_day:
        certify(r, cycle, "liveness", max(same_day, key=Fact.sort_key), fact.on, policy, fact)
    elif recent:
        evidence = max(recent, key=Fact.sort_key)
        certify(r, cycle, "silent", evidence, max(fact.on, evidence.on), policy, fact)


@handles(
    "certification_deadline_reached",
    order=13,
    decisions=("liveness_invited", "flagged_blue", "held"),
)
def certification_deadline_reached(r: Replay, fact: Fact, policy: PolicyVersion) -> None:
    cycle = r.open_cycle()
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
    if r.in_custody():
        # A suspended person is not invited, reminded or held; the mark is reached (it is
        # never raised again) and takes effect if the suspension ends with the cycle open.
        cycle.deferred.add(mark)
        return
    escalate(r, cycle, mark, fact, policy)


def escalate(r: Replay, cycle: Cycle, mark: int, fact: Fact, policy: PolicyVersion) -> None:
    invitation, blue, hold = cycle.marks
    if mark == invitation:
        r.decide(
            f"liveness_invited:{cycle.year}",
            "liveness_invited",
            fact,
            policy,
            f"not certified {mark} days after opening",
        )
        r.notify("liveness_invitation", cycle, fact)
    elif mark == blue:
        r.notify("liveness_reminder", cycle, fact)
    elif mark == hold:
        cycle.held_on = fact.on
        r.notify("payments_held", cycle, fact)


def certify_open_cycle(r: Replay, method: str, fact: Fact, policy: PolicyVersion) -> None:
    """A sign of life on or after the open cycle's opening certifies it (``method``)."""
    cycle = r.open_cycle()
    if cycle is not None and fact.on >= cycle.opened_on:
        certify(r, cycle, method, fact, fact.on, policy)


def certify(
    r: Replay,
    cycle: Cycle,
    method: str,
    evidence: Fact,
    on: date,
    policy: PolicyVersion,
    trigger: Fact | None = None,
) -> None:
    resumed = cycle.held_on is not None or r.history.was_held(cycle.year)
    cycle.status = "certified"
    cycle.method = method
    cycle.certified_on = on
    cycle.evidence_event_id = evidence.event_id
    held = cycle.held_months(on) | set(r.history.held_months.get(cycle.year, ()))
    cycle.arrears_months = len(held)
    kind = "silently_certified" if method == "silent" else "certified_by_liveness"
    submitted = {k: evidence.data[k] for k in ("reference", "submitted_by") if evidence.data.get(k)}
    r.decide(
        f"certified:{cycle.year}",
        kind,
        trigger or evidence,
        policy,
        reason=f"{evidence.kind}:{evidence.data.get('kind') or evidence.data.get('channel', '')}",
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
    r.notify(template, cycle, trigger or evidence, on=on)
