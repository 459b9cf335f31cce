"""`benefits bench`'s embedded (SQLite) parts: a year of N persons beside raw batched INSERTs of
as many rows, the cost of an event for a person with decades of daily history beside a new
person's, and the resident memory of a registered population (in a process of its own)."""

from __future__ import annotations

import gc
import json
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from domain.resident_id import make_resident_id
from engine.demo import generate_events, write_events
from engine.keys import key_path
from engine.simulation import simulate
from engine.wiring import Engine, open_engine
from streams.intake import Message

# (what is being done, done so far, out of; None = unknown)
Progress = Callable[[str, int, int | None], None]
SEED = 2026
BATCH = 1000  # rows per reference transaction: `benefits run`'s default --batch-size


def quiet(description: str, done: int, total: int | None) -> None:
    pass


def registration(person_id: str, on: date, n: int) -> dict[str, Any]:
    """A retired person's registration, with an account (valid resident ID, no Faker)."""
    birth = date(1950, 1 + n % 12, 1 + n % 28)
    return {
        "event_id": f"bench-reg-{person_id}",
        "type": "person_registered",
        "person_id": person_id,
        "occurred_on": on.isoformat(),
        "source": "contribution_records",
        "data": {
            "national_id": make_resident_id("110101", birth, n % 1000, n % 2 == 0),
            "name": "李明",
            "birth_date": birth.isoformat(),
            "sex": "M" if n % 2 == 0 else "F",
            "region": "110101",
            "monthly_pension_cents": 350_000,
            "bank_account": f"6222{n:012d}",
            "bank_region": "110101",
        },
    }


def fact(kind: str, person_id: str, on: date, data: dict[str, Any], key: str) -> dict[str, Any]:
    """Any other life event, its event ID made from ``key``."""
    return {
        "event_id": f"bench-{key}",
        "type": kind,
        "person_id": person_id,
        "occurred_on": on.isoformat(),
        "source": "bench",
        "data": data,
    }


def messages(events: list[dict[str, Any]]) -> list[Message]:
    return [Message(0, json.dumps(e, ensure_ascii=False)) for e in events]


# ----- a year of N persons, and raw INSERTs of as many rows


