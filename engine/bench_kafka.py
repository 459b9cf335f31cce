"""`benefits bench`'s Kafka + PostgreSQL set-up, and ``benefits worker`` processes end to end beside
raw batched INSERTs into the same server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from engine import bench_floor
from engine.bench_embedded import BATCH, Progress, failure, quiet, registration, resident_mb
from engine.wiring import POSTGRES_EVENTS_TABLE, Engine, open_engine
from projections.database import connect_postgres

POLL_SECONDS = 0.05  # how often the throughput run looks whether the workers have caught up


@dataclass
class Deployment:
    """One run's own topic, database and ``benefits worker`` processes on given servers."""

    kafka: str
    postgres: str  # the server's URL; the run creates and drops a database of its own there
    folder: Path
    workers: int = 1
    partitions: int = 4
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    worker_peak_rss_mb: float | None = None

    @property
    def topic(self) -> str:
        return f"life-events-bench-{self.suffix}"

    @property
    def group(self) -> str:
        return f"benefits-bench-{self.suffix}"

    @property
    def database_url(self) -> str:
        return urlunsplit(urlsplit(self.postgres)._replace(path=f"/bench_{self.suffix}"))

    def sources(self) -> list[str]:
        return [f"kafka:{self.topic}:{p}" for p in range(self.partitions)]

    def start(self) -> None:
        """Create the database and the topic, start the workers, and return when they all consume
        (the group is stable with every worker in it and one message per partition is applied)."""
        with psycopg.connect(self.postgres, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "bench_{self.suffix}"')
        asyncio.run(_create_topic(self.kafka, self.topic, self.partitions))
        env = os.environ | {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka,
            "DATABASE_URL": self.database_url,
            "LIFE_EVENTS_TOPIC": self.topic,
            "DECISIONS_TOPIC": f"benefit-decisions-bench-{self.suffix}",
            "DEAD_LETTER_TOPIC": f"{self.topic}.dlq",
            "NOTIFICATIONS_TOPIC": f"notifications-bench-{self.suffix}",
            "PAYMENT_INSTRUCTIONS_TOPIC": f"payment-instructions-bench-{self.suffix}",
            "CONSUMER_GROUP": self.group,
        }
        for n in range(self.workers):
            log = (self.folder / f"worker-{n}.log").open("wb")
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "engine", "worker"],
                    cwd=self.folder,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        asyncio.run(_wait_for_group(self, timeout=180))
        warm_up = [registration(f"WARM-{p}", date(2026, 1, 1), p) for p in range(self.partitions)]
        ends = asyncio.run(produce(self.kafka, self.topic, warm_up, by_partition=True))
        engine = open_engine(self.database_url)
        try:
            self.wait_caught_up(engine, ends, timeout=120)
        finally:
            engine.close()

    def check_running(self) -> None:
        for n, process in enumerate(self.processes):
            if process.poll() is not None:
                log = (self.folder / f"worker-{n}.log").read_text(errors="replace")
                tail = " | ".join(log.strip().splitlines()[-3:])
                raise RuntimeError(f"benefits worker {n} exited ({process.returncode}): {tail}")

    def caught_up(self, engine: Engine, ends: dict[int, int]) -> bool:
        """Every message up to ``ends`` applied, and the status projection at the log's end."""
        for partition, end in ends.items():
            if engine.intake.position(f"kafka:{self.topic}:{partition}") < end:
                return False
        last = engine.intake.recorder.max_notification_id() or 0
        return (engine.view.max_tracking_id(engine.intake.name) or 0) >= last

    def wait_caught_up(self, engine: Engine, ends: dict[int, int], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.caught_up(engine, ends):
            self.check_running()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the workers did not catch up within {timeout:.0f} s")
            time.sleep(POLL_SECONDS)

    def stop(self) -> None:
        """Stop the workers (noting the largest one's peak resident memory) and drop the
        database."""
        peaks = [resident_mb(p.pid, peak=True) for p in self.processes if p.poll() is None]
        self.worker_peak_rss_mb = max((p for p in peaks if p is not None), default=None)
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        try:
            with psycopg.connect(self.postgres, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "bench_{self.suffix}" WITH (FORCE)')
        except psycopg.Error:
            pass  # a server the bench started goes with its folder anyway


async def _create_topic(kafka: str, topic: str, partitions: int) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()


async def _wait_for_group(deployment: Deployment, timeout: float) -> None:
    """Until the consumer group is stable with one member per worker."""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.errors import KafkaError

    admin = AIOKafkaAdminClient(bootstrap_servers=deployment.kafka)
    await admin.start()
    deadline = time.monotonic() + timeout
    try:
        while True:
            deployment.check_running()
            try:
                answers = await admin.describe_consumer_groups([deployment.group])
            except KafkaError:  # no coordinator yet: the group's first member is joining
                answers = []
            if answers:
                group = answers[0].to_object()["groups"][0]
                if group["state"] == "Stable" and len(group["members"]) >= deployment.workers:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the workers did not join their group within {timeout:.0f} s")
            await asyncio.sleep(0.2)
    finally:
        await admin.close()


async def produce(
    kafka: str, topic: str, events: Iterable[dict[str, Any]], by_partition: bool = False
) -> dict[int, int]:
    """Send events keyed by person (or one to each partition in turn), as fast as the producer
    batches them; returns each partition's end offset after the last one."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=kafka, linger_ms=5, acks="all", max_batch_size=256 * 1024
    )
    await producer.start()
    try:
        pending = []
        for n, event in enumerate(events):
            value = json.dumps(event, ensure_ascii=False).encode()
            key = event["person_id"].encode()
            partition = n if by_partition else None
            pending.append(await producer.send(topic, value, key=key, partition=partition))
        await producer.flush()
        ends: dict[int, int] = {}
        for metadata in await asyncio.gather(*pending):
            ends[metadata.partition] = max(ends.get(metadata.partition, 0), metadata.offset + 1)
        return ends
    finally:
        await producer.stop()


# ----- throughput end to end


def throughput(
    deployment: Deployment, events: list[dict[str, Any]], progress: Progress = quiet
) -> dict[str, Any]:
    """With the workers already consuming, produce every event, then wait until each is applied
    and the read model has caught up; time from the first send to then."""
    engine = open_engine(deployment.database_url)
    try:
        before = {p: engine.intake.position(s) for p, s in enumerate(deployment.sources())}
        started = time.perf_counter()
        ends = asyncio.run(produce(deployment.kafka, deployment.topic, events))
        produced = time.perf_counter() - started
        total = len(events)
        deadline = time.monotonic() + 3600
        while not deployment.caught_up(engine, ends):
            deployment.check_running()
            done = sum(
                engine.intake.position(s) - before[p] for p, s in enumerate(deployment.sources())
            )
            progress("Kafka + PostgreSQL end to end (timed)", done, total)
            if time.monotonic() > deadline:
                raise RuntimeError("the workers did not catch up within an hour")
            time.sleep(POLL_SECONDS)
        seconds = time.perf_counter() - started
    finally:
        engine.close()
    rows, size = postgres_rows(deployment.database_url)
    row_bytes = max(1, size // max(rows, 1))
    progress("raw PostgreSQL INSERTs (reference)", 0, rows)
    reference = raw_postgres_inserts(deployment.database_url, rows, row_bytes)
    rows_per_second = rows / seconds
    reference_rows_per_second = rows / reference
    figures = {
        "kafka_events": total,
        "kafka_produce_seconds": round(produced, 2),
        "kafka_seconds": round(seconds, 1),
        "kafka_events_per_second": round(total / seconds),
        "kafka_rows_written": rows,
        "kafka_rows_per_second": round(rows_per_second),
        "kafka_reference_insert_rows_per_second": round(reference_rows_per_second),
        "kafka_reference_row_bytes": row_bytes,
        "kafka_ratio": round(rows_per_second / reference_rows_per_second, 4),
    }
    return figures | kafka_store_floor(
        deployment.database_url, total, total / seconds, reference_rows_per_second, progress
    )


def kafka_store_floor(
    url: str, produced: int, measured: float, reference: float, progress: Progress = quiet
) -> dict[str, Any]:
    """The event store alone storing the run's events (``engine.bench_floor``) beside them:
    its events/s over the ``reference`` rows/s, and the input events/s it would allow (the
    ceiling), of which the run reached ``measured``. A reference that fails leaves the run's
    own figures standing: its figures are then absent and ``kafka_store_floor_failure`` says
    why."""
    shape = bench_floor.postgres_shape(url, POSTGRES_EVENTS_TABLE)
    figures = {
        "kafka_events_stored": shape.events,
        "kafka_store_floor_event_bytes": shape.body_bytes,
    }
    try:
        floor = shape.events / bench_floor.postgres_floor(url, shape, progress)
    except Exception as exc:
        return figures | {"kafka_store_floor_failure": failure(exc)}
    ceiling = floor * produced / max(shape.events, 1)
    return figures | {
        "kafka_store_floor_events_per_second": round(floor),
        "kafka_store_floor_ratio": round(floor / reference, 4),
        "kafka_store_ceiling_events_per_second": round(ceiling),
        "kafka_store_ceiling_share": round(measured / ceiling, 3),
    }


def postgres_rows(url: str) -> tuple[int, int]:
    """Rows in every table of the database's schema, and their bytes (tables and indexes)."""
    with connect_postgres(url, autocommit=True) as conn:
        tables = bench_floor.postgres_tables(conn)
        rows = sum(conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables)
        size = sum(
            conn.execute("SELECT pg_total_relation_size(%s::regclass)", (f'"{t}"',)).fetchone()[0]
            for t in tables
        )
    return rows, size


def raw_postgres_inserts(url: str, rows: int, row_bytes: int) -> float:
    """Seconds to INSERT ``rows`` rows of ``row_bytes`` bytes with ``executemany``, ``BATCH`` rows
    per transaction, into a fresh table on the same server."""
    payload = (bytes(range(256)) * (row_bytes // 256 + 1))[:row_bytes]
    with connect_postgres(url) as conn:
        conn.execute("CREATE TABLE bench_raw_rows (id BIGINT PRIMARY KEY, payload BYTEA NOT NULL)")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cursor:
            for first in range(0, rows, BATCH):
                batch = [(n, payload) for n in range(first, min(rows, first + BATCH))]
                cursor.executemany("INSERT INTO bench_raw_rows VALUES (%s, %s)", batch)
                conn.commit()
        seconds = time.perf_counter() - started
        conn.execute("DROP TABLE bench_raw_rows")
        conn.commit()
    return seconds
