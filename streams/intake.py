"""The intake: applies batches of life-event messages to per-person aggregates, exactly once.

Each batch is one transaction holding the new domain events, the dead letters and the position of
the last message consumed (an eventsourcing tracking record). Replaying messages at or below the
recorded position does nothing, so a crash and restart neither loses nor repeats a decision.
Both the embedded (file) mode and the Kafka worker feed this same class.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import IntegrityError, JSONTranscoder, Tracking, Transcoding

from domain.pensioner import GoldenRecord, Pensioner, person_aggregate_id
from streams.contracts import (
    LifeEvent,
    PersonRegisteredData,
    Rejection,
    decode,
)
from streams.dead_letters import DeadLetter, dead_letter_id

UNKNOWN_PERSON = "unknown person: no person_registered has been accepted for this person_id"


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


@dataclass(frozen=True)
class Message:
    """One inbound message and its position in its source (Kafka offset + 1, or line number)."""

    position: int
    value: bytes | str


@dataclass
class BatchOutcome:
    """What one or more batches did, for summaries and progress."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    decisions: Counter[str] = field(default_factory=Counter)

    def add(self, other: BatchOutcome) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.decisions.update(other.decisions)


class LifeEventIntake(Application):
    """The event-sourced application holding every person's aggregate and the dead letters."""

    name = "benefits"

    def construct_recorder(self) -> Any:
        # A process recorder stores tracking records atomically with domain events.
        return self.factory.process_recorder()

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def position(self, source: str) -> int:
        """The position of the last message from ``source`` whose effect is recorded (0 if none)."""
        return self.recorder.max_tracking_id(source) or 0

    def apply_batch(self, source: str, messages: Sequence[Message]) -> BatchOutcome:
        """Apply messages from ``source`` (in position order) as one transaction, recording the
        last position; messages at or below the recorded position are skipped."""
        try:
            return self._apply_batch(source, messages)
        except IntegrityError:
            # Another writer got there first (a rebalance, a second worker): the cache entries
            # were evicted, so read the position and the aggregates afresh and try once more.
            return self._apply_batch(source, messages)

    def _apply_batch(self, source: str, messages: Sequence[Message]) -> BatchOutcome:
        done = self.position(source)
        fresh = [m for m in messages if m.position > done]
        if not fresh:
            return BatchOutcome()
        tracking = Tracking(application_name=source, notification_id=fresh[-1].position)
        return self.apply_messages(fresh, tracking=tracking, source=source)

    def apply_messages(
        self, messages: Sequence[Message], tracking: Tracking | None = None, source: str = ""
    ) -> BatchOutcome:
        """Apply messages as one transaction (with ``tracking``, if given)."""
        batch = _Batch(self, source or (tracking.application_name if tracking else "unknown"))
        for message in messages:
            decoded = decode(message.value)
            if isinstance(decoded, Rejection):
                batch.reject(decoded)
            else:
                batch.apply(decoded, message.value)
        processing = ProcessingEvent(tracking=tracking)
        processing.collect_events(*batch.aggregates.values())
        outcome = BatchOutcome(
            accepted=batch.accepted, duplicates=batch.duplicates, rejected=batch.rejected
        )
        for domain_event in processing.events:
            if isinstance(domain_event, Pensioner.Decided):
                outcome.decisions[domain_event.decision] += 1
        if processing.events or tracking is not None:
            try:
                self._record(processing)
            except Exception:
                # Cached aggregates were changed in place; forget them so the store is reread.
                for key in batch.aggregates:
                    self._evict(key)
                raise
        return outcome

    def _evict(self, key: Any) -> None:
        if self.repository.cache is not None:
            try:
                self.repository.cache.get(key, evict=True)
            except KeyError:
                pass

    def pensioner(self, person_id: str) -> Pensioner | None:
        try:
            return self.repository.get(person_aggregate_id(person_id))
        except AggregateNotFoundError:
            return None


