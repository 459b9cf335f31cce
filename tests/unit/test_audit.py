"""Tamper evidence on an embedded store: `benefits audit verify` finds one changed byte and names
the link it breaks; `benefits audit proof` prints a proof the offline script accepts."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

import pytest
from eventsourcing.persistence import StoredEvent

import policy
from domain.replay_state import stamp
from engine.demo import generate_events
from streams import merkle
from streams.ledger import HEADER_BYTES
from tests.cli import cli, cli_json
from tests.events import write_jsonl

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "verify_proof.py"


@pytest.fixture()
def year(tmp_path: Path, store: str) -> str:
    """A small population's year, run as a user would: each day is sealed at its end."""
    events = generate_events(25, seed=5)
    cli_json("run", "--input", str(write_jsonl(tmp_path / "in.jsonl", events)), "--store", store)
    return store


def database(store: str) -> Path:
    return Path(store.removeprefix("sqlite:///"))


def flip(store: str, notification_id: int, offset: int) -> None:
    """Change one byte of a stored event, as someone with write access to the file could."""
    with sqlite3.connect(database(store)) as db:
        (state,) = db.execute(
            "SELECT state FROM stored_events WHERE rowid = ?", (notification_id,)
        ).fetchone()
        changed = bytearray(state)
        changed[offset] ^= 0x01
        db.execute(
            "UPDATE stored_events SET state = ? WHERE rowid = ?", (bytes(changed), notification_id)
        )


def verify(store: str) -> tuple[int, dict]:
    code, output = cli("audit", "verify", "--store", store, "--json")
    return code, json.loads(output[output.index("{") :])


