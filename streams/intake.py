"""The intake: applies batches of life-event messages to per-person aggregates, exactly once.

Each batch is one transaction holding the new domain events, the dead letters and the position of
the last message consumed (an eventsourcing tracking record). Replaying messages at or below the
recorded position does nothing, so a crash and restart neither loses nor repeats a decision.
Both the embedded (file) mode and the Kafka worker feed this same class.
"""

from __future__ import annotations

import base64
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    Mapper,
    Tracking,
    Transcoding,
)
from eventsourcing.postgres import PostgresAggregateRecorder
from psycopg.sql import SQL, Identifier

from domain.pensioner import GoldenRecord, Pensioner, person_aggregate_id
from streams import merkle
from streams.contracts import (
    LifeEvent,
    PersonRegisteredData,
    Rejection,
    decode,
)
from streams.dead_letters import DeadLetter, dead_letter_id
from streams.ledger import HASH_BYTES, LEDGER_ID, AuditLedger, ChainedMapper, hash_of
from streams.recorders import MORE_TRACKING
from streams.waiting import EXPIRED_REASON, WaitingEvents, waiting_id


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


@dataclass(frozen=True)
class Message:
    """One inbound message and its position in its source (Kafka offset + 1, or line number),
    with its decoding when the caller has already decoded it."""

    position: int
    value: bytes | str
    decoded: LifeEvent | Rejection | None = None
    received_at: datetime | None = None  # when it reached us (Kafka's timestamp, or now)

    def decode(self) -> LifeEvent | Rejection:
        if self.decoded is None:  # decoded once, however often asked
            object.__setattr__(self, "decoded", decode(self.value))
        assert self.decoded is not None
        return self.decoded

    def identity(self) -> str:
        """What makes two deliveries the same message: the event ID, or a rejection's bytes."""
        decoded = self.decode()
        return decoded.event_id if isinstance(decoded, LifeEvent) else decoded.fingerprint


