"""A large save goes in whole on a real PostgreSQL server. Sent in psycopg's pipeline mode (as
the library's recorder sends it), a save of about 15 MB or more deadlocked in some runs: the
server waiting for the rest of the statement, the client for its result, the writers' lock held
for good. The save runs in a process of its own so that, were it to deadlock again, the test
fails when that process is stopped instead of hanging the suite; the bound is a deadlock guard
(the save takes seconds), not a speed target."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import psycopg
import pytest

pytestmark = pytest.mark.integration

EVENTS = 40_000
BODY = 900  # bytes: 36 MB in one statement, which deadlocked 1 run in 1 in pipeline mode

SAVE = textwrap.dedent(
    f"""
    import os, sys, uuid
    from eventsourcing.persistence import InfrastructureFactory, StoredEvent, Tracking
    from eventsourcing.utils import Environment
    from engine.settings import eventsourcing_environment

    env = eventsourcing_environment(sys.argv[1])
    factory = InfrastructureFactory.construct(Environment("LargeSave", env))
    recorder = factory.process_recorder()
    events = [
        StoredEvent(uuid.uuid4(), 1, "tests:Event", os.urandom({BODY})) for _ in range({EVENTS})
    ]
    ids = recorder.insert_events(events, tracking=Tracking("kafka:large:0", 7))
    print(len(ids), ids[-1] - ids[0] + 1)
    factory.close()
    """
)


def test_a_save_of_36_mb_goes_in_whole_with_its_position(database_url: str) -> None:
    try:
        done = subprocess.run(
            [sys.executable, "-c", SAVE, database_url], capture_output=True, text=True, timeout=600
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the save never returned: the client and the server wait for each other")
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [str(EVENTS), str(EVENTS)]  # consecutive notification IDs
    with psycopg.connect(database_url) as connection:
        stored = connection.execute("SELECT count(*) FROM largesave_events").fetchone()
        position = connection.execute(
            "SELECT notification_id FROM largesave_tracking WHERE application_name = %s",
            ("kafka:large:0",),
        ).fetchone()
    assert stored == (EVENTS,) and position == (7,)
