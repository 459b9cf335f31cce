"""The bench's event-store floor on a real PostgreSQL server: it reads the shape of the engine's
own events, stores as many beside them in tables of its own (a save of 12,000 events of 500
bytes goes through: the library's own INSERT hung on one) and drops those tables again, and
only those, leaving the engine's store as it was. No timing is asserted."""

from __future__ import annotations

from datetime import date

import pytest

from engine import bench_floor
from engine.bench_embedded import messages, registration
from engine.bench_floor import StoredShape
from engine.wiring import POSTGRES_EVENTS_TABLE, open_engine
from projections.database import connect_postgres

pytestmark = pytest.mark.integration


def tables(url: str) -> set[str]:
    with connect_postgres(url, autocommit=True) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        return {name for (name,) in rows}


def test_the_floor_stores_beside_the_engines_events_and_leaves_them_alone(
    database_url: str,
) -> None:
    engine = open_engine(database_url)
    try:
        people = [registration(f"F{n:04d}", date(2026, 1, 1), n) for n in range(40)]
        outcome = engine.intake.apply_messages(messages(people), source="bench")
        assert not outcome.rejected
    finally:
        engine.close()
    before = bench_floor.postgres_shape(database_url, POSTGRES_EVENTS_TABLE)
    assert before.events >= 40 and before.streams >= 40 and before.body_bytes > 100
    engine_tables = tables(database_url)

    stored: list[tuple[int, int]] = []  # (reported, in the floor's table) after each save

    def progress(_what: str, done: int, _total: int | None) -> None:
        table = f"{bench_floor.StoreFloor.name.lower()}_events"
        stored.append((done, bench_floor.postgres_shape(database_url, table).events))
        with connect_postgres(database_url, autocommit=True) as conn:
            # Someone else's table, made while the floor runs: not the floor's to drop.
            conn.execute("CREATE TABLE IF NOT EXISTS made_meanwhile (n int)")

    big = StoredShape(events=12_000, streams=500, body_bytes=500)
    seconds = bench_floor.postgres_floor(database_url, big, progress)

    assert seconds > 0 and stored[-1] == (12_000, 12_000)
    assert all(reported == found for reported, found in stored)
    assert tables(database_url) == engine_tables | {"made_meanwhile"}
    assert bench_floor.postgres_shape(database_url, POSTGRES_EVENTS_TABLE) == before
