"""The bench's floor stores as many events as the measured run did, over as many aggregates, of
about the same size, in a file of its own: what it times is that run's storing. No timing is
asserted."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from engine import bench_floor
from engine.bench_embedded import year_store_floor
from engine.bench_figures import FIGURES, PARTS
from engine.bench_floor import CIPHER_BYTES, StoredShape
from engine.cli import print_bench

SHAPE = StoredShape(events=1_234, streams=100, body_bytes=300)


def stored(path: Path) -> tuple[int, int, float]:
    connection = sqlite3.connect(path)
    try:
        row = connection.execute(
            "SELECT count(*), count(DISTINCT originator_id), avg(length(state)) FROM stored_events"
        ).fetchone()
    finally:
        connection.close()
    return row


def test_the_floor_stores_the_runs_events_over_as_many_aggregates(tmp_path: Path) -> None:
    seconds = bench_floor.sqlite_floor(tmp_path / "floor.db", SHAPE)

    events, streams, mean_bytes = stored(tmp_path / "floor.db")
    assert seconds > 0
    assert events == 1_234
    assert SHAPE.per_stream == 12 and streams == -(-1_234 // 12)
    # The library's cipher adds its nonce and tag; the engine's header is not there.
    assert mean_bytes - CIPHER_BYTES == pytest.approx(300, rel=0.15)


def test_the_floor_reports_its_progress_to_the_last_event(tmp_path: Path) -> None:
    seen: list[tuple[int, int | None]] = []
    bench_floor.sqlite_floor(
        tmp_path / "floor.db", SHAPE, lambda _what, done, total: seen.append((done, total))
    )
    assert seen[-1] == (1_234, 1_234)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_a_floor_that_cannot_be_stored_leaves_the_years_figures_and_says_why(
    tmp_path: Path,
) -> None:
    bench_floor.sqlite_floor(tmp_path / "run.db", SHAPE)  # a store of 1,234 events to measure
    (tmp_path / "taken").mkdir()  # where the floor's file should go: SQLite cannot open it

    figures = year_store_floor(tmp_path / "run.db", tmp_path / "taken", seconds=2.0, people=10)

    assert figures["year_events_stored"] == 1_234
    assert "year_store_floor_seconds" not in figures
    assert figures["year_store_floor_failure"].endswith("Error: unable to open database file")


def test_the_table_says_the_store_alone_was_not_measured_and_why(
    capsys: pytest.CaptureFixture[str],
) -> None:
    why = "failed: OperationalError: unable to open database file"
    figures = dict.fromkeys(FIGURES) | {"year_seconds": 2.0, "year_store_floor_failure": why}
    report = {
        "machine": {"cpus": 2, "python": "3.11.7"},
        "date_utc": "2026-11-24T21:00:00+00:00",
        "figures": figures,
        "missing": {part: f"skipped (--skip {part})" for part in PARTS if part != "year"},
    }
    print_bench(report)
    printed = capsys.readouterr().out
    assert f"the event store alone was not measured: {why}" in " ".join(printed.split())
