"""The status read model: each person's standing, certification and decision history, the
notification outbox, the dead-letter list, and the indexes the daily jobs use.

Built only from the event store's notification log, with its position tracked in the same
transaction as its rows, so it can be dropped and rebuilt at any time (``benefits rebuild``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from eventsourcing.application import Application
from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from domain.money import mask_account
from domain.pensioner import Pensioner, mask_name, person_aggregate_id
from projections.database import Database, TrackedTables
from streams.contracts import mask_payload
from streams.dead_letters import DeadLetter
from streams.waiting import WaitingEvents

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS person_status ("
    " aggregate_id TEXT PRIMARY KEY, person_id TEXT NOT NULL, birth_month INTEGER,"
    " benefit_status TEXT, account_hash TEXT, arrears_owed_cents BIGINT NOT NULL DEFAULT 0,"
    " doc TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS person_status_by_birth_month"
    " ON person_status (birth_month, benefit_status)",
    "CREATE INDEX IF NOT EXISTS person_status_by_status ON person_status (benefit_status)",
    "CREATE INDEX IF NOT EXISTS person_status_by_account ON person_status (account_hash)",
    "CREATE INDEX IF NOT EXISTS person_status_by_arrears ON person_status (arrears_owed_cents)",
    "CREATE TABLE IF NOT EXISTS payment_instructions ("
    " instruction_id TEXT PRIMARY KEY, notification_id BIGINT NOT NULL, aggregate_id TEXT NOT NULL,"
    " person_id TEXT NOT NULL, run_month TEXT NOT NULL, month TEXT NOT NULL, kind TEXT NOT NULL,"
    " amount_cents BIGINT NOT NULL, issued_on TEXT NOT NULL, bank_account TEXT NOT NULL,"
    " bank_region TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS payment_instructions_by_run ON payment_instructions (run_month)",
    "CREATE INDEX IF NOT EXISTS payment_instructions_by_person"
    " ON payment_instructions (aggregate_id)",
    "CREATE TABLE IF NOT EXISTS decision_history ("
    " aggregate_id TEXT NOT NULL, notification_id BIGINT NOT NULL, decided_on TEXT NOT NULL,"
    " entry TEXT NOT NULL, PRIMARY KEY (aggregate_id, notification_id))",
    "CREATE TABLE IF NOT EXISTS payroll_skips ("
    " aggregate_id TEXT NOT NULL, month TEXT NOT NULL, kind TEXT NOT NULL, reason TEXT NOT NULL,"
    " PRIMARY KEY (aggregate_id, month, kind))",
    "CREATE TABLE IF NOT EXISTS certification_deadlines ("
    " aggregate_id TEXT NOT NULL, person_id TEXT NOT NULL, cycle_year INTEGER NOT NULL,"
    " mark INTEGER NOT NULL, due_on TEXT NOT NULL, PRIMARY KEY (aggregate_id, cycle_year, mark))",
    "CREATE INDEX IF NOT EXISTS certification_deadlines_by_due ON certification_deadlines (due_on)",
    "CREATE TABLE IF NOT EXISTS notifications ("
    " aggregate_id TEXT NOT NULL, notice_key TEXT NOT NULL, notification_id BIGINT NOT NULL,"
    " person_id TEXT NOT NULL, template TEXT NOT NULL, sent_on TEXT NOT NULL,"
    " event_id TEXT NOT NULL, details TEXT NOT NULL, PRIMARY KEY (aggregate_id, notice_key))",
    "CREATE TABLE IF NOT EXISTS dead_letters ("
    " fingerprint TEXT PRIMARY KEY, notification_id BIGINT NOT NULL, event_id TEXT,"
    " source TEXT NOT NULL, reason TEXT NOT NULL, payload TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS waiting_events ("
    " waiting_key TEXT NOT NULL, event_id TEXT NOT NULL, parked_on TEXT NOT NULL,"
    " PRIMARY KEY (waiting_key, event_id))",
    "CREATE INDEX IF NOT EXISTS waiting_events_by_day ON waiting_events (parked_on)",
    "CREATE TABLE IF NOT EXISTS proxy_grants ("
    " request_id TEXT PRIMARY KEY, principal_key TEXT NOT NULL, principal_id TEXT NOT NULL,"
    " requester_id TEXT NOT NULL, status TEXT NOT NULL, valid_until TEXT NOT NULL,"
    " region TEXT, doc TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS proxy_grants_by_principal ON proxy_grants (principal_key)",
    "CREATE INDEX IF NOT EXISTS proxy_grants_by_requester ON proxy_grants (requester_id)",
    "CREATE TABLE IF NOT EXISTS review_items ("
    " item_id TEXT PRIMARY KEY, person_key TEXT NOT NULL, person_id TEXT NOT NULL,"
    " kind TEXT NOT NULL, item_key TEXT NOT NULL, region TEXT, opened_on TEXT,"
    " doc TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS review_items_by_person ON review_items (person_key)",
    "CREATE INDEX IF NOT EXISTS review_items_by_region ON review_items (region, kind)",
)

CLOCK = "clock"  # the last day the daily jobs ran, as a date ordinal
# Status fields kept for indexes, not shown: the account's keyed token and the birth month.
INTERNAL_FIELDS = ("account_key", "birth_month")
RECOVERY_DECISIONS = ("overpayment_recovery", "overpayment_corrected")


@dataclass(frozen=True)
class DeadLetterRow:
    event_id: str | None
    source: str
    reason: str
    payload: str  # personal data masked; the event store keeps the message whole


@dataclass(frozen=True)
class DeadlineDue:
    person_id: str
    cycle_year: int
    mark: int
    due_on: date


@dataclass
class _Changes:
    person_ids: dict[str, str]  # aggregate ID (hex) -> person_id, for every person in the page
    docs: dict[str, dict[str, Any]]  # the status documents the page changed
    dead_letters: list[tuple[str, int, DeadLetterRow]]
    notifications: list[tuple[str, str, int, str, str, str, str, str]]
    instructions: list[tuple[Any, ...]]
    skips: list[tuple[str, str, str, str]]
    history: list[tuple[str, int, str, str]]
    parked: list[tuple[str, str, str]]
    unparked: list[tuple[str, str]]


class ReadModelView(TrackedTables):
    """The tables behind status queries and daily jobs, plus tracked positions."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, SCHEMA)

    def last_processed_day(self) -> date | None:
        """The last day whose daily jobs have run (embedded clock or Kafka-mode scheduler)."""
        ordinal = self.max_tracking_id(CLOCK)
        return None if ordinal is None else date.fromordinal(ordinal)

    def record_processed_day(self, day: date) -> None:
        self.insert_tracking(Tracking(CLOCK, day.toordinal()))

    # ----- writes

    def load_docs(self, aggregate_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        with self.database.transaction() as cursor:
            rows = cursor.select_in(
                "SELECT aggregate_id, doc FROM person_status WHERE aggregate_id IN ({marks})",
                list(aggregate_ids),
            )
        return {row[0]: json.loads(row[1]) for row in rows}

    def save(self, changes: _Changes, tracking: Tracking) -> None:
        docs = changes.docs
        with self.database.transaction() as cursor:
            cursor.executemany(
                "INSERT INTO person_status (aggregate_id, person_id, birth_month, benefit_status,"
                " account_hash, arrears_owed_cents, doc) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (aggregate_id) DO UPDATE SET"
                " birth_month = excluded.birth_month, benefit_status = excluded.benefit_status,"
                " account_hash = excluded.account_hash,"
                " arrears_owed_cents = excluded.arrears_owed_cents, doc = excluded.doc",
                [
                    (
                        key,
                        d["person_id"],
                        d.get("birth_month"),
                        d.get("benefit_status"),
                        d.get("account_key"),
                        d.get("arrears_owed_cents", 0),
                        json.dumps(d, ensure_ascii=False),
                    )
                    for key, d in docs.items()
                ],
            )
            cursor.executemany(
                "INSERT INTO payment_instructions (instruction_id, notification_id, aggregate_id,"
                " person_id, run_month, month, kind, amount_cents, issued_on, bank_account,"
                " bank_region) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (instruction_id) DO NOTHING",
                changes.instructions,
            )
            cursor.executemany(
                "INSERT INTO decision_history (aggregate_id, notification_id, decided_on, entry)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (aggregate_id, notification_id) DO NOTHING",
                changes.history,
            )
            cursor.executemany(
                "INSERT INTO payroll_skips (aggregate_id, month, kind, reason) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (aggregate_id, month, kind) DO UPDATE SET reason = excluded.reason",
                changes.skips,
            )
            cursor.executemany(
                "DELETE FROM certification_deadlines WHERE aggregate_id = ?",
                [(key,) for key in docs],
            )
            cursor.executemany(
                "DELETE FROM proxy_grants WHERE principal_key = ?", [(key,) for key in docs]
            )
            cursor.executemany(
                "INSERT INTO proxy_grants (request_id, principal_key, principal_id, requester_id,"
                " status, valid_until, region, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        g["request_id"],
                        key,
                        d["person_id"],
                        g["requester_id"],
                        g["status"],
                        g["valid_until"],
                        d.get("region"),
                        json.dumps(g, ensure_ascii=False),
                    )
                    for key, d in docs.items()
                    for g in d.get("proxies", ())
                ],
            )
            cursor.executemany(
                "DELETE FROM review_items WHERE person_key = ?", [(key,) for key in docs]
            )
            cursor.executemany(
                "INSERT INTO review_items (item_id, person_key, person_id, kind, item_key, region,"
                " opened_on, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        review_item_id(d["person_id"], r["kind"], r["key"]),
                        key,
                        d["person_id"],
                        r["kind"],
                        r["key"],
                        d.get("region"),
                        r["opened_on"],
                        json.dumps(r, ensure_ascii=False),
                    )
                    for key, d in docs.items()
                    for r in d.get("open_reviews", ())
                ],
            )
            cursor.executemany(
                "INSERT INTO certification_deadlines"
                " (aggregate_id, person_id, cycle_year, mark, due_on) VALUES (?, ?, ?, ?, ?)",
                [
                    (key, d["person_id"], d["certification"]["year"], due["mark"], due["due_on"])
                    for key, d in docs.items()
                    if d.get("certification") and d["benefit_status"] != "terminated"
                    for due in d["certification"]["deadlines"]
                ],
            )
            cursor.executemany(
                "INSERT INTO notifications (aggregate_id, notice_key, notification_id, person_id,"
                " template, sent_on, event_id, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (aggregate_id, notice_key) DO NOTHING",
                changes.notifications,
            )
            cursor.executemany(
                "INSERT INTO dead_letters"
                " (fingerprint, notification_id, event_id, source, reason, payload)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO NOTHING",
                [
                    (fp, nid, row.event_id, row.source, row.reason, row.payload)
                    for fp, nid, row in changes.dead_letters
                ],
            )
            cursor.executemany(
                "INSERT INTO waiting_events (waiting_key, event_id, parked_on) VALUES (?, ?, ?)"
                " ON CONFLICT (waiting_key, event_id) DO NOTHING",
                changes.parked,
            )
            cursor.executemany(
                "DELETE FROM waiting_events WHERE waiting_key = ? AND event_id = ?",
                changes.unparked,
            )
            self._track(cursor, tracking)

    def clear(self, application_name: str) -> None:
        """Empty the read model and forget its position (other tracked positions stay)."""
        with self.database.transaction() as cursor:
            for table in (
                "person_status",
                "certification_deadlines",
                "notifications",
                "payment_instructions",
                "payroll_skips",
                "decision_history",
                "waiting_events",
                "proxy_grants",
                "review_items",
            ):
                cursor.execute(f"DELETE FROM {table}")
            cursor.execute("DELETE FROM dead_letters")
            cursor.execute("DELETE FROM projection_position WHERE name = ?", (application_name,))

    # ----- queries

    def person_ids(self, aggregate_ids: Iterable[str]) -> dict[str, str]:
        """Map aggregate IDs (hex) to the people's ``person_id``."""
        with self.database.transaction() as cursor:
            rows = cursor.select_in(
                "SELECT aggregate_id, person_id FROM person_status WHERE aggregate_id IN ({marks})",
                list(aggregate_ids),
            )
        return {row[0]: row[1] for row in rows}

    def person(self, person_id: str, today: date | None = None) -> dict[str, Any] | None:
        """Everything the read model holds about a person, with the headline, history and the
        certification as of ``today`` (default: the last processed day); None if unknown."""
        docs = self.load_docs([person_aggregate_id(person_id).hex])
        doc = next(iter(docs.values()), None)
        if doc is None:
            return None
        shown = {"person_id": doc["person_id"], "headline": headline(doc), **doc}
        shown["history"] = self.history(person_id)
        shown["certification"] = certification_summary(
            doc.get("certification"), today or self.last_processed_day()
        )
        return shown

    def status(self, person_id: str) -> dict[str, Any] | None:
        """What `benefits status` shows (the read model holds the name masked, as shown)."""
        doc = self.person(person_id)
        if doc is None:
            return None
        return {k: v for k, v in doc.items() if k not in INTERNAL_FIELDS}

    def history(self, person_id: str) -> list[dict[str, Any]]:
        """Decisions oldest first by effective date, in recording order within a day."""
        with self.database.transaction() as cursor:
            rows = cursor.execute(
                "SELECT entry FROM decision_history WHERE aggregate_id = ?"
                " ORDER BY decided_on, notification_id",
                (person_aggregate_id(person_id).hex,),
            ).fetchall()
        return [json.loads(row[0]) for row in rows]

    def notifications(self, person_id: str) -> list[dict[str, Any]] | None:
        """A person's notifications, oldest first; None if the person is unknown."""
        key = person_aggregate_id(person_id).hex
        if not self.load_docs([key]):
            return None
        with self.database.transaction() as cursor:
            rows = cursor.execute(
                "SELECT template, sent_on, event_id, details FROM notifications"
                " WHERE aggregate_id = ? ORDER BY notification_id",
                (key,),
            ).fetchall()
        return [
            {"person_id": person_id, "template": t, "on": on, "event_id": e, **json.loads(d)}
            for t, on, e, d in rows
        ]

    def dead_letter_reason(self, event_id: str) -> str | None:
        """Why the message with this ``event_id`` was dead-lettered, if it was."""
        with self.database.transaction() as cursor:
            row = cursor.execute(
                "SELECT reason FROM dead_letters WHERE event_id = ? ORDER BY notification_id",
                (event_id,),
            ).fetchone()
        return None if row is None else row[0]

    def is_waiting(self, event_id: str) -> bool:
        """Whether the event waits for its person's registration."""
        with self.database.transaction() as cursor:
            row = cursor.execute(
                "SELECT 1 FROM waiting_events WHERE event_id = ?", (event_id,)
            ).fetchone()
        return row is not None

    def dead_letters(self) -> list[DeadLetterRow]:
        with self.database.transaction() as cursor:
            rows = cursor.execute(
                "SELECT event_id, source, reason, payload FROM dead_letters"
                " ORDER BY notification_id"
            ).fetchall()
        return [DeadLetterRow(*row) for row in rows]

    def waiting_due(self, cutoff: date) -> list[str]:
        """The waiting rooms (aggregate IDs, hex) holding events parked on or before ``cutoff``."""
        with self.database.transaction() as cursor:
            rows = cursor.execute(
                "SELECT DISTINCT waiting_key FROM waiting_events WHERE parked_on <= ?"
                " ORDER BY waiting_key",
                (cutoff.isoformat(),),
            ).fetchall()
        return [row[0] for row in rows]

    def waiting_count(self) -> int:
        """Events waiting for their person's registration."""
        with self.database.transaction() as cursor:
            return int(cursor.execute("SELECT COUNT(*) FROM waiting_events").fetchone()[0])

    def born_in_month(self, month: int, statuses: tuple[str, ...]) -> list[str]:
        """People born in ``month`` whose benefit status is one of ``statuses`` (indexed)."""
        marks = ",".join("?" * len(statuses))
        with self.database.transaction() as cursor:
            rows = cursor.execute(
                "SELECT person_id FROM person_status WHERE birth_month = ?"
                f" AND benefit_status IN ({marks}) ORDER BY person_id",
                (month, *statuses),
            ).fetchall()
        return [row[0] for row in rows]

    def deadlines_due(self, day: date) -> list[DeadlineDue]:
        """Open cycles' marks due on or before ``day`` and not yet reached (indexed)."""
        with self.database.transaction() as cursor:
            rows = cursor.execute(
                "SELECT person_id, cycle_year, mark, due_on FROM certification_deadlines"
                " WHERE due_on <= ? ORDER BY due_on, person_id, mark",
                (day.isoformat(),),
            ).fetchall()
        return [DeadlineDue(p, int(y), int(m), date.fromisoformat(d)) for p, y, m, d in rows]

    def payroll_candidates(self, statuses: tuple[str, ...]) -> list[tuple[str, int]]:
        """Everyone the payroll reaches (people in ``statuses``, and anyone still owed arrears),
        with how many people in ``statuses`` share their bank account."""
        marks = ",".join("?" * len(statuses))
        with self.database.transaction() as cursor:
            rows = cursor.execute(
                "SELECT p.person_id, COALESCE(a.holders, 0) FROM person_status p"
                " LEFT JOIN (SELECT account_hash, COUNT(*) AS holders FROM person_status"
                f"  WHERE benefit_status IN ({marks}) AND account_hash IS NOT NULL"
                "  GROUP BY account_hash) a ON a.account_hash = p.account_hash"
                f" WHERE p.benefit_status IN ({marks}) OR p.arrears_owed_cents > 0"
                " ORDER BY p.person_id",
                (*statuses, *statuses),
            ).fetchall()
        return [(person_id, int(holders)) for person_id, holders in rows]

    def payments(self, person_id: str) -> dict[str, Any] | None:
        """A person's payment instructions (accounts masked) and recoveries; None if unknown."""
        key = person_aggregate_id(person_id).hex
        doc = self.load_docs([key]).get(key)
        if doc is None:
            return None
        with self.database.transaction() as cursor:
            rows = cursor.execute(
                "SELECT instruction_id, month, kind, amount_cents, issued_on, bank_account,"
                " bank_region FROM payment_instructions WHERE aggregate_id = ?"
                " ORDER BY notification_id",
                (key,),
            ).fetchall()
        instructions = [
            {
                "instruction_id": iid,
                "month": month,
                "kind": kind,
                "amount_cents": int(amount),
                "on": on,
                "bank_account": mask_account(account),
                "bank_region": region,
            }
            for iid, month, kind, amount, on, account, region in rows
        ]
        recoveries = [
            {"on": e["on"], "decision": e["decision"], "event_id": e["event_id"], **e["details"]}
            for e in self.history(person_id)
            if e["decision"] in RECOVERY_DECISIONS
        ]
        return {
            "person_id": person_id,
            "instructions": instructions,
            "recoveries": recoveries,
            "paid_cents": sum(i["amount_cents"] for i in instructions),
            "overpayment_cents": doc["overpayment_cents"],
        }

    def payroll(self, month: str) -> dict[str, Any]:
        """One month's run: instructions given in it and the people it skipped, by reason."""
        with self.database.transaction() as cursor:
            by_kind = cursor.execute(
                "SELECT kind, COUNT(*), COALESCE(SUM(amount_cents), 0) FROM payment_instructions"
                " WHERE run_month = ? GROUP BY kind ORDER BY kind",
                (month,),
            ).fetchall()
            skipped = cursor.execute(
                "SELECT reason, COUNT(*) FROM payroll_skips WHERE month = ? AND kind = 'pension'"
                " AND NOT EXISTS (SELECT 1 FROM payment_instructions i"
                "  WHERE i.aggregate_id = payroll_skips.aggregate_id"
                "  AND i.month = payroll_skips.month AND i.kind = 'pension')"
                " GROUP BY reason ORDER BY reason",
                (month,),
            ).fetchall()
        kinds = {kind: {"count": int(n), "total_cents": int(t)} for kind, n, t in by_kind}
        return {
            "month": month,
            "count": sum(k["count"] for k in kinds.values()),
            "total_cents": sum(k["total_cents"] for k in kinds.values()),
            "by_kind": kinds,
            "skipped": {reason: int(n) for reason, n in skipped},
        }

    def proxy_grant(self, request_id: str) -> dict[str, Any] | None:
        """One proxy request or grant, with its principal's ``person_id`` and region."""
        with self.database.transaction() as cursor:
            row = cursor.execute(
                "SELECT principal_id, region, doc FROM proxy_grants WHERE request_id = ?",
                (request_id,),
            ).fetchone()
        if row is None:
            return None
        return {"principal_id": row[0], "principal_region": row[1], **json.loads(row[2])}

    def proxy_grants_of(self, person_id: str) -> list[dict[str, Any]]:
        """Grants a person holds (as the proxy) or has given (as the principal)."""
        with self.database.transaction() as cursor:
            rows = cursor.execute(
                "SELECT principal_id, region, doc FROM proxy_grants"
                " WHERE requester_id = ? OR principal_key = ? ORDER BY request_id",
                (person_id, person_aggregate_id(person_id).hex),
            ).fetchall()
        return [{"principal_id": p, "principal_region": r, **json.loads(d)} for p, r, d in rows]

    def review_items(
        self, region_prefixes: Iterable[str] | None, kind: str | None = None
    ) -> list[dict[str, Any]]:
        """Open review items, oldest first, in regions starting with one of ``region_prefixes``
        (all regions if None), of one ``kind`` if given."""
        clauses, params = [], []
        if region_prefixes is not None:
            prefixes = list(region_prefixes)
            if not prefixes:
                return []
            clauses.append("(" + " OR ".join("region LIKE ?" for _ in prefixes) + ")")
            params += [f"{p}%" for p in prefixes]
        if kind is not None:
            clauses.append("kind = ?")
            params.append(kind)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        with self.database.transaction() as cursor:
            rows = cursor.execute(
                "SELECT item_id, person_id, region, doc FROM review_items"
                f"{where} ORDER BY opened_on, item_id",
                params,
            ).fetchall()
        return [{"item_id": i, "person_id": p, "region": r, **json.loads(d)} for i, p, r, d in rows]

    def review_item(self, item_id: str) -> dict[str, Any] | None:
        with self.database.transaction() as cursor:
            row = cursor.execute(
                "SELECT item_id, person_id, region, doc FROM review_items WHERE item_id = ?",
                (item_id,),
            ).fetchone()
        if row is None:
            return None
        return {"item_id": row[0], "person_id": row[1], "region": row[2], **json.loads(row[3])}

    def status_counts(self) -> dict[str, tuple[int, str]]:
        """People per benefit status, with one example person each (for summaries)."""
        with self.database.transaction() as cursor:
            rows = cursor.execute(
                "SELECT benefit_status, COUNT(*), MIN(person_id) FROM person_status"
                " GROUP BY benefit_status ORDER BY benefit_status"
            ).fetchall()
        return {status: (int(count), example) for status, count, example in rows}


