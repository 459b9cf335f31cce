"""Embedded mode on a simulated clock: replay a file of life events day by day, running the same
daily jobs the Kafka-mode scheduler runs.

On each day the file's events dated that day are applied first (in file order), then the day's
jobs in their fixed order (``triggers.calendar.JOBS``). A later run on the same store resumes from
the day after the last processed day; its events dated on or before that day arrived late and are
applied first, with the rules still using their dates.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

from engine.wiring import Engine
from streams.intake import BatchOutcome, Message, batched
from streams.jsonl import read_messages
from triggers.calendar import JOBS


@dataclass
class SimulationOutcome:
    """What a run did: the intake's counts plus the simulated days."""

    intake: BatchOutcome = field(default_factory=BatchOutcome)
    jobs: BatchOutcome = field(default_factory=BatchOutcome)
    first_day: date | None = None
    last_day: date | None = None
    scheduled_events: int = 0
    left_for_later: int = 0

    @property
    def days(self) -> int:
        if self.first_day is None or self.last_day is None:
            return 0
        return (self.last_day - self.first_day).days + 1


def _occurred_on(value: bytes | str) -> date | None:
    """The message's date if it has a readable one (validation proper happens in the intake)."""
    try:
        return date.fromisoformat(json.loads(value)["occurred_on"])
    except (ValueError, KeyError, TypeError):
        return None


def simulate(
    engine: Engine,
    path: Path,
    until: date | None = None,
    batch_size: int = 1000,
    on_day: Callable[[date, date], None] | None = None,
) -> SimulationOutcome:
    """Run every day from the earliest event (or the day after the last processed day) to
    ``until`` (default: the latest event date in the file)."""
    by_day: dict[date, list[Message]] = defaultdict(list)
    undated: list[Message] = []
    for message in read_messages(path):
        day = _occurred_on(message.value)
        (undated if day is None else by_day[day]).append(message)

    outcome = SimulationOutcome()
    source = f"file:{path.name}"
    last_done = engine.view.last_processed_day()
    first = last_done + timedelta(days=1) if last_done else min(by_day, default=None)
    until = until or max(by_day, default=last_done)
    if first is None or until is None or until < first:
        # Nothing new to simulate; still apply anything that arrived late.
        late = undated + [m for d in sorted(by_day) for m in by_day[d]]
        _apply(engine, late, batch_size, outcome.intake, source)
        return outcome

    late = undated + [m for d in sorted(by_day) if d < first for m in by_day[d]]
    outcome.left_for_later = sum(len(ms) for d, ms in by_day.items() if d > until)
    outcome.first_day, outcome.last_day = first, until
    day = first
    while day <= until:
        todays = (late if day == first else []) + by_day.get(day, [])
        _apply(engine, todays, batch_size, outcome.intake, source)
        for _name, job in JOBS:
            raised = job(day, engine.view)
            if raised:
                outcome.scheduled_events += len(raised)
                messages = [Message(0, json.dumps(e, ensure_ascii=False)) for e in raised]
                _apply(engine, messages, batch_size, outcome.jobs, "scheduler")
        engine.view.record_processed_day(day)
        if on_day is not None:
            on_day(day, until)
        day += timedelta(days=1)
    return outcome


def _apply(
    engine: Engine,
    messages: Iterable[Message],
    batch_size: int,
    total: BatchOutcome,
    source: str,
) -> None:
    applied = False
    for chunk in batched(messages, batch_size):
        total.add(engine.intake.apply_messages(chunk, source=source))
        applied = True
    if applied:
        engine.refresh()