def embedded_year(people: int, folder: Path, progress: Progress = quiet) -> dict[str, Any]:
    """``benefits run`` over a generated year of ``people`` (seed 2026) on a fresh store, timed;
    then plain batched INSERTs of as many rows, of the same total size, into a fresh file, and
    the event store alone storing as many events."""
    store = folder / "year.db"
    seconds, input_events = _year(people, folder, store, progress)
    # What the year left (its engine and aggregates, gone with ``_year``'s frame) is freed now,
    # not by the collector's passes while a reference is timed: right after the year, with it
    # still held, the event store alone took about 1.5 times as long.
    gc.collect()
    rows, size, journal = sqlite_rows(store)
    row_bytes = max(1, size // max(rows, 1))
    progress("raw SQLite INSERTs (reference)", 0, rows)
    reference = raw_sqlite_inserts(folder / "raw.db", rows, row_bytes, journal)
    rows_per_second = rows / seconds
    reference_rows_per_second = rows / reference
    figures = {
        "year_people": people,
        "year_input_events": input_events,
        "year_seconds": round(seconds, 1),
        "year_persons_per_second": round(people / seconds, 1),
        "year_ms_per_person_year": round(seconds * 1000 / people, 2),
        "year_rows_written": rows,
        "year_rows_per_second": round(rows_per_second),
        "year_reference_insert_rows_per_second": round(reference_rows_per_second),
        "year_reference_row_bytes": row_bytes,
        "year_journal_mode": journal,
        "year_ratio": round(rows_per_second / reference_rows_per_second, 4),
    }
    return figures | year_store_floor(store, folder / "floor.db", seconds, people, progress)


def _year(people: int, folder: Path, store: Path, progress: Progress) -> tuple[float, int]:
    """The year's seconds (``benefits run`` on a fresh store) and its input events."""
    progress("generating the year's events (untimed)", 0, None)
    events = generate_events(people, seed=SEED)
    path = write_events(folder / "year.jsonl", events)
    engine = open_engine(f"sqlite:///{store}", exclusive=True)

    def on_day(day: date, last: date) -> None:
        progress("embedded year (timed)", day.timetuple().tm_yday, last.timetuple().tm_yday)

    started = time.perf_counter()
    try:
        simulate(engine, path, on_day=on_day)
    finally:
        engine.close()
    return time.perf_counter() - started, len(events)


def year_store_floor(
    store: Path, floor_store: Path, seconds: float, people: int, progress: Progress = quiet
) -> dict[str, Any]:
    """The event store alone storing the year's events (``engine.bench_floor``) into
    ``floor_store``. A reference that fails leaves the year's own figures standing: its figures
    are then absent and ``year_store_floor_failure`` says why."""
    from engine import bench_floor  # which uses this module's progress type

    shape = bench_floor.sqlite_shape(store)
    figures = {"year_events_stored": shape.events, "year_store_floor_event_bytes": shape.body_bytes}
    try:
        floor = bench_floor.sqlite_floor(floor_store, shape, progress)
    except Exception as exc:
        return figures | {"year_store_floor_failure": failure(exc)}
    return figures | {
        "year_store_floor_seconds": round(floor, 3),
        "year_store_floor_share": round(floor / seconds, 3),
        "year_store_floor_ms_per_person_year": round(floor * 1000 / people, 3),
    }


def failure(exc: Exception) -> str:
    """An exception as one line: its type and the first line of its message."""
    lines = str(exc).strip().splitlines()
    return f"failed: {type(exc).__name__}: {lines[0][:300] if lines else ''}"


def sqlite_rows(path: Path) -> tuple[int, int, str]:
    """Rows in every table of a SQLite file, the file's size in bytes, its journal mode."""
    connection = sqlite3.connect(path)
    try:
        tables = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        rows = sum(connection.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables)
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        journal = connection.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        connection.close()
    return rows, pages * page_size, str(journal)


def raw_sqlite_inserts(path: Path, rows: int, row_bytes: int, journal_mode: str) -> float:
    """Seconds to INSERT ``rows`` rows of ``row_bytes`` bytes with ``executemany``, ``BATCH`` rows
    per transaction, into a fresh file in ``journal_mode`` (synchronous left at SQLite's default,
    as the event store leaves it)."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute(f"PRAGMA journal_mode={journal_mode}")
        connection.execute("CREATE TABLE raw_rows (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)")
        payload = bytes(range(256)) * (row_bytes // 256 + 1)
        payload = payload[:row_bytes]
        started = time.perf_counter()
        for first in range(0, rows, BATCH):
            batch = [(n, payload) for n in range(first, min(rows, first + BATCH))]
            connection.execute("BEGIN")
            connection.executemany("INSERT INTO raw_rows VALUES (?, ?)", batch)
            connection.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        connection.close()


# ----- one person with decades of daily history, beside a new person


def history_cost(
    years: int, events: int, folder: Path, progress: Progress = quiet
) -> dict[str, Any]:
    """Build (untimed) a person with ``years`` x 365 daily life evidence facts and a newly
    registered one; then time ``events`` further events (life evidence, a payment run, a death)
    for each, with no aggregate cache (each event loads the person from the store, as a restarted
    worker does) and warm (the person already in the cache)."""
    base = folder / "history.db"
    engine = open_engine(f"sqlite:///{base}", exclusive=True)
    first = date(2026 - years, 1, 1)
    facts = years * 365
    started = time.perf_counter()
    try:
        _apply(
            engine, [registration("HEAVY", first, 1), registration("NEW", date(2025, 12, 31), 2)]
        )
        for done in range(0, facts, 365):
            chunk = [
                fact(
                    "life_evidence",
                    "HEAVY",
                    first + timedelta(days=n),
                    {"kind": "transit_tap"},
                    f"h{n}",
                )
                for n in range(done, min(facts, done + 365))
            ]
            _apply(engine, chunk)
            progress("building a person's history (untimed)", done + len(chunk), facts)
    finally:
        engine.close()
    built = time.perf_counter() - started
    figures: dict[str, Any] = {
        "history_years": years,
        "history_facts": facts,
        "history_build_seconds": round(built, 1),
        "history_events_timed": events,
    }
    for person in ("HEAVY", "NEW"):
        for cache in ("cold", "warm"):
            copy = folder / f"history-{person}-{cache}.db"
            shutil.copyfile(base, copy)
            if key_path(base).exists():  # its key goes with it (none when given in the environment)
                shutil.copyfile(key_path(base), key_path(copy))
            ms = _time_events(copy, person, events, warm=cache == "warm")
            figures[f"{person.lower()}_{cache}_ms_per_event"] = round(ms, 2)
            progress(f"timing {person.lower()} person, {cache}", 1, 1)
    for cache in ("cold", "warm"):
        heavy, new = figures[f"heavy_{cache}_ms_per_event"], figures[f"new_{cache}_ms_per_event"]
        figures[f"history_{cache}_ratio"] = round(heavy / new, 1) if new else None
    return figures


def further_events(person_id: str, count: int) -> Iterator[dict[str, Any]]:
    """``count`` events from 2026-01-01: daily life evidence, then a payment run, then a death."""
    day = date(2026, 1, 1)
    for n in range(count - 2):
        yield fact("life_evidence", person_id, day, {"kind": "bank_counter"}, f"{person_id}-e{n}")
        day += timedelta(days=1)
    run = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    month = f"{run:%Y-%m}"
    yield fact("payment_due", person_id, run, {"month": month}, f"{person_id}-pay")
    death = run + timedelta(days=1)
    yield fact("death_registered", person_id, death, {"death_date": death.isoformat()}, person_id)


def _time_events(store: Path, person_id: str, count: int, warm: bool) -> float:
    """Mean milliseconds to apply one event (one transaction) and refresh the read model."""
    engine = open_engine(f"sqlite:///{store}", aggregate_cache=100_000 if warm else 0)
    try:
        if warm:
            engine.intake.pensioner(person_id)  # loaded once, untimed
        elapsed = 0.0
        for event in further_events(person_id, count):
            started = time.perf_counter()
            _apply(engine, [event])
            elapsed += time.perf_counter() - started
    finally:
        engine.close()
    return elapsed * 1000 / count


def _apply(engine: Engine, events: list[dict[str, Any]]) -> None:
    day = date.fromisoformat(events[-1]["occurred_on"])
    outcome = engine.intake.apply_messages(messages(events), source="bench", today=day)
    if outcome.rejected:
        raise RuntimeError(f"the bench's own events were rejected: {outcome.statuses}")
    engine.refresh()


# ----- the resident memory of a registered population


def memory(people: int, folder: Path, progress: Progress = quiet) -> dict[str, Any]:
    """Register ``people`` persons (registrations only, 1,000 a transaction) into a fresh store in
    a process of its own, and report its resident memory then and at its peak."""
    command = [sys.executable, "-m", "engine.bench_embedded", str(people), str(folder / "m.db")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stderr is not None
    for line in process.stderr:
        if line.startswith("registered "):
            progress("registering persons (memory)", int(line.split()[1]), people)
    answer = process.stdout.read()
    if process.wait() != 0 or not answer:
        raise RuntimeError(f"the memory measurement failed (exit {process.returncode})")
    return json.loads(answer)


def _register_population(people: int, path: Path) -> dict[str, Any]:
    engine = open_engine(f"sqlite:///{path}", exclusive=True)
    day = date(2026, 1, 1)
    started = time.perf_counter()
    try:
        for first in range(0, people, BATCH):
            batch = [
                registration(f"M{n:08d}", day, n) for n in range(first, min(people, first + BATCH))
            ]
            _apply(engine, batch)
            print(f"registered {first + len(batch)}", file=sys.stderr, flush=True)
        seconds = time.perf_counter() - started
        rss = resident_mb()
    finally:
        engine.close()
    return {
        "memory_people": people,
        "memory_seconds": round(seconds, 1),
        "memory_rss_mb": rss,
        # Linux updates the high-water mark lazily: it can trail the current size.
        "memory_peak_rss_mb": max((m for m in (rss, resident_mb(peak=True)) if m), default=None),
    }


def resident_mb(pid: int | str = "self", peak: bool = False) -> float | None:
    """A process's resident memory now (or its peak, VmHWM) in MiB, from Linux's /proc; None
    elsewhere. Unlike getrusage's maxrss, a child's peak here does not start at the size of the
    process that forked it."""
    name = "VmHWM:" if peak else "VmRSS:"
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name):
                return round(int(line.split()[1]) / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


if __name__ == "__main__":
    # The memory measurement's own process: python -m engine.bench_embedded PEOPLE DB_PATH
    print(json.dumps(_register_population(int(sys.argv[1]), Path(sys.argv[2]))))
