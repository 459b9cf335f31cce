"""The bench's floor stores as many events as the measured run did, over as many aggregates, of
about the same size, in a file of its own: what it times is that run's storing. No timing is
asserted."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from engine import bench_floor
from engine.bench_floor import CIPHER_BYTES, StoredShape

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
