"""A person's benefit entitlement as an event-sourced aggregate.

The aggregate records each accepted life event as a fact, then decides the person's standing
from *all* facts ordered by their dates, so the order in which events arrive never changes the
outcome. Every change of standing is a decision event carrying its reason, the rule version and
the ``event_id`` that caused it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.policy import policy_in_force

PERSON_NAMESPACE = uuid5(NAMESPACE_URL, "urn:benefits-engine:person")


class BenefitStatus(StrEnum):
    ACTIVE = "active"
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
class GoldenRecord:
    """The person's registered particulars, as last registered."""

    national_id: str
    name: str
    birth_date: date
    sex: str
    region: str
    monthly_pension_cents: int


def person_aggregate_id(person_id: str) -> UUID:
    """The aggregate ID of the person with this external ``person_id``."""
    return uuid5(PERSON_NAMESPACE, person_id)


class Pensioner(Aggregate):
    """One person's facts and benefit decisions."""

    class Decided(Aggregate.Event):
        """Base of every decision: the standing it set, why, under which rules, caused by what."""

        decision: str
        on: date
        reason: str | None
        event_id: str
        rule_version: str
        benefit_status: str
        risk_level: str
        status_reason: str | None

        def apply(self, aggregate: Pensioner) -> None:
            aggregate.standing = Standing(
                BenefitStatus(self.benefit_status), RiskLevel(self.risk_level), self.status_reason
            )

    class Registered(Decided):
        """The person entered the register with this initial standing."""

    class PensionActivated(Decided):
        """A registered pension began to be paid."""

    class PensionDeactivated(Decided):
        """A corrected record shows no pension to pay."""

    class PensionSuspended(Decided):
        """Payments stopped while something holds the pension (custody)."""

    class PensionReinstated(Decided):
        """What held the pension ended; payments resume."""

    class PensionTerminated(Decided):
        """The pension ended for good (death)."""

    @staticmethod
    def create_id(person_id: str, **_: Any) -> UUID:
        return person_aggregate_id(person_id)

    @event("PersonRegistered")
    def __init__(
        self, person_id: str, event_id: str, occurred_on: date, record: dict[str, Any]
    ) -> None:
        self.person_id = person_id
        self.seen_event_ids: set[str] = set()
        self.registrations: dict[str, tuple[date, dict[str, Any]]] = {}
        self.deaths: dict[str, tuple[date, date]] = {}
        self.custody_cases: dict[str, dict[str, date]] = {}
        self.standing: Standing | None = None
        self._note_registration(event_id, occurred_on, record)

    # ----- commands -------------------------------------------------------------------------

    @classmethod
    def register(
        cls, person_id: str, event_id: str, occurred_on: date, record: GoldenRecord
    ) -> Pensioner:
        """Register a new person from a ``person_registered`` life event."""
        pensioner = cls(
            person_id=person_id,
            event_id=event_id,
            occurred_on=occurred_on,
            record=_record_to_dict(record),
        )
        pensioner._decide(event_id, occurred_on)
        return pensioner

    def has_seen(self, event_id: str) -> bool:
        """True when the life event with this ID has already had its effect."""
        return event_id in self.seen_event_ids

    def correct_record(self, event_id: str, occurred_on: date, record: GoldenRecord) -> None:
        """Apply a later (or late-arriving earlier) ``person_registered`` for a known person."""
        if self.has_seen(event_id):
            return
        self._record_corrected(
            event_id=event_id, occurred_on=occurred_on, record=_record_to_dict(record)
        )
        self._decide(event_id, occurred_on)

    def register_death(self, event_id: str, occurred_on: date, death_date: date) -> None:
        if self.has_seen(event_id):
            return
        self._death_registered(event_id=event_id, occurred_on=occurred_on, death_date=death_date)
        self._decide(event_id, occurred_on)

    def start_custody(self, event_id: str, occurred_on: date, case_ref: str) -> None:
        if self.has_seen(event_id):
            return
        self._custody_started(event_id=event_id, occurred_on=occurred_on, case_ref=case_ref)
        self._decide(event_id, occurred_on)

    def end_custody(self, event_id: str, occurred_on: date, case_ref: str) -> None:
        if self.has_seen(event_id):
            return
        self._custody_ended(event_id=event_id, occurred_on=occurred_on, case_ref=case_ref)
        self._decide(event_id, occurred_on)

    # ----- facts (event mutators) ------------------------------------------------------------

    @event("RecordCorrected")
    def _record_corrected(self, event_id: str, occurred_on: date, record: dict[str, Any]) -> None:
        self._note_registration(event_id, occurred_on, record)

    @event("DeathRegistered")
    def _death_registered(self, event_id: str, occurred_on: date, death_date: date) -> None:
        self.seen_event_ids.add(event_id)
        self.deaths[event_id] = (occurred_on, death_date)

    @event("CustodyStarted")
    def _custody_started(self, event_id: str, occurred_on: date, case_ref: str) -> None:
        self.seen_event_ids.add(event_id)
        case = self.custody_cases.setdefault(case_ref, {})
        case["started"] = min(occurred_on, case.get("started", occurred_on))

    @event("CustodyEnded")
    def _custody_ended(self, event_id: str, occurred_on: date, case_ref: str) -> None:
        self.seen_event_ids.add(event_id)
        case = self.custody_cases.setdefault(case_ref, {})
        case["ended"] = max(occurred_on, case.get("ended", occurred_on))

    def _note_registration(self, event_id: str, occurred_on: date, record: dict[str, Any]) -> None:
        self.seen_event_ids.add(event_id)
        self.registrations[event_id] = (occurred_on, record)

    # ----- derived state -----------------------------------------------------------------------

    @property
    def record(self) -> GoldenRecord:
        return _record_from_dict(current_registration(self.registrations))

    @property
    def death_date(self) -> date | None:
        """Date of death from the latest-dated death registration (a correction supersedes)."""
        if not self.deaths:
            return None
        event_id = max(self.deaths, key=lambda k: (self.deaths[k][0], k))
        return self.deaths[event_id][1]

    @property
    def in_custody(self) -> bool:
        """An open custody case: started and not ended on or after its start."""
        return any(
            "started" in case and not ("ended" in case and case["ended"] >= case["started"])
            for case in self.custody_cases.values()
        )

    def assess(self) -> Standing:
        """The standing that all known facts call for. Death is final; custody holds a pension."""
        if self.death_date is not None:
            return Standing(BenefitStatus.TERMINATED, RiskLevel.RED, "death")
        if self.record.monthly_pension_cents == 0:
            return Standing(BenefitStatus.NOT_RETIRED, RiskLevel.NONE, None)
        if self.in_custody:
            return Standing(BenefitStatus.SUSPENDED, RiskLevel.RED, "custody")
        return Standing(BenefitStatus.ACTIVE, RiskLevel.NONE, None)

    def _decide(self, event_id: str, on: date) -> None:
        new = self.assess()
        old = self.standing
        if new == old:
            return
        decision_class, decision, reason = _decision_for(old, new)
        self.trigger_event(
            decision_class,
            decision=decision,
            on=on,
            reason=reason,
            event_id=event_id,
            rule_version=policy_in_force(on).version,
            benefit_status=new.benefit_status.value,
            risk_level=new.risk_level.value,
            status_reason=new.reason,
        )