@dataclass
class BatchOutcome:
    """What one or more batches did, for summaries and progress. ``statuses`` holds one entry
    per message of a single batch, in order: accepted, duplicate, rejected or waiting."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    waiting: int = 0  # parked until their person's registration arrives
    released: int = 0  # parked earlier, applied now that the registration arrived
    expired: int = 0  # parked too long: dead-lettered
    decisions: Counter[str] = field(default_factory=Counter)
    statuses: list[str] = field(default_factory=list)

    def add(self, other: BatchOutcome) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.waiting += other.waiting
        self.released += other.released
        self.expired += other.expired
        self.decisions.update(other.decisions)


class LifeEventIntake(Application):
    """The event-sourced application holding every person's aggregate and the dead letters."""

    name = "benefits"
    # How many events this process recorded lately are kept for the read models to fold in
    # without reading them back from the store (see ``recent_since``).
    RECENT_LIMIT = 50_000
    # A person's state is snapshotted each time their event count passes a multiple of this, so
    # loading a long history reads a snapshot and at most this many events (a pensioner's year
    # is about 35).
    SNAPSHOT_INTERVAL = 500
    is_snapshotting_enabled = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._recent: list[Any] = []  # domain events, and their notification ids beside
        self._recent_ids: list[int] = []

    def construct_recorder(self) -> Any:
        # A process recorder stores tracking records atomically with domain events.
        return self.factory.process_recorder()

    def construct_mapper(self) -> Mapper[UUID]:
        # Encrypted, and chained per stream (streams/ledger.py); the cipher comes from the
        # environment (CIPHER_TOPIC and CIPHER_KEY, set by engine.wiring from engine.keys).
        mapper = self.factory.mapper(
            transcoder=self.construct_transcoder(), mapper_class=ChainedMapper
        )
        assert isinstance(mapper, ChainedMapper)
        mapper.read_head = self._read_head
        return mapper

    def _read_head(self, originator_id: Any, version: int) -> bytes | None:
        """The hash of a stream's event ``version``, as stored."""
        found = self.recorder.select_events(originator_id, gt=version - 1, lte=version)
        return hash_of(found[0].state) if found else None

    def seal(self, day: date) -> dict[str, Any] | None:
        """Seal the log's events since the last seal as ``day``'s: record the Merkle root over
        their hashes (``AuditLedger.DaySealed``). Nothing when ``day`` is not after the last
        sealed day or no event came since; the next later day's seal takes them."""
        ledger = self._ledger()
        if ledger.last_day is not None and day <= ledger.last_day:
            return None
        last = self.recorder.max_notification_id() or 0
        if last <= ledger.sealed_through:
            return None
        first, leaves = self._stored_hashes(ledger.sealed_through, last)
        root = merkle.root(leaves).hex()
        ledger.seal(day, first, last, len(leaves), root)
        processing = ProcessingEvent()
        processing.collect_events(ledger)
        try:
            self._remember(self._record(processing))
        except IntegrityError:  # another worker sealed first
            self._evict(LEDGER_ID)
            return None
        except Exception:
            self._evict(LEDGER_ID)
            self.mapper_chain().forget_heads()
            raise
        return {
            "day": day.isoformat(),
            "first_id": first,
            "last_id": last,
            "size": len(leaves),
            "root": root,
        }

    def last_sealed_day(self) -> date | None:
        """The day of the latest seal (None before the first)."""
        return self._ledger().last_day

    def _ledger(self) -> AuditLedger:
        """The audit ledger, or a new one (not yet stored) before the first seal."""
        try:
            ledger: AuditLedger = self.repository.get(LEDGER_ID)
        except AggregateNotFoundError:
            ledger = AuditLedger()
        return ledger

    def _stored_hashes(self, after: int, last: int) -> tuple[int, list[bytes]]:
        """The first log position after ``after`` up to ``last``, and the hashes recorded in the
        headers of the events from there to ``last``, in log order; read from the header bytes
        alone (the rest of each row is never fetched)."""
        at = 1 + HASH_BYTES + 1  # SQL counts from 1: the own hash follows the previous hash
        rows = select_rows(
            self.recorder,
            "SELECT notification_id, substring(state from %s for %s) FROM {table}"
            " WHERE notification_id > %s AND notification_id <= %s ORDER BY notification_id",
            "SELECT rowid, substr(state, ?, ?) FROM {table}"
            " WHERE rowid > ? AND rowid <= ? ORDER BY rowid",
            (at, HASH_BYTES, after, last),
        )
        return (rows[0][0] if rows else 0), [bytes(h) for _, h in rows]

    def mapper_chain(self) -> ChainedMapper:
        mapper = self.mapper
        assert isinstance(mapper, ChainedMapper)
        return mapper

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def position(self, source: str) -> int:
        """The position of the last message from ``source`` whose effect is recorded (0 if none)."""
        return self.recorder.max_tracking_id(source) or 0

    def apply_batch(
        self,
        source: str,
        messages: Sequence[Message],
        today: date | None = None,
        done: int | None = None,
    ) -> BatchOutcome:
        """Apply messages from ``source`` (in position order) as one transaction, recording the
        last position; messages at or below the recorded position are skipped. ``done``: the
        recorded position, when the caller has just read it (a retry reads it again)."""
        return self.apply_runs({source: messages}, today, None if done is None else {source: done})

    def positions(self, sources: Iterable[str]) -> dict[str, int]:
        """``position`` of each source (one query on PostgreSQL)."""
        return self.recorder.max_tracking_ids(list(sources))

    def apply_runs(
        self,
        runs: Mapping[str, Sequence[Message]],
        today: date | None = None,
        done: Mapping[str, int] | None = None,
    ) -> BatchOutcome:
        """``apply_batch`` for several sources at once (a worker's partitions): one
        transaction records every source's new events and its last position, or none."""
        try:
            return self._apply_runs(runs, today, done)
        except IntegrityError:
            # Another writer got there first (a rebalance, a second worker): the cache entries
            # were evicted, so read the positions and the aggregates afresh and try once more.
            return self._apply_runs(runs, today, None)

    def _apply_runs(
        self,
        runs: Mapping[str, Sequence[Message]],
        today: date | None,
        done: Mapping[str, int] | None,
    ) -> BatchOutcome:
        if done is None:
            done = self.positions(runs)
        batch = _Batch(self, "unknown")
        messages = {}
        for source, run in runs.items():
            fresh = [m for m in run if m.position > done.get(source, 0)]
            if fresh:
                messages[source] = fresh
        if not messages:
            return BatchOutcome()
        batch.absent = self._absent([m for fresh in messages.values() for m in fresh])
        for source, fresh in messages.items():
            batch.source = source
            self._fill(batch, fresh, today)
        trackings = [
            Tracking(application_name=s, notification_id=f[-1].position)
            for s, f in messages.items()
        ]
        return self._save(batch, trackings)

    def apply_messages(
        self, messages: Sequence[Message], source: str = "", today: date | None = None
    ) -> BatchOutcome:
        """Apply messages as one transaction, without recording a position (``apply_batch``
        records one). ``today`` dates the parking of an event whose person is not registered
        yet (default: the event's date)."""
        batch = _Batch(self, source or "unknown")
        batch.absent = self._absent(messages)
        self._fill(batch, messages, today)
        return self._save(batch, [])

    def _fill(self, batch: _Batch, messages: Sequence[Message], today: date | None) -> None:
        now = datetime.now(UTC)
        for message in messages:
            decoded = message.decode()
            batch.received_at = message.received_at or now
            if isinstance(decoded, Rejection):
                batch.reject(decoded, received_on=today or now.date())
            else:
                batch.apply(decoded, message.value, today or decoded.occurred_on)

    def expire_waiting(self, waiting_keys: Iterable[str], today: date, grace_days: int) -> int:
        """Dead-letter the events parked ``grace_days`` or more before ``today`` whose person is
        still not registered (``waiting_keys``: the waiting rooms to look at, as hex IDs);
        returns how many."""
        batch = _Batch(self, "waiting")
        cutoff = date.fromordinal(today.toordinal() - grace_days)
        reason = EXPIRED_REASON.format(days=grace_days)
        for key in waiting_keys:
            waiting = self.repository.get(UUID(key))
            due = waiting.due(cutoff)
            if not due or self.pensioner(waiting.person_id) is not None:
                continue
            batch.aggregates[waiting.id] = waiting
            for event_id in due:
                parked = waiting.waiting[event_id]
                batch.reject(
                    Rejection(payload=parked["payload"], reason=reason, event_id=event_id),
                    parked["source"],
                )
            waiting.expire(due)
            batch.expired += len(due)
        return self._save(batch, []).expired

    def _save(self, batch: _Batch, trackings: Sequence[Tracking]) -> BatchOutcome:
        processing = ProcessingEvent(tracking=trackings[0] if trackings else None)
        if len(trackings) > 1:
            processing.saved_kwargs[MORE_TRACKING] = trackings[1:]
        # What ProcessingEvent.collect_events does, without its per-object Protocol checks
        # (every object here is one of our aggregates).
        snapshot_due = []
        for aggregate in batch.aggregates.values():
            events = aggregate.collect_events()
            processing.events.extend(events)
            processing.aggregates[aggregate.id] = aggregate
            if events and isinstance(aggregate, Pensioner):
                before = events[0].originator_version - 1
                if aggregate.version // self.SNAPSHOT_INTERVAL > before // self.SNAPSHOT_INTERVAL:
                    snapshot_due.append(aggregate)
        outcome = BatchOutcome(
            accepted=batch.accepted,
            duplicates=batch.duplicates,
            rejected=batch.rejected,
            waiting=batch.parked,
            released=batch.released,
            expired=batch.expired,
            statuses=batch.statuses,
        )
        for domain_event in processing.events:
            if isinstance(domain_event, Pensioner.Decided):
                outcome.decisions[domain_event.decision] += 1
        if processing.events or trackings:
            try:
                recordings = self._record(processing)
            except Exception:
                # Cached aggregates were changed in place; forget them so the store is reread,
                # and the streams' last hashes, which may be of events never stored.
                for key in batch.aggregates:
                    self._evict(key)
                self.mapper_chain().forget_heads()
                raise
            self._remember(recordings)
            if snapshot_due and self.snapshots is not None:
                self.snapshots.put([Pensioner.Snapshot.take(a) for a in snapshot_due])
        return outcome

    def _remember(self, recordings: Sequence[Any]) -> None:
        for recording in recordings:
            self._recent.append(recording.domain_event)
            self._recent_ids.append(recording.notification.id)
        if len(self._recent) > self.RECENT_LIMIT:
            self.forget_recent(self._recent_ids[len(self._recent) - self.RECENT_LIMIT])

    def recent_since(
        self, start: int, limit: int, stop: int | None = None
    ) -> list[tuple[Any, int]] | None:
        """Up to ``limit`` (domain event, notification id) pairs from ``start`` (to ``stop``) on,
        as this process recorded them, when they are exactly what the store's log holds there
        (no other writer's events in between); otherwise None, and the caller reads the store."""
        ids = self._recent_ids
        at = bisect_left(ids, start)
        if at == len(ids) or ids[at] != start:
            return None
        end = min(len(ids), at + limit)
        if stop is not None:
            end = min(end, bisect_right(ids, stop))
        if ids[end - 1] - start != end - 1 - at:  # a gap: another writer's events
            return None
        return list(zip(self._recent[at:end], ids[at:end], strict=True))

    def forget_recent(self, before: int) -> None:
        """Forget what was recorded before notification ``before``: every reader has it."""
        cut = bisect_left(self._recent_ids, before)
        if cut:
            del self._recent[:cut]
            del self._recent_ids[:cut]

    def _absent(self, messages: Sequence[Message]) -> set[UUID]:
        """Of the aggregates these messages could touch (each person, their waiting room, a
        rejection's dead letter) and that are not in memory, those the store does not hold,
        found with one query instead of one per aggregate."""
        cached = self.repository.cache.cache if self.repository.cache is not None else {}
        keys: set[UUID] = set()
        for message in messages:
            decoded = message.decode()
            if isinstance(decoded, LifeEvent):
                person = person_aggregate_id(decoded.person_id)
                if person not in cached:  # a known person's waiting room is never looked at
                    keys.add(person)
                    keys.add(waiting_id(decoded.person_id))
            else:
                keys.add(dead_letter_id(decoded.fingerprint))
        keys = {key for key in keys if key not in cached}
        return keys - self._stored(keys) if keys else keys

    def _stored(self, keys: set[UUID]) -> set[UUID]:
        """Which of these aggregates have events in the store."""
        recorder: Any = self.recorder
        table = recorder.events_table_name
        ids = list(keys)
        found: set[UUID] = set()
        if isinstance(recorder, PostgresAggregateRecorder):
            statement = SQL("SELECT DISTINCT originator_id FROM {} WHERE originator_id = ANY(%s)")
            with recorder.datastore.get_connection() as connection, connection.cursor() as cursor:
                cursor.execute(statement.format(Identifier(*table.split("."))), [ids])
                found.update(UUID(str(row["originator_id"])) for row in cursor.fetchall())
            return found
        with recorder.datastore.transaction(commit=False) as cursor:
            for start in range(0, len(ids), 500):
                chunk = [key.hex for key in ids[start : start + 500]]
                marks = ",".join("?" * len(chunk))
                cursor.execute(
                    f"SELECT DISTINCT originator_id FROM {table} WHERE originator_id IN ({marks})",
                    chunk,
                )
                found.update(UUID(row["originator_id"]) for row in cursor.fetchall())
        return found

    def _evict(self, key: Any) -> None:
        if self.repository.cache is not None:
            try:
                self.repository.cache.get(key, evict=True)
            except KeyError:
                pass

    def pensioner(self, person_id: str) -> Pensioner | None:
        try:
            return self.repository.get(person_aggregate_id(person_id), projector_func=_project)
        except AggregateNotFoundError:
            return None


