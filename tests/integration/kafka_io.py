"""Producing to and reading from the real broker in tests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic, RecordsToDelete
from aiokafka.errors import for_code


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
    """Create ``topic``, or raise ``TopicAlreadyExistsError``."""

    async def go() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=servers)
        await admin.start()
        try:
            response = await admin.create_topics(
                [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
            )
            for _, code, *_ in response.topic_errors:
                if code:
                    raise for_code(code)(topic)
            await _until_led(admin, topic, partitions)
        finally:
            await admin.close()

    asyncio.run(go())


async def _until_led(admin: AIOKafkaAdminClient, topic: str, partitions: int) -> None:
    """Wait until the broker describes ``partitions`` partitions of ``topic``, each with a
    leader, so that a producer started now spreads keys over all of them."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while True:
        described = (await admin.describe_topics([topic]))[0]
        found = [p for p in described.get("partitions", []) if p.get("leader", -1) >= 0]
        if len(found) == partitions:
            return
        if loop.time() > deadline:
            raise AssertionError(f"{topic} has {len(found)} of {partitions} partitions led")
        await asyncio.sleep(0.05)


def add_partitions(servers: str, topic: str, partitions: int) -> None:
    """Give ``topic`` ``partitions`` partitions in all."""

    async def go() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=servers)
        await admin.start()
        try:
            await admin.create_partitions({topic: NewPartitions(total_count=partitions)})
            await _until_led(admin, topic, partitions)
        finally:
            await admin.close()

    asyncio.run(go())


def end_offsets(servers: str, topic: str) -> dict[int, int]:
    """Per partition of ``topic``: the offset the next message will get (messages so far)."""

    async def go() -> dict[int, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=servers)
        await admin.start()
        try:
            described = await admin.describe_topics([topic])
        finally:
            await admin.close()
        partitions = [TopicPartition(topic, p["partition"]) for p in described[0]["partitions"]]
        consumer = AIOKafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
        await consumer.start()
        try:
            ends = await consumer.end_offsets(partitions)
        finally:
            await consumer.stop()
        return {tp.partition: offset for tp, offset in ends.items()}

    return asyncio.run(go())


def commit_offsets(servers: str, group: str, topic: str, offsets: dict[int, int]) -> None:
    """Commit ``offsets`` (per partition: the next offset to read) for consumer group ``group``."""

    async def go() -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=servers, group_id=group, enable_auto_commit=False
        )
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, p) for p in offsets])
            await consumer.commit({TopicPartition(topic, p): o for p, o in offsets.items()})
        finally:
            await consumer.stop()

    asyncio.run(go())


def produce_in_steps(
    servers: str, topic: str, steps: list[tuple[str, list[dict[str, Any]]]]
) -> list[list[int]]:
    """Send each step's messages, in order: ``"plain"`` with an ordinary producer, ``"commit"``
    and ``"abort"`` as one transaction of a transactional producer, committed or aborted (either
    way a control marker takes the offset after the transaction's last message: the next step
    waits for it). Return each step's messages' positions (offset + 1)."""

    async def go() -> list[list[int]]:
        plain = AIOKafkaProducer(bootstrap_servers=servers, acks="all")
        transactional = AIOKafkaProducer(
            bootstrap_servers=servers, transactional_id=f"{topic}-transactions"
        )
        ends = AIOKafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
        for client in (plain, transactional, ends):
            await client.start()
        positions: list[list[int]] = []
        try:
            for how, messages in steps:
                producer = plain if how == "plain" else transactional
                if how != "plain":
                    await transactional.begin_transaction()
                positions.append([])
                last: dict[TopicPartition, int] = {}
                for message in messages:
                    sent = await producer.send(
                        topic, json.dumps(message).encode(), key=message["person_id"].encode()
                    )
                    record = await sent
                    last[TopicPartition(topic, record.partition)] = record.offset
                    positions[-1].append(record.offset + 1)
                if how == "commit":
                    await transactional.commit_transaction()
                elif how == "abort":
                    await transactional.abort_transaction()
                if how != "plain":
                    await _until_marked(ends, last)
        finally:
            for client in (ends, transactional, plain):
                await client.stop()
        return positions

    return asyncio.run(go())


async def _until_marked(ends: AIOKafkaConsumer, last: dict[TopicPartition, int]) -> None:
    """Wait until the marker after each partition's ``last`` offset is in: the coordinator writes
    the markers of a commit or an abort after it answered."""
    async with asyncio.timeout(60):  # a bound for a broken broker, not a timing assertion
        while any(end <= last[tp] + 1 for tp, end in (await ends.end_offsets(list(last))).items()):
            await asyncio.sleep(0.01)


class OpenTransaction:
    """A transaction of a producer of its own, its messages sent to ``topic`` and the transaction
    left open until ``end``: meanwhile its messages take offsets, and a consumer that reads
    committed reads nothing of their partition from the first of them on."""

    def __init__(self, servers: str, topic: str, messages: list[dict[str, Any]]) -> None:
        self._servers = servers
        self._loop = asyncio.new_event_loop()
        self._last: dict[TopicPartition, int] = {}
        self.positions: list[int] = []  # its messages' positions (offset + 1)

        async def begin() -> AIOKafkaProducer:
            producer = AIOKafkaProducer(
                bootstrap_servers=servers, transactional_id=f"{topic}-open-transaction"
            )
            await producer.start()
            await producer.begin_transaction()
            for message in messages:
                sent = await producer.send(
                    topic, json.dumps(message).encode(), key=message["person_id"].encode()
                )
                record = await sent
                self._last[TopicPartition(topic, record.partition)] = record.offset
                self.positions.append(record.offset + 1)
            return producer

        self._producer = self._loop.run_until_complete(begin())

    def end(self, commit: bool) -> None:
        """Commit or abort the transaction, and wait until its markers are in."""

        async def end() -> None:
            ends = AIOKafkaConsumer(bootstrap_servers=self._servers, enable_auto_commit=False)
            await ends.start()
            try:
                if commit:
                    await self._producer.commit_transaction()
                else:
                    await self._producer.abort_transaction()
                await _until_marked(ends, self._last)
            finally:
                await ends.stop()
                await self._producer.stop()

        try:
            self._loop.run_until_complete(end())
        finally:
            self._loop.close()


def delete_records(servers: str, topic: str, partition: int, before: int) -> None:
    """Remove the partition's records below offset ``before``, as retention would."""

    async def go() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=servers)
        await admin.start()
        try:
            await admin.delete_records({TopicPartition(topic, partition): RecordsToDelete(before)})
        finally:
            await admin.close()

    asyncio.run(go())
