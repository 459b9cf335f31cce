"""`benefits whatif`: the store's facts replayed under a policy change, against hand-computed
differences; the live store is never written."""

from __future__ import annotations

import hashlib
from pathlib import Path

import policy
from tests.cli import cli, cli_json
from tests.events import (
    life_evidence,
    liveness_verified,
    person_registered,
    retirement_eligible,
    write_jsonl,
)

EXAMPLE = Path(policy.__file__).parent / "examples" / "hold-at-100-days.yaml"


def whatif(store: str, change: Path, first: str) -> dict:
    return cli_json("whatif", "--policy", str(change), "--from", first, "--store", store)


def three_february_cycles(tmp_path: Path, store: str) -> None:
    """Born in February (cycles open 1 February): A leaves evidence in the look-back, B answers
    by liveness on day 110 (22 May), C never answers (held on day 120, 1 June)."""
    events = [
        person_registered("A", birth_date="1950-02-10"),
        life_evidence("A", "2026-01-20"),
        person_registered("B", birth_date="1950-02-11"),
        liveness_verified("B", "2026-05-22"),
        person_registered("C", birth_date="1950-02-12"),
    ]
    path = write_jsonl(tmp_path / "in.jsonl", events)
    cli_json("run", "--input", str(path), "--store", store, "--until", "2026-07-31")


def digest(store: str) -> str:
    return hashlib.sha256(Path(store.removeprefix("sqlite:///")).read_bytes()).hexdigest()


def test_no_change_changes_no_one(tmp_path: Path, store: str) -> None:
    three_february_cycles(tmp_path, store)
    empty = tmp_path / "empty.yaml"
    empty.write_text("certification: {}\n")
    report = whatif(store, empty, "2026-01-01")
    assert (report["persons"], report["persons_changed"]) == (3, 0)
    assert report["by_decision_kind"] == {} and report["money_by_month"] == {}


def test_holding_at_day_100_holds_two_people_and_resumes_one(tmp_path: Path, store: str) -> None:
    three_february_cycles(tmp_path, store)
    before = digest(store)
    report = whatif(store, EXAMPLE, "2026-01-01")
    # B is now held on day 100 (12 May) and resumed on 22 May; C is held on 12 May, not 1 June.
    assert report["persons_changed"] == 2
    assert report["by_decision_kind"] == {
        "held": {"before": 1, "after": 2, "persons": 2},
        "resumed": {"before": 0, "after": 1, "persons": 1},
    }
    assert report["money_by_month"] == {}  # no first of a month falls between day 100 and 120
    helds = {
        e["person_id"]: e["explanation"]["decision"]["on"]
        for e in report["examples"]
        if e.get("explanation", {}).get("decision", {}).get("decision") == "held"
    }
    assert helds == {"B": "2026-05-12", "C": "2026-05-12"}
    example = report["examples"][0]["explanation"]
    assert example["parameters"][0] == {
        "parameter": "certification.hold_day",
        "value": 100,
        "unit": "day",
        "since": "2026-01-01",
        "reference": "Example amendment: payments held at day 100 of an uncertified cycle",
    }
    assert digest(store) == before  # the live store was never written
    assert cli_json("status", "B", "--store", store)["benefit_status"] == "active"


def test_a_lower_red_ceiling_holds_the_raised_pensions_for_review(
    tmp_path: Path, store: str
) -> None:
    events = [
        person_registered("R", pension_cents=300_000, birth_date="1950-12-01"),
        person_registered("R", on="2026-02-15", pension_cents=750_000, birth_date="1950-12-01",
                           event_id="raise"),
    ]  # fmt: skip
    path = write_jsonl(tmp_path / "in.jsonl", events)
    cli_json("run", "--input", str(path), "--store", store, "--until", "2026-04-01")
    change = tmp_path / "red-at-2x.yaml"
    change.write_text(
        "payment:\n  red_ceiling_multiple:\n    values:\n      2026-03-01:\n"
        "        value: 2\n        reference: Amendment 2026/2\n"
    )
    report = whatif(store, change, "2026-03-01")
    # Paid 750,000 in March and April under 3x the established 300,000; held for review under 2x.
    assert report["persons_changed"] == 1
    assert report["money_by_month"] == {
        "2026-03": {
            "blocked_review_amount_above_ceiling": 1,
            "pension_cents": -750_000,
            "pension_count": -1,
        },
        "2026-04": {
            "blocked_review_amount_above_ceiling": 1,
            "pension_cents": -750_000,
            "pension_count": -1,
        },
    }
    assert report["by_decision_kind"]["payment_blocked"] == {"before": 0, "after": 2, "persons": 1}


