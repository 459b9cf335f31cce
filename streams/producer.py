"""Putting life events onto the ``life-events`` topic (the scheduler's events go the same way)."""

from __future__ import annotations

import json
from typing import Any

from aiokafka import AIOKafkaProducer


class LifeEventProducer:
    """Sends life events keyed by ``person_id`` and waits until the broker has them all."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self.topic = topic
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap_servers, acks="all", enable_idempotence=True, linger_ms=5
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(self, events: list[dict[str, Any]]) -> None:
        deliveries = [
            await self._producer.send(
                self.topic,
                json.dumps(event, ensure_ascii=False).encode("utf-8"),
                key=str(event["person_id"]).encode("utf-8"),
            )
            for event in events
        ]
        for delivery in deliveries:
            await delivery