WITHHELD_PHRASES = {
    "review": ("payment held for review", "payments held for review"),
    "held": ("payment held until certified", "payments held until certified"),
    "no_account": ("payment blocked: no bank account", "payments blocked: no bank account"),
    "arrears_due": (
        "month of arrears due at the next run",
        "months of arrears due at the next run",
    ),
}


def review_item_id(person_id: str, kind: str, key: str) -> str:
    """A stable, URL-safe ID for a review item."""
    return hashlib.sha256(f"{kind}|{person_id}|{key}".encode()).hexdigest()[:24]


def headline(doc: dict[str, Any]) -> str:
    """One line a person can read: the status, then anything withheld or to recover, e.g.
    "active — 2 payments held for review"."""
    parts = []
    for kind, count in (doc.get("payments_withheld") or {}).items():
        one, many = WITHHELD_PHRASES.get(kind, (kind, kind))
        parts.append(f"{count} {one if count == 1 else many}")
    if doc.get("overpayment_cents"):
        parts.append(f"overpayment of {doc['overpayment_cents'] / 100:,.2f} to recover")
    status = doc.get("benefit_status") or "unknown"
    return f"{status} — {', '.join(parts)}" if parts else status


def certification_summary(cycle: dict[str, Any] | None, today: date | None) -> dict[str, Any]:
    """The ``certification`` object of ``benefits status --json``."""
    if cycle is None:
        return {
            "status": "none",
            "method": None,
            "certified_on": None,
            "opened_on": None,
            "days_open": None,
            "arrears_months": 0,
        }
    opened = date.fromisoformat(cycle["opened_on"])
    if cycle["status"] == "certified":
        days_open: int | None = (date.fromisoformat(cycle["certified_on"]) - opened).days
    elif cycle["status"] == "open" and today is not None:
        days_open = max(0, (today - opened).days)
    else:
        days_open = None
    return {
        "status": cycle["status"],
        "method": cycle["method"],
        "certified_on": cycle["certified_on"],
        "opened_on": cycle["opened_on"],
        "days_open": days_open,
        "arrears_months": cycle["arrears_months"],
    }


