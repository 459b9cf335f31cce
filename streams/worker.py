"""Kafka mode: a faust-streaming worker that consumes ``life-events`` in batches.

Per batch and partition, the intake records the new domain events together with the partition's
offset (tracking name ``kafka:<topic>:<partition>``); messages at or below a recorded offset are
skipped, so redelivery after a crash has no second effect. Then the read model is brought up to
date and new decisions and dead letters are published.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import faust

import policy
from engine.settings import Settings
from engine.wiring import open_engine
from streams.intake import BatchOutcome, Message
from streams.publisher import Publisher
from streams.waiting import GRACE_DAYS

log = logging.getLogger("benefits.worker")


def build_app(settings: Settings) -> faust.App:
    """The faust app, with the life-events agent attached."""
    app = faust.App(
        settings.consumer_group,
        broker=",".join(
            f"kafka://{s.strip()}" for s in settings.kafka_bootstrap_servers.split(",")
        ),
        store="memory://",
        web_enabled=False,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        topic_allow_declare=True,
        producer_acks=-1,
        broker_session_timeout=10.0,
        broker_heartbeat_interval=2.0,
        stream_wait_empty=False,
    )
    topic = app.topic(settings.life_events_topic, key_type=bytes, value_type=bytes)
    engine = open_engine(settings.database_url)
    publisher = Publisher(
        engine.intake,
        positions=engine.view,
        person_ids=engine.view.person_ids,
        decisions_topic=settings.decisions_topic,
        dead_letter_topic=settings.dead_letter_topic,
        notifications_topic=settings.notifications_topic,
        instructions_topic=settings.instructions_topic,
    )
    totals = BatchOutcome()
    # One writer at a time in this process: the agent's batches and the hourly expiry.
    writing = asyncio.Lock()

    async def send(topic_name: str, key: bytes | None, value: bytes) -> Any:
        return await app.producer.send(topic_name, key, value, None, None, None)

    @app.agent(topic, name="life-events-intake")
    async def intake(stream: faust.StreamT) -> None:
        async for events in stream.take_events(settings.batch_size, within=0.5):
            partitions: dict[int, list[Message]] = defaultdict(list)
            for event in events:
                message = event.message
                partitions[message.partition].append(
                    Message(
                        position=message.offset + 1,
                        value=event.value,
                        received_at=datetime.fromtimestamp(message.timestamp, UTC),
                    )
                )
            today = datetime.now(UTC).date()
            policy.refresh(strict=False)  # a version added meanwhile applies without a restart
            async with writing:
                for partition, messages in sorted(partitions.items()):
                    source = f"kafka:{settings.life_events_topic}:{partition}"
                    started = time.perf_counter()
                    outcome = await asyncio.to_thread(
                        engine.intake.apply_batch, source, messages, today
                    )
                    engine.kpis.note_batch(time.perf_counter() - started)
                    totals.add(outcome)
                await asyncio.to_thread(engine.kpis.view.set_gauges, "consumer_lag", lag(events))
                await asyncio.to_thread(engine.refresh)
                await publisher.publish_pending(send)
            log.info(
                "batch of %d: accepted %d, rejected %d, duplicates %d (totals: %d/%d/%d)",
                len(events),
                outcome.accepted,
                outcome.rejected,
                outcome.duplicates,
                totals.accepted,
                totals.rejected,
                totals.duplicates,
            )

    def lag(events: list[Any]) -> dict[str, float]:
        """Per partition: messages on the topic not yet applied (the highwater minus the next
        offset to read)."""
        lags: dict[str, float] = {}
        for event in events:
            tp = event.message.tp
            highwater = app.consumer.highwater(tp)
            if highwater is not None:
                lags[str(tp.partition)] = float(max(0, highwater - (event.message.offset + 1)))
        return lags

    def expire_waiting() -> int:
        """Dead-letter events whose person was not registered within the grace period."""
        today = datetime.now(UTC).date()
        keys = engine.view.waiting_due(today - timedelta(days=GRACE_DAYS))
        return engine.intake.expire_waiting(keys, today, GRACE_DAYS) if keys else 0

    @app.timer(interval=3600.0)
    async def expire_waiting_hourly() -> None:
        async with writing:
            if await asyncio.to_thread(expire_waiting):
                await asyncio.to_thread(engine.refresh)
                await publisher.publish_pending(send)

    @app.task
    async def publish_backlog() -> None:
        for name in (
            settings.decisions_topic,
            settings.dead_letter_topic,
            settings.notifications_topic,
            settings.instructions_topic,
        ):
            await app.topic(name).maybe_declare()
        # Decisions recorded before a crash but not yet published go out at start-up.
        async with writing:
            await asyncio.to_thread(engine.refresh)
            await publisher.publish_pending(send)

    return app


def run_worker(settings: Settings) -> None:
    """Run until interrupted."""
    app = build_app(settings)
    worker = faust.Worker(app, loglevel="INFO")
    worker.execute_from_commandline()