def current_registration(registrations: dict[str, tuple[date, dict[str, Any]]]) -> dict[str, Any]:
    """The registration that stands: latest ``occurred_on`` wins, ties go to the larger event ID."""
    event_id = max(registrations, key=lambda k: (registrations[k][0], k))
    return registrations[event_id][1]


def _decision_for(
    old: Standing | None, new: Standing
) -> tuple[type[Pensioner.Decided], str, str | None]:
    """Which decision a change of standing is, in the domain's words."""
    if old is None:
        return Pensioner.Registered, "registered", new.reason
    if new.benefit_status is BenefitStatus.TERMINATED:
        return Pensioner.PensionTerminated, "terminated", new.reason
    if new.benefit_status is BenefitStatus.SUSPENDED:
        return Pensioner.PensionSuspended, "suspended", new.reason
    if new.benefit_status is BenefitStatus.NOT_RETIRED:
        return Pensioner.PensionDeactivated, "deactivated", "no_pension_on_record"
    if old.benefit_status is BenefitStatus.SUSPENDED:
        return Pensioner.PensionReinstated, "reinstated", "custody_ended"
    return Pensioner.PensionActivated, "activated", "pension_on_record"


def _record_to_dict(record: GoldenRecord) -> dict[str, Any]:
    return {
        "national_id": record.national_id,
        "name": record.name,
        "birth_date": record.birth_date.isoformat(),
        "sex": record.sex,
        "region": record.region,
        "monthly_pension_cents": record.monthly_pension_cents,
    }


def _record_from_dict(data: dict[str, Any]) -> GoldenRecord:
    return GoldenRecord(
        national_id=data["national_id"],
        name=data["name"],
        birth_date=date.fromisoformat(data["birth_date"]),
        sex=data["sex"],
        region=data["region"],
        monthly_pension_cents=data["monthly_pension_cents"],
    )
