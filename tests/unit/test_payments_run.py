"""Payments end to end in embedded mode: `benefits run`, `payments`, `payroll`, masking."""

from __future__ import annotations

from pathlib import Path

from engine.cli import app
from tests.cli import cli_json, runner
from tests.events import death_registered, envelope, person_registered, write_jsonl

ACCOUNT = "6222021234567890"


def retirement_eligible(person_id: str, on: str, months: int) -> dict:
    return envelope(
        "retirement_eligible",
        person_id,
        on,
        {
            "scheme": "enterprise_employee",
            "contribution_months": months,
            "indexed_wage_cents": 600_000,
            "regional_average_wage_cents": 800_000,
            "personal_account_cents": 12_345_600,
            "retirement_age": 60,
        },
    )


def test_award_then_monthly_payments(tmp_path: Path, store: str) -> None:
    events = [
        person_registered("W1", pension_cents=0),
        retirement_eligible("W1", "2026-02-10", months=420),
    ]
    path = write_jsonl(tmp_path / "in.jsonl", events)
    cli_json("run", "--input", str(path), "--store", store, "--until", "2026-05-01")
    doc = cli_json("status", "W1", "--store", store)
    assert (doc["benefit_status"], doc["monthly_pension_cents"]) == ("active", 333_817)
    award = next(h for h in doc["history"] if h["decision"] == "awarded")
    assert award["details"]["basic_pension_cents"] == "245000.0000"
    assert award["details"]["pension_starts"] == "2026-03"
    pays = cli_json("payments", "W1", "--store", store)
    assert [(i["month"], i["kind"], i["amount_cents"]) for i in pays["instructions"]] == [
        ("2026-03", "pension", 333_817),
        ("2026-04", "pension", 333_817),
        ("2026-05", "pension", 333_817),
    ]
    assert pays["instructions"][0]["bank_account"].startswith("************")


def test_refused_award_explains_the_shortfall(tmp_path: Path, store: str) -> None:
    events = [
        person_registered("W2", pension_cents=0),
        retirement_eligible("W2", "2026-02-10", months=170),
    ]
    path = write_jsonl(tmp_path / "in.jsonl", events)
    cli_json("run", "--input", str(path), "--store", store)
    doc = cli_json("status", "W2", "--store", store)
    assert doc["benefit_status"] == "not_retired"
    refusal = doc["history"][-1]
    assert (refusal["decision"], refusal["reason"]) == (
        "award_refused",
        "insufficient_contributions",
    )
    notes = cli_json("notifications", "W2", "--store", store)
    assert [(n["template"], n["shortfall_months"]) for n in notes] == [("award_refused", 10)]


def test_payroll_summary_counts_totals_and_skips(tmp_path: Path, store: str) -> None:
    events = [
        person_registered("A", pension_cents=300_000),
        person_registered("B", pension_cents=250_000, bank_account=None),
        person_registered("C", pension_cents=200_000),
        envelope("custody_started", "C", "2026-02-15", {"case_ref": "K-1"}),
    ]
    path = write_jsonl(tmp_path / "in.jsonl", events)
    cli_json("run", "--input", str(path), "--store", store, "--until", "2026-03-01")
    march = cli_json("payroll", "--month", "2026-03", "--store", store)
    assert march == {
        "month": "2026-03",
        "count": 1,
        "total_cents": 300_000,
        "by_kind": {"pension": {"count": 1, "total_cents": 300_000}},
        "skipped": {"no_account": 1, "suspended": 1},
    }


