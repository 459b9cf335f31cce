"""A small store made as a user makes one (the demo's generator, then `benefits run`), with
snapshots, and what a test compares before and after rewriting it: every event and snapshot read
back, everyone's status and history, and the stored rows' bytes."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from engine.demo import generate_events, write_events
from engine.settings import eventsourcing_environment
from engine.wiring import open_engine
from streams.intake import LifeEventIntake
from tests.cli import cli

Rows = dict[tuple[str, str, int], bytes]  # (table, stream, version): stored state


def make_small_store(store: str, folder: Path, people: int = 30) -> list[str]:
    """A year of ``people`` persons from the demo's generator through `benefits run`, with a
    snapshot every 10 events so that there are snapshots to rewrite too; their person IDs."""
    events = generate_events(people, seed=12)
    path = write_events(folder / "small.jsonl", events)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LifeEventIntake, "SNAPSHOT_INTERVAL", 10)
        code, output = cli("run", "--input", str(path), "--store", store, "--json")
    assert code == 0, output
    return sorted({e["person_id"] for e in events if e.get("type") == "person_registered"})


def read_everything(store: str, people: list[str]) -> dict[str, Any]:
    """Every stored event and snapshot decrypted and read as a domain event (their counts), and
    every person's status with its history."""
    engine = open_engine(store, 0, must_exist=True)
    try:
        mapper = engine.intake.mapper
        events, streams, start = 0, set(), 1
        while page := engine.intake.recorder.select_notifications(start=start, limit=1000):
            for notification in page:
                mapper.to_domain_event(notification)
                streams.add(notification.originator_id)
            events += len(page)
            start = page[-1].id + 1
        snapshots: Any = engine.intake.snapshots
        recorders = (engine.intake.recorder, snapshots.recorder)
        assert tuple(r.events_table_name for r in recorders) == tables(store)
        taken = 0
        for stream in streams:
            for stored in snapshots.recorder.select_events(stream):
                mapper.to_domain_event(stored)
                taken += 1
        statuses = {person: engine.view.status(person) for person in people}
    finally:
        engine.close()
    return {"events": events, "snapshots": taken, "statuses": statuses}


def tables(store: str) -> tuple[str, str]:
    """The event and snapshot tables (``read_everything`` checks them against the recorders)."""
    if "SQLITE_DBNAME" in eventsourcing_environment(store):
        return "stored_events", "stored_snapshots"
    return f"{LifeEventIntake.name}_events", f"{LifeEventIntake.name}_snapshots"


def stored_rows(store: str) -> Rows:
    """The bytes of every stored event and snapshot, as the database holds them."""
    select = "SELECT originator_id, originator_version, state FROM {}"
    env = eventsourcing_environment(store)
    rows: Rows = {}
    if "SQLITE_DBNAME" in env:
        connection = sqlite3.connect(env["SQLITE_DBNAME"])
        try:
            for table in tables(store):
                for stream, version, state in connection.execute(select.format(table)):
                    rows[(table, str(stream), version)] = bytes(state)
        finally:
            connection.close()
        return rows
    with psycopg.connect(store) as connection:
        for table in tables(store):
            statement = SQL(select).format(Identifier(table))
            for stream, version, state in connection.execute(statement):
                rows[(table, str(stream), version)] = bytes(state)
    return rows
