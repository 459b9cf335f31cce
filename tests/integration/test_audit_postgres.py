"""Tamper evidence on a real PostgreSQL store: a byte changed in one stored row is named by
`benefits audit verify`, and an untouched store verifies."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest

from engine.demo import generate_events
from streams.ledger import HEADER_BYTES
from tests.cli import cli, cli_json
from tests.events import write_jsonl

pytestmark = pytest.mark.integration


def verify(store: str) -> tuple[int, dict]:
    code, output = cli("audit", "verify", "--store", store, "--json")
    return code, json.loads(output[output.index("{") :])


def test_a_byte_flipped_in_a_postgres_row_is_named(database_url: str, tmp_path: Path) -> None:
    events = generate_events(20, seed=8)
    cli_json(
        "run", "--input", str(write_jsonl(tmp_path / "in.jsonl", events)), "--store", database_url
    )
    code, found = verify(database_url)
    assert code == 0 and found["broken"] == [] and found["seals"] > 300, found
    history = cli_json("status", "P8-0000002", "--store", database_url)["history"]
    entry = history[len(history) // 2]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE benefits_events SET state = set_byte(state, %s, get_byte(state, %s) # 1)"
            " WHERE notification_id = %s",
            (HEADER_BYTES + 20, HEADER_BYTES + 20, entry["decision_id"]),
        )
    code, found = verify(database_url)
    assert code == 1
    first = found["first_broken"]
    assert (first["notification_id"], first["kind"], first["day"]) == (
        entry["decision_id"],
        "Pensioner",
        entry["on"],
    )
    assert "cannot be decrypted" in first["problem"]
