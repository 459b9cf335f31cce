"""Every write through the service is a life event through the same intake as Kafka's: no side
door into the store.

Embedded mode (``StoreWrites``) applies it before the response returns. Kafka mode
(``KafkaWrites``) produces it to ``life-events`` and the response points at a status URL that
reports ``pending`` until the worker has applied it. Either way the event is validated by the
wire contract first, and an ``Idempotency-Key`` fixes its ``event_id``, so a retry is a
duplicate the intake ignores.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

import policy
from engine.wiring import Engine, lock_store
from streams.contracts import LifeEvent, Rejection, decode
from streams.intake import Message

SOURCE = "service"

WRITES_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS service_writes ("
    " write_id TEXT PRIMARY KEY, caller TEXT NOT NULL, person_id TEXT NOT NULL,"
    " event_id TEXT NOT NULL, type TEXT NOT NULL, created_on TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS service_idempotency ("
    " caller TEXT NOT NULL, idempotency_key TEXT NOT NULL, request_hash TEXT NOT NULL,"
    " status INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (caller, idempotency_key))",
)


class InvalidWrite(Exception):
    """The life event a request would write breaks the contract: 422 with the reason."""


class StoreBusyNow(Exception):
    """Another writer (a `benefits run`) holds the store: 503, try again."""


@dataclass(frozen=True)
class Submitted:
    event_id: str
    applied: bool  # False: produced to Kafka, pending until the worker applies it
    status: str  # accepted | duplicate | waiting | pending


def event_id_for(caller: str, idempotency_key: str | None, kind: str) -> str:
    """With an Idempotency-Key the same request always writes the same event."""
    if idempotency_key is None:
        return f"svc-{kind}-{uuid.uuid4().hex}"
    digest = hashlib.sha256(f"{caller}\n{idempotency_key}\n{kind}".encode()).hexdigest()
    return f"svc-{kind}-{digest[:32]}"


def life_event(
    kind: str, person_id: str, on: date, event_id: str, data: dict[str, Any]
) -> dict[str, Any]:
    """The wire message of a write, checked against the contract (raises InvalidWrite)."""
    message = {
        "event_id": event_id,
        "type": kind,
        "person_id": person_id,
        "occurred_on": on.isoformat(),
        "source": SOURCE,
        "data": {k: v for k, v in data.items() if v is not None},
    }
    decoded = decode(json.dumps(message, ensure_ascii=False))
    if isinstance(decoded, Rejection):
        raise InvalidWrite(decoded.reason)
    return message


class Writes(Protocol):
    def submit(self, message: dict[str, Any], today: date) -> Submitted: ...


class StoreWrites:
    """Embedded mode: apply through the intake, under the store's writer lock, then refresh."""

    def __init__(self, engine: Engine, store_url: str) -> None:
        self.engine = engine
        self.store_url = store_url
        self._lock = threading.Lock()

    def submit(self, message: dict[str, Any], today: date) -> Submitted:
        decoded = decode(json.dumps(message, ensure_ascii=False))
        assert isinstance(decoded, LifeEvent)
        policy.refresh(strict=False)  # a version added to the deployment, without a restart
        with self._lock:
            try:
                writer = lock_store(self.store_url, must_exist=True)
            except Exception as exc:  # StoreBusy: a run is writing
                raise StoreBusyNow(str(exc)) from None
            try:
                outcome = self.engine.intake.apply_messages(
                    [Message(0, json.dumps(message, ensure_ascii=False), decoded)],
                    source=SOURCE,
                    today=today,
                )
                self.engine.refresh()
            finally:
                writer.release()
        status = outcome.statuses[0] if outcome.statuses else "accepted"
        return Submitted(message["event_id"], applied=True, status=status)


class KafkaWrites:
    """Kafka mode: produce to ``life-events``, keyed by person; the worker applies it."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self._producer: Any = None

    async def start(self) -> None:
        from aiokafka import AIOKafkaProducer

        # Created here, inside the server's event loop.
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap_servers, acks="all", enable_idempotence=True
        )
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def produce(self, message: dict[str, Any]) -> Submitted:
        await self._producer.send_and_wait(
            self.topic,
            json.dumps(message, ensure_ascii=False).encode(),
            key=message["person_id"].encode(),
        )
        return Submitted(message["event_id"], applied=False, status="pending")
