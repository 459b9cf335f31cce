"""A person's benefit entitlement as an event-sourced aggregate.

The aggregate records each accepted life event as a fact, then asks ``domain.entitlement`` what
all facts together call for and ``domain.payments`` how money settles, records the decisions,
instructions and notifications it has not recorded before, and reconciles its recorded status
with the derived one (``domain.reconciliation``): a difference becomes an explicit correction,
never a silent drop. Decisions are never retracted. Every decision carries its reason, the rule
version and the ``event_id`` that caused it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, Snapshot, event
from eventsourcing.utils import get_topic

from domain.entitlement import (
    Assessment,
    BenefitStatus,
    Fact,
    History,
    Replay,
    RiskLevel,
    Standing,
    current_record,
)
from domain.facts import FACT_TYPES
from domain.money import Instruction, MoneyRecord, Settlement
from domain.payments import settle
from domain.reconciliation import corrections, standing_of, summarise
from domain.replay_state import replay_from, stamp, state_of

__all__ = ["BenefitStatus", "GoldenRecord", "Pensioner", "RiskLevel", "Standing", "mask_name"]

PERSON_NAMESPACE = uuid5(NAMESPACE_URL, "urn:benefits-engine:person")


@dataclass(frozen=True)
class GoldenRecord:
    """The person's registered particulars, as last registered."""

    national_id: str
    name: str
    birth_date: date
    sex: str
    region: str
    monthly_pension_cents: int
    bank_account: str | None = None
    bank_region: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "national_id": self.national_id,
            "name": self.name,
            "birth_date": self.birth_date.isoformat(),
            "sex": self.sex,
            "region": self.region,
            "monthly_pension_cents": self.monthly_pension_cents,
        }
        if self.bank_account:
            data["bank_account"] = self.bank_account
            data["bank_region"] = self.bank_region
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GoldenRecord:
        return cls(
            national_id=data["national_id"],
            name=data["name"],
            birth_date=date.fromisoformat(data["birth_date"]),
            sex=data["sex"],
            region=data["region"],
            monthly_pension_cents=data["monthly_pension_cents"],
            bank_account=data.get("bank_account"),
            bank_region=data.get("bank_region"),
        )


def mask_name(name: str) -> str:
    """Names are personal data: outside the person's own record only the first character shows."""
    return name[:1] + "*" * max(0, len(name) - 1)


@lru_cache(maxsize=65_536)
def person_aggregate_id(person_id: str) -> UUID:
    """The aggregate ID of the person with this external ``person_id``."""
    return uuid5(PERSON_NAMESPACE, person_id)


