"""`benefits rotate-key` on a real PostgreSQL server: every event and snapshot re-encrypted under
the key in BENEFITS_NEW_CIPHER_KEY with nothing lost, the old key refused; and no rotation while
another session (a worker, the scheduler, the service) could go on writing under the old key."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from engine.keys import KEY_ENV, NEW_KEY_ENV, new_key
from streams.ledger import HEADER_BYTES
from tests.cli import cli
from tests.small_store import make_small_store, read_everything, stored_rows

pytestmark = pytest.mark.integration


def error_line(code: int, output: str, expected: int) -> str:
    assert code == expected, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


def test_every_event_and_snapshot_is_re_encrypted_under_the_new_key_and_nothing_is_lost(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    people = make_small_store(database_url, tmp_path, people=20)
    before, rows = read_everything(database_url, people), stored_rows(database_url)
    assert before["snapshots"] > 0
    new = new_key()
    monkeypatch.setenv(NEW_KEY_ENV, new)

    code, output = cli("rotate-key", "--store", database_url)

    assert code == 0, output
    assert output.strip() == (
        f"re-encrypted {before['events']:,} events and {before['snapshots']:,} snapshots under"
        f" the key in {NEW_KEY_ENV}; set {KEY_ENV} to that key (and unset {NEW_KEY_ENV}) for"
        " every process that opens this store"
    )
    after = stored_rows(database_url)
    assert after.keys() == rows.keys()
    for row, state in rows.items():
        assert after[row][:HEADER_BYTES] == state[:HEADER_BYTES], row
        assert after[row][HEADER_BYTES:] != state[HEADER_BYTES:], row
    line = error_line(*cli("status", people[0], "--store", database_url), 2)
    assert "the store cannot be read with BENEFITS_CIPHER_KEY" in line
    monkeypatch.setenv(KEY_ENV, new)
    monkeypatch.delenv(NEW_KEY_ENV)
    assert read_everything(database_url, people) == before


def test_it_refuses_while_another_session_is_connected_to_the_database(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_small_store(database_url, tmp_path, people=3)
    rows = stored_rows(database_url)
    monkeypatch.setenv(NEW_KEY_ENV, new_key())
    with psycopg.connect(database_url):
        line = error_line(*cli("rotate-key", "--store", database_url), 1)
    assert "1 other session is connected to the store's database" in line
    assert stored_rows(database_url) == rows
