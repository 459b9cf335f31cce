"""On a real PostgreSQL server: reading a database without a store says so and creates nothing, a
second writer finds the store busy while another holds the writer lock, and free as soon as the
other has ended."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from engine.wiring import WRITER_LOCK_KEY, open_engine
from tests.cli import cli
from tests.events import custody_started, person_registered, write_jsonl

pytestmark = pytest.mark.integration


def tables(database_url: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return [row[0] for row in rows]


def error_line(code: int, output: str, expected_code: int) -> str:
    assert code == expected_code, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


def test_reading_an_empty_postgres_database_says_no_store_and_creates_no_tables(
    database_url: str,
) -> None:
    port = urlsplit(database_url).port
    for command in (["status", "P1"], ["payroll", "--month", "2026-01"], ["rejected"], ["rebuild"]):
        line = error_line(*cli(*command, "--store", database_url), 1)
        assert f"no store at postgresql://postgres@127.0.0.1:{port}/" in line
    assert tables(database_url) == []


def test_reading_a_postgres_database_that_does_not_exist_says_no_store(database_url: str) -> None:
    parts = urlsplit(database_url)
    missing = urlunsplit(parts._replace(path=parts.path + "_missing"))
    line = error_line(*cli("status", "P1", "--store", missing), 1)
    assert "no store at" in line and "does not exist" in line


def test_a_second_writer_on_postgres_finds_the_store_busy(
    tmp_path: Path, database_url: str
) -> None:
    first = write_jsonl(tmp_path / "first.jsonl", [person_registered("P1")])
    code, output = cli("run", "--input", str(first), "--store", database_url)
    assert code == 0, output
    more = write_jsonl(tmp_path / "more.jsonl", [custody_started("P1", "2026-02-01")])
    with psycopg.connect(database_url, autocommit=True) as holder:
        assert holder.execute("SELECT pg_try_advisory_lock(%s)", (WRITER_LOCK_KEY,)).fetchone()[0]
        for command in (["run", "--input", str(more)], ["rebuild"]):
            line = error_line(*cli(*command, "--store", database_url), 1)
            assert "is busy" in line
        code, output = cli("status", "P1", "--store", database_url, "--json")
        assert code == 0 and '"benefit_status": "active"' in output
        # Unlocked, not only closed: see the next test.
        holder.execute("SELECT pg_advisory_unlock(%s)", (WRITER_LOCK_KEY,))
    code, output = cli("run", "--input", str(more), "--store", database_url)
    assert code == 0, output
    code, output = cli("status", "P1", "--store", database_url, "--json")
    assert code == 0 and '"benefit_status": "suspended"' in output


def test_a_writer_that_has_ended_leaves_the_store_free_at_once(database_url: str) -> None:
    """Closing a connection releases its session's advisory locks only once the server's process
    for it has ended, after the close returns: a writer unlocks before it closes, so that one
    starting right after it ended never finds the store busy."""
    open_engine(database_url).close()  # the store's tables, made once
    with psycopg.connect(database_url, autocommit=True) as next_writer:
        for _ in range(30):
            open_engine(database_url, exclusive=True).close()
            free = next_writer.execute("SELECT pg_try_advisory_lock(%s)", (WRITER_LOCK_KEY,))
            assert free.fetchone()[0]
            next_writer.execute("SELECT pg_advisory_unlock(%s)", (WRITER_LOCK_KEY,))


def test_a_postgres_store_needs_its_key_in_the_environment(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("BENEFITS_CIPHER_KEY")
    events = write_jsonl(tmp_path / "in.jsonl", [person_registered("P1")])
    line = error_line(*cli("run", "--input", str(events), "--store", database_url), 2)
    assert "a PostgreSQL store needs its key in BENEFITS_CIPHER_KEY" in line
    assert "benefits keygen" in line