class StatusProjection(Projection[ReadModelView]):
    """Folds person and dead-letter events into the read model, a page of notifications at once.

    The events carry personal data in clear (the store encrypts them); the read model keeps only
    what its queries need: the name masked, the national ID's last four, the account masked and,
    for the shared-account check, a keyed hash of it (``token``: equal accounts, equal tokens;
    no account can be told from its token without the store's key). Dead letters keep their
    payload masked."""

    name = "status"

    def __init__(self, view: ReadModelView, token: Callable[[str], str]) -> None:
        super().__init__(view)
        self.token = token
        self._changes = _Changes({}, {}, [], [], [], [], [], [], [])
        # A person's ID never changes: remembered, so a page need not look it up again.
        self._person_ids: dict[str, str] = {}

    PERSON_ID_CACHE = 500_000

    def process_page(self, events: list[tuple[Any, Tracking]]) -> None:
        """Apply a page of (domain event, tracking) pairs and save them in one transaction."""
        if not events:
            return
        keys = {e.originator_id.hex for e, _ in events if isinstance(e, Pensioner.Event)}
        known = self._person_ids
        missing = [key for key in keys if key not in known]
        if missing:
            if len(known) + len(missing) > self.PERSON_ID_CACHE:
                known.clear()
            known.update(self.view.person_ids(missing))
        self._changes = _Changes(known, {}, [], [], [], [], [], [], [])
        for domain_event, tracking in events:
            self.process_event(domain_event, tracking)
        self.view.save(self._changes, events[-1][1])

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:  # type: ignore[override]
        key = domain_event.originator_id.hex
        if isinstance(domain_event, WaitingEvents.EventParked):
            self._changes.parked.append(
                (
                    domain_event.originator_id.hex,
                    domain_event.event_id,
                    domain_event.parked_on.isoformat(),
                )
            )
            return
        if isinstance(domain_event, (WaitingEvents.EventsReleased, WaitingEvents.EventsExpired)):
            self._changes.unparked.extend(
                (domain_event.originator_id.hex, event_id) for event_id in domain_event.event_ids
            )
            return
        if isinstance(domain_event, DeadLetter.Event):
            row = DeadLetterRow(
                domain_event.event_id,
                domain_event.source,
                domain_event.reason,
                mask_payload(domain_event.payload),
            )
            self._changes.dead_letters.append(
                (domain_event.fingerprint, tracking.notification_id, row)
            )
            return
        if not isinstance(domain_event, Pensioner.Event):
            return
        docs = self._changes.docs
        person_ids = self._changes.person_ids
        if isinstance(domain_event, Pensioner.PersonRegistered):
            person_ids[key] = domain_event.person_id
            docs[key] = {"person_id": domain_event.person_id}
        elif isinstance(domain_event, Pensioner.StatusChanged):
            docs[key] = self._status_doc(person_ids[key], domain_event.status)
        elif isinstance(domain_event, Pensioner.PaymentInstructed):
            e = domain_event
            self._changes.instructions.append(
                (
                    e.instruction_id,
                    tracking.notification_id,
                    key,
                    person_ids[key],
                    e.on.isoformat()[:7],
                    e.month,
                    e.kind,
                    e.amount_cents,
                    e.on.isoformat(),
                    mask_account(e.bank_account),
                    e.bank_region,
                )
            )
        elif isinstance(domain_event, Pensioner.Decided):
            details = domain_event.details
            if domain_event.decision == "payment_blocked" and details["kind"] == "pension":
                self._changes.skips.append((key, details["month"], "pension", domain_event.reason))
            entry = {
                # Its place in the log: `benefits audit proof` shows it is under its day's seal.
                "decision_id": tracking.notification_id,
                "on": domain_event.on.isoformat(),
                "decision": domain_event.decision,
                "reason": domain_event.reason,
                "event_id": domain_event.event_id,
                "rule_version": domain_event.rule_version,
            }
            if details:
                entry["details"] = details
            self._changes.history.append(
                (key, tracking.notification_id, entry["on"], json.dumps(entry, ensure_ascii=False))
            )
        elif isinstance(domain_event, Pensioner.NotificationQueued):
            self._changes.notifications.append(
                (
                    key,
                    domain_event.key,
                    tracking.notification_id,
                    person_ids[key],
                    domain_event.template,
                    domain_event.on.isoformat(),
                    domain_event.event_id,
                    json.dumps(domain_event.details),
                )
            )

    def _status_doc(self, person_id: str, status: dict[str, Any]) -> dict[str, Any]:
        doc = {"person_id": person_id, **status}
        doc["name"] = mask_name(status.get("name") or "")
        if status.get("account_key"):
            doc["account_key"] = self.token(status["account_key"])
        return doc


def catch_up(
    app: Application,
    projections: list[tuple[Any, str]],
    page_size: int = 2000,
    reached: dict[str, int] | None = None,
) -> int:
    """Bring each (projection, tracking name) up to the end of the application's log, reading
    and decoding each page of notifications once for all of them; returns events read. The
    positions are read once, then followed as pages are folded in; ``reached`` receives each
    name's final position."""
    processed = 0
    positions = {name: p.view.max_tracking_id(name) or 0 for p, name in projections}
    while True:
        start = min(positions.values()) + 1
        recent = getattr(app, "recent_since", None)
        page = recent(start, page_size) if recent is not None else None
        if page is None:  # not (all) recorded by this process: read the store's log
            notifications = app.recorder.select_notifications(start=start, limit=page_size)
            page = [(app.mapper.to_domain_event(n), n.id) for n in notifications]
        if not page:
            if reached is not None:
                reached.update(positions)
            return processed
        for projection, name in projections:
            mine = [(e, Tracking(name, i)) for e, i in page if i > positions[name]]
            if mine:
                projection.process_page(mine)
                positions[name] = mine[-1][1].notification_id
        processed += len(page)
