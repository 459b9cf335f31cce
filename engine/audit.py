"""`benefits audit`: check that nothing stored was changed, and prove one decision is sealed.

``verify`` reads the whole log once, in order. For each event it checks, as ``streams/ledger.py``
describes: the header's format, that the body decrypts (AES-GCM fails on any changed byte), that
the recomputed hash equals the recorded one, that the previous hash is the recorded hash of the
stream's event before it, and that no position is missing. Then, for each day's seal, that the
Merkle root over the events it covers is the one recorded. The first problem in log order is
"the first broken link".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.application import project_aggregate
from eventsourcing.persistence import Notification, PersistenceError, StoredEvent
from eventsourcing.postgres import PostgresAggregateRecorder
from eventsourcing.utils import resolve_topic

from streams import merkle
from streams.intake import LifeEventIntake, select_rows
from streams.ledger import (
    FORMAT,
    GENESIS,
    HEADER_BYTES,
    LEDGER_ID,
    AuditLedger,
    StoreFormatError,
    hash_of,
    matches_its_hash,
    previous_of,
)

PAGE = 5000


@dataclass(frozen=True)
class Seal:
    """One recorded day's seal: the events after ``after`` up to ``last_id`` are under ``root``."""

    day: date
    after: int  # the previous seal's last notification ID (0 for the first)
    last_id: int
    size: int
    root: str
    position: int  # the seal's own position in the ledger's stream

    def covers(self, notification_id: int) -> bool:
        return self.after < notification_id <= self.last_id


@dataclass(frozen=True)
class Break:
    """A broken link: where, and what is wrong there."""

    notification_id: int
    stream: str
    kind: str
    position: int
    day: str | None  # the seal that covers it; None if not sealed yet
    problem: str

    def describe(self) -> str:
        day = f"day {self.day}" if self.day else "not sealed yet"
        if self.kind == "snapshot":
            return f"snapshot of stream {self.stream} at position {self.position}: {self.problem}"
        return (
            f"stream {self.stream} ({self.kind}), position {self.position}, {day}:"
            f" {self.problem} (log position {self.notification_id})"
        )


@dataclass
class Verification:
    events: int = 0
    streams: int = 0
    seals: list[Seal] = field(default_factory=list)
    unsealed: int = 0
    breaks: list[Break] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "streams": self.streams,
            "seals": len(self.seals),
            "first_day": self.seals[0].day.isoformat() if self.seals else None,
            "last_day": self.seals[-1].day.isoformat() if self.seals else None,
            "unsealed": self.unsealed,
            "broken": [b.describe() for b in self.breaks],
            "first_broken": self.breaks[0].__dict__ if self.breaks else None,
        }


def seals(intake: LifeEventIntake) -> list[Seal]:
    """The day seals the ledger recorded, oldest first (those that can be read)."""
    found: list[Seal] = []
    after = 0
    try:
        stored_seals = intake.recorder.select_events(LEDGER_ID)
    except PersistenceError:  # a seal row changed into something unreadable: found below
        stored_seals = [n for n in _log(intake) if n.originator_id == LEDGER_ID]
    for stored in stored_seals:
        try:
            recorded = intake.mapper.to_domain_event(stored)
        except StoreFormatError:
            continue  # verify reports it where it stands in the log
        if isinstance(recorded, AuditLedger.DaySealed):
            found.append(
                Seal(
                    recorded.day,
                    after,
                    recorded.last_id,
                    recorded.size,
                    recorded.root,
                    stored.originator_version,
                )
            )
            after = recorded.last_id
    return found


