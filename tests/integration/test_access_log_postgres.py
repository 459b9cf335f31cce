"""On a real PostgreSQL server: the access log's table, its newest-first order and filters, and
that `benefits rebuild` leaves it alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from api.access_log import AccessLog
from api.auth import Caller
from engine.keys import keyed_token
from projections.database import Database
from tests.cli import cli
from tests.events import person_registered, write_jsonl

pytestmark = pytest.mark.integration


def token(value: str) -> str:
    return keyed_token(b"k" * 32, value)


def test_the_access_log_records_filters_and_survives_a_rebuild_on_postgres(
    database_url: str, tmp_path: Path
) -> None:
    events = write_jsonl(tmp_path / "events.jsonl", [person_registered("P-1")])
    code, output = cli("run", "--input", str(events), "--store", database_url)
    assert code == 0, output
    database = Database(database_url)
    try:
        log = AccessLog(database, token)
        AccessLog(database, token)  # a second service start: the schema is already there
        caseworker, auditor = Caller("cw-1", "caseworker", ("11",)), Caller("aud-1", "auditor")
        log.record(caseworker, "P-1", "/v1/persons/{person_id}", 200)
        log.record(caseworker, "P-1", "/v1/persons/{person_id}/history", 200)
        log.record(auditor, "P-2", "/v1/persons/{person_id}", 404)
        assert [e["route"] for e in log.entries("P-1")] == [
            "/v1/persons/{person_id}/history",
            "/v1/persons/{person_id}",
        ]
        assert [e["by"] for e in log.entries(by="aud-1")] == ["aud-1"]
        assert [e["status"] for e in log.entries(limit=1, offset=2)] == [200]
        # P-2 is no one's ID: it is kept as a keyed hash, still found by what was typed.
        assert [e["person_key"] for e in log.entries("P-2")] == ["t:" + token("P-2")]
        assert log.entries(since=datetime.now(UTC) + timedelta(minutes=1)) == []
    finally:
        database.close()
    code, output = cli("rebuild", "--store", database_url)
    assert code == 0, output
    database = Database(database_url)
    try:
        assert len(AccessLog(database, token).entries()) == 3
    finally:
        database.close()
