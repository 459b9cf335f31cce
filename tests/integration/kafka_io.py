"""Producing to and reading from the real broker in tests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic


def produce(servers: str, topic: str, messages: list[dict[str, Any] | str]) -> None:
    async def go() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=servers, linger_ms=5, acks="all")
        await producer.start()
        try:
            for message in messages:
                if isinstance(message, str):
                    key, value = None, message.encode()
                else:
                    key, value = message["person_id"].encode(), json.dumps(message).encode()
                await producer.send(topic, value, key=key)
            await producer.flush()
        finally:
            await producer.stop()

    asyncio.run(go())


def read_all(servers: str, topic: str, expect_at_least: int, timeout: float = 60.0) -> list[dict]:
    """Every message on ``topic`` from the beginning (waits until at least ``expect_at_least``)."""

    async def go() -> list[dict]:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=servers, auto_offset_reset="earliest", enable_auto_commit=False
        )
        await consumer.start()
        found: list[dict] = []
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            while loop.time() < deadline:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    found.extend(json.loads(r.value) for r in records)
                if len(found) >= expect_at_least and not batches:
                    break
        finally:
            await consumer.stop()
        return found

    return asyncio.run(go())


def create_topic(servers: str, topic: str, partitions: int) -> None:
    async def go() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=servers)
        await admin.start()
        try:
            await admin.create_topics(
                [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
            )
        finally:
            await admin.close()

    asyncio.run(go())


def end_offsets(servers: str, topic: str) -> dict[int, int]:
    """Per partition of ``topic``: the offset the next message will get (messages so far)."""

    async def go() -> dict[int, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
        await consumer.start()
        try:
            await consumer.topics()  # fetches the metadata of every topic
            partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
            ends = await consumer.end_offsets(partitions)
        finally:
            await consumer.stop()
        return {tp.partition: offset for tp, offset in ends.items()}

    return asyncio.run(go())