def _log(
    intake: LifeEventIntake, start: int = 1, stop: int | None = None
) -> Iterator[Notification]:
    """The log's events from ``start`` to ``stop``, in order. On SQLite the rows are read as
    bytes whatever they hold, so a row changed into text is a finding, not a crash."""
    recorder: Any = intake.recorder
    if isinstance(recorder, PostgresAggregateRecorder):
        while page := recorder.select_notifications(start=start, limit=PAGE, stop=stop):
            yield from page
            start = page[-1].id + 1
        return
    table = recorder.events_table_name
    last = stop if stop is not None else 2**63 - 1
    while True:
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                "SELECT rowid, originator_id, originator_version, topic, CAST(state AS BLOB)"
                f" FROM {table} WHERE rowid >= ? AND rowid <= ? ORDER BY rowid LIMIT ?",
                (start, last, PAGE),
            )
            rows = cursor.fetchall()
        if not rows:
            return
        for row in rows:
            yield Notification(
                id=row[0],
                originator_id=UUID(row[1]),
                originator_version=row[2],
                topic=row[3],
                state=row[4] if row[4] is not None else b"",
            )
        start = rows[-1][0] + 1


def _kind(topic: str) -> str:
    try:
        return resolve_topic(topic).__qualname__.split(".")[0]
    except Exception:  # a topic that names nothing is itself a finding of verify
        return topic


def verify(intake: LifeEventIntake, progress: Callable[[int], None] | None = None) -> Verification:
    """Recompute every chain and every day's root; see the module doc."""
    result = Verification(seals=seals(intake))
    by_seal = iter(result.seals)
    current = next(by_seal, None)
    leaves: list[bytes] = []
    heads: dict[Any, tuple[int, bytes | None]] = {}
    mapper: Any = intake.mapper

    def where(n: Notification, problem: str) -> None:
        sealed = next((s for s in result.seals if s.covers(n.id)), None)
        result.breaks.append(
            Break(
                n.id,
                str(n.originator_id),
                _kind(n.topic),
                n.originator_version,
                sealed.day.isoformat() if sealed else None,
                problem,
            )
        )

    def close_seal(seal: Seal) -> None:
        root = merkle.root(leaves).hex()
        if len(leaves) != seal.size or root != seal.root:
            result.breaks.append(
                Break(
                    seal.last_id,
                    str(LEDGER_ID),
                    "AuditLedger",
                    seal.position,
                    seal.day.isoformat(),
                    f"the day's Merkle root does not match the {len(leaves)} events it covers"
                    f" (sealed: {seal.size} events, root {seal.root[:16]}…)",
                )
            )
        leaves.clear()

    for n in _log(intake):
        result.events += 1
        if progress is not None and result.events % 50_000 == 0:
            progress(result.events)
        while current is not None and n.id > current.last_id:
            close_seal(current)
            current = next(by_seal, None)
        state = n.state
        if current is not None:
            leaves.append(hash_of(state))
        else:
            result.unsealed += 1
        if len(state) < HEADER_BYTES or state[:1] != FORMAT:
            where(n, "it is not in the chained format (header missing or changed)")
            heads[n.originator_id] = (n.originator_version, None)  # the next link is unknown
            continue
        try:
            body = mapper.open(n)
        except StoreFormatError:
            where(n, "its body cannot be decrypted: changed since it was written, or another key")
            # The next event is checked against this one's header, so one change is one finding.
            heads[n.originator_id] = (n.originator_version, hash_of(state))
            continue
        version, previous = heads.get(n.originator_id, (0, GENESIS))
        if n.originator_version != version + 1:
            where(n, f"positions {version + 1} to {n.originator_version - 1} are missing")
        elif previous is not None and previous_of(state) != previous:
            where(n, f"its previous hash is not the hash of position {version}")
        if not matches_its_hash(n, body):
            where(n, "its content does not match its recorded hash")
        heads[n.originator_id] = (n.originator_version, hash_of(state))
    while current is not None:
        close_seal(current)
        current = next(by_seal, None)
    result.streams = len(heads)
    result.breaks.sort(key=lambda b: b.notification_id)
    result.breaks += _snapshot_breaks(intake)
    return result


def _snapshot_rows(intake: LifeEventIntake) -> list[StoredEvent]:
    store: Any = intake.snapshots
    if store is None:
        return []
    rows = select_rows(
        store.recorder,
        "SELECT originator_id, originator_version, topic, state FROM {table}"
        " ORDER BY originator_id, originator_version",
        "SELECT originator_id, originator_version, topic, CAST(state AS BLOB) FROM {table}"
        " ORDER BY originator_id, originator_version",
    )
    return [
        StoredEvent(originator_id=UUID(str(oid)), originator_version=v, topic=t, state=state or b"")
        for oid, v, t, state in rows
    ]


