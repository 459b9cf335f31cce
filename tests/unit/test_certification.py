"""No-touch annual certification (policy 2026.1), told as stories.

Given a pensioner's life events, when the days pass (the scheduler's marks are raised as the
daily job would), then these decisions and notifications.
"""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.entitlement import first_of_months
from domain.pensioner import BenefitStatus, GoldenRecord, Pensioner, RiskLevel

OPENING = date(2026, 3, 1)  # born in March
_ids = itertools.count()


def pensioner(birth_month: int = 3, pension_cents: int = 420_000) -> Pensioner:
    record = GoldenRecord(
        national_id="110101195003070136",
        name="张伟",
        birth_date=date(1950, birth_month, 7),
        sex="M",
        region="110101",
        monthly_pension_cents=pension_cents,
    )
    return Pensioner.register("P1", "reg", date(2026, 1, 1), record)


def eid() -> str:
    return f"e{next(_ids)}"


def open_cycle(p: Pensioner, on: date = OPENING) -> None:
    p.open_cycle(f"birthday:{on.year}", on, on.year)


def days_pass(p: Pensioner, until: date) -> None:
    """Raise every deadline mark due up to ``until``, as the daily job does."""
    cycle = p.assess().cycle
    while cycle is not None and cycle.status == "open":
        due = [d for d in cycle.summary()["deadlines"] if date.fromisoformat(d["due_on"]) <= until]
        if not due:
            return
        first = due[0]
        p.reach_deadline(
            f"deadline:{cycle.year}:{first['mark']}",
            date.fromisoformat(first["due_on"]),
            cycle.year,
            first["mark"],
        )
        cycle = p.assess().cycle


_recorded: dict[int, list] = {}


@pytest.fixture(autouse=True)
def _fresh_log() -> None:
    _recorded.clear()


def recorded(p: Pensioner) -> list:
    """Every event the pensioner has recorded so far (collecting is otherwise destructive)."""
    log = _recorded.setdefault(id(p), [])
    log.extend(p.collect_events())
    return log


def decided(p: Pensioner) -> list[str]:
    return [e.decision for e in recorded(p) if isinstance(e, Pensioner.Decided)]


def notices(p: Pensioner) -> list[str]:
    return [e.template for e in recorded(p) if isinstance(e, Pensioner.NotificationQueued)]


def certification(p: Pensioner) -> dict:
    cycle = p.assess().cycle
    return cycle.summary() if cycle else {}


def test_evidence_exactly_30_days_before_opening_certifies_silently() -> None:
    p = pensioner()
    p.observe_life_evidence(eid(), OPENING - timedelta(days=30), "hospital_visit")
    open_cycle(p)
    c = certification(p)
    assert (c["status"], c["method"], c["certified_on"]) == ("certified", "silent", "2026-03-01")
    assert decided(p)[-2:] == ["cycle_opened", "silently_certified"]
    assert notices(p) == ["pension_continues"]


def test_evidence_31_days_before_opening_does_not_certify() -> None:
    p = pensioner()
    p.observe_life_evidence(eid(), OPENING - timedelta(days=31), "transit_tap")
    open_cycle(p)
    assert certification(p)["status"] == "open"


def test_evidence_arriving_while_open_certifies_on_its_date() -> None:
    p = pensioner()
    open_cycle(p)
    days_pass(p, OPENING + timedelta(days=10))
    p.observe_life_evidence(eid(), OPENING + timedelta(days=10), "pharmacy_purchase")
    c = certification(p)
    assert (c["status"], c["method"], c["certified_on"]) == ("certified", "silent", "2026-03-11")


def test_evidence_received_late_but_dated_in_the_window_certifies_silently() -> None:
    p = pensioner()
    open_cycle(p)
    p.observe_life_evidence(eid(), OPENING - timedelta(days=5), "bank_counter")  # arrives late
    c = certification(p)
    assert (c["status"], c["method"], c["certified_on"]) == ("certified", "silent", "2026-03-01")


