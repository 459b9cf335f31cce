"""The store's cipher key: made beside a new embedded store when none is given, owner-only and
announced once; a missing, malformed or wrong key is one line, never a traceback."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from engine.keys import KEY_ENV
from tests.cli import cli
from tests.events import person_registered, write_jsonl


@pytest.fixture()
def no_key_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


def run(store: str, folder: Path) -> tuple[int, str]:
    return cli(
        "run",
        "--input",
        str(write_jsonl(folder / "in.jsonl", [person_registered("P1")])),
        "--store",
        store,
    )


def one_line(code: int, output: str, expected: int) -> str:
    assert code == expected, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


def test_a_new_embedded_store_gets_an_owner_only_key_announced_once(
    no_key_given: None, tmp_path: Path, store: str
) -> None:
    code, output = run(store, tmp_path)
    assert code == 0, output
    key = tmp_path / "store.db.key"
    assert f"created a cipher key for this store at {key}" in output
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(base64.b64decode(key.read_text())) == 32
    code, output = cli("status", "P1", "--store", store)
    assert code == 0 and "created a cipher key" not in output


def test_a_store_without_its_key_file_cannot_be_opened(
    no_key_given: None, tmp_path: Path, store: str
) -> None:
    assert run(store, tmp_path)[0] == 0
    (tmp_path / "store.db.key").unlink()
    line = one_line(*cli("status", "P1", "--store", store), 2)
    assert "no cipher key for this store: set BENEFITS_CIPHER_KEY" in line
    assert not (tmp_path / "store.db.key").exists()  # no new key for an existing store


def test_another_key_cannot_read_the_store(
    tmp_path: Path, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run(store, tmp_path)[0] == 0
    code, new = cli("keygen")
    assert code == 0
    monkeypatch.setenv(KEY_ENV, new.strip())
    line = one_line(*cli("status", "P1", "--store", store), 2)
    assert "cannot be read with BENEFITS_CIPHER_KEY" in line and "cannot be decrypted" in line


def test_a_malformed_key_is_named_and_not_echoed(
    tmp_path: Path, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "not-a-key-at-all")
    line = one_line(*run(store, tmp_path), 2)
    assert "BENEFITS_CIPHER_KEY is not a key: expected 32 bytes in base64" in line
    assert "not-a-key-at-all" not in line


def test_keygen_prints_a_new_key_each_time() -> None:
    first, second = cli("keygen")[1].strip(), cli("keygen")[1].strip()
    assert first != second
    assert len(base64.b64decode(first, validate=True)) == 32


def test_a_key_file_made_by_another_process_first_is_kept_not_replaced(
    no_key_given: None, tmp_path: Path, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from engine import keys

    theirs = keys.new_key()
    made = keys._create_key_file

    def racing(path: Path, value: str) -> bool:  # the other process links its key in first
        assert made(path, theirs)
        return made(path, value)

    monkeypatch.setattr(keys, "_create_key_file", racing)
    key = keys.store_key(store, may_create=lambda: True)
    assert key.value == theirs == (tmp_path / "store.db.key").read_text().strip()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.db.key"]  # nothing left over
