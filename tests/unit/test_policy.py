"""Policy as dated data: the shipped version, a later version added in the test, the boundary
between them, bad files, and changes a running deployment picks up."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

import policy
from domain.pensioner import BenefitStatus, GoldenRecord, Pensioner
from domain.policy import install, policy_in_force
from tests.cli import cli, cli_json

EXAMPLE = Path(policy.__file__).parent / "examples" / "hold-at-100-days.yaml"


def change(folder: Path, text: str, name: str = "change.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


HOLD_AT_100_FROM_JULY_2027 = """
certification:
  hold_day:
    values:
      2027-07-01:
        value: 100
        reference: "Amendment 2027/3: payments held at day 100"
"""


def test_the_shipped_policy_is_one_version_with_every_reference() -> None:
    book = policy.load()
    assert [v.version for v in book.versions] == ["2026.1"]
    version = policy_in_force(date(2026, 6, 1))
    assert version.certification.marks == (30, 90, 120)
    assert (version.award.minimum_contribution_months, version.proxy.auto_grant_score) == (
        180,
        0.93,
    )
    assert all(v.reference for p in book.parameters.values() for v in p.values)


def test_examples_are_never_the_policy_in_force() -> None:
    assert policy_in_force(date(2026, 6, 1)).certification.hold_day == 120
    example = policy.load([EXAMPLE])
    assert example.in_force(date(2026, 6, 1)).certification.hold_day == 100


def golden(birth_month: int, pension_cents: int = 300_000) -> GoldenRecord:
    birth = date(1950, birth_month, 7)
    account = "6222021234567890"
    return GoldenRecord(
        "110101195003070136", "张伟", birth, "M", "110101", pension_cents, account, "110101"
    )


def pensioner(birth_month: int) -> Pensioner:
    return Pensioner.register("P1", "reg", date(2027, 1, 1), golden(birth_month))


def reach(p: Pensioner, opened: date, day: int) -> None:
    """Raise the cycle's marks due by ``day`` days after opening, as the scheduler does."""
    for mark in p.status["certification"]["deadlines"]:
        if mark["mark"] <= day:
            due = opened + timedelta(days=mark["mark"])
            p.reach_deadline(f"mark:{mark['mark']}", due, opened.year, mark["mark"])


@pytest.mark.parametrize(
    ("opening", "held_after", "version"),
    [
        (date(2027, 6, 1), 120, "2026.1"),  # opened before the change: its own rule, day 120
        (date(2027, 7, 1), 100, "2027-07-01"),  # opened on the change's first day: day 100
    ],
)
def test_a_cycle_follows_the_version_in_force_on_its_opening_day(
    tmp_path: Path, opening: date, held_after: int, version: str
) -> None:
    install(policy.load([change(tmp_path, HOLD_AT_100_FROM_JULY_2027)]))
    p = pensioner(opening.month)
    p.open_cycle("birthday", opening, opening.year)
    assert p.status["certification"]["deadlines"][-1]["mark"] == held_after
    reach(p, opening, held_after - 1)
    assert p.standing.benefit_status is BenefitStatus.ACTIVE
    reach(p, opening, held_after)
    assert p.standing.benefit_status is BenefitStatus.HELD
    held = [
        e for e in p.collect_events() if isinstance(e, Pensioner.Decided) and e.decision == "held"
    ]
    assert held[0].on == opening + timedelta(days=held_after)
    assert held[0].rule_version == version


def test_a_payment_follows_the_version_of_its_months_first_day(tmp_path: Path) -> None:
    install(
        policy.load(
            [
                change(
                    tmp_path,
                    """
payment:
  red_ceiling_multiple:
    values:
      2027-03-01:
        value: 2
        reference: "Amendment 2027/1: red above twice the established pension"
""",
                )
            ]
        )
    )

    def raised_to_750_before(month: str) -> Pensioner:
        p = pensioner(12)
        p.run_payment("run:2027-01", date(2027, 1, 1), "2027-01")  # 300,000 is established
        p.correct_record("raise", date(2027, 1, 15), golden(12, 750_000))  # 2.5x
        first = date.fromisoformat(f"{month}-01")
        p.run_payment(f"run:{month}", first, month)
        return p

    def blocks(p: Pensioner) -> list[tuple[str, str]]:
        return [
            (e.details["month"], e.rule_version)
            for e in p.collect_events()
            if isinstance(e, Pensioner.Decided) and e.decision == "payment_blocked"
        ]

    assert blocks(raised_to_750_before("2027-02")) == []  # February: under 3x, paid
    assert blocks(raised_to_750_before("2027-03")) == [("2027-03", "2027-03-01")]  # over 2x


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("certification:\n  hold_day:\n    values:\n      2027-07-01:\n"
         "        value: ten\n        reference: x\n",
         "change.yaml: certification.hold_day: 2027-07-01: value must be a whole number of days"),
        ("certification:\n  hold_day:\n    values:\n      2027-07-01:\n        value: 100\n",
         "change.yaml: certification.hold_day: 2027-07-01: reference: Field required"),
        ("pensions:\n  x: {}\n", "change.yaml: pensions: not a rule family"),
        ("certification:\n  hold_days:\n    values:\n      2027-07-01: {value: 1, reference: r}\n",
         "change.yaml: certification.hold_days: not a parameter of the policy"),
        ("proxy:\n  auto_grant_score:\n    values:\n      2027-07-01: {value: 1.5, reference: r}\n",
         "change.yaml: proxy.auto_grant_score: 2027-07-01: value must be a score from 0 to 1"),
        ("certification: [", "change.yaml: not valid YAML"),
        ("certification:\n  hold_day:\n    values:\n      2027-02-30: {value: 100, reference: r}\n",
         "change.yaml: not a date of the calendar"),
        ("certification:\n  hold_day:\n    values:\n      2027-07-01: {value: 400, reference: r}\n",
         "hold_day: 2027-07-01: value must be a whole number of days from 1 to 366"),
        ("certification:\n  hold_day:\n    values:\n      2027-07-01: {value: 60, reference: r}\n",
         "hold_day: 2027-07-01: hold_day (60) must come after blue_flag_day (90)"),
        ("certification:\n  hold_day:\n    values:\n      2027-07-01: {value: 110, reference: r}\n"
         "      2027-07-01: {value: 100, reference: r}\n",
         "change.yaml: 2027-07-01 is written twice (line 5)"),
        ("certification:\n  hold_day:\n    values:\n      2200-07-01: {value: 100, reference: r}\n",
         "hold_day: 2200-07-01: an effective date must be from 1900-01-01"),
    ],
)  # fmt: skip
def test_a_bad_policy_file_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(policy.PolicyError) as raised:
        policy.load([change(tmp_path, text)])
    assert message in raised.value.message
    assert "\n" not in raised.value.message


