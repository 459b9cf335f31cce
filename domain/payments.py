"""Money: what each payment run owed the person, what was really instructed, and how a difference
is settled.

A month is owed when its payment run reached a living pensioner who was not in custody, not held
by an uncertified cycle and not refused by a review. Money already instructed is never
re-instructed or re-dated: if the facts now say more is owed, the next run pays the difference as
``arrears`` (dated that run); if less, a recovery is opened or corrected. Arrears owed while the
person was alive are paid even after a death (to the account on record, for the estate).
Amounts are integer cents, months ``YYYY-MM``. The checks a payment passes before it is instructed
are ``domain.fundflow``; what is recovered, ``domain.recovery``; the record this settles from,
``domain.money``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from domain import fundflow
from domain.entitlement import (
    RISK_ORDER,
    Assessment,
    BenefitStatus,
    Decision,
    Fact,
    RiskLevel,
    fingerprint,
)
from domain.money import (
    Block,
    Instruction,
    MoneyRecord,
    MonthPosition,
    Settlement,
    first_day,
    month_of,
)
from domain.policy import policy_in_force
from domain.recovery import overpaid, recovery


def settle(
    assessment: Assessment, record: MoneyRecord, current: Fact | None, as_of: date
) -> Settlement:
    """Settle money after ``current`` (the fact being applied now; None for a fresh look):
    decide a run that reaches the person now, a review made now, arrears and recoveries (a
    recovery is dated ``as_of``, the latest date the person's facts know)."""
    return _Settler(assessment, record, current, as_of).settle()


class _Settler:
    def __init__(
        self, assessment: Assessment, record: MoneyRecord, current: Fact | None, as_of: date
    ) -> None:
        self.a = assessment
        self.as_of = as_of
        self.record = record
        self.current = current
        self.decisions: list[Decision] = []
        self.instructions: list[Instruction] = []
        self.blocks: dict[str, Block] = dict(record.blocks)
        self.review_blocks: list[Block] = list(record.review_blocks)
        self.reviewed = dict(record.reviewed)
        self.paid = dict(record.paid_by_month)
        self._paid_accounts: set[str] | None = None  # computed when a payment needs it
        # Each month's position, worked out once; forgotten when a payment, block or review
        # of that month changes it.
        self._positions: dict[str, MonthPosition] = {}

    @property
    def paid_accounts(self) -> set[str]:
        if self._paid_accounts is None:
            accounts = {i.bank_account for i in self.record.instructions.values()}
            self._paid_accounts = {fingerprint(a) for a in accounts}
        return self._paid_accounts

    def settle(self) -> Settlement:
        if self.current is not None and self.current.kind == "payment_due":
            self._run(self.current)
        elif self.current is not None and self.current.kind == "payment_reviewed":
            self._review(self.current)
        positions = {month: self.position(month) for month in sorted(self.a.months)}
        recovered = overpaid(positions)
        if self.current is not None and recovered != self.record.recovered:
            kind, reason, details = recovery(
                positions,
                recovered,
                self.record.recovered,
                self.record.recovery_opened,
                self.a.death_date,
            )
            key = f"{kind}:{self.current.event_id}"
            self._decide(self.current, key, kind, reason, details, self.as_of)
        blue = self.record.blue_alerts + [
            dict(d.details) | {"reason": d.reason}
            for d in self.decisions
            if d.kind == "payment_alert"
        ]
        alerts = fundflow.alerts(self.review_blocks, self.review_state, positions, blue)
        open_levels = [RiskLevel(a["level"]) for a in alerts if a["status"] == "open"]
        withheld = {
            "review": len(open_levels),
            "held": sum(p.state == "pending_hold" and not p.paid_cents for p in positions.values()),
            "no_account": sum(bool(p.due_cents) for p in positions.values())
            if self.a.account is None
            else 0,
            "arrears_due": sum(bool(p.due_cents) for p in positions.values())
            if self.a.account is not None
            else 0,
        }
        return Settlement(
            decisions=self.decisions,
            instructions=self.instructions,
            positions=positions,
            recovered=recovered,
            payment_alerts=alerts,
            alert_risk=max(open_levels, key=RISK_ORDER.index, default=RiskLevel.NONE),
            withheld={k: v for k, v in withheld.items() if v},
        )

    # ----- what each run month owes -----------------------------------------------------------

    def position(self, month: str) -> MonthPosition:
        known = self._positions.get(month)
        if known is None:
            known = self._positions[month] = self._position(month)
        return known

    def _position(self, month: str) -> MonthPosition:
        point = self.a.months[month]
        paid = self.paid.get(month, 0)
        death = self.a.death_date
        if death is not None and first_day(month) > death:
            return MonthPosition(month, "not_owed", 0, paid, "death")
        if point.status in (None, BenefitStatus.NOT_RETIRED) or not point.started:
            return MonthPosition(month, "not_owed", 0, paid, "not_due")
        if point.status is BenefitStatus.SUSPENDED:
            return MonthPosition(month, "not_owed", 0, paid, "custody")
        pension = point.pension_cents
        if point.status is BenefitStatus.HELD:
            cycle = self.a.cycles.get(point.held_cycle) if point.held_cycle is not None else None
            if cycle is not None and cycle.status == "closed":  # by a death: never certified
                return MonthPosition(month, "not_owed", 0, paid, "held_uncertified")
            if cycle is None or cycle.status != "certified":
                return MonthPosition(month, "pending_hold", pension, paid, "held")
        review = self.review_state(month)
        if review == "pending":
            return MonthPosition(month, "pending_review", pension, paid, "review")
        if review == "rejected":
            # What a review refused is not owed; what was paid before it stands.
            kept = min(pension, paid)
            return MonthPosition(
                month, "owed" if kept else "not_owed", kept, paid, "review_rejected"
            )
        return MonthPosition(month, "owed", pension, paid)

    def review_state(self, month: str) -> str | None:
        """pending / approved / rejected: the recorded review of the month's latest payment a
        fund-flow check held (None if none was held)."""
        blocks = [b for b in self.review_blocks if b.month == month]
        if not blocks:
            return None
        return self.reviewed.get(f"{blocks[-1].kind}:{month}", "pending")

    # ----- a run reaching the person now ------------------------------------------------------

    def _run(self, fact: Fact) -> None:
        month = fact.data["month"]
        run = self.a.months.get(month)
        if run is None:
            return
        key = f"pension:{month}"
        if key not in self.record.instructions and key not in self.record.blocks:
            position = self.position(month)
            if position.state == "owed":
                if self.a.account is None:
                    self._block(fact, "pension", month, "no_account", position.entitled_cents)
                else:
                    self._pay(fact, "pension", month, position.due_cents)
            elif position.state == "pending_hold":
                self._block(
                    fact, "pension", month, "held", run.pension_cents, cycle_year=run.held_cycle
                )
            elif position.why == "custody":
                self._block(fact, "pension", month, "suspended", 0)
        standing = self.a.standing
        if self.a.account is None or standing is None:
            return
        if standing.benefit_status in (BenefitStatus.HELD, BenefitStatus.SUSPENDED):
            return  # arrears wait until the person is paid again
        for earlier in sorted(m for m in self.a.months if m <= month):
            due = self.position(earlier).due_cents
            if due:
                approved = self.review_state(earlier) == "approved"
                self._pay(fact, "arrears", earlier, due, approved=approved)

    def _review(self, fact: Fact) -> None:
        """A review of a held payment: recorded once; an approved month is paid, as arrears, by
        the next run (so nothing is dated in the past or changes a run that has closed)."""
        month, kind = fact.data["month"], fact.data["kind"]
        key = f"{kind}:{month}"
        block = self.blocks.get(key)
        if block is None or not block.for_review or key in self.reviewed:
            return
        outcome = "approved" if fact.data["approved"] else "rejected"
        self.reviewed[key] = outcome
        self._positions.pop(month, None)
        details = {"month": month, "kind": kind}
        if fact.data.get("reviewer"):
            details["reviewer"] = fact.data["reviewer"]
        reason = fact.data.get("reason") or f"review_{outcome}"
        self._decide(fact, f"payment_{outcome}:{key}", f"payment_{outcome}", reason, details)

    def _pay(self, fact: Fact, kind: str, month: str, amount: int, approved: bool = False) -> None:
        """Instruct ``amount`` for ``month`` unless a fund-flow check routes it to review."""
        assert self.a.account is not None
        run_month = month_of(fact.on)
        key = f"pension:{month}" if kind == "pension" else f"arrears:{month}:{run_month}"
        if key in self.record.instructions or any(i.key == key for i in self.instructions):
            return
        policy = policy_in_force(first_day(month))  # a payment: its month's version
        if not approved:
            baseline = self.record.established_pension() or self.a.pension_cents
            holders = int(fact.data.get("account_holders", 1))
            hold = fundflow.review_hold(amount, baseline, holders, policy.payment)
            if hold is not None:
                self._block(fact, kind, month, hold.reason, amount, hold.level, hold.evidence)
                return
        account, region = self.a.account
        token = fingerprint(account)
        registered = self.a.record.get("region")
        if fundflow.other_region(token not in self.paid_accounts, region, registered):
            details = {
                "level": "blue",
                "month": month,
                "bank_region": region,
                "registered_region": registered,
            }
            key = f"payment_alert:blue:{token[:12]}:{month}"
            self._decide(fact, key, "payment_alert", fundflow.OTHER_REGION, details)
        self.paid_accounts.add(token)
        instruction = Instruction(key, kind, month, amount, fact.on, account, region)
        self.instructions.append(instruction)
        self.paid[month] = self.paid.get(month, 0) + amount
        self._positions.pop(month, None)

    def _block(
        self,
        fact: Fact,
        kind: str,
        month: str,
        reason: str,
        amount: int,
        level: str | None = None,
        evidence: dict[str, Any] | None = None,
        cycle_year: int | None = None,
    ) -> None:
        details: dict[str, Any] = {"month": month, "kind": kind, "amount_cents": amount}
        if level is not None:
            details["level"] = level
        if cycle_year is not None:
            details["cycle_year"] = cycle_year
        details.update(evidence or {})
        run = "" if kind == "pension" else f":{month_of(fact.on)}"
        self._decide(
            fact, f"payment_blocked:{kind}:{month}{run}", "payment_blocked", reason, details
        )
        block = Block(kind, month, reason, amount, level, cycle_year, fact.on)
        self.blocks[f"{kind}:{month}"] = block
        if block.for_review:
            self.review_blocks.append(block)
        self._positions.pop(month, None)

    def _decide(
        self,
        fact: Fact,
        key: str,
        kind: str,
        reason: str | None,
        details: dict[str, Any],
        on: date | None = None,
    ) -> None:
        month = details.get("month")
        governing = first_day(month) if kind.startswith("payment_") and month else fact.on
        version = policy_in_force(governing).version
        self.decisions.append(
            Decision(key, kind, on or fact.on, reason, fact.event_id, version, details)
        )
