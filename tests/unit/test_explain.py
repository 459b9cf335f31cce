"""`benefits explain`: from the facts, through the rule and the parameters in force (with their
references), to the decision."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import policy
from domain.policy import install
from engine.cli import explanation
from engine.simulation import simulate
from engine.wiring import open_engine
from tests.cli import cli, cli_json
from tests.events import life_evidence, person_registered, write_jsonl


def held_store(tmp_path: Path, store: str) -> None:
    events = [person_registered("P1", birth_date="1950-02-14", name="欧阳娜娜")]
    path = write_jsonl(tmp_path / "in.jsonl", events)
    cli_json("run", "--input", str(path), "--store", store, "--until", "2026-06-30")


def number_of(store: str, kind: str) -> int:
    history = cli_json("status", "P1", "--store", store)["history"]
    return next(n for n, h in enumerate(history, start=1) if h["decision"] == kind)


def test_a_hold_is_explained_by_its_cycle_its_mark_and_the_hold_day(
    tmp_path: Path, store: str
) -> None:
    held_store(tmp_path, store)
    shown = cli_json("explain", "P1", "--decision", str(number_of(store, "held")), "--store", store)
    assert shown["decision"]["decision"] == "held"
    assert shown["rule"]["family"] == "certification"
    assert [(p["parameter"], p["value"]) for p in shown["parameters"]] == [
        ("certification.hold_day", 120)
    ]
    assert shown["parameters"][0]["reference"].startswith("No-touch certification rules")
    facts = [(f["type"], f["event_id"]) for f in shown["facts"]]
    assert ("birthday_month_started", "scheduler:birthday:P1:2026") in facts
    assert ("certification_deadline_reached", "scheduler:deadline:P1:2026:120") in facts


def test_a_payment_a_hold_stopped_is_explained_by_the_cycle_not_the_red_ceiling(
    tmp_path: Path, store: str
) -> None:
    held_store(tmp_path, store)
    history = cli_json("status", "P1", "--store", store)["history"]
    number = next(n for n, h in enumerate(history, start=1)
                  if (h["decision"], h["reason"]) == ("payment_blocked", "held"))  # fmt: skip
    shown = cli_json("explain", "P1", "--decision", str(number), "--store", store)
    assert shown["rule"]["statement"].startswith("A run pays nothing for a month while")
    assert shown["parameters"] == []  # not the red ceiling: a hold is not a fund-flow check
    facts = [f["event_id"] for f in shown["facts"]]
    assert "scheduler:birthday:P1:2026" in facts
    assert "scheduler:deadline:P1:2026:120" in facts
    assert "scheduler:payroll:P1:2026-06" in facts


def test_a_silent_certification_names_its_evidence_and_the_look_back(
    tmp_path: Path, store: str
) -> None:
    held_store(tmp_path, store)
    late = write_jsonl(
        tmp_path / "late.jsonl", [life_evidence("P1", "2026-01-20", event_id="ev-1")]
    )
    cli_json("run", "--input", str(late), "--store", store, "--until", "2026-07-01")
    number = number_of(store, "silently_certified")
    shown = cli_json("explain", "P1", "--decision", str(number), "--store", store)
    assert shown["parameters"][0]["parameter"] == "certification.evidence_lookback_days"
    assert ("life_evidence", "ev-1", "2026-01-20") in [
        (f["type"], f["event_id"], f["occurred_on"]) for f in shown["facts"]
    ]


def test_personal_data_in_the_facts_is_masked(tmp_path: Path, store: str) -> None:
    held_store(tmp_path, store)
    code, output = cli("explain", "P1", "--decision", "1", "--store", store)
    assert code == 0
    assert "欧阳娜娜" not in output and "欧***" in output
    registration = cli_json("explain", "P1", "--decision", "1", "--store", store)["facts"][0]
    assert registration["data"]["national_id"].startswith("*" * 14)


def test_a_decision_under_a_later_version_cites_that_versions_value(
    tmp_path: Path, store: str
) -> None:
    change = tmp_path / "hold-100.yaml"
    change.write_text(
        "certification:\n  hold_day:\n    values:\n      2026-01-01:\n"
        "        value: 100\n        reference: Amendment 2026/1\n"
    )
    install(policy.load([change]))
    events = [person_registered("P1", birth_date="1950-02-14")]
    path = write_jsonl(tmp_path / "in.jsonl", events)
    engine = open_engine(store)
    try:
        simulate(engine, path, until=date(2026, 6, 30))
        history = engine.view.history("P1")
        number = next(n for n, h in enumerate(history, start=1) if h["decision"] == "held")
        shown = explanation(engine, "P1", number)
    finally:
        engine.close()
    assert shown is not None
    assert shown["decision"]["on"] == "2026-05-12"  # 1 February + 100 days
    assert shown["rule_version"] == "2026-01-01"
    assert shown["parameters"] == [
        {
            "parameter": "certification.hold_day",
            "value": 100,
            "unit": "day",
            "since": "2026-01-01",
            "reference": "Amendment 2026/1",
        }
    ]


def test_careless_explain_requests_are_one_line(tmp_path: Path, store: str) -> None:
    held_store(tmp_path, store)
    for number in ("99", "0", "-1"):
        code, output = cli("explain", "P1", "--decision", number, "--store", store)
        assert code == 2 and output.startswith("error: --decision must be 1 to"), number
    code, output = cli("explain", "NOBODY", "--store", store)
    assert code == 1 and "no person" in output


def test_every_decision_a_rule_can_yield_is_explained_by_a_module_that_exists() -> None:
    """An explanation names the rule's home: every decision a registered type can yield has an
    entry, and every entry points at a module in the repository."""
    from domain.entitlement import Replay  # noqa: F401  (imports the rule modules)
    from domain.explanations import RULES
    from domain.facts import FACT_TYPES

    root = Path(__file__).resolve().parents[2]
    declared = {d for t in FACT_TYPES.values() for d in t.decisions}
    assert declared <= set(RULES)
    assert [k for k, r in RULES.items() if not (root / r.module).is_file()] == []