def test_a_higher_accrual_rate_is_explained_by_the_award_it_changes(
    tmp_path: Path, store: str
) -> None:
    events = [
        person_registered("A", birth_date="1950-12-01"),
        person_registered("N", pension_cents=0, birth_date="1966-01-01"),
        retirement_eligible("N", "2026-02-10", contribution_months=240),
    ]
    path = write_jsonl(tmp_path / "in.jsonl", events)
    cli_json("run", "--input", str(path), "--store", store, "--until", "2026-04-01")
    change = tmp_path / "accrual.yaml"
    change.write_text(
        "award:\n  accrual_rate_per_year:\n    values:\n      2026-01-01:\n"
        '        value: "0.02"\n        reference: Amendment 2026/4\n'
    )
    report = whatif(store, change, "2026-01-01")
    # Basic: 700,000 x 20 years x 1% = 140,000, at 2% 280,000; personal 12,345,600 / 139 =
    # 88,817.27: 228,817 a month becomes 368,817 (March and April: +140,000 each).
    assert (report["persons"], report["persons_changed"]) == (2, 1)
    (example,) = report["examples"]
    assert example["explanation"]["decision"]["decision"] == "awarded"
    assert example["explanation"]["decision"]["details"]["monthly_pension_cents"] == 368_817
    assert example["was"]["details"]["monthly_pension_cents"] == 228_817
    assert report["money_by_month"] == {
        "2026-03": {"pension_cents": 140_000},
        "2026-04": {"pension_cents": 140_000},
    }
    code, output = cli("whatif", "--policy", str(change), "--from", "2026-01-01", "--store", store)
    assert code == 0 and "monthly_pension_cents 368817 (was 228817)" in output


def test_a_deployments_change_already_in_force_stays_where_it_is(
    tmp_path: Path, store: str, monkeypatch
) -> None:
    """With a deployment change from 1 March in force, a proposal from September that changes
    nothing changes no one (the deployment's change is not moved to September)."""
    deployed = tmp_path / "deployed"
    deployed.mkdir()
    (deployed / "hold-at-100.yaml").write_text(
        EXAMPLE.read_text().replace("2026-01-01", "2026-03-01")
    )
    monkeypatch.setenv("BENEFITS_POLICY_DIR", str(deployed))
    three_february_cycles(tmp_path, store)
    same = tmp_path / "same.yaml"
    same.write_text(
        "payment:\n  red_ceiling_multiple:\n    values:\n      2026-01-01:\n"
        "        value: 3\n        reference: unchanged\n"
    )
    report = whatif(store, same, "2026-09-01")
    assert (report["persons"], report["persons_changed"]) == (3, 0)


def test_careless_whatif_requests_are_one_line(tmp_path: Path, store: str) -> None:
    three_february_cycles(tmp_path, store)
    code, output = cli("whatif", "--policy", str(tmp_path / "nope.yaml"), "--from", "2026-01-01",
                       "--store", store)  # fmt: skip
    assert code == 2 and output.startswith("error: --policy: no such file")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "certification:\n  hold_day:\n    values:\n      2026-01-01: {value: -1, reference: r}\n"
    )
    code, output = cli("whatif", "--policy", str(bad), "--from", "2026-01-01", "--store", store)
    assert code == 2 and "bad.yaml: certification.hold_day: 2026-01-01: value must be" in output
    code, output = cli("whatif", "--policy", str(EXAMPLE), "--from", "2026-01-01", "--examples",
                       "21", "--store", store)  # fmt: skip
    assert code == 2 and output.strip() == "error: --examples must be 0 to 20, got 21"


def test_workers_share_the_people_and_agree_with_one_process(tmp_path: Path, store: str) -> None:
    """More than one chunk of people: the worker processes' report is the single process's."""
    from datetime import date

    from engine.demo import generate_events
    from engine.whatif import whatif as replay

    events = generate_events(300, seed=11)
    cli_json("run", "--input", str(write_jsonl(tmp_path / "in.jsonl", events)), "--store", store)
    seen: list[tuple[int, int]] = []
    alone = replay(store, EXAMPLE, date(2026, 1, 1), processes=1)
    shared = replay(store, EXAMPLE, date(2026, 1, 1), lambda d, t: seen.append((d, t)), processes=2)
    assert shared == alone
    assert alone["persons"] == 300 and alone["persons_changed"] > 0
    assert seen[-1] == (300, 300) and len(seen) == 2  # progress after each chunk of 250
