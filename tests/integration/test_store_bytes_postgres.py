"""Personal data at rest on a real PostgreSQL server: after a demo-sized run, every table of the
store's database, dumped with COPY, holds none of the run's national IDs, names or bank account
numbers (the event store's rows are encrypted; the read models keep masks and keyed hashes)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from engine.demo import write_events
from tests.cli import cli
from tests.personal_data import clear_in, personal_values
from tests.unit.test_store_bytes import demo_events

pytestmark = pytest.mark.integration


def dump_every_table(database_url: str) -> dict[str, bytes]:
    """Each table of the database (every schema but PostgreSQL's own) as ``COPY ... TO STDOUT``."""
    dumps: dict[str, bytes] = {}
    with psycopg.connect(database_url) as connection:
        tables = connection.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_type = 'BASE TABLE'"
            " AND table_schema NOT IN ('pg_catalog', 'information_schema')"
            " ORDER BY 1, 2"
        ).fetchall()
        cursor = connection.cursor()
        for schema, table in tables:
            name = f'"{schema}"."{table}"'
            blob = bytearray()
            with cursor.copy(f"COPY {name} TO STDOUT") as copy:
                for chunk in copy:
                    blob += chunk
            dumps[name] = bytes(blob)
    return dumps


def test_a_demo_sized_run_leaves_no_clear_personal_data_in_any_postgres_table(
    database_url: str, tmp_path: Path
) -> None:
    events = demo_events()
    values = personal_values(events)
    path = write_events(tmp_path / "life-events.jsonl", events)
    code, output = cli("run", "--input", str(path), "--store", database_url)
    assert code == 0, output

    dumps = dump_every_table(database_url)
    assert {'"public"."person_status"', '"public"."payment_instructions"'} <= set(dumps)
    assert len(dumps['"public"."payment_instructions"']) > 10_000  # the run paid people
    for name, blob in dumps.items():
        assert clear_in(blob, values) == [], name