def _project(aggregate: Any, events: Iterable[Any]) -> Any:
    """eventsourcing's ``project_aggregate`` without its per-event check against a runtime
    protocol, which cost more than applying the event when a long history was loaded."""
    for domain_event in events:
        aggregate = domain_event.mutate(aggregate)
    return aggregate


def select_rows(
    recorder: Any, postgres: str, sqlite: str, params: Sequence[Any] = ()
) -> list[tuple[Any, ...]]:
    """Rows of a query on a recorder's own table (``{table}`` in each statement), as tuples:
    ``postgres`` runs on a PostgreSQL recorder, ``sqlite`` on a SQLite one."""
    table = recorder.events_table_name
    if isinstance(recorder, PostgresAggregateRecorder):
        statement = SQL(postgres).format(table=Identifier(*table.split(".")))
        with recorder.datastore.get_connection() as connection, connection.cursor() as cursor:
            cursor.execute(statement, params)
            return [tuple(row.values()) for row in cursor.fetchall()]
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(sqlite.format(table=table), params)
        return [tuple(row) for row in cursor.fetchall()]


class _Batch:
    """The aggregates a batch touches, loaded once and saved together."""

    def __init__(self, app: LifeEventIntake, source: str) -> None:
        self.app = app
        self.source = source
        self.aggregates: dict[Any, Any] = {}
        self.accepted = 0
        self.duplicates = 0
        self.rejected = 0
        self.parked = 0
        self.released = 0
        self.expired = 0
        self.statuses: list[str] = []
        self.received_at = datetime.now(UTC)
        # Aggregates known not to be in the store when the batch began (no query needed).
        self.absent: set[UUID] = set()

    def _pensioner(self, person_id: str) -> Pensioner | None:
        key = person_aggregate_id(person_id)
        if key not in self.aggregates:
            if key in self.absent:
                return None
            found = self.app.pensioner(person_id)
            if found is None:
                return None
            self.aggregates[key] = found
        return self.aggregates[key]

    def waiting(self, person_id: str, create: bool = False) -> WaitingEvents | None:
        """The person's parked events, if any (created when asked to)."""
        key = waiting_id(person_id)
        if key not in self.aggregates:
            try:
                if key in self.absent:
                    raise AggregateNotFoundError(key)
                self.aggregates[key] = self.app.repository.get(key)
            except AggregateNotFoundError:
                if not create:
                    return None
                self.aggregates[key] = WaitingEvents(person_id)
        return self.aggregates[key]

    def reject(
        self, rejection: Rejection, source: str | None = None, received_on: date | None = None
    ) -> None:
        key = dead_letter_id(rejection.fingerprint)
        if key in self.aggregates or (key not in self.absent and key in self.app.repository):
            self.duplicates += 1  # the very same bad message was already dead-lettered
            self.statuses.append("duplicate")
            return
        self.rejected += 1
        self.statuses.append("rejected")
        original = rejection.original
        self.aggregates[key] = DeadLetter(
            fingerprint=rejection.fingerprint,
            payload=rejection.payload,
            reason=rejection.reason,
            event_id=rejection.event_id,
            source=source or self.source,
            original_base64=base64.b64encode(original).decode() if original else None,
            received_on=(received_on or self.received_at.date()).isoformat(),
        )

    def arrival(self, event: LifeEvent, today: date) -> dict[str, str]:
        return {
            "source": event.source,
            "received_on": today.isoformat(),
            "received_at": self.received_at.isoformat(),
        }

    def apply(self, event: LifeEvent, raw: bytes | str, today: date) -> None:
        pensioner = self._pensioner(event.person_id)
        data = event.data
        if pensioner is None and isinstance(data, PersonRegisteredData):
            self._register(event, data, today)
            return
        if pensioner is None:
            waiting = self.waiting(event.person_id, create=True)
            assert waiting is not None
            if waiting.has_seen(event.event_id):
                self.duplicates += 1
                self.statuses.append("duplicate")
                return
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            waiting.park(event.event_id, text, self.source, today)
            self.parked += 1
            self.statuses.append("waiting")
            return
        if pensioner.has_seen(event.event_id):
            self.duplicates += 1
            self.statuses.append("duplicate")
            return
        self.accepted += 1
        self.statuses.append("accepted")
        pensioner.arrive(self.arrival(event, today))
        observe(pensioner, event)

    def _register(self, event: LifeEvent, data: PersonRegisteredData, today: date) -> None:
        """A new person: register them, then apply whatever was waiting for them."""
        waiting = self.waiting(event.person_id)
        created = Pensioner.register(
            event.person_id,
            event.event_id,
            event.occurred_on,
            _record(data),
            dead_lettered=sorted(waiting.expired) if waiting is not None else None,
            arrival=self.arrival(event, today),
        )
        self.aggregates[created.id] = created
        self.accepted += 1
        self.statuses.append("accepted")
        if waiting is None or not waiting.waiting:
            return
        released = []
        for event_id, parked in list(waiting.waiting.items()):
            decoded = decode(parked["payload"])
            if isinstance(decoded, LifeEvent) and not created.has_seen(decoded.event_id):
                created.arrive(self.arrival(decoded, today))
                observe(created, decoded)
            released.append(event_id)
        waiting.release(released)
        self.released += len(released)


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


def observe(pensioner: Pensioner, event: LifeEvent) -> None:
    """Hand a validated life event to the person's aggregate, as its registered type."""
    data = event.data.model_dump(mode="json", exclude_none=True)
    pensioner.observe(event.type, event.event_id, event.occurred_on, data)


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