class Pensioner(Aggregate):
    """One person's facts, decisions and notifications."""

    # ----- facts

    class FactRecorded(Aggregate.Event):
        """An accepted life event of any type (``kind``): the fact, as the replay sees it."""

        kind: str
        event_id: str
        occurred_on: date
        data: dict[str, Any]
        # How it reached us (source agency, the engine's day, the time received): for the
        # operations figures, never for a decision.
        arrival: dict[str, Any] | None = None

        def apply(self, aggregate: Pensioner) -> None:
            aggregate._note(Fact(self.kind, self.event_id, self.occurred_on, self.data))

    # ----- decisions and notifications

    class Decided(Aggregate.Event):
        """Base of every decision: what, when, why, under which rules, caused by which event.

        It also carries the person's standing *after* the step that made it.
        """

        key: str
        decision: str
        on: date
        reason: str | None
        event_id: str
        rule_version: str
        details: dict[str, Any]
        benefit_status: str
        risk_level: str
        status_reason: str | None

        def apply(self, aggregate: Pensioner) -> None:
            aggregate.decision_keys.add(self.key)
            aggregate.money.note_decision(self.decision, self.details, self.reason, self.on)

    class PaymentInstructed(Aggregate.Event):
        """A payment instruction was given: the only record that holds the account in clear."""

        instruction_id: str
        key: str
        kind: str
        month: str
        amount_cents: int
        on: date
        bank_account: str
        bank_region: str

        def apply(self, aggregate: Pensioner) -> None:
            aggregate.money.note_instruction(
                Instruction(
                    self.key,
                    self.kind,
                    self.month,
                    self.amount_cents,
                    self.on,
                    self.bank_account,
                    self.bank_region,
                )
            )

    class NotificationQueued(Aggregate.Event):
        key: str
        template: str
        on: date
        event_id: str
        details: dict[str, Any]

        def apply(self, aggregate: Pensioner) -> None:
            aggregate.notice_keys.add(self.key)

    class StatusChanged(Aggregate.Event):
        """The person's status, as all facts now call for it (what status and indexes show)."""

        status: dict[str, Any]

        def apply(self, aggregate: Pensioner) -> None:
            aggregate.status = self.status

    # ----- snapshots

    class Snapshot(Snapshot):
        """The recorded state at a version, as plain data, so that loading a person with a long
        history reads one snapshot and the events after it instead of every event. It also holds
        the state of a full replay of the facts at that version, which loading continues with
        the facts after it, so the first fact after a load does not replay them all again."""

        @classmethod
        def take(cls, aggregate: Any) -> Pensioner.Snapshot:
            state = {
                "person_id": aggregate.person_id,
                "facts": [[f.kind, f.event_id, f.on, f.data] for f in aggregate.facts.values()],
                "dead_lettered": sorted(aggregate.dead_lettered),
                "decision_keys": sorted(aggregate.decision_keys),
                "notice_keys": sorted(aggregate.notice_keys),
                "money": aggregate.money.to_state(),
                "status": aggregate.status,
                "as_of": aggregate.as_of,
                "created_on": aggregate.created_on,
                "modified_on": aggregate.modified_on,
                # A full replay's, not the kept one's: the same facts always make the same state.
                "replay": state_of(Replay.of(aggregate.facts.values(), aggregate.held_history())),
                "replay_stamp": stamp(),
            }
            return cls(
                originator_id=aggregate.id,
                originator_version=aggregate.version,
                timestamp=cls.create_timestamp(),
                topic=get_topic(type(aggregate)),
                state=state,
            )

        def mutate(self, _: Any) -> Pensioner:
            state = self.state
            aggregate = object.__new__(Pensioner)
            aggregate.__dict__.update(
                _id=self.originator_id,
                _version=self.originator_version,
                _pending_events=[],
                _created_on=state["created_on"],
                _modified_on=state["modified_on"],
                person_id=state["person_id"],
                facts={f[1]: Fact(f[0], f[1], f[2], f[3]) for f in state["facts"]},
                dead_lettered=set(state["dead_lettered"]),
                decision_keys=set(state["decision_keys"]),
                notice_keys=set(state["notice_keys"]),
                money=MoneyRecord.from_state(state["money"]),
                status=state["status"],
                as_of=state["as_of"],
            )
            # Snapshots taken before it was kept have none; one taken under other rules is not used.
            if state.get("replay") is not None and state.get("replay_stamp") == stamp():
                replay = replay_from(state["replay"], aggregate.facts, aggregate.held_history())
                if replay is not None and replay.applied == len(aggregate.facts):
                    aggregate._keep(replay)
            return aggregate

    # ----- creation

    @staticmethod
    def create_id(person_id: str, **_: Any) -> UUID:
        return person_aggregate_id(person_id)

    @event("PersonRegistered")
    def __init__(
        self,
        person_id: str,
        event_id: str,
        occurred_on: date,
        record: dict[str, Any],
        dead_lettered: list[str] | None = None,
        arrival: dict[str, Any] | None = None,
    ) -> None:
        self.person_id = person_id
        self.facts: dict[str, Fact] = {}
        # Events about this person dead-lettered before they were known: never applied later.
        self.dead_lettered: set[str] = set(dead_lettered or ())
        self.decision_keys: set[str] = set()
        self.notice_keys: set[str] = set()
        self.money = MoneyRecord()
        self.status: dict[str, Any] | None = None
        self._note(Fact("person_registered", event_id, occurred_on, record))

    @classmethod
    def register(
        cls,
        person_id: str,
        event_id: str,
        occurred_on: date,
        record: GoldenRecord,
        dead_lettered: list[str] | None = None,
        arrival: dict[str, Any] | None = None,
    ) -> Pensioner:
        """Register a new person from a ``person_registered`` life event."""
        pensioner = cls(
            person_id=person_id,
            event_id=event_id,
            occurred_on=occurred_on,
            record=record.to_dict(),
            dead_lettered=sorted(dead_lettered or ()),
            arrival=arrival,
        )
        pensioner._decide(pensioner.facts[event_id])
        return pensioner

    # ----- commands

    def arrive(self, arrival: dict[str, Any] | None) -> None:
        """How the next fact reached us (set by the intake; recorded with the fact, for the
        operations figures only)."""
        self.arriving = arrival

    def has_seen(self, event_id: str) -> bool:
        """True when the life event with this ID has already had its effect (or was
        dead-lettered while the person was unknown)."""
        return event_id in self.facts or event_id in self.dead_lettered

    def correct_record(self, event_id: str, occurred_on: date, record: GoldenRecord) -> None:
        self.observe("person_registered", event_id, occurred_on, record.to_dict())

    def register_death(self, event_id: str, occurred_on: date, death_date: date) -> None:
        self.observe(
            "death_registered", event_id, occurred_on, {"death_date": death_date.isoformat()}
        )

    def start_custody(self, event_id: str, occurred_on: date, case_ref: str) -> None:
        self.observe("custody_started", event_id, occurred_on, {"case_ref": case_ref})

    def end_custody(self, event_id: str, occurred_on: date, case_ref: str) -> None:
        self.observe("custody_ended", event_id, occurred_on, {"case_ref": case_ref})

    def observe_life_evidence(self, event_id: str, occurred_on: date, kind: str) -> None:
        self.observe("life_evidence", event_id, occurred_on, {"kind": kind})

    def verify_liveness(
        self,
        event_id: str,
        occurred_on: date,
        channel: str,
        reference: str | None = None,
        score: float | None = None,
        submitted_by: str | None = None,
    ) -> None:
        data: dict[str, Any] = {"channel": channel}
        if channel == "proxy_app":
            data |= {"reference": reference, "score": score, "submitted_by": submitted_by}
        self.observe("liveness_verified", event_id, occurred_on, data)

    def open_cycle(self, event_id: str, occurred_on: date, year: int) -> None:
        """The birthday month began: open this year's certification cycle if it applies."""
        self.observe("birthday_month_started", event_id, occurred_on, {"year": year})

    def change_bank_account(
        self, event_id: str, occurred_on: date, bank_account: str, bank_region: str
    ) -> None:
        self.observe(
            "bank_account_changed",
            event_id,
            occurred_on,
            {"bank_account": bank_account, "bank_region": bank_region},
        )

    def establish_eligibility(self, event_id: str, occurred_on: date, **data: Any) -> None:
        """Contribution records show the person reached retirement eligibility: award or refuse."""
        self.observe("retirement_eligible", event_id, occurred_on, dict(data))

    def run_payment(
        self, event_id: str, occurred_on: date, month: str, account_holders: int = 1
    ) -> None:
        """This month's payment run reached the person."""
        self.observe(
            "payment_due",
            event_id,
            occurred_on,
            {"month": month, "account_holders": account_holders},
        )

    def review_payment(
        self,
        event_id: str,
        occurred_on: date,
        month: str,
        kind: str,
        approved: bool,
        reason: str | None = None,
        reviewer: str | None = None,
    ) -> None:
        data = {"month": month, "kind": kind, "approved": approved}
        data |= {k: v for k, v in (("reason", reason), ("reviewer", reviewer)) if v}
        self.observe("payment_reviewed", event_id, occurred_on, data)

    def request_proxy(
        self,
        event_id: str,
        occurred_on: date,
        requester_id: str,
        relationship: str,
        kinship_proof: dict[str, Any],
        scopes: list[str],
        valid_until: date,
    ) -> None:
        """A relative asks to act for this person; ``event_id`` is the request's ID."""
        data = {
            "requester_id": requester_id,
            "relationship": relationship,
            "kinship_proof": {
                "reference": kinship_proof["reference"],
                "score": float(kinship_proof["score"]),
            },
            "scopes": list(scopes),
            "valid_until": valid_until.isoformat(),
        }
        self.observe("proxy_requested", event_id, occurred_on, data)

    def review_proxy_request(
        self,
        event_id: str,
        occurred_on: date,
        request_id: str,
        approved: bool,
        reason: str,
        reviewer: str,
    ) -> None:
        data = {"request_id": request_id, "approved": approved, "reason": reason}
        self.observe("proxy_request_reviewed", event_id, occurred_on, data | {"reviewer": reviewer})

    def revoke_proxy(
        self,
        event_id: str,
        occurred_on: date,
        request_id: str,
        revoked_by: str,
        role: str,
        reason: str | None = None,
    ) -> None:
        data = {"request_id": request_id, "revoked_by": revoked_by, "role": role}
        if reason:
            data["reason"] = reason
        self.observe("proxy_revoked", event_id, occurred_on, data)

    def review_evidence(
        self,
        event_id: str,
        occurred_on: date,
        evidence_event_id: str,
        approved: bool,
        reason: str,
        reviewer: str,
    ) -> None:
        data = {"evidence_event_id": evidence_event_id, "approved": approved, "reason": reason}
        self.observe("evidence_reviewed", event_id, occurred_on, data | {"reviewer": reviewer})

    def reach_deadline(self, event_id: str, occurred_on: date, cycle_year: int, mark: int) -> None:
        """A cycle's 30/90/120-day mark came round (raised by the scheduler)."""
        self.observe(
            "certification_deadline_reached",
            event_id,
            occurred_on,
            {"cycle_year": cycle_year, "mark": mark},
        )

    # ----- derived state

    @property
    def record(self) -> GoldenRecord:
        return GoldenRecord.from_dict(current_record(self.facts.values()))

    @property
    def standing(self) -> Standing | None:
        """The standing as recorded last (equal to what the facts call for)."""
        return standing_of(self.status) if self.status else None

    @property
    def instructions(self) -> dict[str, Instruction]:
        return self.money.instructions

    def held_history(self) -> History:
        return History(held_months=self.money.held_months())

    def assess(self) -> Assessment:
        """Where the person stands, from a full replay of every fact."""
        return Replay.of(self.facts.values(), self.held_history()).assessment()

    def derived_status(self) -> dict[str, Any]:
        """The status a fresh replay of every fact calls for, given the money recorded."""
        assessment = self.assess()
        return summarise(assessment, settle(assessment, self.money, None, self.as_of))

    def _assess_with(self, fact: Fact) -> Assessment:
        """The assessment after ``fact``: the kept replay, which ``_note`` continued with it
        when that is exact (facts mostly arrive in date order), otherwise a full replay, which
        is then kept."""
        replay = self._kept()
        if replay is None or replay.applied != len(self.facts):
            replay = Replay.of(self.facts.values(), self.held_history())
            self._keep(replay)
        return replay.assessment()

    def _keep(self, replay: Replay | None) -> None:
        self._replay = replay
        self._replay_stamp = stamp() if replay is not None else None

    def _kept(self) -> Replay | None:
        """The replay kept, unless it was made under other rules (a policy change installed
        since, which can reach back to facts already replayed)."""
        replay: Replay | None = self.__dict__.get("_replay")
        if replay is not None and self.__dict__.get("_replay_stamp") != stamp():
            return None
        return replay

    def _settle(self, assessment: Assessment, fact: Fact) -> Settlement:
        """How money settles after ``fact``. A fact that is neither a payment run nor a review,
        met with the same month points, cycle outcomes, death date, account and recorded money
        as the last settlement that decided nothing, settles exactly as that one did: it is used
        again, so a long history is not walked month by month for each life sign."""
        inputs = None
        if fact.kind not in ("payment_due", "payment_reviewed"):
            # The month points are the replay's own (a full replay makes new ones), only ever
            # added to; decisions and instructions are all money is recorded from.
            inputs = (
                len(assessment.months),
                tuple((year, cycle.status) for year, cycle in assessment.cycles.items()),
                assessment.death_date,
                assessment.account,
                len(self.decision_keys),
                len(self.money.instructions),
            )
            kept = getattr(self, "_settled", None)
            if kept is not None and kept[0] is assessment.months and kept[1] == inputs:
                return kept[2]
        settlement = settle(assessment, self.money, fact, self.as_of)
        if inputs is not None and not settlement.decisions and not settlement.instructions:
            self._settled = (assessment.months, inputs, settlement)
        return settlement

    def instruction_id(self, key: str) -> str:
        """Deterministic from person, month and kind: a rerun can never mint a second one."""
        return uuid5(PERSON_NAMESPACE, f"{self.person_id}|{key}").hex

    # ----- internals

    def _note(self, fact: Fact) -> None:
        self.facts[fact.event_id] = fact
        # Corrections are dated as of the latest fact known: the facts' own "now".
        self.as_of: date = max(fact.on, getattr(self, "as_of", fact.on))
        # The kept replay goes on with the fact, as a fact is recorded and as it is loaded
        # after a snapshot, when that gives what a full replay would; otherwise it is dropped
        # and the next decision replays every fact.
        replay = self._kept()
        if replay is not None and replay.applied == len(self.facts) - 1 and replay.can_extend(fact):
            replay.history = self.held_history()
            replay.extend(fact)
        elif "_replay" in self.__dict__:
            self._keep(None)

    def observe(self, kind: str, event_id: str, occurred_on: date, data: dict[str, Any]) -> None:
        """A life event of type ``kind`` (registered in ``domain.facts``) about this person: record
        it as a fact, unless it was seen before, and decide what all facts now call for."""
        if self.has_seen(event_id):
            return
        if kind not in FACT_TYPES:
            raise ValueError(f"no rule handles life events of type {kind!r}")
        self.trigger_event(
            self.FactRecorded,
            kind=kind,
            event_id=event_id,
            occurred_on=occurred_on,
            data=data,
            arrival=getattr(self, "arriving", None),
        )
        self._decide(self.facts[event_id])

    def _decide(self, fact: Fact) -> None:
        assessment = self._assess_with(fact)
        if assessment.standing is None:
            return  # the registration itself comes first: only its own replay has no standing
        settlement = self._settle(assessment, fact)
        new = [d for d in assessment.decisions if d.key not in self.decision_keys]
        new += [d for d in settlement.decisions if d.key not in self.decision_keys]
        status = summarise(assessment, settlement)
        fixes = corrections(self.status, status, new, settlement.instructions, fact, self.as_of)
        new += [d for d in fixes if d.key not in self.decision_keys]
        for decision in new:
            self.trigger_event(
                self.Decided,
                key=decision.key,
                decision=decision.kind,
                on=decision.on,
                reason=decision.reason,
                event_id=decision.event_id,
                rule_version=decision.rule_version,
                details=decision.details,
                benefit_status=status["benefit_status"],
                risk_level=status["risk_level"],
                status_reason=status["reason"],
            )
        for instruction in settlement.instructions:
            self.trigger_event(
                self.PaymentInstructed,
                instruction_id=self.instruction_id(instruction.key),
                key=instruction.key,
                kind=instruction.kind,
                month=instruction.month,
                amount_cents=instruction.amount_cents,
                on=instruction.on,
                bank_account=instruction.bank_account,
                bank_region=instruction.bank_region,
            )
        for notice in assessment.notices:
            if notice.key not in self.notice_keys:
                self.trigger_event(
                    self.NotificationQueued,
                    key=notice.key,
                    template=notice.template,
                    on=max(notice.on, self.as_of),  # sent now, not on the fact's own date
                    event_id=notice.event_id,
                    details=notice.details,
                )
        if status != self.status:
            self.trigger_event(self.StatusChanged, status=status)
