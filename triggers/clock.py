"""Time as a port: the daily jobs ask a clock for today, never the system directly."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def today(self) -> date: ...


class SystemClock:
    """Today in UTC."""

    def today(self) -> date:
        return datetime.now(UTC).date()


class ManualClock:
    """A clock that moves only when told to (simulation and tests)."""

    def __init__(self, today: date) -> None:
        self._today = today

    def today(self) -> date:
        return self._today

    def set(self, day: date) -> None:
        self._today = day

    def advance(self, days: int = 1) -> None:
        self._today += timedelta(days=days)
