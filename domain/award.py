"""The enterprise-employee pension award: with ``award.minimum_contribution_months`` or more a
pension is awarded, basic = (regional average + indexed wage) / 2 x years x
``award.accrual_rate_per_year``, personal = account / ``award.account_divisor_age_*``; exact
arithmetic, rounded half up once, at the end. Fewer months is refused with the shortfall."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from domain.facts import Fact, first_day_after, handles
from domain.policy import AwardRules, PolicyVersion

if TYPE_CHECKING:
    from domain.entitlement import Replay


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


@handles("retirement_eligible", order=2, decisions=("awarded", "award_refused", "activated"))
def retirement_eligible(r: Replay, fact: Fact, policy: PolicyVersion) -> None:
    rules = policy.award
    months = int(fact.data["contribution_months"])
    if r.dead or r.pension_cents() > 0:
        reason = "deceased" if r.dead else "already_receiving_pension"
        r.decide(f"award_refused:{fact.event_id}", "award_refused", fact, policy, reason)
        return
    if months < rules.minimum_contribution_months:
        shortfall = rules.minimum_contribution_months - months
        details = {"contribution_months": months, "shortfall_months": shortfall}
        r.decide(
            f"award_refused:{fact.event_id}",
            "award_refused",
            fact,
            policy,
            "insufficient_contributions",
            details=details,
        )
        r.notice(f"award_refused:{fact.event_id}", "award_refused", fact, details)
        return
    calculation = calculate(
        AwardInputs(
            contribution_months=months,
            indexed_wage_cents=int(fact.data["indexed_wage_cents"]),
            regional_average_wage_cents=int(fact.data["regional_average_wage_cents"]),
            personal_account_cents=int(fact.data["personal_account_cents"]),
            retirement_age=int(fact.data["retirement_age"]),
        ),
        rules,
    )
    r.award_cents = calculation.monthly_pension_cents
    r.pension_start = first_day_after(fact.on)
    if r.points_from is None:
        r.points_from = r.pension_start
    start = f"{r.pension_start.year:04d}-{r.pension_start.month:02d}"
    details = calculation.explain() | {"pension_starts": start}
    r.decide(
        f"awarded:{fact.event_id}",
        "awarded",
        fact,
        policy,
        "retirement_eligible",
        details=details,
    )
    r.notice(f"pension_awarded:{fact.event_id}", "pension_awarded", fact, details)