def a_decision(store: str) -> tuple[int, dict]:
    """A decision from the middle of the year: its decision_id and its history entry."""
    code, output = cli("status", "P5-0000003", "--store", store, "--json")
    assert code == 0, output
    history = json.loads(output)["history"]
    entry = history[len(history) // 2]
    return entry["decision_id"], entry


def test_an_untouched_year_verifies_with_one_seal_per_day(year: str) -> None:
    code, found = verify(year)
    assert code == 0, found
    assert found["broken"] == [] and found["first_broken"] is None
    assert found["seals"] == 365 and (found["first_day"], found["last_day"]) == (
        "2026-01-01",
        "2026-12-31",
    )
    assert found["unsealed"] == 1  # the last seal itself, sealed with the next day


def test_a_byte_flipped_in_an_event_body_is_named_by_stream_position_and_day(year: str) -> None:
    decision_id, entry = a_decision(year)
    flip(year, decision_id, HEADER_BYTES + 40)  # inside the encrypted body
    code, found = verify(year)
    assert code == 1
    first = found["first_broken"]
    assert first["notification_id"] == decision_id
    assert first["kind"] == "Pensioner" and first["day"] == entry["on"]
    assert "cannot be decrypted" in first["problem"]
    code, text = cli("audit", "verify", "--store", year)
    assert code == 1
    assert f"position {first['position']}, day {entry['on']}" in text
    assert first["stream"] in text


def test_a_changed_hash_breaks_the_event_the_next_link_and_the_days_root(year: str) -> None:
    decision_id, _ = a_decision(year)
    flip(year, decision_id, HEADER_BYTES - 1)  # the last byte of the event's own hash
    code, found = verify(year)
    assert code == 1
    assert found["first_broken"]["notification_id"] == decision_id
    assert "does not match its recorded hash" in found["first_broken"]["problem"]
    problems = " | ".join(found["broken"])
    assert "Merkle root does not match" in problems


def test_a_deleted_last_event_is_caught_by_its_days_root(year: str) -> None:
    with sqlite3.connect(database(year)) as db:
        # The last event of some person's stream recorded before the final day's seal.
        (last,) = db.execute(
            "SELECT MAX(rowid) FROM stored_events WHERE topic LIKE '%Pensioner%'"
        ).fetchone()
        db.execute("DELETE FROM stored_events WHERE rowid = ?", (last,))
    code, found = verify(year)
    assert code == 1
    assert "Merkle root does not match" in found["first_broken"]["problem"]
    assert found["first_broken"]["kind"] == "AuditLedger"


def test_a_proof_checks_offline_and_fails_against_another_root(year: str, tmp_path: Path) -> None:
    decision_id, entry = a_decision(year)
    code, output = cli("audit", "proof", str(decision_id), "--store", year)
    assert code == 0, output
    proof = json.loads(output)
    assert proof["decision_id"] == decision_id and proof["day"] == entry["on"]
    assert proof["kind"] == "Pensioner.Decided"
    path = tmp_path / "proof.json"
    path.write_text(output)
    checked = subprocess.run(
        [sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stderr
    assert proof["root"] in checked.stdout
    other = subprocess.run(
        [sys.executable, str(SCRIPT), str(path), "--root", "ab" * 32],
        capture_output=True,
        text=True,
        check=False,
    )
    assert other.returncode == 1 and "NOT PROVEN" in other.stdout


def test_proof_of_an_unknown_or_unsealed_decision_is_one_line(year: str, tmp_path: Path) -> None:
    code, output = cli("audit", "proof", "999999", "--store", year)
    assert code == 1 and output.strip() == "error: there is no decision 999999 in the log"
    code, _ = cli("audit", "verify", "--store", year)
    assert code == 0
    # The final day's seal is itself recorded after it: not sealed until the next day's seal.
    _, found = verify(year)
    last = found["events"]
    code, output = cli("audit", "proof", str(last), "--store", year)
    assert code == 1 and "not sealed yet" in output
    code, output = cli("audit", "seal", "--day", "2026-12-31", "--store", year)
    assert (code, output.strip()) == (
        1,
        "error: cannot seal as 2026-12-31: the seals already reach 2026-12-31; give a later --day",
    )
    code, output = cli("audit", "seal", "--day", "2027-01-01", "--store", year)
    assert code == 0 and "sealed 1 event as 2027-01-01: root" in output
    code, output = cli("audit", "proof", str(last), "--store", year)
    assert code == 0 and json.loads(output)["tree_size"] == 1
    code, output = cli("audit", "seal", "--day", "2027-01-02", "--store", year)
    assert code == 0
    assert output.strip() == "sealed 1 event as 2027-01-02: root " + output.split()[-1]
    code, output = cli("audit", "proof", str(2**70), "--store", year)
    assert (code, output.strip()) == (1, f"error: there is no decision {2**70} in the log")


@pytest.mark.parametrize("size", range(1, 18))
def test_every_leaf_of_every_small_tree_has_a_path_to_the_root(size: int) -> None:
    leaves = [f"event {i}".encode() for i in range(size)]
    root = merkle.root(leaves)
    for index, leaf in enumerate(leaves):
        path = merkle.audit_path(leaves, index)
        assert merkle.root_from_path(leaf, index, size, path) == root
        assert merkle.root_from_path(b"changed", index, size, path) != root


def test_the_tree_hashes_are_rfc_6962s() -> None:
    # Computed by hand from the RFC's definitions: a leaf is SHA-256(0x00 || d), a node
    # SHA-256(0x01 || left || right), and three leaves split 2 + 1.
    import hashlib

    def h(data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    a, b, c = b"a", b"b", b"c"
    expected = h(b"\x01" + h(b"\x01" + h(b"\x00" + a) + h(b"\x00" + b)) + h(b"\x00" + c))
    assert merkle.root([a, b, c]) == expected
    assert merkle.root([]) == h(b"")


def test_a_changed_body_is_one_finding_and_the_next_link_still_checks(year: str) -> None:
    decision_id, _ = a_decision(year)
    flip(year, decision_id, HEADER_BYTES + 40)
    _, found = verify(year)
    assert len(found["broken"]) == 1, found["broken"]


def test_a_row_changed_into_text_or_emptied_is_named_not_a_crash(year: str) -> None:
    decision_id, entry = a_decision(year)
    with sqlite3.connect(database(year)) as db:
        # What sqlite3's own shell makes of a careless edit: the blob becomes text.
        db.execute(
            "UPDATE stored_events SET state = substr(state, 1, 100) || 'x' WHERE rowid = ?",
            (decision_id,),
        )
        db.execute("UPDATE stored_events SET state = NULL WHERE rowid = ?", (decision_id + 1,))
    code, found = verify(year)
    assert code == 1
    assert [b["notification_id"] for b in [found["first_broken"]]] == [decision_id]
    assert found["first_broken"]["day"] == entry["on"]


def test_the_first_event_changed_is_named_by_verify_not_blamed_on_the_key(year: str) -> None:
    flip(year, 1, HEADER_BYTES + 5)
    code, output = cli("status", "P5-0000003", "--store", year)
    assert code == 0, output
    code, found = verify(year)
    assert code == 1 and found["first_broken"]["notification_id"] == 1
    assert "cannot be decrypted" in found["first_broken"]["problem"]


def test_a_snapshot_moved_onto_another_person_is_named(tmp_path: Path) -> None:
    from tests.small_store import make_small_store

    store = f"sqlite:///{tmp_path / 'small.db'}"
    make_small_store(store, tmp_path)
    assert verify(store)[0] == 0
    with sqlite3.connect(database(store)) as db:
        rows = db.execute(
            "SELECT originator_id, originator_version, state FROM stored_snapshots"
            " ORDER BY originator_id, originator_version"
        ).fetchall()
        (_, _, state), (b, version, _) = rows[0], next(r for r in rows if r[0] != rows[0][0])
        # No key needed: one person's snapshot bytes written over another's.
        db.execute(
            "UPDATE stored_snapshots SET state = ? WHERE originator_id = ? AND"
            " originator_version = ?",
            (state, b, version),
        )
    code, found = verify(store)
    assert code == 1
    assert found["first_broken"]["kind"] == "snapshot"
    assert found["first_broken"]["position"] == version
    assert "not what the stream's events make" in found["first_broken"]["problem"]


def test_a_command_that_meets_a_changed_event_says_so_in_one_line(year: str) -> None:
    decision_id, _ = a_decision(year)
    flip(year, decision_id, HEADER_BYTES + 40)
    code, output = cli("rebuild", "--store", year)
    assert code == 1 and len(output.strip().splitlines()) == 1, output
    assert "cannot be read" in output and "benefits audit verify" in output


def rewrite_snapshots(store: str, change: Callable[[dict], dict]) -> int:
    """Write every snapshot again with ``change`` made to its state, encrypted and hashed as the
    engine writes it (so only verify's comparison with the events can tell); the number of
    snapshots."""
    from domain.pensioner import Pensioner
    from engine.wiring import open_engine

    engine = open_engine(store, must_exist=True)
    try:
        mapper = engine.intake.mapper
        with sqlite3.connect(database(store)) as db:
            rows = db.execute(
                "SELECT originator_id, originator_version, topic, state FROM stored_snapshots"
            ).fetchall()
            for oid, version, topic, state in rows:
                stored = StoredEvent(UUID(oid), version, topic, state)
                taken = mapper.to_domain_event(stored)
                written = Pensioner.Snapshot(
                    originator_id=taken.originator_id,
                    originator_version=taken.originator_version,
                    timestamp=taken.timestamp,
                    topic=taken.topic,
                    state=change(dict(taken.state)),
                )
                db.execute(
                    "UPDATE stored_snapshots SET state = ? WHERE originator_id = ? AND"
                    " originator_version = ?",
                    (mapper.to_stored_event(written).state, oid, version),
                )
    finally:
        engine.close()
    return len(rows)


def test_snapshots_taken_before_they_held_a_replay_verify_and_load(tmp_path: Path) -> None:
    from tests.small_store import make_small_store

    store = f"sqlite:///{tmp_path / 'small.db'}"
    people = make_small_store(store, tmp_path)
    before = [cli_json("status", p, "--store", store) for p in people]
    older = ("replay", "replay_stamp")
    assert rewrite_snapshots(store, lambda s: {k: v for k, v in s.items() if k not in older})
    assert verify(store)[0] == 0
    assert [cli_json("status", p, "--store", store) for p in people] == before


def test_a_snapshot_whose_replay_was_changed_is_named(tmp_path: Path) -> None:
    from tests.small_store import make_small_store

    store = f"sqlite:///{tmp_path / 'small.db'}"
    make_small_store(store, tmp_path)

    def forged(state: dict) -> dict:
        # The replay says the person is dead: loading would continue from a forged standing.
        replay = [[name, True if name == "dead" else value] for name, value in state["replay"]]
        return state | {"replay": replay}

    assert rewrite_snapshots(store, forged)
    code, found = verify(store)
    assert code == 1 and found["first_broken"]["kind"] == "snapshot"
    assert "not what the stream's events make" in found["first_broken"]["problem"]


def test_snapshots_taken_under_other_rules_are_no_break(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deployment's policy change can reach back to facts a snapshot's replay state was made
    from: that state is then not used (nor checked), and the rest of the snapshot still is."""
    from tests.small_store import make_small_store

    store = f"sqlite:///{tmp_path / 'small.db'}"
    make_small_store(store, tmp_path)
    changes = tmp_path / "changes"
    changes.mkdir()
    shutil.copy(ROOT / "policy" / "examples" / "hold-at-100-days.yaml", changes)
    monkeypatch.setenv("BENEFITS_POLICY_DIR", str(changes))
    try:
        assert verify(store)[0] == 0
        # A snapshot whose state claims the rules in force now is checked against them.
        assert rewrite_snapshots(store, lambda s: s | {"replay_stamp": stamp()})
        code, found = verify(store)
        assert code == 1 and found["first_broken"]["kind"] == "snapshot"
    finally:
        monkeypatch.delenv("BENEFITS_POLICY_DIR")
        policy.refresh()
