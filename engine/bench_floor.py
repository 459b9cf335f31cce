"""`benefits bench`'s floor: the event store's write path alone storing as many events as a measured
run stored, of the same mean size, into fresh tables of the same store.

The path is the one the engine stores with: eventsourcing's event construction, transcoder and
AES-GCM cipher, and the engine's recorder (its INSERT statement), with none of the engine's
deciding, validating, hash chain or read models. No run can store its events faster, so this is
the least the run could have taken if all of that cost nothing. Every condition favours it:
events are saved 500 aggregates to a transaction, each aggregate with all its events."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from eventsourcing.application import Application
from eventsourcing.cryptography import AESCipher
from eventsourcing.domain import Aggregate

from engine.bench_embedded import Progress, quiet
from engine.settings import eventsourcing_environment
from engine.wiring import SQLITE_EVENTS_TABLE
from projections.database import connect_postgres
from streams.ledger import HEADER_BYTES

AGGREGATES_PER_SAVE = 500
# What AES-GCM adds to a body: its nonce and tag (the library's cipher and the engine's alike).
CIPHER_BYTES = 12 + 16


@dataclass(frozen=True)
class StoredShape:
    """How many events a run stored, over how many streams, of what mean size (clear body)."""

    events: int
    streams: int
    body_bytes: int

    @property
    def per_stream(self) -> int:
        return max(1, round(self.events / max(self.streams, 1)))


class StoreFloor(Application):
    """A bare eventsourcing application: nothing of the engine's but its recorder."""

    name = "BenchStoreFloor"


class Stream(Aggregate):
    """An aggregate that records padding: the library's own event construction and storing."""

    class Noted(Aggregate.Event):
        body: str

    def note(self, body: str) -> None:
        self.trigger_event(self.Noted, body=body)


def sqlite_shape(path: Path) -> StoredShape:
    """The events an embedded store holds (snapshots aside)."""
    connection = sqlite3.connect(path)
    try:
        return _shape(connection.execute(_SHAPE.format(table=SQLITE_EVENTS_TABLE)).fetchone())
    finally:
        connection.close()


def postgres_shape(url: str, table: str) -> StoredShape:
    with connect_postgres(url, autocommit=True) as conn:
        return _shape(conn.execute(_SHAPE.format(table=f'"{table}"')).fetchone())


_SHAPE = (
    "SELECT count(*), count(DISTINCT originator_id), coalesce(avg(length(state)), 0) FROM {table}"
)


def _shape(row: tuple[int, int, float]) -> StoredShape:
    events, streams, mean_state = row
    body = max(0, round(float(mean_state)) - HEADER_BYTES - CIPHER_BYTES)
    return StoredShape(events=int(events), streams=int(streams), body_bytes=body)


def sqlite_floor(path: Path, shape: StoredShape, progress: Progress = quiet) -> float:
    """Seconds the library takes to store ``shape``'s events into a fresh SQLite file."""
    environment = eventsourcing_environment(f"sqlite:///{path}")
    with _application(environment) as app:
        return _store(app, shape, progress)


def postgres_floor(url: str, shape: StoredShape, progress: Progress = quiet) -> float:
    """Seconds the library takes to store ``shape``'s events into fresh tables of the database at
    ``url``; the tables it made are dropped afterwards (none other is touched)."""
    before = _postgres_tables(url)
    with _application(eventsourcing_environment(url)) as app:
        recorder = app.recorder
        own = {recorder.events_table_name, getattr(recorder, "tracking_table_name", "")} - {""}
        try:
            return _store(app, shape, progress)
        finally:
            with connect_postgres(url, autocommit=True) as conn:
                for table in sorted(own - before):
                    conn.execute(f'DROP TABLE IF EXISTS "{table}"')


def postgres_tables(conn: psycopg.Connection[Any]) -> list[str]:
    """The tables of the connection's current schema."""
    rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
    return [name for (name,) in rows]


def _postgres_tables(url: str) -> set[str]:
    with connect_postgres(url, autocommit=True) as conn:
        return set(postgres_tables(conn))


@contextmanager
def _application(environment: dict[str, str]) -> Iterator[StoreFloor]:
    settings = dict(environment)
    # The engine's recorder, which is also an application recorder: its INSERT, not the
    # library's (which hung on a save of 10,000 events of 500 bytes on PostgreSQL).
    settings["APPLICATION_RECORDER_TOPIC"] = settings.pop("PROCESS_RECORDER_TOPIC")
    settings |= {
        "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
        "CIPHER_KEY": AESCipher.create_key(32),
    }
    app = StoreFloor(env=settings)
    try:
        yield app
    finally:
        app.close()


def _store(app: StoreFloor, shape: StoredShape, progress: Progress) -> float:
    """Store ``shape.events`` events, ``shape.per_stream`` to an aggregate (its creation among
    them), each with a body about ``shape.body_bytes`` long; timed from the first event made."""
    # The library's JSON around a noted body (its timestamp and field name) is 93 bytes: the
    # padding makes up the rest of the run's mean body.
    padding = "x" * max(0, shape.body_bytes - 93)
    remaining = shape.events
    started = time.perf_counter()
    while remaining > 0:
        batch = []
        for _ in range(AGGREGATES_PER_SAVE):
            if remaining <= 0:
                break
            events = min(shape.per_stream, remaining)  # its creation is one of them
            stream = Stream()
            for _ in range(events - 1):
                stream.note(padding)
            batch.append(stream)
            remaining -= events
        app.save(*batch)
        progress("the event store alone (reference)", shape.events - remaining, shape.events)
    return time.perf_counter() - started
