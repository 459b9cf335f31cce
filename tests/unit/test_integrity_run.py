"""Integrity end to end in embedded mode: late facts reconciled, `--until` honoured, events for a
person not registered yet applied once the registration arrives, personal data masked in
rejections, and a headline that tells the truth."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli import cli, cli_json
from tests.events import (
    custody_started,
    death_registered,
    envelope,
    life_evidence,
    person_registered,
    write_jsonl,
)


def run(store: str, path: Path, *options: str) -> dict:
    return cli_json("run", "--input", str(path), "--store", store, *options)


def history_kinds(doc: dict) -> list[str]:
    return [h["decision"] for h in doc["history"]]


# ----- 2. late evidence: resumed, arrears by the next run, June's report unchanged ------------


def test_late_evidence_resumes_and_the_next_run_pays_the_held_months_as_arrears(
    tmp_path: Path, store: str
) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [person_registered("P1", birth_date="1950-02-14")])
    run(store, path, "--until", "2026-07-15")
    june_before = cli_json("payroll", "--month", "2026-06", "--store", store)
    assert june_before["skipped"] == {"held": 1}
    late = write_jsonl(tmp_path / "late.jsonl", [life_evidence("P1", "2026-01-20")])
    run(store, late, "--until", "2026-07-16")
    doc = cli_json("status", "P1", "--store", store)
    assert (doc["benefit_status"], doc["risk_level"]) == ("active", "none")
    assert doc["certification"]["certified_on"] == "2026-02-01"
    assert doc["certification"]["arrears_months"] == 2
    assert doc["arrears_owed"] == {"2026-06": 350_000, "2026-07": 350_000}
    assert "resumed" in history_kinds(doc)
    templates = [n["template"] for n in cli_json("notifications", "P1", "--store", store)]
    assert templates[-1] == "pension_resumed"

    run(store, late, "--until", "2026-08-01")
    pays = cli_json("payments", "P1", "--store", store)["instructions"]
    assert [(i["month"], i["kind"], i["on"]) for i in pays if i["on"] == "2026-08-01"] == [
        ("2026-08", "pension", "2026-08-01"),
        ("2026-06", "arrears", "2026-08-01"),
        ("2026-07", "arrears", "2026-08-01"),
    ]
    assert not [i for i in pays if i["kind"] == "pension" and i["month"] in ("2026-06", "2026-07")]
    assert cli_json("payroll", "--month", "2026-06", "--store", store) == june_before
    assert cli_json("status", "P1", "--store", store)["arrears_owed"] == {}


# ----- 4. a registration and an account change on the same day ----------------------------


def test_an_account_change_on_the_registration_day_applies_after_it_whatever_the_ids(
    tmp_path: Path, store: str
) -> None:
    changed = "6217000011112222"
    events = []
    for person_id, change_id in (("A", "aaa-change"), ("B", "zzz-change")):
        registration = person_registered(person_id, event_id=f"mmm-register-{person_id}")
        change = envelope(
            "bank_account_changed",
            person_id,
            "2026-01-01",
            {"bank_account": changed[:-1] + person_id.replace("A", "3").replace("B", "4")},
            event_id=change_id,
        )
        change["data"]["bank_region"] = "110101"
        events += [registration, change]
    run(store, write_jsonl(tmp_path / "in.jsonl", events), "--until", "2026-02-01")
    for person_id, last4 in (("A", "2223"), ("B", "2224")):
        doc = cli_json("status", person_id, "--store", store)
        assert doc["bank_account"].endswith(last4)
        pays = cli_json("payments", person_id, "--store", store)["instructions"]
        assert {i["bank_account"][-4:] for i in pays} == {last4}


def test_the_shared_account_check_sees_the_account_changed_on_the_registration_day(
    tmp_path: Path, store: str
) -> None:
    shared = "6217000055556666"
    change = envelope(
        "bank_account_changed",
        "A",
        "2026-01-01",
        {"bank_account": shared, "bank_region": "110101"},
        event_id="aaa-change",
    )
    events = [
        person_registered("A", event_id="zzz-register-A"),
        change,
        person_registered("C", bank_account=shared),
    ]
    run(store, write_jsonl(tmp_path / "in.jsonl", events), "--until", "2026-02-01")
    for person_id in ("A", "C"):
        doc = cli_json("status", person_id, "--store", store)
        assert doc["payments_withheld"] == {"review": 2}
        assert doc["risk_level"] == "yellow"


# ----- 5. a deadline mark that yields no decision is raised once -----------------------------


def test_marks_reached_in_custody_are_raised_once_and_never_hold(
    tmp_path: Path, store: str
) -> None:
    events = [
        person_registered("P1", birth_date="1950-02-14"),
        custody_started("P1", "2026-02-10"),
    ]
    summary = run(store, write_jsonl(tmp_path / "in.jsonl", events), "--until", "2026-08-31")
    # The opening, marks 30, 90 and 120 once each, and the payroll on each first, January-August.
    assert summary["scheduled_events"] == 1 + 3 + 8
    doc = cli_json("status", "P1", "--store", store)
    assert doc["benefit_status"] == "suspended"
    templates = [n["template"] for n in cli_json("notifications", "P1", "--store", store)]
    assert "payments_held" not in templates
    assert "held" not in history_kinds(doc)


# ----- 6. --until is honoured whatever the store's clock ----------------------------------


def test_until_never_applies_an_event_dated_after_it(tmp_path: Path, store: str) -> None:
    run(
        store, write_jsonl(tmp_path / "a.jsonl", [person_registered("P1")]), "--until", "2026-03-31"
    )
    later = write_jsonl(
        tmp_path / "b.jsonl",
        [death_registered("P1", "2026-03-10", "2026-03-09"), custody_started("P2", "2026-04-20")],
    )
    for until in ("2026-03-15", "2026-03-31"):  # before, then on, the store's last day
        summary = run(store, later, "--until", until)
        assert summary["left_for_later"] == 1
        assert summary["days"] == 0
    summary = run(store, later, "--until", "2026-04-10")  # after it, still before the event
    assert (summary["left_for_later"], summary["last_day"]) == (1, "2026-04-10")
    assert summary["already_processed"] == 1
    assert cli_json("status", "P1", "--store", store)["benefit_status"] == "terminated"


def test_a_malformed_line_dated_far_ahead_moves_neither_the_days_nor_the_clock(
    tmp_path: Path, store: str
) -> None:
    bad = person_registered("X") | {"occurred_on": "2036-01-01", "type": "nonsense"}
    path = write_jsonl(tmp_path / "in.jsonl", [person_registered("P1"), bad])
    summary = run(store, path)
    assert (summary["rejected"], summary["last_day"], summary["days"]) == (1, "2026-01-01", 1)
    code, output = cli("payroll", "--month", "2026-02", "--store", store)
    assert code == 1 and "has not run" in output


# ----- arrival order: an event before its person's registration -----------------------------


def test_a_death_before_the_registration_terminates_once_the_registration_arrives(
    tmp_path: Path, store: str
) -> None:
    for person_id, death_on in (("SAME", "2026-01-01"), ("LATER", "2026-01-05")):
        events = [
            death_registered(person_id, death_on, "2026-01-01"),
            person_registered(person_id, on="2026-01-08" if person_id == "LATER" else death_on),
        ]
        summary = run(store, write_jsonl(tmp_path / f"{person_id}.jsonl", events))
        assert (summary["rejected"], summary["released_on_registration"]) == (0, 1)
        assert cli_json("status", person_id, "--store", store)["benefit_status"] == "terminated"
        again = run(store, tmp_path / f"{person_id}.jsonl")
        assert (again["rejected"], again["accepted"], again["already_processed"]) == (0, 0, 2)
    assert cli_json("rejected", "--store", store) == []


# ----- 7. personal data never leaves in clear through rejections ------------------------------


def test_rejections_mask_national_ids_names_and_accounts_whatever_their_json_type(
    tmp_path: Path, store: str
) -> None:
    national_id, name, account = "110101195003070136", "欧阳娜娜", "6222021234567890"
    lines = [
        person_registered("P1") | {"data": {"national_id": int(national_id), "name": [name]}},
        envelope("bank_account_changed", "P1", "2026-01-01", {"bank_account": {"n": account}}),
        '{"event_id": "broken", "data": {"national_id": "' + national_id + '", "name": "' + name,
    ]
    run(store, write_jsonl(tmp_path / "in.jsonl", lines))
    for options in (("--json",), ()):
        code, output = cli("rejected", "--store", store, *options)
        assert code == 0
        for secret in (national_id, name, account, national_id[:14], account[:12]):
            assert secret not in output
    rows = cli_json("rejected", "--store", store)
    assert len(rows) == 3
    assert any("0136" in row["payload"] for row in rows)


def test_a_line_that_is_not_utf8_is_kept_byte_for_byte(tmp_path: Path, store: str) -> None:
    path = tmp_path / "in.jsonl"
    raw = b'{"event_id": "latin1", "name": "Jos\xe9"}'
    path.write_bytes(json.dumps(person_registered("P1")).encode() + b"\n" + raw + b"\n")
    run(store, path)
    import base64
    import hashlib

    from engine.wiring import open_engine
    from streams.dead_letters import dead_letter_id

    engine = open_engine(store)
    try:
        # The event store keeps it whole (encrypted); the read model lists it, masked.
        letter = engine.intake.repository.get(dead_letter_id(hashlib.sha256(raw).hexdigest()))
        listed = engine.view.dead_letters()
    finally:
        engine.close()
    assert base64.b64decode(letter.original_base64) == raw
    assert [row.payload for row in listed] == ['{"event_id": "latin1", "name": "J***"}']


def test_an_odd_stored_dead_letter_never_breaks_the_listing(tmp_path: Path, store: str) -> None:
    lines = [
        '[bold]{"event_id": "[/nope]"',
        "\x1b[31m not json",
        '{"event_id": "[red]"}',
        '{"event_id": "surrogate", "data": {"name": "\\ud800"}}',
    ]
    path = write_jsonl(tmp_path / "in.jsonl", lines)
    with path.open("ab") as handle:
        handle.write(b'{"event_id": "cesu", "name": "\xed\xa0\x80"}\n')
    run(store, path)
    for options in (("--json",), ()):
        code, output = cli("rejected", "--store", store, *options)
        assert code == 0, output
    assert "Traceback" not in output


# ----- 4. the headline tells the truth ---------------------------------------------------------


def test_a_year_of_open_reviews_never_reads_active_risk_none(tmp_path: Path, store: str) -> None:
    shared = "6217000077778888"
    events = [
        person_registered("A", bank_account=shared),
        person_registered("B", bank_account=shared),
    ]
    run(store, write_jsonl(tmp_path / "in.jsonl", events), "--until", "2026-12-31")
    doc = cli_json("status", "A", "--store", store)
    assert doc["risk_level"] == "yellow"
    assert doc["headline"] == "active — 12 payments held for review"
    code, output = cli("status", "A", "--store", store)
    assert "active — 12 payments held for review" in output
    assert cli_json("payments", "A", "--store", store)["instructions"] == []