def test_liveness_check_certifies_an_open_cycle() -> None:
    p = pensioner()
    open_cycle(p)
    p.verify_liveness(eid(), OPENING + timedelta(days=3), "app")
    c = certification(p)
    assert (c["status"], c["method"], c["certified_on"]) == ("certified", "liveness", "2026-03-04")
    assert "certified_by_liveness" in decided(p)


def test_certification_never_certifies_a_cycle_not_yet_opened() -> None:
    p = pensioner()
    p.verify_liveness(eid(), OPENING - timedelta(days=2), "kiosk")
    open_cycle(p)
    assert certification(p)["status"] == "open"


def test_cycle_opens_only_for_active_or_held_pensioners() -> None:
    not_retired = pensioner(pension_cents=0)
    open_cycle(not_retired)
    assert certification(not_retired) == {}
    in_custody = pensioner()
    in_custody.start_custody(eid(), date(2026, 2, 1), "CASE-9")
    open_cycle(in_custody)
    assert certification(in_custody) == {}


def test_invitation_on_day_30_not_day_29() -> None:
    p = pensioner()
    open_cycle(p)
    days_pass(p, OPENING + timedelta(days=29))
    assert "liveness_invitation" not in notices(p)
    days_pass(p, OPENING + timedelta(days=30))
    assert notices(p).count("liveness_invitation") == 1
    assert p.standing.risk_level is RiskLevel.NONE


def test_evidence_on_day_31_certifies_after_the_invitation() -> None:
    p = pensioner()
    open_cycle(p)
    days_pass(p, OPENING + timedelta(days=31))
    p.observe_life_evidence(eid(), OPENING + timedelta(days=31), "utility_payment")
    assert certification(p)["status"] == "certified"
    assert notices(p) == ["liveness_invitation", "pension_continues"]


def test_blue_flag_on_day_90_not_day_89_payments_continue() -> None:
    p = pensioner()
    open_cycle(p)
    days_pass(p, OPENING + timedelta(days=89))
    assert p.standing.risk_level is RiskLevel.NONE
    days_pass(p, OPENING + timedelta(days=90))
    assert (p.standing.benefit_status, p.standing.risk_level) == (
        BenefitStatus.ACTIVE,
        RiskLevel.BLUE,
    )
    assert decided(p)[-1] == "flagged_blue"
    assert notices(p)[-1] == "liveness_reminder"


def test_hold_on_day_120_not_day_119() -> None:
    p = pensioner()
    open_cycle(p)
    days_pass(p, OPENING + timedelta(days=119))
    assert p.standing.benefit_status is BenefitStatus.ACTIVE
    days_pass(p, OPENING + timedelta(days=120))
    assert (p.standing.benefit_status, p.standing.risk_level) == (
        BenefitStatus.HELD,
        RiskLevel.YELLOW,
    )
    assert decided(p)[-1] == "held"
    assert notices(p)[-1] == "payments_held"


def test_certifying_a_held_cycle_restores_active_and_counts_missed_months() -> None:
    p = pensioner(birth_month=2)  # opens 2026-02-01, so day 120 is 2026-06-01
    open_cycle(p, date(2026, 2, 1))
    days_pass(p, date(2026, 6, 1))
    assert p.standing.benefit_status is BenefitStatus.HELD
    p.verify_liveness(eid(), date(2026, 8, 15), "home_visit")
    assert (p.standing.benefit_status, p.standing.risk_level) == (
        BenefitStatus.ACTIVE,
        RiskLevel.NONE,
    )
    # Held on 1 June (before that day's payroll), so June, July and August were missed.
    assert certification(p)["arrears_months"] == 3
    assert decided(p)[-2:] == ["certified_by_liveness", "resumed"]
    assert notices(p)[-1] == "pension_resumed"


