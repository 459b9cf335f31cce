"""The event store's writers on a real PostgreSQL server: they wait for each other (so that
notification IDs commit in order) but not for a vacuum or analyze of the events table, which
holds the table's SHARE UPDATE EXCLUSIVE lock and which, with the library's own ``LOCK TABLE
... IN EXCLUSIVE MODE``, held every write up until PostgreSQL cancelled it a second later;
and two of them recording the same partitions' positions conflict instead of deadlocking; a
batch whose events cannot go in records none of its positions."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import (
    InfrastructureFactory,
    IntegrityError,
    OperationalError,
    StoredEvent,
    Tracking,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import Environment

from engine.settings import eventsourcing_environment
from streams.recorders import PostgresRecorder

pytestmark = pytest.mark.integration


@pytest.fixture()
def recorder(database_url: str) -> Iterator[PostgresRecorder]:
    # A lock that cannot be had within a second fails the write (after the library's retries).
    env = eventsourcing_environment(database_url) | {"POSTGRES_LOCK_TIMEOUT": "1"}
    factory = InfrastructureFactory.construct(Environment("LockTest", env))
    made = factory.process_recorder()
    assert isinstance(made, PostgresRecorder)
    yield made
    factory.close()


def an_event() -> StoredEvent:
    return StoredEvent(uuid.uuid4(), 1, "tests:Event", b"{}")


def insert_once(recorder: PostgresRecorder, events: list[StoredEvent], **kwargs: Any) -> None:
    """``insert_events`` without the library's ten tries: a lock it cannot have within the
    lock timeout, or a deadlock, fails at once."""
    type(recorder).insert_events.__wrapped__(recorder, events, **kwargs)  # type: ignore[attr-defined]


def events_table(recorder: PostgresRecorder) -> str:
    return f"{recorder.datastore.schema}.{recorder.events_table_name}"


def stored_count(database_url: str, table: str) -> int:
    with psycopg.connect(database_url) as connection:
        row = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_a_write_goes_in_while_the_events_table_is_being_vacuumed(
    recorder: PostgresRecorder, database_url: str
) -> None:
    table = events_table(recorder)
    with psycopg.connect(database_url) as vacuum:
        # What (auto)vacuum and analyze hold on the table while they run.
        vacuum.execute(f"LOCK TABLE {table} IN SHARE UPDATE EXCLUSIVE MODE")
        ids = recorder.insert_events([an_event(), an_event()])
        assert ids is not None and len(ids) == 2 and ids[1] == ids[0] + 1
    assert stored_count(database_url, table) == 2


def test_writers_still_wait_for_each_other(recorder: PostgresRecorder, database_url: str) -> None:
    table = events_table(recorder)
    recorder.insert_events([an_event()])
    with psycopg.connect(database_url) as other_writer:
        # Another writer's transaction, between taking the writers' lock and committing.
        recorder._lock_table(other_writer.cursor())
        with pytest.raises(OperationalError, match="lock timeout"):
            insert_once(recorder, [an_event()])
    assert stored_count(database_url, table) == 1
    recorder.insert_events([an_event()])  # the other writer is done: the next write goes in
    assert stored_count(database_url, table) == 2


def test_a_writer_with_the_librarys_own_recorder_and_ours_wait_for_each_other(
    recorder: PostgresRecorder, database_url: str
) -> None:
    table = events_table(recorder)
    with psycopg.connect(database_url) as stock_writer:
        # The library's recorder, between its table lock and its commit.
        stock_writer.execute("SET LOCAL lock_timeout = '1s'")
        PostgresApplicationRecorder._lock_table(recorder, stock_writer.cursor())  # type: ignore[arg-type]
        with pytest.raises(OperationalError, match="lock timeout"):
            insert_once(recorder, [an_event()])
    with psycopg.connect(database_url) as our_writer:
        # Ours, between its insert and its commit.
        cursor = our_writer.cursor()
        recorder._lock_table(cursor)
        cursor.execute(
            f"INSERT INTO {table} (originator_id, originator_version, topic, state)"
            " VALUES (%s, 1, 'tests:Event', '')",
            (uuid.uuid4(),),
        )
        with psycopg.connect(database_url) as stock_writer:
            stock_writer.execute("SET LOCAL lock_timeout = '1s'")
            with pytest.raises(psycopg.errors.LockNotAvailable):
                PostgresApplicationRecorder._lock_table(recorder, stock_writer.cursor())  # type: ignore[arg-type]
    assert stored_count(database_url, table) == 1  # ours, committed once the other gave up


def test_two_workers_recording_the_same_partitions_conflict_instead_of_deadlocking(
    database_url: str,
) -> None:
    """During a rebalance two workers can each hold a batch of partitions 0 and 1. Each writes
    its partitions' positions in the order of their names, so the second waits for the first's
    row of partition 0 while holding nothing the first needs: when the first commits, the second
    gets a conflict (and the intake retries it from the store's positions), not a deadlock."""
    env = eventsourcing_environment(database_url) | {"POSTGRES_LOCK_TIMEOUT": "30"}
    factory = InfrastructureFactory.construct(Environment("OrderTest", env))
    recorder = factory.process_recorder()
    assert isinstance(recorder, PostgresRecorder)
    outcome: list[BaseException | None] = []

    def second_worker() -> None:
        try:
            insert_once(
                recorder,
                [an_event()],
                tracking=Tracking("kafka:life-events:1", 5),  # its batch's first partition
                more_tracking=[Tracking("kafka:life-events:0", 5)],
            )
            outcome.append(None)
        except BaseException as exc:  # noqa: BLE001 - the test looks at what it was
            outcome.append(exc)

    try:
        with psycopg.connect(database_url) as first_worker:
            cursor = first_worker.cursor()
            recorder._insert_tracking(cursor, Tracking("kafka:life-events:0", 5))
            thread = threading.Thread(target=second_worker)
            thread.start()
            # Until the second worker waits for a lock (or has finished, which fails below).
            with psycopg.connect(database_url, autocommit=True) as watcher:
                while thread.is_alive():
                    waiting = watcher.execute(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    ).fetchone()
                    if waiting and waiting[0]:
                        break
            # Written in name order, the second worker holds no row of partition 1 yet.
            recorder._insert_tracking(cursor, Tracking("kafka:life-events:1", 5))
        thread.join()
    finally:
        factory.close()
    assert len(outcome) == 1
    assert isinstance(outcome[0], IntegrityError), outcome[0]


def test_a_batch_whose_events_conflict_records_none_of_its_positions(
    recorder: PostgresRecorder, database_url: str
) -> None:
    """A batch is one transaction: when one of its events cannot go in, neither do the others nor
    any of the positions recorded with them, so the batch is read again, not skipped."""
    table = events_table(recorder)
    taken = an_event()
    recorder.insert_events([taken], tracking=Tracking("kafka:life-events:0", 1))

    with pytest.raises(IntegrityError):
        insert_once(
            recorder,
            [an_event(), taken],  # the same stream and version as the one already stored
            tracking=Tracking("kafka:life-events:0", 2),
            more_tracking=[Tracking("kafka:life-events:1", 2)],
        )

    assert stored_count(database_url, table) == 1
    assert recorder.max_tracking_ids(["kafka:life-events:0", "kafka:life-events:1"]) == {
        "kafka:life-events:0": 1,
        "kafka:life-events:1": 0,
    }