def test_rerunning_a_month_never_pays_twice(tmp_path: Path, store: str) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [person_registered("A")])
    cli_json("run", "--input", str(path), "--store", store, "--until", "2026-03-01")
    first = cli_json("payroll", "--month", "2026-03", "--store", store)
    # The same payroll triggers delivered again, as a replayed topic would.
    again = [
        envelope(
            "payment_due",
            "A",
            "2026-03-01",
            {"month": "2026-03", "account_holders": 1},
            event_id=event_id,
        )
        for event_id in ("scheduler:payroll:A:2026-03", "manual-rerun-2026-03")
    ]
    summary = cli_json(
        "run", "--input", str(write_jsonl(tmp_path / "rerun.jsonl", again)), "--store", store
    )
    assert summary["already_processed"] == 1 and summary["accepted"] == 1
    assert cli_json("payroll", "--month", "2026-03", "--store", store) == first
    assert len(cli_json("payments", "A", "--store", store)["instructions"]) == 3


def test_late_death_recovers_the_overpayment(tmp_path: Path, store: str) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [person_registered("D", pension_cents=280_000)])
    cli_json("run", "--input", str(path), "--store", store, "--until", "2026-04-01")
    late = write_jsonl(tmp_path / "late.jsonl", [death_registered("D", "2026-04-12", "2026-02-03")])
    cli_json("run", "--input", str(late), "--store", store, "--until", "2026-05-01")
    doc = cli_json("status", "D", "--store", store)
    assert (doc["benefit_status"], doc["overpayment_cents"]) == ("terminated", 560_000)
    pays = cli_json("payments", "D", "--store", store)
    assert [i["month"] for i in pays["instructions"]] == [
        "2026-01",
        "2026-02",
        "2026-03",
        "2026-04",
    ]
    assert [(r["months"], r["total_cents"]) for r in pays["recoveries"]] == [
        (["2026-03", "2026-04"], 560_000)
    ]


def test_account_numbers_are_masked_everywhere_but_the_instruction(
    tmp_path: Path, store: str
) -> None:
    good = person_registered("E", bank_account=ACCOUNT)
    bad = dict(good, event_id="bad-1")
    bad["data"] = dict(good["data"], name="")  # invalid: rejected with its payload kept
    path = write_jsonl(tmp_path / "in.jsonl", [good, bad])
    cli_json("run", "--input", str(path), "--store", store, "--until", "2026-01-01")
    outputs = [
        runner.invoke(app, ["status", "E", "--store", store, "--json"]).output,
        runner.invoke(app, ["payments", "E", "--store", store, "--json"]).output,
        runner.invoke(app, ["payments", "E", "--store", store]).output,
        runner.invoke(app, ["rejected", "--store", store, "--json"]).output,
        runner.invoke(app, ["status", "E", "--store", store]).output,
    ]
    for output in outputs:
        assert ACCOUNT not in output
    assert "7890" in outputs[0] and "7890" in outputs[3]


def test_a_shared_account_is_found_by_a_keyed_hash_of_it(tmp_path: Path, store: str) -> None:
    import hashlib
    import os
    import sqlite3

    from domain.entitlement import fingerprint
    from engine.keys import KEY_ENV, CipherKey, keyed_token

    events = [
        person_registered("S1", bank_account=ACCOUNT),
        person_registered("S2", bank_account=ACCOUNT),
        person_registered("S3"),
    ]
    path = write_jsonl(tmp_path / "in.jsonl", events)
    cli_json("run", "--input", str(path), "--store", store, "--until", "2026-02-01")
    for person_id in ("S1", "S2"):
        doc = cli_json("status", person_id, "--store", store)
        assert doc["payments_withheld"] == {"review": 2}  # January's and February's
        assert {a["reason"] for a in doc["payment_alerts"]} == {"review_account_shared"}
    assert cli_json("status", "S3", "--store", store)["payments_withheld"] == {}
    with sqlite3.connect(store.removeprefix("sqlite:///")) as connection:
        hashes = dict(connection.execute("SELECT person_id, account_hash FROM person_status"))
    # Keyed (HMAC under the store's key), so nobody can hash every account number to find it.
    lookup = CipherKey(os.environ[KEY_ENV], KEY_ENV).lookup_key()
    assert hashes["S1"] == hashes["S2"] == keyed_token(lookup, fingerprint(ACCOUNT))
    assert hashes["S1"] != hashlib.sha256(ACCOUNT.encode()).hexdigest()