class _Batch:
    """The aggregates a batch touches, loaded once and saved together."""

    def __init__(self, app: LifeEventIntake, source: str) -> None:
        self.app = app
        self.source = source
        self.aggregates: dict[Any, Any] = {}
        self.accepted = 0
        self.duplicates = 0
        self.rejected = 0

    def _pensioner(self, person_id: str) -> Pensioner | None:
        key = person_aggregate_id(person_id)
        if key not in self.aggregates:
            found = self.app.pensioner(person_id)
            if found is None:
                return None
            self.aggregates[key] = found
        return self.aggregates[key]

    def reject(self, rejection: Rejection) -> None:
        key = dead_letter_id(rejection.fingerprint)
        if key in self.aggregates or key in self.app.repository:
            self.duplicates += 1  # the very same bad message was already dead-lettered
            return
        self.rejected += 1
        self.aggregates[key] = DeadLetter(
            fingerprint=rejection.fingerprint,
            payload=rejection.payload,
            reason=rejection.reason,
            event_id=rejection.event_id,
            source=self.source,
        )

    def apply(self, event: LifeEvent, raw: bytes | str) -> None:
        pensioner = self._pensioner(event.person_id)
        data = event.data
        if pensioner is None:
            if isinstance(data, PersonRegisteredData):
                created = Pensioner.register(
                    event.person_id, event.event_id, event.occurred_on, _record(data)
                )
                self.aggregates[created.id] = created
                self.accepted += 1
                return
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            self.reject(Rejection(payload=text, reason=UNKNOWN_PERSON, event_id=event.event_id))
            return
        if pensioner.has_seen(event.event_id):
            self.duplicates += 1
            return
        self.accepted += 1
        COMMANDS[event.type](pensioner, event)


def _record(data: PersonRegisteredData) -> GoldenRecord:
    return GoldenRecord(
        national_id=data.national_id,
        name=data.name,
        birth_date=data.birth_date,
        sex=data.sex,
        region=data.region,
        monthly_pension_cents=data.monthly_pension_cents,
        bank_account=data.bank_account,
        bank_region=data.bank_region,
    )


def _command(method: str, *fields: str) -> Callable[[Pensioner, LifeEvent], None]:
    def apply(pensioner: Pensioner, event: LifeEvent) -> None:
        values = [getattr(event.data, f) for f in fields]
        getattr(pensioner, method)(event.event_id, event.occurred_on, *values)

    return apply


def _correct_record(pensioner: Pensioner, event: LifeEvent) -> None:
    assert isinstance(event.data, PersonRegisteredData)
    pensioner.correct_record(event.event_id, event.occurred_on, _record(event.data))


def _establish_eligibility(pensioner: Pensioner, event: LifeEvent) -> None:
    pensioner.establish_eligibility(event.event_id, event.occurred_on, **event.data.model_dump())


# The one table from wire type to the aggregate's command.
COMMANDS: dict[str, Callable[[Pensioner, LifeEvent], None]] = {
    "person_registered": _correct_record,
    "death_registered": _command("register_death", "death_date"),
    "custody_started": _command("start_custody", "case_ref"),
    "custody_ended": _command("end_custody", "case_ref"),
    "life_evidence": _command("observe_life_evidence", "kind"),
    "liveness_verified": _command("verify_liveness", "channel"),
    "birthday_month_started": _command("open_cycle", "year"),
    "certification_deadline_reached": _command("reach_deadline", "cycle_year", "mark"),
    "bank_account_changed": _command("change_bank_account", "bank_account", "bank_region"),
    "retirement_eligible": _establish_eligibility,
    "payment_due": _command("run_payment", "month", "account_holders"),
    "payment_reviewed": _command("review_payment", "month", "kind", "approved"),
}


def batched(messages: Iterable[Message], size: int) -> Iterable[list[Message]]:
    """Group messages into lists of at most ``size``."""
    chunk: list[Message] = []
    for message in messages:
        chunk.append(message)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
