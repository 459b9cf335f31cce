"""The award formula against hand-computed cases.

basic = (regional average wage + indexed wage) / 2 x (contribution months / 12) x 1%
personal-account = account balance / divisor (139 at 60, 170 at 55, 195 at 50)
rounded half up to whole cents once, at the end.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from domain.award import AwardInputs, calculate
from domain.policy import AwardRules

# The parameters the hand computations use (the shipped values, stated here).
RULES = AwardRules(
    minimum_contribution_months=180,
    accrual_rate_per_year=Fraction(1, 100),
    account_divisor_age_60=139,
    account_divisor_age_55=170,
    account_divisor_age_50=195,
)


def pension(months: int, indexed: int, regional: int, account: int, age: int) -> int:
    return calculate(
        AwardInputs(months, indexed, regional, account, age), RULES
    ).monthly_pension_cents


def test_thirty_five_years_at_sixty() -> None:
    # (8,000.00 + 6,000.00) / 2 x 35 x 1% = 2,450.00 ; 123,456.00 / 139 = 888.172662...
    assert pension(420, 600_000, 800_000, 12_345_600, 60) == 333_817


@pytest.mark.parametrize(("age", "divisor"), [(60, 139), (55, 170), (50, 195)])
def test_divisor_by_retirement_age(age: int, divisor: int) -> None:
    calc = calculate(AwardInputs(180, 0, 0, divisor * 1000, age), RULES)
    assert calc.divisor == divisor
    assert calc.monthly_pension_cents == 1000


def test_an_exact_half_cent_rounds_up() -> None:
    # (1,200,005 / 2) x (240 / 12) x 1% = 120,000.5 cents
    assert pension(240, 600_005, 600_000, 0, 60) == 120_001


def test_rounding_happens_once_at_the_end() -> None:
    # basic 120,000.4 + personal 139,056 / 139 = 1,000.4029 -> 121,000.8029 -> 121,001
    # (rounding each part first would give 121,000)
    assert pension(240, 600_004, 600_000, 139_056, 60) == 121_001


def test_decision_records_inputs_and_intermediate_values() -> None:
    explained = calculate(AwardInputs(420, 600_000, 800_000, 12_345_600, 60), RULES).explain()
    assert explained["basic_pension_cents"] == "245000.0000"
    assert explained["personal_account_pension_cents"] == "88817.2662"
    assert explained["unrounded_total_cents"] == "333817.2662"
    assert explained["account_divisor"] == 139
    assert explained["contribution_months"] == 420