def test_evidence_after_death_alerts_and_never_reactivates() -> None:
    p = pensioner()
    p.register_death(eid(), date(2026, 2, 20), date(2026, 2, 10))
    p.observe_life_evidence("tap-after-death", date(2026, 2, 15), "transit_tap")
    assert (p.standing.benefit_status, p.standing.risk_level) == (
        BenefitStatus.TERMINATED,
        RiskLevel.RED,
    )
    alert = [e for e in recorded(p) if isinstance(e, Pensioner.Decided)][-1]
    assert (alert.decision, alert.event_id) == ("evidence_after_death", "tap-after-death")


def test_death_during_an_open_cycle_closes_it_and_stops_escalation() -> None:
    p = pensioner()
    open_cycle(p)
    p.register_death(eid(), OPENING + timedelta(days=40), OPENING + timedelta(days=38))
    days_pass(p, OPENING + timedelta(days=130))
    assert certification(p)["status"] == "none"
    assert p.standing.benefit_status is BenefitStatus.TERMINATED
    assert "held" not in decided(p)


def test_each_template_is_sent_at_most_once_per_cycle() -> None:
    p = pensioner()
    open_cycle(p)
    days_pass(p, OPENING + timedelta(days=30))
    # The same mark raised again under another ID (a scheduler rerun elsewhere) changes nothing.
    p.reach_deadline("other-id", OPENING + timedelta(days=30), 2026, 30)
    assert notices(p).count("liveness_invitation") == 1


def test_a_mark_raised_before_it_is_due_has_no_effect() -> None:
    p = pensioner()
    open_cycle(p)
    p.reach_deadline(eid(), OPENING + timedelta(days=100), 2026, 120)
    assert p.standing.benefit_status is BenefitStatus.ACTIVE


def test_first_of_month_counting() -> None:
    assert first_of_months(date(2026, 6, 1), date(2026, 6, 1)) == 0
    assert first_of_months(date(2026, 6, 1), date(2026, 6, 2)) == 1
    assert first_of_months(date(2026, 6, 2), date(2026, 7, 1)) == 0
    assert first_of_months(date(2026, 6, 2), date(2026, 7, 2)) == 1
    assert first_of_months(date(2026, 11, 15), date(2027, 2, 1)) == 2


# ----- order within a day ------------------------------------------------------------------

DAY = OPENING + timedelta(days=120)
SAME_DAY_EVENTS = [
    ("evidence", lambda p: p.observe_life_evidence("ev", DAY, "hospital_visit")),
    ("liveness", lambda p: p.verify_liveness("lv", DAY, "app")),
    ("death", lambda p: p.register_death("dd", DAY, DAY - timedelta(days=1))),
    ("custody", lambda p: p.start_custody("cs", DAY, "CASE-1")),
    ("hold mark", lambda p: p.reach_deadline("mark", DAY, 2026, 120)),
]


@settings(max_examples=60)
@given(
    chosen=st.lists(
        st.sampled_from(SAME_DAY_EVENTS), min_size=1, max_size=5, unique_by=lambda x: x[0]
    ).flatmap(lambda xs: st.tuples(st.just(xs), st.permutations(xs)))
)
def test_shuffling_a_days_events_does_not_change_the_outcome(chosen) -> None:
    first_order, shuffled = chosen
    outcomes = []
    for order in (first_order, shuffled):
        p = pensioner()
        open_cycle(p)
        days_pass(p, DAY - timedelta(days=1))
        for _, act in order:
            act(p)
        outcomes.append((p.standing, certification(p)))
    assert outcomes[0] == outcomes[1]


def test_a_life_certificate_from_abroad_certifies_an_open_cycle() -> None:
    p = pensioner()
    open_cycle(p)
    days_pass(p, OPENING + timedelta(days=40))
    p.observe("life_certificate_submitted", eid(), OPENING + timedelta(days=35),
              {"issuing_office": "Consulate General, Vancouver"})  # fmt: skip
    c = certification(p)
    assert (c["status"], c["method"], c["certified_on"]) == ("certified", "liveness", "2026-04-05")
    assert decided(p)[-1] == "certified_by_liveness"
