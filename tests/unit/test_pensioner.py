"""The foundation rules, told as stories: given life events, when applied, then these decisions."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from domain.pensioner import BenefitStatus, GoldenRecord, Pensioner, RiskLevel


def record(pension_cents: int = 350_000) -> GoldenRecord:
    return GoldenRecord(
        national_id="110101195003070136",
        name="王芳",
        birth_date=date(1950, 3, 7),
        sex="F",
        region="110101",
        monthly_pension_cents=pension_cents,
    )


def registered(pension_cents: int = 350_000) -> Pensioner:
    return Pensioner.register("P1", "reg-1", date(2026, 1, 1), record(pension_cents))


def decisions(p: Pensioner) -> list[tuple[str, str | None, str]]:
    return [
        (e.decision, e.reason, e.event_id)
        for e in p.collect_events()
        if isinstance(e, Pensioner.Decided)
    ]


def test_pensioner_with_a_pension_starts_active() -> None:
    p = registered()
    assert p.standing is not None
    assert p.standing.benefit_status is BenefitStatus.ACTIVE
    assert p.standing.risk_level is RiskLevel.NONE
    assert decisions(p) == [("registered", None, "reg-1")]


def test_person_without_pension_is_not_retired() -> None:
    p = registered(pension_cents=0)
    assert p.standing.benefit_status is BenefitStatus.NOT_RETIRED


def test_death_terminates_with_red_risk_and_reason_death() -> None:
    p = registered()
    p.register_death("death-1", date(2026, 5, 3), death_date=date(2026, 5, 1))
    assert (p.standing.benefit_status, p.standing.risk_level, p.standing.reason) == (
        BenefitStatus.TERMINATED,
        RiskLevel.RED,
        "death",
    )
    assert decisions(p)[-1] == ("terminated", "death", "death-1")


def test_decision_records_rule_version_and_date() -> None:
    p = registered()
    p.register_death("death-1", date(2026, 5, 3), death_date=date(2026, 5, 1))
    last = [e for e in p.collect_events() if isinstance(e, Pensioner.Decided)][-1]
    assert last.rule_version == "2026.1"
    assert last.on == date(2026, 5, 3)


def test_custody_suspends_and_its_end_reinstates() -> None:
    p = registered()
    p.start_custody("c-1", date(2026, 2, 1), "CASE-1")
    assert p.standing.benefit_status is BenefitStatus.SUSPENDED
    assert p.standing.reason == "custody"
    p.end_custody("c-2", date(2026, 4, 1), "CASE-1")
    assert p.standing.benefit_status is BenefitStatus.ACTIVE
    assert [d[0] for d in decisions(p)] == ["registered", "suspended", "reinstated"]


def test_custody_end_keeps_suspension_while_another_case_is_open() -> None:
    p = registered()
    p.start_custody("c-1", date(2026, 2, 1), "CASE-1")
    p.start_custody("c-2", date(2026, 2, 5), "CASE-2")
    p.end_custody("c-3", date(2026, 3, 1), "CASE-1")
    assert p.standing.benefit_status is BenefitStatus.SUSPENDED


def test_custody_end_dated_before_a_registered_death_does_not_reactivate() -> None:
    p = registered()
    p.start_custody("c-1", date(2026, 2, 1), "CASE-1")
    p.register_death("d-1", date(2026, 6, 1), death_date=date(2026, 5, 28))
    p.end_custody("c-2", date(2026, 3, 1), "CASE-1")  # arrives late, dated before the death
    assert p.standing.benefit_status is BenefitStatus.TERMINATED


def test_death_is_final_even_against_a_later_registration() -> None:
    p = registered()
    p.register_death("d-1", date(2026, 6, 1), death_date=date(2026, 5, 28))
    p.correct_record("reg-2", date(2026, 7, 1), record(500_000))
    assert p.standing.benefit_status is BenefitStatus.TERMINATED


def test_same_event_id_twice_has_effect_once() -> None:
    p = registered()
    p.start_custody("c-1", date(2026, 2, 1), "CASE-1")
    p.end_custody("c-2", date(2026, 3, 1), "CASE-1")
    p.start_custody("c-1", date(2026, 2, 1), "CASE-1")  # redelivered
    assert p.standing.benefit_status is BenefitStatus.ACTIVE
    assert [d[0] for d in decisions(p)] == ["registered", "suspended", "reinstated"]


def test_latest_dated_registration_sets_the_pension_whatever_the_arrival_order() -> None:
    p = registered()
    p.correct_record("reg-3", date(2026, 3, 1), record(400_000))
    p.correct_record("reg-2", date(2026, 2, 1), record(380_000))  # older correction, arriving late
    assert p.record.monthly_pension_cents == 400_000


def test_pension_on_record_activates_a_person_who_was_not_retired() -> None:
    p = registered(pension_cents=0)
    p.correct_record("reg-2", date(2026, 3, 1), record(300_000))
    assert p.standing.benefit_status is BenefitStatus.ACTIVE
    assert decisions(p)[-1][0] == "activated"


LATER_EVENTS = [
    ("death", "d-1", date(2026, 6, 1), date(2026, 5, 30)),
    ("custody_started", "c-1", date(2026, 2, 1), "CASE-1"),
    ("custody_ended", "c-2", date(2026, 4, 1), "CASE-1"),
    ("custody_started", "c-3", date(2026, 5, 1), "CASE-2"),
    ("registration", "reg-2", date(2026, 3, 1), 420_000),
]


def apply(p: Pensioner, item: tuple) -> None:
    kind, event_id, on, arg = item
    if kind == "death":
        p.register_death(event_id, on, arg)
    elif kind == "custody_started":
        p.start_custody(event_id, on, arg)
    elif kind == "custody_ended":
        p.end_custody(event_id, on, arg)
    else:
        p.correct_record(event_id, on, record(arg))


@given(
    chosen=st.lists(st.sampled_from(LATER_EVENTS), min_size=1, max_size=8).flatmap(
        lambda xs: st.tuples(st.just(xs), st.permutations(xs))
    )
)
def test_arrival_order_and_duplicates_do_not_change_the_outcome(chosen) -> None:
    in_order, shuffled = chosen
    a, b = registered(), registered()
    for item in sorted(in_order, key=lambda i: i[2]):
        apply(a, item)
    for item in shuffled:
        apply(b, item)
    assert a.standing == b.standing
    assert a.record == b.record
