"""A ``life-events`` topic written partly by a transactional producer, against a real Kafka broker
and a real PostgreSQL server. The worker reads committed: an aborted transaction's messages are
never applied, and one still open holds back the later messages of its partition until it ends.
Every commit or abort leaves a control marker that takes an offset but is never delivered, and an
aborted transaction's messages keep theirs, so the worker sees gaps in the offsets that reading
again cannot fill. It asks the broker which offsets of a gap hold records to read and passes over
those that hold none."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest
from aiokafka.errors import OffsetOutOfRangeError
from aiokafka.partitioner import DefaultPartitioner

from engine.wiring import open_engine
from streams.worker import held_after
from tests.events import custody_ended, custody_started, death_registered, person_registered
from tests.integration.conftest import WorkerEnv, stop, wait_for
from tests.integration.kafka_io import (
    OpenTransaction,
    create_topic,
    delete_records,
    produce_in_steps,
)
from tests.integration.test_worker_kafka_postgres import caught_up

pytestmark = pytest.mark.integration


def test_the_broker_says_which_offsets_hold_records_and_never_answers_below_the_first_kept(
    kafka_bootstrap: str,
) -> None:
    topic = f"held-{uuid.uuid4().hex[:8]}"
    create_topic(kafka_bootstrap, topic, partitions=1)
    reg = [person_registered(f"H{n}") for n in range(5)]
    steps = produce_in_steps(
        kafka_bootstrap,
        topic,
        [
            ("plain", [reg[0]]),
            ("commit", [reg[1], reg[2]]),
            ("abort", [reg[3]]),
            ("plain", [reg[4]]),
        ],
    )
    sent = sorted(p for step in steps for p in step)
    aborted = steps[2]
    assert sent[-1] > len(sent), "the markers take offsets of their own"

    def ask(position: int) -> tuple[int, ...]:
        held = asyncio.run(held_after(kafka_bootstrap, topic, 0, position, set(sent)))
        return held.positions

    # It reads committed, as the worker does: the aborted message holds no record to read.
    assert ask(0) == tuple(p for p in sent if p not in aborted)
    assert ask(sent[1]) == tuple(p for p in sent[2:] if p not in aborted)

    delete_records(kafka_bootstrap, topic, 0, before=sent[2] - 1)
    with pytest.raises(OffsetOutOfRangeError):
        ask(sent[1] - 1)


def test_the_worker_never_applies_an_aborted_transaction_and_passes_over_its_offsets(
    worker_env: WorkerEnv,
) -> None:
    topic = worker_env.life_events_topic
    create_topic(worker_env.kafka, topic, partitions=1)
    source = f"kafka:{topic}:0"
    reg = [person_registered(f"X{n}") for n in range(4)]
    # Markers and an aborted message in the middle of one batch; a marker ends the topic for now.
    first = [
        ("plain", [reg[0], reg[1]]),
        ("commit", [reg[2], custody_started("X1", "2026-02-01")]),
        ("plain", [reg[3]]),
        ("abort", [death_registered("X2", "2026-03-05", "2026-03-01")]),
        ("commit", [custody_started("X3", "2026-02-02")]),
    ]
    steps = produce_in_steps(worker_env.kafka, topic, first)
    markers = {s[-1] for (how, _), s in zip(first, steps, strict=True) if how != "plain"}
    aborted = {p - 1 for (how, _), s in zip(first, steps, strict=True) if how == "abort" for p in s}
    last = max(p for step in steps for p in step)

    worker = worker_env.start_worker("transactions")
    engine = open_engine(worker_env.database_url)
    try:
        wait_for(lambda: caught_up(engine, source, last), what="worker to pass the markers")
        # A batch that starts past a marker and an aborted transaction: the store's position is
        # the record before them.
        then = [
            (
                "abort",
                [death_registered("X3", "2026-03-09", "2026-03-07"), person_registered("X5")],
            ),
            ("plain", [death_registered("X0", "2026-03-10", "2026-03-08")]),
            ("commit", [custody_ended("X3", "2026-03-12")]),
            ("plain", [person_registered("X4")]),
        ]
        steps = produce_in_steps(worker_env.kafka, topic, then)
        markers |= {s[-1] for (how, _), s in zip(then, steps, strict=True) if how != "plain"}
        aborted |= {
            p - 1 for (how, _), s in zip(then, steps, strict=True) if how == "abort" for p in s
        }
        last = max(p for step in steps for p in step)
        wait_for(lambda: caught_up(engine, source, last), what="worker to apply the rest")

        status = {p: engine.view.status(p) for p in ("X0", "X1", "X2", "X3", "X4", "X5")}
        assert (status["X0"]["benefit_status"], status["X0"]["reason"]) == ("terminated", "death")
        assert (status["X1"]["benefit_status"], status["X1"]["reason"]) == ("suspended", "custody")
        # The aborted deaths and registration were never applied: X2 and X3 stay as the
        # committed messages have them, and X5 was never registered.
        assert status["X2"]["benefit_status"] == "active"
        x3 = status["X3"]
        assert (x3["benefit_status"], x3["history"][-1]["decision"]) == ("active", "reinstated")
        assert status["X4"]["benefit_status"] == "active"
        assert status["X5"] is None
        never = {
            m["event_id"] for how, messages in first + then if how == "abort" for m in messages
        }
        caused = {d["event_id"] for doc in status.values() if doc for d in doc["history"]}
        assert caused.isdisjoint(never)
        assert engine.view.dead_letters() == []
    finally:
        stop(worker)
        engine.close()
    # The offsets of the markers and of the aborted messages were passed over, holding no
    # record to read.
    said = worker_env.log("transactions").read_text(errors="replace")
    assert passed_over(said) == markers | aborted


def partition_of(person_id: str, partitions: int) -> int:
    """The partition the producers' default partitioner sends a person's messages to."""
    every = list(range(partitions))
    return DefaultPartitioner()(person_id.encode(), every, every)


def test_an_open_transaction_holds_back_the_later_messages_of_its_partition(
    worker_env: WorkerEnv,
) -> None:
    topic = worker_env.life_events_topic
    create_topic(worker_env.kafka, topic, partitions=2)
    held = partition_of("O0", 2)
    assert {partition_of(p, 2) for p in ("O1", "O2")} == {held}
    # A person on the other partition: once its message is applied, the worker has read past
    # the point the held partition's messages were sent at.
    other = next(f"B{n}" for n in range(100) if partition_of(f"B{n}", 2) != held)
    source, other_source = f"kafka:{topic}:{held}", f"kafka:{topic}:{1 - held}"
    before = produce_in_steps(
        worker_env.kafka, topic, [("plain", [person_registered("O0"), person_registered("O1")])]
    )[0]

    worker = worker_env.start_worker("open")
    engine = open_engine(worker_env.database_url)
    try:
        wait_for(lambda: caught_up(engine, source, before[-1]), what="worker to apply the first")
        transaction = OpenTransaction(
            worker_env.kafka, topic, [death_registered("O0", "2026-03-10", "2026-03-08")]
        )
        try:
            after = produce_in_steps(
                worker_env.kafka,
                topic,
                [("plain", [person_registered("O2"), custody_started("O1", "2026-03-11")])],
            )[0]
            assert after[0] > transaction.positions[-1]
            barrier = produce_in_steps(
                worker_env.kafka, topic, [("plain", [person_registered(other)])]
            )
            wait_for(
                lambda: caught_up(engine, other_source, barrier[0][-1]),
                what="worker to apply the other partition's message",
            )
            assert engine.intake.position(source) == before[-1]
            assert engine.view.status("O2") is None
        finally:
            transaction.end(commit=True)
        # Committed, the transaction's message is applied, then the later ones, in order.
        wait_for(lambda: caught_up(engine, source, after[-1]), what="worker to apply the rest")
        status = {p: engine.view.status(p) for p in ("O0", "O1", "O2")}
        assert (status["O0"]["benefit_status"], status["O0"]["reason"]) == ("terminated", "death")
        assert (status["O1"]["benefit_status"], status["O1"]["reason"]) == ("suspended", "custody")
        assert status["O2"]["benefit_status"] == "active"
    finally:
        stop(worker)
        engine.close()


def passed_over(log: str) -> set[int]:
    """The offsets a worker's log says it passed over for holding no record to read."""
    found: set[int] = set()
    for listed in re.findall(r"no record to read at offsets ([\d, to]+) \(", log):
        for offsets in listed.split(", "):
            first, _, last = offsets.partition(" to ")
            found.update(range(int(first), int(last or first) + 1))
    return found


def test_retention_up_to_a_marker_is_passed_over_and_reported(worker_env: WorkerEnv) -> None:
    topic = worker_env.life_events_topic
    create_topic(worker_env.kafka, topic, partitions=1)
    steps = produce_in_steps(
        worker_env.kafka,
        topic,
        [
            ("plain", [person_registered("R0"), person_registered("R1")]),
            ("commit", [person_registered("R2")]),
            ("plain", [person_registered("R3")]),
        ],
    )
    marker = steps[1][-1]  # the offset after the transaction's last message
    assert steps[2] == [marker + 2]
    # Before any worker ran, retention removed everything up to the marker, which is kept.
    delete_records(worker_env.kafka, topic, 0, before=marker)

    worker = worker_env.start_worker("retention")
    engine = open_engine(worker_env.database_url)
    try:
        wait_for(lambda: caught_up(engine, f"kafka:{topic}:0", marker + 2), what="worker")
        assert [engine.view.status(f"R{n}") is None for n in range(4)] == [True] * 3 + [False]
    finally:
        stop(worker)
        engine.close()
    said = worker_env.log("retention").read_text(errors="replace")
    assert f"offsets 0 to {marker - 1} left the topic before they were applied" in said
    assert passed_over(said) == {marker}
