"""The daily jobs: which life events the calendar itself raises on a given day.

Jobs find due persons through indexes kept by the read model (birth month; open deadlines by due
date), so a day's cost grows with that day's cohort, not with the population. Every event they
raise has a deterministic ``event_id``, so running a day twice has effect once.

Within one day the jobs run in this fixed order (``JOBS``):
1. deadline marks (30/90/120 days after a cycle opened),
2. cycle openings (first day of the birth month),
3. the monthly payroll (first day of each month).
So a hold that falls on the first of a month takes effect before that month's payroll.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, Protocol

from projections.status import DeadlineDue

SOURCE = "scheduler"
# Who the birthday job reaches: everyone but the dead. The person's aggregate opens a cycle only
# for someone active or held on the day, but a late fact (a custody that had already ended, an
# award dated earlier) can make that so, and the replay needs the opening to be there.
CYCLE_STATUSES = ("active", "held", "suspended", "not_retired")
# Who the payroll reaches: held months are recorded so they are owed once certified, and
# suspended people are skipped with their reason, for the run's summary.
PAYROLL_STATUSES = ("active", "held", "suspended")


class DueIndex(Protocol):
    def deadlines_due(self, day: date) -> list[DeadlineDue]: ...

    def born_in_month(self, month: int, statuses: tuple[str, ...]) -> list[str]: ...

    def payroll_candidates(self, statuses: tuple[str, ...]) -> list[tuple[str, int]]: ...


Job = Callable[[date, DueIndex], list[dict[str, Any]]]


def _event(kind: str, person_id: str, on: date, event_id: str, data: dict[str, Any]) -> dict:
    return {
        "event_id": event_id,
        "type": kind,
        "person_id": person_id,
        "occurred_on": on.isoformat(),
        "source": SOURCE,
        "data": data,
    }


def deadline_marks(day: date, index: DueIndex) -> list[dict[str, Any]]:
    """A ``certification_deadline_reached`` for every open cycle's mark due by ``day``.

    Each is dated its due day, so a mark the scheduler reaches late still counts from when it fell.
    """
    return [
        _event(
            "certification_deadline_reached",
            due.person_id,
            due.due_on,
            f"scheduler:deadline:{due.person_id}:{due.cycle_year}:{due.mark}",
            {"cycle_year": due.cycle_year, "mark": due.mark},
        )
        for due in index.deadlines_due(day)
    ]


def cycle_openings(day: date, index: DueIndex) -> list[dict[str, Any]]:
    """On the first of a month, a ``birthday_month_started`` for everyone born in that month."""
    if day.day != 1:
        return []
    return [
        _event(
            "birthday_month_started",
            person_id,
            day,
            f"scheduler:birthday:{person_id}:{day.year}",
            {"year": day.year},
        )
        for person_id in index.born_in_month(day.month, CYCLE_STATUSES)
    ]


def payroll(day: date, index: DueIndex) -> list[dict[str, Any]]:
    """On the first of a month, a ``payment_due`` for everyone the payroll reaches, with how many
    living pensioners share their bank account (evidence for the shared-account check)."""
    if day.day != 1:
        return []
    month = f"{day.year:04d}-{day.month:02d}"
    return [
        _event(
            "payment_due",
            person_id,
            day,
            f"scheduler:payroll:{person_id}:{month}",
            {"month": month, "account_holders": holders},
        )
        for person_id, holders in index.payroll_candidates(PAYROLL_STATUSES)
    ]


JOBS: tuple[tuple[str, Job], ...] = (
    ("deadline marks", deadline_marks),
    ("cycle openings", cycle_openings),
    ("payroll", payroll),
)
