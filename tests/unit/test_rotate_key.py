"""`benefits rotate-key` on a small embedded store: every event and snapshot is re-encrypted under
the new key and nothing is lost (the same rows, headers and histories), the old key opens nothing,
and whatever stops it, the store stays wholly under one key that its key file or the environment
names."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

import engine.rotation
from engine.keys import KEY_ENV, NEW_KEY_ENV, new_key, pending_key_path, write_key_file
from engine.wiring import lock_store
from streams.ledger import HEADER_BYTES, StoreFormatError
from tests.cli import cli
from tests.small_store import make_small_store, read_everything, stored_rows


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[str]]:
    """One small store for the module (its file, its key, its people); each test rotates a copy."""
    folder = tmp_path_factory.mktemp("small")
    database = folder / "store.db"
    people = make_small_store(f"sqlite:///{database}", folder)
    return database, os.environ[KEY_ENV], people


@pytest.fixture()
def copy(small: tuple[Path, str, list[str]], tmp_path: Path) -> tuple[str, str, list[str]]:
    """A copy of the small store (its URL, its key, its people); its key in BENEFITS_CIPHER_KEY."""
    database, key, people = small
    for part in Path(database).parent.glob("store.db*"):
        shutil.copy(part, tmp_path / part.name)
    return f"sqlite:///{tmp_path / 'store.db'}", key, people


@pytest.fixture()
def key_file(
    copy: tuple[str, str, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Key-file mode: the copy's key in ``store.db.key`` and not in the environment."""
    monkeypatch.delenv(KEY_ENV)
    monkeypatch.delenv(NEW_KEY_ENV, raising=False)
    path = tmp_path / "store.db.key"
    write_key_file(path, copy[1])
    return path


def error_line(code: int, output: str, expected: int) -> str:
    assert code == expected, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


def rotated_line(code: int, output: str) -> str:
    assert code == 0, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("re-encrypted "), output
    return lines[0]


def assert_only_ciphertext_changed(before: dict[Any, bytes], after: dict[Any, bytes]) -> None:
    assert after.keys() == before.keys()
    for row, state in before.items():
        assert after[row][:HEADER_BYTES] == state[:HEADER_BYTES], row
        assert after[row][HEADER_BYTES:] != state[HEADER_BYTES:], row


