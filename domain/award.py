"""The enterprise-employee pension formula: exact arithmetic, rounded half up once, at the end."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from domain.policy import AwardRules


@dataclass(frozen=True)
class AwardInputs:
    contribution_months: int
    indexed_wage_cents: int
    regional_average_wage_cents: int
    personal_account_cents: int
    retirement_age: int


def round_half_up(value: Fraction) -> int:
    """Nearest whole number, halves away from zero (amounts here are never negative)."""
    return int((value + Fraction(1, 2)) // 1)


def _decimal(value: Fraction, places: int = 4) -> str:
    scaled = round_half_up(value * 10**places)
    return f"{scaled // 10**places}.{scaled % 10**places:0{places}d}"


@dataclass(frozen=True)
class AwardCalculation:
    inputs: AwardInputs
    basic_cents: Fraction
    personal_account_cents: Fraction
    divisor: int
    monthly_pension_cents: int

    def explain(self) -> dict[str, Any]:
        """Every input and intermediate value, as the decision records them."""
        i = self.inputs
        return {
            "contribution_months": i.contribution_months,
            "indexed_wage_cents": i.indexed_wage_cents,
            "regional_average_wage_cents": i.regional_average_wage_cents,
            "personal_account_cents": i.personal_account_cents,
            "retirement_age": i.retirement_age,
            "average_of_wages_cents": _decimal(
                Fraction(i.regional_average_wage_cents + i.indexed_wage_cents, 2)
            ),
            "contribution_years": _decimal(Fraction(i.contribution_months, 12)),
            "basic_pension_cents": _decimal(self.basic_cents),
            "account_divisor": self.divisor,
            "personal_account_pension_cents": _decimal(self.personal_account_cents),
            "unrounded_total_cents": _decimal(self.basic_cents + self.personal_account_cents),
            "monthly_pension_cents": self.monthly_pension_cents,
        }


def calculate(inputs: AwardInputs, rules: AwardRules) -> AwardCalculation:
    """basic = (regional + indexed) / 2 x (months / 12) x rate; personal = account / divisor."""
    average = Fraction(inputs.regional_average_wage_cents + inputs.indexed_wage_cents, 2)
    basic = average * Fraction(inputs.contribution_months, 12) * rules.accrual_rate_per_year
    divisor = rules.account_divisors[inputs.retirement_age]
    personal = Fraction(inputs.personal_account_cents, divisor)
    return AwardCalculation(
        inputs=inputs,
        basic_cents=basic,
        personal_account_cents=personal,
        divisor=divisor,
        monthly_pension_cents=round_half_up(basic + personal),
    )
