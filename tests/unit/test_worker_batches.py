"""How the Kafka worker treats a batch: the store's position, not Kafka's committed offset,
decides which delivered messages it applies (``applicable``; positions are offsets + 1), and a
batch that fails is tried again until it is applied (``retrying``)."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import weakref
from pathlib import Path

import pytest
from eventsourcing.persistence import IntegrityError, OperationalError

import streams.worker
from engine.wiring import open_engine
from streams.intake import Message
from streams.worker import Held, applicable, collect_cycles, retrying
from tests.events import life_evidence, person_registered


def delivered(*positions: int) -> list[Message]:
    return [Message(position=p, value=f"m{p}") for p in positions]


def positions(messages: list[Message]) -> list[int]:
    return [m.position for m in messages]


def test_messages_right_after_the_store_position_are_applied() -> None:
    run, gap = applicable(delivered(4, 5, 6), done=3)
    assert (positions(run), gap) == ([4, 5, 6], None)


def test_messages_at_or_below_the_store_position_are_skipped() -> None:
    run, gap = applicable(delivered(2, 3, 4, 5), done=3)
    assert (positions(run), gap) == ([4, 5], None)


def test_a_delivery_from_past_the_store_position_is_read_again_from_it() -> None:
    # The group's committed offset ran ahead of the store (a batch acknowledged, never recorded).
    run, gap = applicable(delivered(8, 9), done=3)
    assert (run, gap) == ([], (3, 8))


def test_a_stale_mixed_delivery_applies_up_to_its_first_gap_in_order() -> None:
    run, gap = applicable(delivered(9, 10, 4, 5, 5, 6), done=3)
    assert (positions(run), gap) == ([4, 5, 6], (6, 9))


def test_a_gap_of_messages_retention_removed_is_passed_over() -> None:
    # The store is at 3, but the topic keeps messages from position 8 (offset 7) on only.
    run, gap = applicable(delivered(8, 9), done=3, kept_from=8)
    assert (positions(run), gap) == ([8, 9], None)


def test_a_gap_of_messages_still_on_the_topic_is_read_again() -> None:
    run, gap = applicable(delivered(8, 9), done=3, kept_from=7)
    assert (run, gap) == ([], (3, 8))


def test_gaps_in_which_the_broker_holds_no_record_are_passed_over() -> None:
    # Offsets 5 and 7 (positions 6 and 8) are a transaction's commit markers.
    held = Held(after=5, positions=(7, 9, 10))
    run, gap = applicable(delivered(4, 5, 7, 9, 10), done=3, held=held)
    assert (positions(run), gap) == ([4, 5, 7, 9, 10], None)


def test_a_gap_in_which_the_broker_holds_a_record_is_read_again() -> None:
    held = Held(after=5, positions=(6, 7, 9))
    run, gap = applicable(delivered(4, 5, 7, 9), done=3, held=held)
    assert (positions(run), gap) == ([4, 5], (5, 7))


def test_a_gap_past_what_the_broker_was_asked_about_is_read_again() -> None:
    # The answer ends at position 7: whether position 8 holds a record is unknown.
    held = Held(after=5, positions=(7,))
    run, gap = applicable(delivered(4, 5, 7, 9), done=3, held=held)
    assert (positions(run), gap) == ([4, 5, 7], (7, 9))


def test_a_gap_before_what_the_broker_was_asked_about_is_read_again() -> None:
    held = Held(after=6, positions=(8, 9))
    run, gap = applicable(delivered(8, 9), done=3, held=held)
    assert (run, gap) == ([], (3, 8))


def test_a_gap_partly_removed_by_retention_and_partly_a_marker_is_passed_over() -> None:
    # Retention removed offsets 0 to 3; offset 4, the first kept, is a commit marker.
    held = Held(after=4, positions=(6, 7))
    assert applicable(delivered(6, 7), done=0, kept_from=5) == ([], (0, 6))
    run, gap = applicable(delivered(6, 7), done=0, kept_from=5, held=held)
    assert (positions(run), gap) == ([6, 7], None)


def test_a_batch_that_conflicts_again_after_the_intakes_own_retry_is_tried_until_applied(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Another worker wrote the same person again in between (a rebalance moving a partition
    # back and forth): each conflict evicted the cached aggregates, so a later try reads afresh.
    monkeypatch.setattr(streams.worker, "RETRY_FIRST_SECONDS", 0.0)
    failures = [IntegrityError("duplicate key value"), OperationalError("server closed")] * 2

    async def attempt() -> str:
        if failures:
            raise failures.pop(0)
        return "applied"

    with caplog.at_level(logging.WARNING, logger="benefits.worker"):
        assert asyncio.run(retrying("batch of 3", attempt)) == "applied"
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4 and all(r.exc_info is None for r in caplog.records)
    assert (
        lines[0]
        == "batch of 3 not applied (IntegrityError: duplicate key value); attempt 2 in 0.0 s"
    )


def kafka_messages(*events: dict[str, object]) -> list[Message]:
    return [Message(position=n, value=json.dumps(e)) for n, e in enumerate(events, start=1)]


def test_a_batch_of_several_partitions_records_every_partitions_position_with_its_events(
    tmp_path: Path,
) -> None:
    engine = open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        runs = {
            "kafka:t:0": kafka_messages(person_registered("P0"), person_registered("P1")),
            "kafka:t:1": kafka_messages(person_registered("P2")),
        }
        outcome = engine.intake.apply_runs(runs, done={"kafka:t:0": 0, "kafka:t:1": 0})
        assert outcome.accepted == 3
        assert engine.intake.positions(runs) == {"kafka:t:0": 2, "kafka:t:1": 1}
        engine.refresh()
        assert [engine.view.status(p)["benefit_status"] for p in ("P0", "P1", "P2")] == [
            "active"
        ] * 3
    finally:
        engine.close()


def test_a_batch_whose_partition_another_worker_recorded_meanwhile_records_nothing_then_the_rest(
    tmp_path: Path,
) -> None:
    # Another worker applied partition 1 between this worker reading the positions and writing:
    # the one transaction fails as a whole, and the intake's retry, reading the positions
    # afresh, applies partition 0 and skips what partition 1 already holds.
    engine = open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        first = kafka_messages(person_registered("P0"))
        second = kafka_messages(person_registered("P2"), life_evidence("P2", "2026-02-01"))
        engine.intake.apply_batch("kafka:t:1", second)
        recorded = engine.intake.pensioner("P2").version
        stale = {"kafka:t:0": 0, "kafka:t:1": 0}
        outcome = engine.intake.apply_runs({"kafka:t:0": first, "kafka:t:1": second}, done=stale)
        assert (outcome.accepted, outcome.duplicates) == (1, 0)
        assert engine.intake.positions(stale) == {"kafka:t:0": 1, "kafka:t:1": 2}
        assert engine.intake.pensioner("P0") is not None
        assert engine.intake.pensioner("P2").version == recorded
    finally:
        engine.close()


def test_the_hourly_collection_frees_cycles_frozen_after_a_batch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Node:
        other: object = None

    first, second = Node(), Node()
    first.other, second.other = second, first  # a cycle: only the cycle collector frees it
    gone = weakref.ref(first)
    del first, second
    gc.freeze()  # as after a batch: automatic passes no longer look at it
    try:
        gc.collect()
        assert gone() is not None
        with caplog.at_level(logging.INFO, logger="benefits.worker"):
            collect_cycles()
        assert gone() is None
        assert "unreachable objects collected in" in caplog.records[-1].getMessage()
    finally:
        gc.unfreeze()
