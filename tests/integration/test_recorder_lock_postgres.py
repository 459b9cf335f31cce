"""The event store's writers on a real PostgreSQL server: they wait for each other (so that
notification IDs commit in order) but not for a vacuum or analyze of the events table, which
holds the table's SHARE UPDATE EXCLUSIVE lock and which, with the library's own ``LOCK TABLE
... IN EXCLUSIVE MODE``, held every write up until PostgreSQL cancelled it a second later."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from eventsourcing.persistence import InfrastructureFactory, OperationalError, StoredEvent
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


def insert_once(recorder: PostgresRecorder, events: list[StoredEvent]) -> None:
    """``insert_events`` without the library's ten tries: a lock it cannot have within the
    lock timeout fails at once."""
    type(recorder).insert_events.__wrapped__(recorder, events)  # type: ignore[attr-defined]


def stored_count(database_url: str, table: str) -> int:
    with psycopg.connect(database_url) as connection:
        row = connection.execute(f"SELECT count(*) FROM {table}").fetchone()
    assert row is not None
    return int(row[0])


def test_a_write_goes_in_while_the_events_table_is_being_vacuumed(
    recorder: PostgresRecorder, database_url: str
) -> None:
    table = f"{recorder.datastore.schema}.{recorder.events_table_name}"
    with psycopg.connect(database_url) as vacuum:
        # What (auto)vacuum and analyze hold on the table while they run.
        vacuum.execute(f"LOCK TABLE {table} IN SHARE UPDATE EXCLUSIVE MODE")
        ids = recorder.insert_events([an_event(), an_event()])
        assert ids is not None and len(ids) == 2 and ids[1] == ids[0] + 1
    assert stored_count(database_url, table) == 2


def test_writers_still_wait_for_each_other(recorder: PostgresRecorder, database_url: str) -> None:
    table = f"{recorder.datastore.schema}.{recorder.events_table_name}"
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
    table = f"{recorder.datastore.schema}.{recorder.events_table_name}"
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
