"""The Kafka-mode worker against a real Kafka broker and a real PostgreSQL server."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from engine.demo import generate_events
from engine.wiring import Engine, open_engine
from streams.intake import Message, batched
from tests.events import custody_started, death_registered, person_registered
from tests.integration.conftest import WorkerEnv, outcome, stop, wait_for
from tests.integration.kafka_io import produce, read_all

pytestmark = pytest.mark.integration


def caught_up(engine: Engine, source: str, total: int) -> bool:
    """The worker has applied ``total`` messages, and its read model has, and its publisher has
    sent, every stored event (so stopping it now loses nothing a test then reads)."""
    if engine.intake.position(source) < total:
        return False
    last = engine.intake.recorder.max_notification_id() or 0
    projected = engine.view.max_tracking_id(engine.intake.name) or 0
    published = engine.view.max_tracking_id(f"publisher:{engine.intake.name}") or 0
    return projected >= last and published >= last


def test_life_events_on_kafka_reach_the_postgres_status_projection(worker_env: WorkerEnv) -> None:
    reg = [person_registered(f"K{n}") for n in range(3)]
    custody = custody_started("K1", "2026-02-01")
    death = death_registered("K2", "2026-03-05", "2026-03-01")
    messages = [*reg, custody, death, reg[0], "not json at all"]
    produce(worker_env.kafka, worker_env.life_events_topic, messages)

    worker = worker_env.start_worker()
    engine = open_engine(worker_env.database_url)
    try:
        source = f"kafka:{worker_env.life_events_topic}:0"
        wait_for(lambda: caught_up(engine, source, len(messages)), what="worker to catch up")
        assert engine.view.status("K0")["benefit_status"] == "active"
        k1 = engine.view.status("K1")
        assert (k1["benefit_status"], k1["risk_level"], k1["reason"]) == (
            "suspended",
            "red",
            "custody",
        )
        k2 = engine.view.status("K2")
        assert (k2["benefit_status"], k2["reason"]) == ("terminated", "death")
        assert k2["history"][-1]["event_id"] == death["event_id"]
        assert [r.payload for r in engine.view.dead_letters()] == ["not json at all"]

        decisions = read_all(worker_env.kafka, worker_env.decisions_topic, expect_at_least=5)
        kinds = Counter(d["decision"] for d in decisions)
        assert kinds == {"registered": 3, "suspended": 1, "terminated": 1}
        terminated = next(d for d in decisions if d["decision"] == "terminated")
        assert (terminated["person_id"], terminated["event_id"]) == ("K2", death["event_id"])
        dlq = read_all(worker_env.kafka, worker_env.dead_letter_topic, expect_at_least=1)
        assert [(d["payload"], d["reason"][:22]) for d in dlq] == [
            ("not json at all", "message is not valid J")
        ]
    finally:
        stop(worker)
        engine.close()


def reference_run(tmp_path: Path, lines: list[str]) -> Engine:
    """The same messages through the embedded intake: what a crash-free run decides."""
    engine = open_engine(f"sqlite:///{tmp_path / 'reference.db'}")
    messages = [Message(position=i + 1, value=line) for i, line in enumerate(lines)]
    for chunk in batched(messages, 500):
        engine.intake.apply_batch("reference", chunk)
    engine.refresh()
    return engine


def test_worker_killed_mid_stream_loses_and_repeats_no_decision(
    worker_env: WorkerEnv, tmp_path: Path
) -> None:
    events = generate_events(people=1500, seed=7)
    lines = [json.dumps(e, ensure_ascii=False) for e in events]
    produce(worker_env.kafka, worker_env.life_events_topic, events)
    worker_env.batch_size = 50  # many small transactions, so the kill lands between and inside them

    source = f"kafka:{worker_env.life_events_topic}:0"
    engine = open_engine(worker_env.database_url)
    worker = worker_env.start_worker()
    try:
        wait_for(lambda: engine.intake.position(source) >= 300, what="first batches")
        stop(worker, kill=True)
        interrupted_at = engine.intake.position(source)
        assert 0 < interrupted_at < len(lines), "the kill should land mid-stream"

        worker = worker_env.start_worker()
        wait_for(lambda: caught_up(engine, source, len(lines)), what="restarted worker to finish")
    finally:
        stop(worker)

    reference = reference_run(tmp_path, lines)
    try:
        people = sorted({e["person_id"] for e in events if e["person_id"].startswith("P7-")})
        for person_id in people:
            assert outcome(engine.view, person_id) == outcome(reference.view, person_id), person_id
        stored = [
            (person_id, h["decision"], h["event_id"])
            for person_id in people
            for h in (engine.view.status(person_id) or {"history": []})["history"]
        ]
        assert len(stored) == len(set(stored)), "a decision was recorded twice"
        assert len(engine.view.dead_letters()) == len(reference.view.dead_letters())

        published = read_all(worker_env.kafka, worker_env.decisions_topic, len(stored))
        assert {(d["person_id"], d["decision"], d["event_id"]) for d in published} == set(stored)
    finally:
        reference.close()
        engine.close()


def test_a_death_produced_before_the_registration_terminates_and_the_dlq_masks_personal_data(
    worker_env: WorkerEnv,
) -> None:
    death = death_registered("K9", "2026-01-05", "2026-01-03")
    registration = person_registered("K9", on="2026-01-08")
    national_id, name = "110101195003070136", "欧阳娜娜"
    careless = person_registered("K8") | {"data": {"national_id": int(national_id), "name": [name]}}
    produce(worker_env.kafka, worker_env.life_events_topic, [death, registration, careless])

    worker = worker_env.start_worker()
    engine = open_engine(worker_env.database_url)
    try:
        source = f"kafka:{worker_env.life_events_topic}:0"
        wait_for(lambda: caught_up(engine, source, 3), what="worker to catch up")
        k9 = engine.view.status("K9")
        assert (k9["benefit_status"], k9["reason"]) == ("terminated", "death")
        assert engine.view.waiting_count() == 0
        decisions = read_all(worker_env.kafka, worker_env.decisions_topic, expect_at_least=1)
        k9_decisions = [
            (d["decision"], d["benefit_status"]) for d in decisions if d["person_id"] == "K9"
        ]
        assert k9_decisions == [("registered", "active"), ("terminated", "terminated")]
        dlq = read_all(worker_env.kafka, worker_env.dead_letter_topic, expect_at_least=1)
        assert len(dlq) == 1
        published = json.dumps(dlq, ensure_ascii=False)
        assert national_id not in published and name not in published
        assert national_id[-4:] in published
    finally:
        stop(worker)
        engine.close()