def test_a_policy_file_that_is_not_utf8_or_a_folder_that_is_not_there(
    tmp_path: Path, monkeypatch
) -> None:
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(
        "proxy:\n  auto_grant_score:\n    values:\n"
        "      2027-07-01: {value: 0.9, reference: \u00e9}\n".encode("latin-1")
    )  # fmt: skip
    with pytest.raises(policy.PolicyError, match="latin.yaml: not UTF-8 text"):
        policy.load([latin])
    monkeypatch.setenv("BENEFITS_POLICY_DIR", str(tmp_path / "nowhere"))
    code, output = cli("policy", "show")
    expected = f"error: BENEFITS_POLICY_DIR={tmp_path / 'nowhere'}: no such directory"
    assert (code, output.strip()) == (2, expected)


def test_the_cli_shows_the_policy_and_what_a_change_changes(tmp_path: Path, monkeypatch) -> None:
    shown = cli_json("policy", "show", "--on", "2026-06-01")
    by_name = {p["parameter"]: p for p in shown["parameters"]}
    assert shown["version"] == "2026.1"
    assert by_name["certification.hold_day"]["value"] == 120
    assert by_name["award.accrual_rate_per_year"]["value"] == "0.01"
    assert by_name["certification.hold_day"]["reference"].startswith("No-touch certification")
    monkeypatch.setenv("BENEFITS_POLICY_DIR", str(tmp_path))
    change(tmp_path, HOLD_AT_100_FROM_JULY_2027)
    assert cli_json("policy", "diff", "--from", "2027-06-30", "--to", "2027-07-01") == [
        {
            "parameter": "certification.hold_day",
            "from": 120,
            "to": 100,
            "since": "2027-07-01",
            "reference": "Amendment 2027/3: payments held at day 100",
        }
    ]
    change(tmp_path, "certification: [", "zz-bad.yaml")
    code, output = cli("policy", "show")
    assert code == 2 and output.startswith("error: ") and "zz-bad.yaml: not valid YAML" in output


def test_a_running_process_picks_up_a_future_version_without_a_restart(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("BENEFITS_POLICY_DIR", str(tmp_path))
    policy.refresh()
    p = pensioner(6)
    p.open_cycle("birthday", date(2027, 6, 1), 2027)
    before = p.status["certification"]
    assert policy.refresh() is None  # nothing changed: nothing reloaded
    change(tmp_path, HOLD_AT_100_FROM_JULY_2027)
    assert policy.refresh() is not None
    assert policy_in_force(date(2027, 7, 1)).certification.hold_day == 100
    p.observe_life_evidence("ev", date(2027, 6, 20), "bank_counter")
    assert p.status["certification"]["opened_on"] == before["opened_on"]
    assert p.status["certification"]["certified_on"] == "2027-06-20"
    assert p.derived_status() == p.status  # decisions before the change are untouched


def test_a_running_process_keeps_its_policy_when_a_change_cannot_be_used(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    monkeypatch.setenv("BENEFITS_POLICY_DIR", str(tmp_path))
    change(tmp_path, HOLD_AT_100_FROM_JULY_2027)
    policy.refresh()
    change(tmp_path, "certification: [", "zz-bad.yaml")
    with pytest.raises(policy.PolicyError):
        policy.refresh()  # a command starting up: one clear error
    assert policy.refresh(strict=False) is None  # a worker or the service: keeps going
    assert policy_in_force(date(2027, 7, 1)).certification.hold_day == 100
    assert "zz-bad.yaml: not valid YAML" in caplog.text
