"""Exactly-once payment instructions through real Kafka and PostgreSQL: the payroll run dies half
way, the worker is killed mid-stream, both restart, and the result equals a clean run."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path

import pytest

from engine.wiring import open_engine
from streams.intake import Message
from streams.producer import LifeEventProducer
from tests.events import person_registered
from tests.integration.conftest import WorkerEnv, stop, wait_for
from tests.integration.kafka_io import produce, read_all
from tests.integration.test_worker_kafka_postgres import caught_up
from triggers.calendar import JOBS
from triggers.clock import ManualClock
from triggers.scheduler import DailyJobs

pytestmark = pytest.mark.integration
PAYDAY = date(2026, 3, 1)


class RunDied(Exception):
    pass


def clean_run(tmp_path: Path, registrations: list[dict]) -> dict:
    """The same people and payday through the embedded engine, nothing interrupted."""
    engine = open_engine(f"sqlite:///{tmp_path / 'clean.db'}")
    try:
        engine.intake.apply_messages([Message(0, json.dumps(r)) for r in registrations])
        engine.refresh()
        for _name, job in JOBS:
            raised = [Message(0, json.dumps(e)) for e in job(PAYDAY, engine.view)]
            engine.intake.apply_messages(raised)
            engine.refresh()
        return engine.view.payroll("2026-03")
    finally:
        engine.close()


def test_payroll_killed_half_way_pays_each_person_once(
    worker_env: WorkerEnv, tmp_path: Path
) -> None:
    registrations = [person_registered(f"M{n:04d}", pension_cents=200_000 + n) for n in range(600)]
    produce(worker_env.kafka, worker_env.life_events_topic, registrations)
    worker_env.batch_size = 25
    source = f"kafka:{worker_env.life_events_topic}:0"
    engine = open_engine(worker_env.database_url)
    worker = worker_env.start_worker()
    clock = ManualClock(PAYDAY)
    total = len(registrations)

    async def run_payroll(die_after: int | None) -> int:
        producer = LifeEventProducer(worker_env.kafka, worker_env.life_events_topic)
        await producer.start()
        sent = 0

        async def sink(events: list[dict]) -> None:
            nonlocal sent
            if die_after is not None:
                await producer.send(events[:die_after])
                sent += die_after
                raise RunDied
            await producer.send(events)
            sent += len(events)

        try:
            await DailyJobs(clock, engine.view, engine.view, sink, PAYDAY).run_due()
        except RunDied:
            pass
        finally:
            await producer.stop()
        return sent

    try:
        wait_for(lambda: caught_up(engine, source, total), what="registrations")
        total += asyncio.run(run_payroll(die_after=300))
        assert engine.view.last_processed_day() is None  # the run died before finishing the day
        wait_for(lambda: engine.intake.position(source) >= len(registrations) + 100, what="payroll")
        stop(worker, kill=True)
        assert engine.intake.position(source) < total, "the kill should land mid-payroll"

        worker = worker_env.start_worker()
        total += asyncio.run(run_payroll(die_after=None))
        wait_for(lambda: caught_up(engine, source, total), what="the rerun to be applied")
        assert engine.view.last_processed_day() == PAYDAY
    finally:
        stop(worker)

    try:
        summary = engine.view.payroll("2026-03")
        assert summary == clean_run(tmp_path, registrations)
        assert (summary["count"], summary["total_cents"]) == (
            600,
            sum(200_000 + n for n in range(600)),
        )
        published = read_all(worker_env.kafka, worker_env.instructions_topic, expect_at_least=600)
        ids = {p["instruction_id"] for p in published}
        assert len(ids) == 600
        assert {(p["month"], p["kind"]) for p in published} == {("2026-03", "pension")}
    finally:
        engine.close()
