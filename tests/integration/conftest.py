"""Real Kafka and PostgreSQL for integration tests: taken from KAFKA_BOOTSTRAP_SERVERS and
DATABASE_URL when set, otherwise started here."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from engine.servers import KafkaBroker, PostgresServer


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield given
        return
    broker = KafkaBroker().start()
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    given = os.environ.get("DATABASE_URL")
    if given and given.startswith("postgres"):
        yield given
        return
    server = PostgresServer().start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture()
def database_url(postgres_url: str) -> Iterator[str]:
    """A fresh, empty database on the real server for one test."""
    name = f"benefits_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(postgres_url)
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class WorkerEnv:
    """Settings for one test's worker: its own topics and consumer group."""

    kafka: str
    database_url: str
    folder: Path
    suffix: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    batch_size: int = 500

    @property
    def life_events_topic(self) -> str:
        return f"life-events-{self.suffix}"

    @property
    def decisions_topic(self) -> str:
        return f"benefit-decisions-{self.suffix}"

    @property
    def notifications_topic(self) -> str:
        return f"notifications-{self.suffix}"

    @property
    def instructions_topic(self) -> str:
        return f"payment-instructions-{self.suffix}"

    @property
    def dead_letter_topic(self) -> str:
        return f"life-events-{self.suffix}.dlq"

    def environ(self) -> dict[str, str]:
        return os.environ | {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka,
            "DATABASE_URL": self.database_url,
            "LIFE_EVENTS_TOPIC": self.life_events_topic,
            "DECISIONS_TOPIC": self.decisions_topic,
            "DEAD_LETTER_TOPIC": self.dead_letter_topic,
            "NOTIFICATIONS_TOPIC": self.notifications_topic,
            "PAYMENT_INSTRUCTIONS_TOPIC": self.instructions_topic,
            "CONSUMER_GROUP": f"benefits-test-{self.suffix}",
            "BATCH_SIZE": str(self.batch_size),
        }

    def start_worker(self, name: str | None = None) -> subprocess.Popen[bytes]:
        """A worker process; its output goes to ``worker-<name>.log`` in the folder."""
        log = self.log(name or str(time.monotonic_ns())).open("ab")
        return subprocess.Popen(
            [sys.executable, "-m", "engine", "worker"],
            cwd=self.folder,
            env=self.environ(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def log(self, name: str) -> Path:
        return self.folder / f"worker-{name}.log"


@pytest.fixture()
def worker_env(kafka_bootstrap: str, database_url: str, tmp_path: Path) -> WorkerEnv:
    return WorkerEnv(kafka=kafka_bootstrap, database_url=database_url, folder=tmp_path)


def outcome(view: Any, person_id: str) -> dict[str, Any] | None:
    """A person's status as two runs of the same events must agree on it: everything but each
    decision's place in the log (``decision_id``), which depends on how the writers interleaved."""
    doc = view.status(person_id)
    if doc is not None:
        doc["history"] = [
            {k: v for k, v in entry.items() if k != "decision_id"} for entry in doc["history"]
        ]
    return doc


def wait_for(
    condition: Callable[[], bool], timeout: float = 120.0, what: str = "condition"
) -> None:
    """Poll until ``condition()`` holds; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def stop(process: subprocess.Popen[bytes], kill: bool = False) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
