"""`benefits run / status / rejected / rebuild` in embedded mode (SQLite store, no broker)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli import cli
from tests.events import (
    custody_ended,
    custody_started,
    death_registered,
    person_registered,
    write_jsonl,
)


def run_json(store: str, path: Path, *options: str) -> dict:
    code, output = cli("run", "--input", str(path), "--store", store, "--json", *options)
    assert code == 0, output
    return json.loads(output)


def status(store: str, person_id: str) -> dict:
    code, output = cli("status", person_id, "--store", store, "--json")
    assert code == 0, output
    return json.loads(output)


def test_death_terminates_and_status_shows_history(tmp_path: Path, store: str) -> None:
    reg = person_registered("P1")
    death = death_registered("P1", "2026-05-04", "2026-05-01")
    summary = run_json(store, write_jsonl(tmp_path / "in.jsonl", [reg, death]))
    assert summary["accepted"] == 2 and summary["rejected"] == 0
    assert summary["decisions"] == {"registered": 1, "terminated": 1}
    doc = status(store, "P1")
    assert doc["benefit_status"] == "terminated"
    assert doc["risk_level"] == "red"
    assert doc["reason"] == "death"
    assert doc["monthly_pension_cents"] == 350_000
    assert [(h["on"], h["decision"], h["event_id"]) for h in doc["history"]] == [
        ("2026-01-01", "registered", reg["event_id"]),
        ("2026-05-04", "terminated", death["event_id"]),
    ]


def test_custody_suspends_then_restores(tmp_path: Path, store: str) -> None:
    events = [person_registered("P1"), custody_started("P1", "2026-02-01")]
    run_json(store, write_jsonl(tmp_path / "a.jsonl", events))
    doc = status(store, "P1")
    assert (doc["benefit_status"], doc["risk_level"], doc["reason"]) == (
        "suspended",
        "red",
        "custody",
    )
    run_json(store, write_jsonl(tmp_path / "b.jsonl", [custody_ended("P1", "2026-03-01")]))
    doc = status(store, "P1")
    assert (doc["benefit_status"], doc["risk_level"], doc["reason"]) == ("active", "none", None)
    standing = [h["decision"] for h in doc["history"] if h["decision"] != "payment_blocked"]
    assert standing == ["registered", "suspended", "reinstated"]
    blocked = [h for h in doc["history"] if h["decision"] == "payment_blocked"]
    assert [(h["on"], h["reason"]) for h in blocked] == [("2026-02-01", "suspended")]


def test_bad_events_are_dead_lettered_with_reason_and_processing_goes_on(
    tmp_path: Path, store: str
) -> None:
    orphan = death_registered("NOBODY", "2026-03-01", "2026-02-27")
    bad_type = custody_started("P1", "2026-02-01") | {"type": "marriage_registered"}
    events = [
        person_registered("P1"),
        "{not json",
        orphan,
        bad_type,
        custody_started("P1", "2026-02-02"),
    ]
    path = write_jsonl(tmp_path / "in.jsonl", events)
    summary = run_json(store, path)
    assert (summary["accepted"], summary["rejected"]) == (2, 2)
    assert summary["waiting_for_registration"] == 1  # the orphan, for a grace period
    assert status(store, "P1")["benefit_status"] == "suspended"
    later = run_json(store, path, "--until", "2026-04-01")
    assert (later["expired_unregistered"], later["waiting_for_registration"]) == (1, 0)
    code, output = cli("rejected", "--store", store, "--json")
    assert code == 0
    rows = json.loads(output)
    reasons = {row["payload"]: row["reason"] for row in rows}
    assert reasons["{not json"].startswith("message is not valid JSON")
    assert reasons[json.dumps(orphan, ensure_ascii=False)].startswith("unknown person")
    assert "unknown event type" in reasons[json.dumps(bad_type, ensure_ascii=False)]


def test_unknown_person_status_exits_non_zero(tmp_path: Path, store: str) -> None:
    run_json(store, write_jsonl(tmp_path / "in.jsonl", [person_registered("P1")]))
    code, output = cli("status", "NOBODY", "--store", store)
    assert code == 1
    assert "no person with person_id 'NOBODY'" in output


def test_rerun_continues_where_it_was(tmp_path: Path, store: str) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [person_registered("P1")])
    first = run_json(store, path)
    assert (first["accepted"], first["last_day"]) == (1, "2026-01-01")
    again = run_json(store, path)
    assert (again["accepted"], again["already_processed"], again["days"]) == (0, 1, 0)
    assert again["duplicates"] == 0
    write_jsonl(path, [custody_started("P1", "2026-02-01")], mode="a")
    more = run_json(store, path)
    assert (more["accepted"], more["already_processed"], more["duplicates"]) == (1, 1, 0)
    assert (more["first_day"], more["last_day"]) == ("2026-01-02", "2026-02-01")
    assert status(store, "P1")["benefit_status"] == "suspended"


def test_redelivered_events_have_effect_once(tmp_path: Path, store: str) -> None:
    events = [person_registered("P1"), custody_started("P1", "2026-02-01")]
    run_json(store, write_jsonl(tmp_path / "a.jsonl", events))
    summary = run_json(store, write_jsonl(tmp_path / "copy.jsonl", events + events))
    # The copy's first two lines were processed by the first run; its last two repeat them.
    assert (summary["accepted"], summary["already_processed"], summary["duplicates"]) == (0, 2, 2)
    assert summary["decisions"] == {}
    history = status(store, "P1")["history"]
    assert [h["decision"] for h in history] == ["registered", "suspended", "payment_blocked"]


def test_custody_end_arriving_after_death_does_not_reactivate(tmp_path: Path, store: str) -> None:
    events = [
        person_registered("P1"),
        custody_started("P1", "2026-02-01"),
        death_registered("P1", "2026-06-01", "2026-05-28"),
        custody_ended("P1", "2026-03-01"),  # dated before the death, delivered after it
    ]
    run_json(store, write_jsonl(tmp_path / "in.jsonl", events))
    doc = status(store, "P1")
    assert (doc["benefit_status"], doc["reason"]) == ("terminated", "death")


def test_rebuilt_read_model_matches(tmp_path: Path, store: str) -> None:
    events = [person_registered("P1"), custody_started("P1", "2026-02-01"), "{broken"]
    run_json(store, write_jsonl(tmp_path / "in.jsonl", events))
    before = status(store, "P1")
    code, output = cli("rebuild", "--store", store)
    assert code == 0 and "rebuilt read models from" in output
    assert status(store, "P1") == before
    code, output = cli("rejected", "--store", store, "--json")
    assert len(json.loads(output)) == 1


def test_clear_errors_for_bad_arguments(tmp_path: Path) -> None:
    code, output = cli("run", "--input", str(tmp_path / "missing.jsonl"))
    assert code == 2 and "no such file" in output
    path = write_jsonl(tmp_path / "in.jsonl", [person_registered("P1")])
    code, output = cli("run", "--input", str(path), "--store", "mysql://x")
    assert code == 2 and "unsupported store URL" in output


def test_human_summary_lists_decisions(tmp_path: Path, store: str) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [person_registered("P1"), "{bad"])
    code, output = cli("run", "--input", str(path), "--store", store)
    assert code == 0
    assert "accepted" in output and "registered" in output and "rejected" in output
