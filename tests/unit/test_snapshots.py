"""A person with a long history is loaded from a snapshot plus the events after it, and what is
loaded is the same person as a replay of every event would give."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, timedelta
from functools import reduce
from pathlib import Path
from typing import Any

import pytest

from domain.pensioner import Pensioner, person_aggregate_id
from engine.wiring import open_engine
from streams.intake import LifeEventIntake, Message
from tests.events import (
    death_registered,
    envelope,
    life_evidence,
    person_registered,
    retirement_eligible,
)

STATE = ("facts", "dead_lettered", "decision_keys", "notice_keys", "money", "status", "as_of")


def years_of_life(person_id: str, start: date, end: date) -> list[dict[str, Any]]:
    """Evidence every few days, a payment run each month and a birthday month each March."""
    events = [
        person_registered(person_id, on=start.isoformat(), birth_date="1940-03-05"),
        retirement_eligible(person_id, start.isoformat()),
    ]
    day = start
    while day < end:
        events.append(life_evidence(person_id, day.isoformat()))
        if day.day == 1 or (day + timedelta(days=3)).month != day.month:
            first = date(day.year, day.month, 1) + timedelta(days=32)
            first = first.replace(day=1)
            if first.month == 3:
                data = {"year": first.year}
                events.append(
                    envelope("birthday_month_started", person_id, first.isoformat(), data)
                )
            data = {"month": first.isoformat()[:7], "account_holders": 1}
            events.append(envelope("payment_due", person_id, first.isoformat(), data))
            day = first
        day += timedelta(days=3)
    return events


def apply(store: str, events: list[dict[str, Any]]) -> None:
    engine = open_engine(store, exclusive=True)
    try:
        for event in events:
            engine.intake.apply_messages([Message(0, json.dumps(event))])
    finally:
        engine.close()


def from_every_event(intake: LifeEventIntake, person_id: str) -> Pensioner:
    events = intake.events.get(person_aggregate_id(person_id))
    return reduce(lambda aggregate, e: e.mutate(aggregate), events, None)  # type: ignore


@pytest.fixture()
def small_interval(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(LifeEventIntake, "SNAPSHOT_INTERVAL", 40)
    return 40


def test_a_long_history_loads_from_a_snapshot_as_the_same_person(
    tmp_path: Path, small_interval: int
) -> None:
    store = f"sqlite:///{tmp_path / 'store.db'}"
    apply(store, years_of_life("P1", date(2020, 1, 1), date(2023, 6, 1)))

    engine = open_engine(store, must_exist=True)
    try:
        loaded = engine.intake.pensioner("P1")
        replayed = from_every_event(engine.intake, "P1")
        assert loaded is not None and loaded.version == replayed.version > 3 * small_interval
        for name in STATE:
            assert getattr(loaded, name) == getattr(replayed, name), name
        assert loaded.derived_status() == loaded.status
    finally:
        engine.close()
    with sqlite3.connect(tmp_path / "store.db") as db:
        versions = [row[0] for row in db.execute("SELECT originator_version FROM stored_snapshots")]
    assert versions and max(versions) > replayed.version - small_interval


def test_decisions_after_a_snapshot_equal_those_of_a_store_without_one(
    tmp_path: Path, small_interval: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = years_of_life("P1", date(2021, 1, 1), date(2023, 6, 1))
    death = death_registered("P1", "2023-06-10", "2023-06-02")
    with_snapshots = f"sqlite:///{tmp_path / 'with.db'}"
    apply(with_snapshots, history)
    apply(with_snapshots, [death])  # a new process: loads the person from a snapshot
    monkeypatch.setattr(LifeEventIntake, "is_snapshotting_enabled", False)
    without = f"sqlite:///{tmp_path / 'without.db'}"
    apply(without, history)
    apply(without, [death])

    def decisions(store: str) -> list[tuple[str, str, str | None]]:
        engine = open_engine(store, must_exist=True)
        try:
            person = from_every_event(engine.intake, "P1")
            events = engine.intake.events.get(person.id)
            return [
                (e.key, e.decision, e.reason) for e in events if isinstance(e, Pensioner.Decided)
            ]
        finally:
            engine.close()

    recorded = decisions(with_snapshots)
    assert recorded == decisions(without)
    assert recorded[-1][1] in ("terminated", "overpayment_recovery")
