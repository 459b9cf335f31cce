"""Annual certification end to end in embedded mode: `benefits run --until` on a simulated clock."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from engine.cli import app
from engine.wiring import open_engine
from streams.intake import Message
from tests.cli import cli_json, runner
from tests.events import (
    death_registered,
    life_evidence,
    liveness_verified,
    person_registered,
    write_jsonl,
)
from triggers.calendar import JOBS


def test_a_year_without_evidence_escalates_then_liveness_resumes(
    tmp_path: Path, store: str
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [person_registered("P1", birth_date="1950-02-14")])
    summary = cli_json("run", "--input", str(path), "--store", store, "--until", "2026-06-30")
    assert summary["days"] == 181
    # The opening, marks 30, 90 and 120, and the payroll on each first of January to June.
    assert summary["scheduled_events"] == 10
    doc = cli_json("status", "P1", "--store", store)
    assert (doc["benefit_status"], doc["risk_level"]) == ("held", "yellow")
    assert doc["certification"] == {
        "status": "open",
        "method": None,
        "certified_on": None,
        "opened_on": "2026-02-01",
        "days_open": 149,
        "arrears_months": 0,
    }
    write_jsonl(path, [liveness_verified("P1", "2026-08-03", "home_visit")], mode="a")
    cli_json("run", "--input", str(path), "--store", store)
    doc = cli_json("status", "P1", "--store", store)
    assert (doc["benefit_status"], doc["risk_level"]) == ("active", "none")
    cert = doc["certification"]
    assert (cert["status"], cert["method"], cert["certified_on"]) == (
        "certified",
        "liveness",
        "2026-08-03",
    )
    assert cert["arrears_months"] == 3  # held from 1 June: June, July, August
    notes = cli_json("notifications", "P1", "--store", store)
    assert [(n["on"], n["template"]) for n in notes] == [
        ("2026-03-03", "liveness_invitation"),
        ("2026-05-02", "liveness_reminder"),
        ("2026-06-01", "payments_held"),
        ("2026-08-03", "pension_resumed"),
    ]


def test_life_evidence_certifies_silently_with_one_notification(tmp_path: Path, store: str) -> None:
    events = [
        person_registered("P1", birth_date="1948-04-02"),
        life_evidence("P1", "2026-03-05", "transit_tap"),
    ]
    path = write_jsonl(tmp_path / "in.jsonl", events)
    cli_json("run", "--input", str(path), "--store", store, "--until", "2026-12-31")
    cert = cli_json("status", "P1", "--store", store)["certification"]
    assert (cert["status"], cert["method"], cert["certified_on"], cert["days_open"]) == (
        "certified",
        "silent",
        "2026-04-01",
        0,
    )
    notes = cli_json("notifications", "P1", "--store", store)
    assert [n["template"] for n in notes] == ["pension_continues"]


def test_late_events_are_applied_first_with_their_own_dates(tmp_path: Path, store: str) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [person_registered("P1", birth_date="1950-02-14")])
    cli_json("run", "--input", str(path), "--store", store, "--until", "2026-03-15")
    # Evidence dated before the cycle opened arrives after the run had passed that day.
    late = write_jsonl(tmp_path / "late.jsonl", [life_evidence("P1", "2026-01-20")])
    summary = cli_json("run", "--input", str(late), "--store", store, "--until", "2026-03-20")
    assert summary["first_day"] == "2026-03-16"
    cert = cli_json("status", "P1", "--store", store)["certification"]
    assert (cert["status"], cert["method"], cert["certified_on"]) == (
        "certified",
        "silent",
        "2026-02-01",
    )


def test_evidence_after_death_is_an_alert_not_a_reactivation(tmp_path: Path, store: str) -> None:
    events = [
        person_registered("P1", birth_date="1950-02-14"),
        death_registered("P1", "2026-03-10", "2026-03-01"),
        life_evidence("P1", "2026-03-05", "bank_counter", event_id="tap-1"),
    ]
    path = write_jsonl(tmp_path / "in.jsonl", events)
    cli_json("run", "--input", str(path), "--store", store)
    doc = cli_json("status", "P1", "--store", store)
    assert (doc["benefit_status"], doc["risk_level"]) == ("terminated", "red")
    alerts = [h for h in doc["history"] if h["decision"] == "evidence_after_death"]
    assert [(a["on"], a["event_id"]) for a in alerts] == [("2026-03-05", "tap-1")]


def test_events_after_until_wait_for_a_later_run(tmp_path: Path, store: str) -> None:
    events = [person_registered("P1"), life_evidence("P1", "2026-05-01")]
    path = write_jsonl(tmp_path / "in.jsonl", events)
    summary = cli_json("run", "--input", str(path), "--store", store, "--until", "2026-02-01")
    assert (summary["accepted"], summary["left_for_later"]) == (1, 1)
    summary = cli_json("run", "--input", str(path), "--store", store)
    assert (
        summary["accepted"],
        summary["duplicates"],
        summary["already_processed"],
        summary["last_day"],
    ) == (1, 0, 1, "2026-05-01")


def test_bad_until_is_a_clear_error(tmp_path: Path, store: str) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [person_registered("P1")])
    result = runner.invoke(app, ["run", "--input", str(path), "--until", "31/12/2026"])
    assert result.exit_code == 2
    assert "--until must be a date written YYYY-MM-DD" in result.output


def test_running_a_days_jobs_twice_has_effect_once(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        registration = json.dumps(person_registered("P1", birth_date="1950-03-01"))
        engine.intake.apply_messages([Message(1, registration)])
        engine.refresh()
        day = date(2026, 3, 1)
        outcomes = []
        for _ in range(2):
            for _name, job in JOBS:
                raised = [Message(0, json.dumps(e)) for e in job(day, engine.view)]
                outcomes.append(engine.intake.apply_messages(raised))
                engine.refresh()
        # The cycle opening and the payroll, once each; the second run's are duplicates.
        assert sum(o.accepted for o in outcomes) == 2
        assert sum(o.duplicates for o in outcomes) == 2
        assert engine.view.status("P1")["certification"]["opened_on"] == "2026-03-01"
    finally:
        engine.close()


def test_daily_jobs_find_people_through_indexes(tmp_path: Path) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with engine.view.database.transaction() as cursor:
            plans = [
                " ".join(
                    str(c)
                    for row in cursor.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
                    for c in row
                )
                for sql in (
                    "SELECT person_id FROM person_status WHERE birth_month = 3"
                    " AND benefit_status IN ('active', 'held')",
                    "SELECT person_id FROM certification_deadlines WHERE due_on <= '2026-03-01'",
                )
            ]
        assert "USING INDEX person_status_by_birth_month" in plans[0]
        assert "USING INDEX certification_deadlines_by_due" in plans[1]
    finally:
        engine.close()
