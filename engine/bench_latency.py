"""`benefits bench`'s death-to-`terminated` latency: deaths inside a steady, paced stream of life
evidence, each timed from its send until the person's status row in PostgreSQL shows it."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from typing import Any

import psycopg

from engine.bench_embedded import Progress, quiet
from engine.bench_kafka import Deployment

POLL_SECONDS = 0.005  # how often the status table is looked at: the measurement's resolution
DEATH_EVERY = 100  # one event in 100 of the steady stream is a death: 10/s at 1,000 events/s
PATIENCE_SECONDS = 120  # after the stream, how long the last deaths may take


def latency(
    deployment: Deployment,
    background: list[str],
    dying: list[str],
    rate: int,
    progress: Progress = quiet,
) -> dict[str, Any]:
    """Produce life evidence for ``background`` persons at a steady ``rate`` events/s, every
    ``DEATH_EVERY``th event a death of one of ``dying``; time each death from its send to the
    person's status row showing ``terminated`` (polled every 5 ms)."""
    return asyncio.run(_latency(deployment, background, dying, rate, progress))


async def _latency(
    deployment: Deployment,
    background: list[str],
    dying: list[str],
    rate: int,
    progress: Progress,
) -> dict[str, Any]:
    from aiokafka import AIOKafkaProducer

    sent_at: dict[str, float] = {}
    seen_at: dict[str, float] = {}
    polling = [0, 0.0]  # polls made, seconds spent polling
    producing = True

    async def poll() -> None:
        conn = await psycopg.AsyncConnection.connect(deployment.database_url, autocommit=True)
        began = time.monotonic()
        try:
            deadline = None
            while True:
                polling[0] += 1
                pending = [p for p in sent_at if p not in seen_at]
                if pending:
                    found = await conn.execute(
                        "SELECT person_id FROM person_status"
                        " WHERE benefit_status = 'terminated' AND person_id = ANY(%s)",
                        (pending,),
                    )
                    now = time.monotonic()
                    for (person_id,) in await found.fetchall():
                        seen_at[person_id] = now
                if not producing:
                    deadline = deadline or time.monotonic() + PATIENCE_SECONDS
                    if len(seen_at) == len(sent_at) or time.monotonic() > deadline:
                        return
                    progress("waiting for the last deaths", len(seen_at), len(sent_at))
                await asyncio.sleep(POLL_SECONDS)
        finally:
            polling[1] = time.monotonic() - began
            await conn.close()

    producer = AIOKafkaProducer(bootstrap_servers=deployment.kafka, acks="all")
    await producer.start()
    poller = asyncio.create_task(poll())
    loop = asyncio.get_running_loop()
    sent = 0
    started = loop.time()
    try:
        while len(sent_at) < len(dying):
            due = int((loop.time() - started) * rate)
            while sent < due and len(sent_at) < len(dying):
                if sent % DEATH_EVERY == DEATH_EVERY - 1:
                    person = dying[len(sent_at)]
                    event = {
                        "event_id": f"bench-death-{person}",
                        "type": "death_registered",
                        "person_id": person,
                        "occurred_on": "2026-12-31",
                        "source": "civil_affairs",
                        "data": {"death_date": "2026-12-31"},
                    }
                    sent_at[person] = time.monotonic()
                else:
                    person = background[sent % len(background)]
                    event = {
                        # Sequential, zero-padded: in the order sent, as time-ordered IDs
                        # (UUIDv7, ULID) are. A person's same-day facts whose IDs sort before
                        # one already applied are replayed in full (docs/scale.md, "Latency").
                        "event_id": f"bench-evidence-{deployment.suffix}-{sent:09d}",
                        "type": "life_evidence",
                        "person_id": person,
                        "occurred_on": "2026-12-30",
                        "source": "transit",
                        "data": {"kind": "transit_tap"},
                    }
                value = json.dumps(event, ensure_ascii=False).encode()
                await producer.send(deployment.topic, value, key=person.encode())
                sent += 1
            progress("steady stream with deaths (timed)", len(sent_at), len(dying))
            await asyncio.sleep(0.002)
        await producer.flush()
        elapsed = loop.time() - started
    finally:
        producing = False
        await producer.stop()
    await poller
    latencies = [(seen_at[p] - sent_at[p]) * 1000 for p in seen_at]
    return {
        "latency_target_events_per_second": rate,
        "latency_events_per_second": round(sent / elapsed),
        "latency_samples": len(latencies),
        "latency_missing": len(sent_at) - len(latencies),
        "death_to_terminated_ms_p50": round(statistics.median(latencies), 1) if latencies else None,
        "death_to_terminated_ms_p99": round(_percentile(latencies, 0.99), 1) if latencies else None,
        "latency_poll_interval_ms": round(polling[1] * 1000 / max(1, polling[0]), 1),
    }


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]