def test_in_key_file_mode_every_event_and_snapshot_is_re_encrypted_under_a_new_key_file(
    copy: tuple[str, str, list[str]], key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, old_key, people = copy
    before, rows = read_everything(store, people), stored_rows(store)
    assert before["snapshots"] > 0 and before["events"] > 20 * len(people)
    # Snapshots stand outside the chains: with them, every chain and day seal holds.
    assert cli("audit", "verify", "--store", store)[0] == 0

    line = rotated_line(*cli("rotate-key", "--store", store))

    assert line == (
        f"re-encrypted {before['events']:,} events and {before['snapshots']:,} snapshots under"
        f" a new key; the key file {key_file} now holds it"
    )
    assert_only_ciphertext_changed(rows, stored_rows(store))
    assert read_everything(store, people) == before
    code, output = cli("audit", "verify", "--store", store)  # the trail is the same trail
    assert code == 0 and "every chain and every seal holds" in output, output
    assert key_file.read_text().strip() != old_key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not pending_key_path(key_file).exists()
    monkeypatch.setenv(KEY_ENV, old_key)
    line = error_line(*cli("status", people[0], "--store", store), 2)
    assert "the store cannot be read with BENEFITS_CIPHER_KEY" in line


def test_with_the_key_in_the_environment_the_new_one_comes_from_there_and_is_never_printed(
    copy: tuple[str, str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, old_key, people = copy
    before, rows = read_everything(store, people), stored_rows(store)
    new = new_key()
    monkeypatch.setenv(NEW_KEY_ENV, new)

    code, output = cli("rotate-key", "--store", store)

    line = rotated_line(code, output)
    assert "under the key in BENEFITS_NEW_CIPHER_KEY; set BENEFITS_CIPHER_KEY to that key" in line
    assert new not in output and old_key not in output
    assert_only_ciphertext_changed(rows, stored_rows(store))
    line = error_line(*cli("status", people[0], "--store", store), 2)
    assert "the store cannot be read with BENEFITS_CIPHER_KEY" in line
    monkeypatch.setenv(KEY_ENV, new)
    monkeypatch.delenv(NEW_KEY_ENV)
    assert read_everything(store, people) == before


def test_with_the_key_in_the_environment_and_no_new_one_it_says_how_to_make_one(
    copy: tuple[str, str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _, _ = copy
    monkeypatch.delenv(NEW_KEY_ENV, raising=False)
    rows = stored_rows(store)
    line = error_line(*cli("rotate-key", "--store", store), 2)
    assert "set BENEFITS_NEW_CIPHER_KEY to the new key (`benefits keygen` prints a new one)" in line
    assert stored_rows(store) == rows


@pytest.mark.parametrize("given", ["secret-but-not-base64!", "c2hvcnQgc2VjcmV0"])
def test_a_new_key_that_is_not_a_key_is_one_line_that_does_not_repeat_it(
    copy: tuple[str, str, list[str]], monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    store, _, _ = copy
    monkeypatch.setenv(NEW_KEY_ENV, given)
    line = error_line(*cli("rotate-key", "--store", store), 2)
    assert "BENEFITS_NEW_CIPHER_KEY is not a key" in line and given not in line


def test_the_current_key_as_the_new_one_is_refused(
    copy: tuple[str, str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, old_key, _ = copy
    monkeypatch.setenv(NEW_KEY_ENV, old_key)
    line = error_line(*cli("rotate-key", "--store", store), 2)
    assert "holds the store's current key" in line


def test_while_a_writer_is_running_it_refuses_with_one_line(
    copy: tuple[str, str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _, _ = copy
    monkeypatch.setenv(NEW_KEY_ENV, new_key())
    rows = stored_rows(store)
    writer = lock_store(store, must_exist=True)
    try:
        line = error_line(*cli("rotate-key", "--store", store), 1)
    finally:
        writer.release()
    assert "is busy: another writer" in line
    assert stored_rows(store) == rows


def test_a_failure_before_the_commit_changes_nothing(
    copy: tuple[str, str, list[str]], key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, old_key, people = copy
    before, rows = read_everything(store, people), stored_rows(store)
    checked = []

    def check_fails_late(mapper: Any, stored: Any) -> None:
        checked.append(stored)
        if len(checked) == len(rows) - 1:  # the last but one row checked under the new key
            raise StoreFormatError("a row that does not open under the new key")

    monkeypatch.setattr(engine.rotation, "_check", check_fails_late)
    line = error_line(*cli("rotate-key", "--store", store), 2)

    assert "the key was not rotated (nothing was changed)" in line
    assert stored_rows(store) == rows
    assert key_file.read_text().strip() == old_key
    assert not pending_key_path(key_file).exists()
    assert read_everything(store, people) == before


def test_a_stop_between_the_commit_and_the_key_file_is_made_good_on_the_next_opening(
    copy: tuple[str, str, list[str]], key_file: Path
) -> None:
    store, old_key, people = copy
    before = read_everything(store, people)
    rotated_line(*cli("rotate-key", "--store", store))
    # As a crash just after the commit leaves it: the new key beside the old key file.
    new = key_file.read_text().strip()
    write_key_file(pending_key_path(key_file), new)
    write_key_file(key_file, old_key)

    code, output = cli("status", people[0], "--store", store)

    assert code == 0, output
    assert f"stopped before replacing the key file, so {key_file} now holds that key" in output
    assert f"the store is under the key in {key_file}.new, not {key_file}" in output
    assert key_file.read_text().strip() == new
    assert not pending_key_path(key_file).exists()
    assert read_everything(store, people) == before


def test_a_new_key_left_by_a_rotation_stopped_before_its_commit_is_ignored_then_replaced(
    copy: tuple[str, str, list[str]], key_file: Path
) -> None:
    store, old_key, people = copy
    write_key_file(pending_key_path(key_file), new_key())
    code, output = cli("status", people[0], "--store", store)
    assert code == 0 and "the store is under the key in" not in output, output
    assert key_file.read_text().strip() == old_key

    rotated_line(*cli("rotate-key", "--store", store))
    assert key_file.read_text().strip() != old_key
    assert not pending_key_path(key_file).exists()
