"""Standing: registration, the record and account that stand, death, custody, and how a change of
standing is named (registered, activated, suspended, reinstated, held, resumed, terminated...).

Rules: the registration with the latest ``occurred_on`` stands, and an account change applies
after a registration of the same day; a death is final and the latest-dated death registration
gives the death date; an open custody case suspends the pension (no parameters)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from domain.facts import (
    BenefitStatus,
    Fact,
    RiskLevel,
    Standing,
    handles,
)
from domain.policy import PolicyVersion

if TYPE_CHECKING:
    from domain.entitlement import Replay

from collections.abc import Iterable

from domain.certification import escalate
from domain.payroll import note_months_until
from domain.proxies import end_grant


@handles("person_registered", order=0, decisions=("registered",))
def person_registered(r: Replay, fact: Fact, policy: PolicyVersion) -> None:
    key = (fact.on, fact.event_id)
    if r.record_key is None or key > r.record_key:
        r.record, r.record_key = dict(fact.data), key
        if fact.data.get("bank_account"):
            r.account = (fact.data["bank_account"], fact.data["bank_region"])


@handles("bank_account_changed", order=1)
def bank_account_changed(r: Replay, fact: Fact, policy: PolicyVersion) -> None:
    r.account = (fact.data["bank_account"], fact.data["bank_region"])


@handles("death_registered", order=5, decisions=("terminated", "proxy_ended"))
def death_registered(r: Replay, fact: Fact, policy: PolicyVersion) -> None:
    r.dead = True
    if r.open_cycle() is not None:
        r.cycle.status = "closed"  # type: ignore[union-attr]
    for grant in r.proxies.values():
        if grant.status in ("granted", "pending"):
            end_grant(r, grant, "ended", fact, "principal_death", "proxy_ended", policy)
    if fact.on.day == 1 and registered_death_date(fact) == fact.on:
        # Alive on the first of the month, the person is owed its pension; but the payroll
        # never reaches someone registered dead that morning, so the month is noted here, as
        # the run would have noted it after the death.
        note_months_until(r, fact, its_own_day=True)


@handles("custody_started", order=6, decisions=("suspended",))
def custody_started(r: Replay, fact: Fact, policy: PolicyVersion) -> None:
    r.custody.setdefault(fact.data["case_ref"], fact.on)


@handles("custody_ended", order=7, decisions=("reinstated", "held", "liveness_invited"))
def custody_ended(r: Replay, fact: Fact, policy: PolicyVersion) -> None:
    # In date order an end closes the case's open stint; a case can start again later.
    r.custody.pop(fact.data["case_ref"], None)
    cycle = r.open_cycle()
    if cycle is not None and cycle.deferred and not r.in_custody() and not r.dead:
        for mark in sorted(cycle.deferred):
            escalate(r, cycle, mark, fact, policy)
        cycle.deferred.clear()


def death_date_of(facts: Iterable[Fact]) -> date | None:
    """From the latest-dated death registration (a correction supersedes an earlier one)."""
    deaths = [f for f in facts if f.kind == "death_registered"]
    if not deaths:
        return None
    latest = max(deaths, key=lambda f: (f.on, f.event_id))
    return registered_death_date(latest)


def registered_death_date(fact: Fact) -> date:
    """The date of death a ``death_registered`` fact gives."""
    return date.fromisoformat(str(fact.data["death_date"]))


def current_record(facts: Iterable[Fact]) -> dict[str, Any]:
    """The registration that stands: latest ``occurred_on`` wins, ties go to the larger event ID."""
    registrations = [f for f in facts if f.kind == "person_registered"]
    return dict(max(registrations, key=lambda f: (f.on, f.event_id)).data)


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
