"""A full certification cycle driven by the Kafka-mode scheduler on a controllable clock, through
a real Kafka broker, the worker, and the PostgreSQL-backed read model."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from engine.wiring import open_engine
from streams.producer import LifeEventProducer
from tests.events import life_evidence, liveness_verified, person_registered
from tests.integration.conftest import WorkerEnv, stop, wait_for
from tests.integration.kafka_io import produce, read_all
from tests.integration.test_worker_kafka_postgres import caught_up
from triggers.clock import ManualClock
from triggers.scheduler import DailyJobs

pytestmark = pytest.mark.integration


def test_scheduler_drives_a_full_cycle_on_kafka_and_postgres(worker_env: WorkerEnv) -> None:
    events = [
        person_registered("C1", on="2026-01-05", birth_date="1950-03-09"),
        person_registered("C2", on="2026-01-05", birth_date="1951-03-20"),
        life_evidence("C2", "2026-02-20", "pharmacy_purchase"),
    ]
    produce(worker_env.kafka, worker_env.life_events_topic, events)
    source = f"kafka:{worker_env.life_events_topic}:0"
    engine = open_engine(worker_env.database_url)
    worker = worker_env.start_worker()
    clock = ManualClock(date(2026, 2, 28))
    total = len(events)

    def scheduler_runs_on(day: date) -> int:
        """Set the clock, run the scheduler's due days, wait until the worker applied them."""
        nonlocal total
        clock.set(day)

        async def go() -> int:
            producer = LifeEventProducer(worker_env.kafka, worker_env.life_events_topic)
            await producer.start()
            try:
                jobs = DailyJobs(clock, engine.view, engine.view, producer.send, date(2026, 2, 28))
                return await jobs.run_due()
            finally:
                await producer.stop()

        raised = asyncio.run(go())
        total += raised
        wait_for(lambda: caught_up(engine, source, total), what=f"worker to apply {day}")
        return raised

    try:
        wait_for(lambda: caught_up(engine, source, total), what="registrations")
        # Both born in March: two cycle openings, and the March payroll for both.
        assert scheduler_runs_on(date(2026, 3, 1)) == 4
        c2 = engine.view.status("C2")["certification"]
        assert (c2["status"], c2["method"], c2["certified_on"]) == (
            "certified",
            "silent",
            "2026-03-01",
        )
        assert engine.view.status("C1")["certification"]["status"] == "open"

        assert scheduler_runs_on(date(2026, 3, 31)) == 1  # day 30: invitation
        assert scheduler_runs_on(date(2026, 3, 31)) == 0  # same day again: nothing more
        # The April and May payrolls (two each), then day 90: blue.
        assert scheduler_runs_on(date(2026, 5, 30)) == 5
        assert engine.view.status("C1")["risk_level"] == "blue"
        # The June payroll (two), then day 120: held.
        assert scheduler_runs_on(date(2026, 6, 29)) == 3
        c1 = engine.view.status("C1")
        assert (c1["benefit_status"], c1["risk_level"]) == ("held", "yellow")
        assert c1["certification"]["days_open"] == 120

        produce(
            worker_env.kafka, worker_env.life_events_topic, [liveness_verified("C1", "2026-07-10")]
        )
        total += 1
        wait_for(lambda: caught_up(engine, source, total), what="liveness check")
        c1 = engine.view.status("C1")
        assert (c1["benefit_status"], c1["risk_level"]) == ("active", "none")
        assert c1["certification"]["method"] == "liveness"
        assert c1["certification"]["arrears_months"] == 1  # 1 July fell while held
        templates = [n["template"] for n in engine.view.notifications("C1")]
        assert templates == [
            "liveness_invitation",
            "liveness_reminder",
            "payments_held",
            "pension_resumed",
        ]
        published = read_all(worker_env.kafka, worker_env.notifications_topic, expect_at_least=5)
        assert sorted((n["person_id"], n["template"]) for n in published) == sorted(
            [("C1", t) for t in templates] + [("C2", "pension_continues")]
        )
    finally:
        stop(worker)
        engine.close()
