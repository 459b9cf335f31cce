"""Embedded mode on a simulated clock: replay a file of life events day by day, running the same
daily jobs the Kafka-mode scheduler runs.

Every line is decoded first. Lines that break the contract are dead-lettered and influence
nothing else (not the days simulated, not the clock). Valid events are applied on their date: on
each day the file's events dated that day first (in file order), then the day's jobs in their
fixed order (``triggers.calendar.JOBS``). A later run on the same store resumes from the day after
the last processed day; its events dated on or before that day arrived late and are applied
first, with the rules still using their dates. An event dated after ``until`` is never applied:
it waits for a later run.
"""

from __future__ import annotations

import gc
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from engine.wiring import Engine
from streams.contracts import LifeEvent, decode_own
from streams.intake import BatchOutcome, Message, batched
from streams.jsonl import read_messages
from streams.waiting import GRACE_DAYS
from triggers.calendar import JOBS


@dataclass
class SimulationOutcome:
    """What a run did: the intake's counts plus the simulated days."""

    intake: BatchOutcome = field(default_factory=BatchOutcome)
    jobs: BatchOutcome = field(default_factory=BatchOutcome)
    first_day: date | None = None
    last_day: date | None = None
    scheduled_events: int = 0
    left_for_later: int = 0  # dated after --until: not applied
    already_processed: int = 0  # lines an earlier run on this store already applied
    still_waiting: int = 0  # events waiting for their person's registration after the run

    @property
    def days(self) -> int:
        if self.first_day is None or self.last_day is None:
            return 0
        return (self.last_day - self.first_day).days + 1


def simulate(
    engine: Engine,
    path: Path,
    until: date | None = None,
    batch_size: int = 1000,
    on_day: Callable[[date, date], None] | None = None,
    grace_days: int = GRACE_DAYS,
) -> SimulationOutcome:
    """Run every day from the earliest event (or the day after the last processed day) to
    ``until`` (default: the latest date of a valid event in the file)."""
    by_day: dict[date, list[Message]] = defaultdict(list)
    rejected: list[Message] = []
    for line in read_messages(path):
        message = Message(line.position, line.value, line.decode())
        if isinstance(message.decoded, LifeEvent):
            by_day[message.decoded.occurred_on].append(message)
        else:
            rejected.append(message)

    outcome = SimulationOutcome()
    run = _Run(engine, batch_size, f"file:{path.name}", outcome)
    last_done = engine.view.last_processed_day()
    first = last_done + timedelta(days=1) if last_done else min(by_day, default=None)
    until = until or max(by_day, default=last_done)
    outcome.left_for_later = sum(
        len(ms) for day, ms in by_day.items() if until is None or day > until
    )
    if first is None or until is None or until < first:
        # No day to simulate; still apply what arrived late, up to ``until``.
        late = [
            m for day in sorted(by_day) if until is not None and day <= until for m in by_day[day]
        ]
        run.apply(rejected + late, outcome.intake, last_done)
        outcome.still_waiting = engine.view.waiting_count()
        return outcome

    late = [m for day in sorted(by_day) if day < first for m in by_day[day]]
    outcome.first_day, outcome.last_day = first, until
    try:
        _simulate_days(engine, run, first, until, rejected + late, by_day, on_day, grace_days)
    finally:
        gc.unfreeze()
    outcome.still_waiting = engine.view.waiting_count()
    return outcome


def _simulate_days(
    engine: Engine,
    run: _Run,
    first: date,
    until: date,
    arrived_before: list[Message],
    by_day: dict[date, list[Message]],
    on_day: Callable[[date, date], None] | None,
    grace_days: int,
) -> None:
    outcome = run.outcome
    day = first
    while day <= until:
        todays = (arrived_before if day == first else []) + by_day.get(day, [])
        run.apply(todays, outcome.intake, day)
        for _name, job in JOBS:
            raised = job(day, engine.view)
            if raised:
                outcome.scheduled_events += len(raised)
                messages = [_own(e) for e in raised]
                run.apply(messages, outcome.jobs, day, source="scheduler")
        run.expire_waiting(day, grace_days)
        engine.view.record_processed_day(day)
        engine.intake.seal(day)  # the day is over: its events go under the day's Merkle root
        if on_day is not None:
            on_day(day, until)
        # What the day left in memory (the people, mostly) is no longer looked at by Python's
        # cycle collector, whose passes over everything cached took 18% of a 5,000-person
        # year (6.7 of 36.3 s; frozen: 1.1 s of 32.5 s). Unfrozen when the run ends.
        gc.freeze()
        day += timedelta(days=1)


def _own(event: dict[str, Any]) -> Message:
    """A message for an event the daily jobs raised (validated without parsing it back)."""
    text = json.dumps(event, ensure_ascii=False)
    return Message(0, text, decode_own(event, text))


class _Run:
    """Applies batches for one run, telling lines this run saw twice (duplicates) from lines an
    earlier run on the same store already applied."""

    def __init__(self, engine: Engine, batch_size: int, source: str, outcome: SimulationOutcome):
        self.engine = engine
        self.batch_size = batch_size
        self.source = source
        self.outcome = outcome
        self.seen: set[str] = set()

    def apply(
        self,
        messages: Iterable[Message],
        total: BatchOutcome,
        today: date | None,
        source: str | None = None,
    ) -> None:
        applied = False
        for chunk in batched(messages, self.batch_size):
            started = time.perf_counter()
            result = self.engine.intake.apply_messages(
                chunk, source=source or self.source, today=today
            )
            self.engine.kpis.note_batch(time.perf_counter() - started)
            for message, status in zip(chunk, result.statuses, strict=True):
                identity = message.identity()
                if status == "duplicate" and identity not in self.seen:
                    result.duplicates -= 1
                    self.outcome.already_processed += 1
                self.seen.add(identity)
            total.add(result)
            applied = True
        if applied:
            self.engine.refresh()

    def expire_waiting(self, day: date, grace_days: int) -> None:
        cutoff = day - timedelta(days=grace_days)
        keys = self.engine.view.waiting_due(cutoff)
        if keys:
            self.outcome.intake.expired += self.engine.intake.expire_waiting(keys, day, grace_days)
            self.engine.refresh()
