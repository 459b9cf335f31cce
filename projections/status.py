"""The status read model: each person's standing and decision history, and the dead-letter list.

Built only from the event store's notification log, with its position tracked in the same
transaction as its rows, so it can be dropped and rebuilt at any time (``benefits rebuild``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.projection import Projection

from domain.pensioner import Pensioner, current_registration, person_aggregate_id
from projections.database import Database
from streams.dead_letters import DeadLetter

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS person_status ("
    " aggregate_id TEXT PRIMARY KEY, person_id TEXT NOT NULL, doc TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS dead_letters ("
    " fingerprint TEXT PRIMARY KEY, notification_id BIGINT NOT NULL, event_id TEXT,"
    " source TEXT NOT NULL, reason TEXT NOT NULL, payload TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS projection_position ("
    " name TEXT PRIMARY KEY, notification_id BIGINT NOT NULL)",
)


@dataclass(frozen=True)
class DeadLetterRow:
    event_id: str | None
    source: str
    reason: str
    payload: str


class ReadModelView(TrackingRecorder):
    """The tables behind status queries, plus the projection's tracked position."""

    def __init__(self, database: Database) -> None:
        self.database = database
        with database.transaction() as cursor:
            for statement in SCHEMA:
                cursor.execute(statement)

    def insert_tracking(self, tracking: Tracking) -> None:
        with self.database.transaction() as cursor:
            self._track(cursor, tracking)

    def _track(self, cursor: Any, tracking: Tracking) -> None:
        cursor.execute(
            "INSERT INTO projection_position (name, notification_id) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET notification_id = excluded.notification_id",
            (tracking.application_name, tracking.notification_id),
        )

    def max_tracking_id(self, application_name: str) -> int | None:
        with self.database.transaction() as cursor:
            row = cursor.execute(
                "SELECT notification_id FROM projection_position WHERE name = ?",
                (application_name,),
            ).fetchone()
        return None if row is None else int(row[0])

    def load_docs(self, aggregate_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = list(aggregate_ids)
        found: dict[str, dict[str, Any]] = {}
        with self.database.transaction() as cursor:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = cursor.execute(
                    f"SELECT aggregate_id, doc FROM person_status WHERE aggregate_id IN ({marks})",
                    chunk,
                ).fetchall()
                found.update({row[0]: json.loads(row[1]) for row in rows})
        return found

    def save(
        self,
        docs: dict[str, dict[str, Any]],
        dead_letters: list[tuple[str, int, DeadLetterRow]],
        tracking: Tracking,
    ) -> None:
        with self.database.transaction() as cursor:
            cursor.executemany(
                "INSERT INTO person_status (aggregate_id, person_id, doc) VALUES (?, ?, ?)"
                " ON CONFLICT (aggregate_id) DO UPDATE SET doc = excluded.doc",
                [(key, doc["person_id"], json.dumps(doc)) for key, doc in docs.items()],
            )
            cursor.executemany(
                "INSERT INTO dead_letters"
                " (fingerprint, notification_id, event_id, source, reason, payload)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO NOTHING",
                [
                    (fp, nid, row.event_id, row.source, row.reason, row.payload)
                    for fp, nid, row in dead_letters
                ],
            )
            self._track(cursor, tracking)

    def person_ids(self, aggregate_ids: Iterable[str]) -> dict[str, str]:
        """Map aggregate IDs (hex) to the people's ``person_id``."""
        return {key: doc["person_id"] for key, doc in self.load_docs(aggregate_ids).items()}

    def status(self, person_id: str) -> dict[str, Any] | None:
        docs = self.load_docs([person_aggregate_id(person_id).hex])
        doc = next(iter(docs.values()), None)
        if doc is None:
            return None
        return {k: v for k, v in doc.items() if not k.startswith("_")}

    def dead_letters(self) -> list[DeadLetterRow]:
        with self.database.transaction() as cursor:
            rows = cursor.execute(
                "SELECT event_id, source, reason, payload FROM dead_letters"
                " ORDER BY notification_id"
            ).fetchall()
        return [DeadLetterRow(*row) for row in rows]

    def clear(self, application_name: str) -> None:
        """Empty the read model and forget its position (other tracked positions stay)."""
        with self.database.transaction() as cursor:
            cursor.execute("DELETE FROM person_status")
            cursor.execute("DELETE FROM dead_letters")
            cursor.execute("DELETE FROM projection_position WHERE name = ?", (application_name,))


class StatusProjection(Projection[ReadModelView]):
    """Folds person and dead-letter events into the read model, a page of notifications at once."""

    name = "status"

    def __init__(self, view: ReadModelView) -> None:
        super().__init__(view)
        self._docs: dict[str, dict[str, Any]] = {}
        self._dead_letters: list[tuple[str, int, DeadLetterRow]] = []

    def process_page(self, events: list[tuple[Any, Tracking]]) -> None:
        """Apply a page of (domain event, tracking) pairs and save them in one transaction."""
        if not events:
            return
        keys = {e.originator_id.hex for e, _ in events if isinstance(e, Pensioner.Event)}
        self._docs = self.view.load_docs(keys)
        self._dead_letters = []
        for domain_event, tracking in events:
            self.process_event(domain_event, tracking)
        self.view.save(self._docs, self._dead_letters, events[-1][1])

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:  # type: ignore[override]
        key = domain_event.originator_id.hex
        if isinstance(domain_event, DeadLetter.Event):
            row = DeadLetterRow(
                domain_event.event_id,
                domain_event.source,
                domain_event.reason,
                domain_event.payload,
            )
            self._dead_letters.append((domain_event.fingerprint, tracking.notification_id, row))
            return
        if not isinstance(domain_event, Pensioner.Event):
            return
        if isinstance(domain_event, Pensioner.PersonRegistered):
            self._docs[key] = {
                "person_id": domain_event.person_id,
                "benefit_status": None,
                "risk_level": None,
                "reason": None,
                "monthly_pension_cents": 0,
                "history": [],
                "_registrations": {},
            }
            self._note_registration(key, domain_event)
            return
        doc = self._docs[key]
        if isinstance(domain_event, Pensioner.Decided):
            doc["benefit_status"] = domain_event.benefit_status
            doc["risk_level"] = domain_event.risk_level
            doc["reason"] = domain_event.status_reason
            doc["history"].append(
                {
                    "on": domain_event.on.isoformat(),
                    "decision": domain_event.decision,
                    "reason": domain_event.reason,
                    "event_id": domain_event.event_id,
                    "rule_version": domain_event.rule_version,
                }
            )
            # Oldest first by effective date; a stable sort keeps recording order within a day.
            doc["history"].sort(key=lambda h: h["on"])
        elif isinstance(domain_event, Pensioner.RecordCorrected):
            self._note_registration(key, domain_event)

    def _note_registration(self, key: str, domain_event: Any) -> None:
        doc = self._docs[key]
        doc["_registrations"][domain_event.event_id] = [
            domain_event.occurred_on.isoformat(),
            domain_event.record,
        ]
        current = current_registration(doc["_registrations"])
        doc["monthly_pension_cents"] = current["monthly_pension_cents"]


def catch_up(app: Application, projection: StatusProjection, page_size: int = 2000) -> int:
    """Bring the projection up to the end of the application's log; returns events processed."""
    processed = 0
    while True:
        start = (projection.view.max_tracking_id(app.name) or 0) + 1
        notifications = app.recorder.select_notifications(start=start, limit=page_size)
        if not notifications:
            return processed
        page = [(app.mapper.to_domain_event(n), Tracking(app.name, n.id)) for n in notifications]
        projection.process_page(page)
        processed += len(page)
