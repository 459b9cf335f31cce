"""Personal data at rest, measured: after a demo-sized embedded run, the store's bytes on disk (the
SQLite file and its write-ahead log, read as they are, nothing checkpointed first) hold none of
the run's national IDs, names or bank account numbers, and neither do the command line's tables."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import policy
from engine.demo import generate_events, write_events
from engine.simulation import simulate
from engine.wiring import open_engine
from tests.cli import cli, cli_json
from tests.events import envelope
from tests.personal_data import clear_in, personal_values

PEOPLE = 300
SEED = 11
EXAMPLE = Path(policy.__file__).parent / "examples" / "hold-at-100-days.yaml"


def demo_events() -> list[dict[str, Any]]:
    """The demo's events, and two lines whose offending values are a person's national ID (a
    reason quotes what it rejects, so it must not quote those whole)."""
    events = generate_events(PEOPLE, SEED)
    first = next(e for e in events if e["type"] == "person_registered")
    national_id, account = first["data"]["national_id"], first["data"].get("bank_account", "6222")
    careless = copy.deepcopy(first)
    careless["event_id"] += "-careless"
    careless["data"]["birth_date"] = national_id
    stray = envelope(
        "bank_account_changed",
        first["person_id"],
        "2026-03-01",
        {"bank_account": account, "bank_region": "110101", national_id: "?"},
    )
    return [*events, careless, stray]


def on_disk(database: Path) -> dict[str, bytes]:
    """The database file and its WAL and shared-memory files, as they are now."""
    files = [database, *(database.with_name(database.name + s) for s in ("-wal", "-shm"))]
    return {f.name: f.read_bytes() for f in files if f.exists()}


def test_a_demo_sized_run_leaves_no_clear_personal_data_on_disk(tmp_path: Path) -> None:
    events = demo_events()
    values = personal_values(events)
    assert {"national_id", "name", "bank_account"} == set(values.values())
    path = write_events(tmp_path / "life-events.jsonl", events)
    database = tmp_path / "store.db"
    store = f"sqlite:///{database}"

    engine = open_engine(store, exclusive=True)
    try:
        outcome = simulate(engine, path)
        assert outcome.intake.rejected > 0 and outcome.intake.accepted > PEOPLE
        while_open = on_disk(database)
    finally:
        engine.close()
    assert while_open[database.name] and while_open.get(f"{database.name}-wal"), "no WAL to read"
    for name, blob in while_open.items():
        assert clear_in(blob, values) == [], f"{name} while the store is open"
    for name, blob in on_disk(database).items():
        assert clear_in(blob, values) == [], f"{name} after the store closed"

    code, output = cli("rebuild", "--store", store)
    assert code == 0, output
    for name, blob in on_disk(database).items():
        assert clear_in(blob, values) == [], f"{name} after a rebuild"


def test_the_command_line_shows_no_clear_national_id_or_name(tmp_path: Path) -> None:
    events = demo_events()
    values = personal_values(events)
    path = write_events(tmp_path / "life-events.jsonl", events)
    store = f"sqlite:///{tmp_path / 'store.db'}"
    code, output = cli("run", "--input", str(path), "--store", store)
    assert code == 0, output

    people = sorted({e["person_id"] for e in events if e["type"] == "person_registered"})
    outputs = [cli("rejected", "--store", store), cli("rejected", "--store", store, "--json")]
    outputs.append(
        cli("whatif", "--policy", str(EXAMPLE), "--from", "2026-01-01", "--store", store)
    )
    for person_id in people[::10]:
        for command in (
            ("status", person_id),
            ("payments", person_id),
            ("notifications", person_id),
            ("explain", person_id),
            ("explain", person_id, "--decision", "1"),
        ):
            outputs.append(cli(*command, "--store", store))
            outputs.append(cli(*command, "--store", store, "--json"))
    for code, text in outputs:
        assert code == 0, text
        assert clear_in(text.encode(), values) == []

    shown = cli_json("status", people[0], "--store", store)
    registered = next(e for e in events if e["person_id"] == people[0])["data"]
    assert shown["name"] == registered["name"][0] + "*" * (len(registered["name"]) - 1)
    assert "account_key" not in shown and "0" * 14 not in shown["bank_account"]
