"""Awards, the payment run, arrears, overpayment recovery and fund-flow checks, as stories."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.money import first_day
from domain.pensioner import BenefitStatus, GoldenRecord, Pensioner

ACCOUNT = "6222021234567890"


def record(pension_cents: int = 300_000, account: str | None = ACCOUNT, region: str = "110101"):
    return GoldenRecord(
        national_id="110101195003070136",
        name="刘洋",
        birth_date=date(1950, 12, 7),  # cycles open in December: out of the way here
        sex="F",
        region="110101",
        monthly_pension_cents=pension_cents,
        bank_account=account,
        bank_region=region if account else None,
    )


def registered(pension_cents: int = 300_000, account: str | None = ACCOUNT) -> Pensioner:
    return Pensioner.register("P1", "reg", date(2026, 1, 1), record(pension_cents, account))


def payroll(p: Pensioner, month: str, holders: int = 1, event_id: str | None = None) -> None:
    p.run_payment(event_id or f"payroll:{month}", first_day(month), month, holders)


def paid(p: Pensioner) -> list[tuple[str, str, int]]:
    return sorted((i.month, i.kind, i.amount_cents) for i in p.instructions.values())


_log: dict[int, list] = {}


@pytest.fixture(autouse=True)
def _fresh_log() -> None:
    _log.clear()


def decisions(p: Pensioner) -> list:
    log = _log.setdefault(id(p), [])
    log.extend(p.collect_events())
    return [e for e in log if isinstance(e, Pensioner.Decided)]


def eligible(p: Pensioner, on: date, months: int, event_id: str = "elig") -> None:
    p.establish_eligibility(
        event_id,
        on,
        scheme="enterprise_employee",
        contribution_months=months,
        indexed_wage_cents=600_000,
        regional_average_wage_cents=800_000,
        personal_account_cents=12_345_600,
        retirement_age=60,
    )


# ----- award ------------------------------------------------------------------------------


def test_179_months_is_refused_with_the_shortfall() -> None:
    p = registered(pension_cents=0)
    eligible(p, date(2026, 3, 15), months=179)
    refusal = decisions(p)[-1]
    assert (refusal.decision, refusal.reason) == ("award_refused", "insufficient_contributions")
    assert refusal.details["shortfall_months"] == 1
    assert p.standing.benefit_status is BenefitStatus.NOT_RETIRED
    notices = [e for e in _log[id(p)] if isinstance(e, Pensioner.NotificationQueued)]
    assert [n.template for n in notices] == ["award_refused"]


def test_180_months_awards_a_pension_starting_the_next_month() -> None:
    p = registered(pension_cents=0)
    eligible(p, date(2026, 3, 15), months=180)
    award = next(d for d in decisions(p) if d.decision == "awarded")
    assert award.details["pension_starts"] == "2026-04"
    assert p.standing.benefit_status is BenefitStatus.ACTIVE
    monthly = award.details["monthly_pension_cents"]
    payroll(p, "2026-04")
    assert paid(p) == [("2026-04", "pension", monthly)]


def test_eligibility_on_the_first_is_not_paid_that_month() -> None:
    p = registered(pension_cents=0)
    eligible(p, date(2026, 3, 1), months=300)
    payroll(p, "2026-03")
    assert paid(p) == []


# ----- payroll -----------------------------------------------------------------------------


def test_one_instruction_per_person_and_month_whatever_reruns() -> None:
    p = registered()
    payroll(p, "2026-02")
    payroll(p, "2026-02")  # the same trigger again
    payroll(p, "2026-02", event_id="another-trigger")  # a duplicate trigger with a new ID
    assert paid(p) == [("2026-02", "pension", 300_000)]
    ids = {p.instruction_id(key) for key in p.instructions}
    assert ids == {
        Pensioner.register("P1", "x", date(2026, 1, 1), record()).instruction_id("pension:2026-02")
    }


def test_no_account_blocks_and_the_month_is_paid_as_arrears_later() -> None:
    p = registered(account=None)
    payroll(p, "2026-02")
    blocked = decisions(p)[-1]
    assert (blocked.decision, blocked.reason) == ("payment_blocked", "no_account")
    p.change_bank_account("acct", date(2026, 2, 10), ACCOUNT, "110101")
    payroll(p, "2026-03")
    assert paid(p) == [("2026-02", "arrears", 300_000), ("2026-03", "pension", 300_000)]


def test_dying_on_the_first_of_a_month_that_months_pension_is_owed_and_paid_next_run() -> None:
    # Registered dead that morning, the person is not reached by that day's payroll; alive on
    # the first of the month, they are owed its pension all the same, paid by the next run.
    p = registered()
    payroll(p, "2026-02")
    p.register_death("d1", date(2026, 3, 1), date(2026, 3, 1))
    assert p.status["arrears_owed"] == {"2026-03": 300_000}
    payroll(p, "2026-04")
    assert paid(p) == [("2026-02", "pension", 300_000), ("2026-03", "arrears", 300_000)]
    assert p.status == p.derived_status()


def test_custody_months_are_not_paid_later() -> None:
    p = registered()
    p.start_custody("c1", date(2026, 1, 20), "CASE-1")
    payroll(p, "2026-02")
    p.end_custody("c2", date(2026, 2, 20), "CASE-1")
    payroll(p, "2026-03")
    assert paid(p) == [("2026-03", "pension", 300_000)]


def test_held_months_are_paid_as_arrears_at_that_months_pension_once_certified() -> None:
    p = Pensioner.register("P1", "reg", date(2026, 1, 1), record())
    p.open_cycle("open", date(2026, 1, 1), 2026)  # as if born in January
    for mark, day in ((30, date(2026, 1, 31)), (90, date(2026, 4, 1)), (120, date(2026, 5, 1))):
        p.reach_deadline(f"mark{mark}", day, 2026, mark)
    payroll(p, "2026-02")
    payroll(p, "2026-03")
    payroll(p, "2026-04")
    payroll(p, "2026-05")  # held on 1 May, before this payroll
    p.correct_record("raise", date(2026, 5, 20), record(pension_cents=310_000))
    payroll(p, "2026-06")  # still held: June is owed at the new pension
    p.verify_liveness("live", date(2026, 6, 10), "app")
    payroll(p, "2026-07")
    assert paid(p) == [
        ("2026-02", "pension", 300_000),
        ("2026-03", "pension", 300_000),
        ("2026-04", "pension", 300_000),
        ("2026-05", "arrears", 300_000),
        ("2026-06", "arrears", 310_000),
        ("2026-07", "pension", 310_000),
    ]


# ----- death and overpayment ------------------------------------------------------------------


def test_death_registered_late_recovers_months_paid_after_it() -> None:
    p = registered()
    for month in ("2026-01", "2026-02", "2026-03", "2026-04"):
        payroll(p, month)
    p.register_death("death", date(2026, 4, 20), date(2026, 2, 15))
    recovery = decisions(p)[-1]
    assert (recovery.decision, recovery.reason) == ("overpayment_recovery", "paid_after_death")
    assert recovery.details["months"] == ["2026-03", "2026-04"]
    assert recovery.details["total_cents"] == 600_000
    assert p.status["overpayment_cents"] == 600_000
    payroll(p, "2026-05")
    assert len(paid(p)) == 4  # never pays the dead


def test_death_on_the_first_of_a_month_keeps_that_months_payment() -> None:
    p = registered()
    payroll(p, "2026-03")
    p.register_death("death", date(2026, 3, 5), date(2026, 3, 1))
    assert all(d.decision != "overpayment_recovery" for d in decisions(p))


# ----- fund-flow risk checks -------------------------------------------------------------------


def test_red_an_amount_above_three_times_the_established_pension_waits_for_review() -> None:
    p = registered()
    payroll(p, "2026-02")
    p.correct_record("jump", date(2026, 2, 10), record(pension_cents=900_001))
    payroll(p, "2026-03")
    blocked = decisions(p)[-1]
    assert (blocked.decision, blocked.reason) == ("payment_blocked", "review_amount_above_ceiling")
    assert blocked.details["level"] == "red"
    assert paid(p) == [("2026-02", "pension", 300_000)]
    p.review_payment("ok", date(2026, 3, 4), "2026-03", "pension", approved=True)
    assert [d.decision for d in decisions(p)][-2:] == ["payment_approved", "arrears_owed"]
    payroll(p, "2026-04")  # the approved month is paid by the next run, dated that run
    assert ("2026-03", "arrears", 900_001) in paid(p)


def test_red_review_rejected_pays_nothing() -> None:
    p = registered()
    payroll(p, "2026-02")
    p.correct_record("jump", date(2026, 2, 10), record(pension_cents=1_000_000))
    payroll(p, "2026-03")
    p.review_payment("no", date(2026, 3, 4), "2026-03", "pension", approved=False)
    payroll(p, "2026-04")
    assert [m for m, _, _ in paid(p)] == ["2026-02"]
    assert decisions(p)[-1].reason == "review_amount_above_ceiling"  # April waits too


def test_yellow_a_shared_account_waits_for_review() -> None:
    p = registered()
    payroll(p, "2026-02", holders=2)
    blocked = decisions(p)[-1]
    assert (blocked.reason, blocked.details["level"]) == ("review_account_shared", "yellow")
    assert paid(p) == []


def test_blue_first_payment_to_an_account_in_another_region_is_flagged_not_blocked() -> None:
    p = Pensioner.register("P1", "reg", date(2026, 1, 1), record(region="440103"))
    payroll(p, "2026-02")
    payroll(p, "2026-03")
    alerts = [d for d in decisions(p) if d.decision == "payment_alert"]
    assert [(a.details["level"], a.details["month"]) for a in alerts] == [("blue", "2026-02")]
    assert len(paid(p)) == 2


# ----- never more than owed -------------------------------------------------------------------

MONTHS = [f"2026-{m:02d}" for m in range(1, 13)]


@settings(max_examples=80, deadline=None)
@given(
    death_month=st.one_of(st.none(), st.integers(1, 12)),
    death_day=st.integers(1, 28),
    registered_late=st.integers(0, 11),
    custody=st.one_of(st.none(), st.tuples(st.integers(1, 12), st.integers(0, 5))),
    no_account_until=st.integers(0, 12),
    answers_liveness=st.one_of(st.none(), st.integers(1, 12)),
)
def test_paid_minus_recovered_never_exceeds_what_was_owed_alive(
    death_month, death_day, registered_late, custody, no_account_until, answers_liveness
) -> None:
    p = registered(account=None)
    p.open_cycle("open", date(2026, 1, 1), 2026)
    death = date(2026, death_month, death_day) if death_month else None
    custody_days = None
    if custody:
        start = date(2026, custody[0], 10)
        end_month = min(12, custody[0] + custody[1])
        custody_days = (start, date(2026, end_month, 20))
    marks = {date(2026, 1, 31): 30, date(2026, 4, 1): 90, date(2026, 5, 1): 120}
    for n, month in enumerate(MONTHS, start=1):
        day = first_day(month)
        if n == no_account_until:
            p.change_bank_account("acct", day, ACCOUNT, "110101")
        if custody_days and custody_days[0].month == n:
            p.start_custody("c1", custody_days[0], "CASE")
        if custody_days and custody_days[1].month == n:
            p.end_custody("c2", custody_days[1], "CASE")
        for mark_day, mark in marks.items():
            if mark_day.month == n:
                p.reach_deadline(f"m{mark}", mark_day, 2026, mark)
        if answers_liveness == n:
            p.verify_liveness("live", date(2026, n, 15), "app")
        payroll(p, month)
    if death:
        # Registered late: after up to 11 more months of payments.
        p.register_death("death", min(date(2026, 12, 31), death.replace(day=28)), death)
    paid_total = sum(i.amount_cents for i in p.instructions.values())
    recovered = p.status["overpayment_cents"]

    def owed(month: str) -> bool:
        day = first_day(month)
        alive = death is None or day <= death
        in_custody = custody_days is not None and custody_days[0] <= day <= custody_days[1]
        return alive and not in_custody

    owed_total = 300_000 * sum(owed(m) for m in MONTHS)
    assert paid_total - recovered <= owed_total
