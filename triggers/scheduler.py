"""Kafka mode's daily jobs on the wall clock: APScheduler fires once a day (and at start-up), and
every day since the last processed one is run in order, so a scheduler that was down catches up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any, Protocol

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from triggers.calendar import JOBS, DueIndex
from triggers.clock import Clock

log = logging.getLogger("benefits.scheduler")

Sink = Callable[[list[dict[str, Any]]], Awaitable[None]]


class DayLog(Protocol):
    def last_processed_day(self) -> date | None: ...

    def record_processed_day(self, day: date) -> None: ...


class DailyJobs:
    """Runs the calendar's jobs for each day not yet processed, up to the clock's today."""

    def __init__(
        self, clock: Clock, index: DueIndex, days: DayLog, sink: Sink, first_day: date | None
    ) -> None:
        self.clock = clock
        self.index = index
        self.days = days
        self.sink = sink
        self.first_day = first_day

    async def run_due(self) -> int:
        """Run every day from the day after the last processed one to today; events raised."""
        today = self.clock.today()
        last = self.days.last_processed_day()
        day = last + timedelta(days=1) if last else (self.first_day or today)
        raised = 0
        while day <= today:
            for name, job in JOBS:
                events = job(day, self.index)
                if events:
                    await self.sink(events)
                    raised += len(events)
                    log.info("%s: %s raised %d events", day.isoformat(), name, len(events))
            self.days.record_processed_day(day)
            day += timedelta(days=1)
        return raised


async def run_daily(jobs: DailyJobs, stop: asyncio.Event, hour: int = 0, minute: int = 5) -> None:
    """Catch up now, then run once a day at ``hour:minute`` UTC until ``stop`` is set."""
    await jobs.run_due()
    scheduler = AsyncIOScheduler(timezone="UTC")
    scheduler.add_job(jobs.run_due, CronTrigger(hour=hour, minute=minute, timezone="UTC"))
    scheduler.start()
    try:
        await stop.wait()
    finally:
        scheduler.shutdown(wait=False)