def _snapshot_breaks(intake: LifeEventIntake) -> list[Break]:
    """Snapshots stand outside the chains, but loading a person starts from one: each must be
    exactly what the stream's chained events make at its position."""
    breaks: list[Break] = []
    mapper: Any = intake.mapper
    for stored in _snapshot_rows(intake):

        def broken(problem: str, stored: StoredEvent = stored) -> None:
            breaks.append(
                Break(
                    0,
                    str(stored.originator_id),
                    "snapshot",
                    stored.originator_version,
                    None,
                    problem,
                )
            )

        try:
            snapshot = mapper.to_domain_event(stored)
        except StoreFormatError:
            broken("the snapshot cannot be decrypted: changed, or another key")
            continue
        events = list(intake.events.get(stored.originator_id, lte=stored.originator_version))
        if len(events) != stored.originator_version:
            broken(f"the stream has {len(events)} events up to the snapshot's position")
            continue
        made = type(snapshot).take(project_aggregate(None, events))
        expected, found = made.state, snapshot.state
        if isinstance(found, dict) and (
            "replay" not in found or found.get("replay_stamp") != expected.get("replay_stamp")
        ):
            # Taken before snapshots held a replay's state, or under other rules (loading does
            # not use that state then): the rest must still match.
            derived = ("replay", "replay_stamp")
            expected = {k: v for k, v in expected.items() if k not in derived}
            found = {k: v for k, v in found.items() if k not in derived}
        encode = mapper.transcoder.encode
        if encode(expected) != encode(found) or made.topic != snapshot.topic:
            broken("the snapshot is not what the stream's events make at its position")
    return breaks


def proof(intake: LifeEventIntake, decision_id: int) -> dict[str, Any]:
    """An RFC 6962 inclusion proof that log event ``decision_id`` is under its day's root.
    Raises ``LookupError`` (with a message for people) when there is no such event or its day
    is not sealed yet."""
    found = intake.recorder.select_notifications(start=decision_id, limit=1, stop=decision_id)
    if not found:
        raise LookupError(f"there is no decision {decision_id} in the log")
    event = found[0]
    seal = next((s for s in seals(intake) if s.covers(decision_id)), None)
    if seal is None:
        raise LookupError(
            f"decision {decision_id} is not sealed yet: its day is sealed when the next day's"
            " first batch arrives (or by `benefits audit seal`)"
        )
    hashes: list[bytes] = []
    index = -1
    for n in _log(intake, seal.after + 1, seal.last_id):
        if n.id == decision_id:
            index = len(hashes)
        hashes.append(hash_of(n.state))
    path = merkle.audit_path(hashes, index)
    return {
        "decision_id": decision_id,
        "stream": str(event.originator_id),
        "kind": resolve_topic(event.topic).__qualname__,
        "position": event.originator_version,
        "day": seal.day.isoformat(),
        "leaf": hash_of(event.state).hex(),
        "leaf_index": index,
        "tree_size": len(hashes),
        "path": [p.hex() for p in path],
        "root": seal.root,
    }


def summary(result: Verification) -> Sequence[str]:
    """What `benefits audit verify` prints: one line when all is well, else the first break."""
    days = (
        f"{len(result.seals)} day seals ({result.seals[0].day} to {result.seals[-1].day})"
        if result.seals
        else "no day seal yet"
    )
    lines = [f"checked {result.events:,} events in {result.streams:,} streams and {days}"]
    if result.unsealed:
        lines.append(
            f"{result.unsealed:,} event{'s' if result.unsealed > 1 else ''} since the last seal"
            f" {'are' if result.unsealed > 1 else 'is'} not sealed yet"
        )
    if result.breaks:
        lines.append(f"first broken link: {result.breaks[0].describe()}")
        if len(result.breaks) > 1:
            lines.append(f"{len(result.breaks) - 1} more problems after it (--json lists them)")
    else:
        lines.append("every chain and every seal holds")
    return lines
