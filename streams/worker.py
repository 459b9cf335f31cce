"""Kafka mode: a worker (a faust-streaming app whose consumer is aiokafka's own, see
``WithoutFaustConsumer``) that consumes ``life-events`` in batches, reading only what producers
committed.

Several workers share the topic in one consumer group, each applying the partitions Kafka assigns
it. Per batch, the intake records the new domain events together with each partition's offset
(tracking name ``kafka:<topic>:<partition>``), in one transaction. That recorded position, never
Kafka's committed offset, says what has been applied: messages at or below it are skipped, and a
partition delivered from beyond it is read again from it, unless the broker, asked directly, says
the offsets skipped hold no record. Then the read models are brought up to date and new
decisions and dead letters are published, one worker at a time. A batch that fails (the database
or the broker unreachable, another worker's write first) is tried again, with backoff, until it
is applied.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import traceback
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from itertools import pairwise
from typing import Any, TypeVar

import aiokafka
import faust
from faust.app.base import BootStrategy

import policy
from engine.errors import BrokerUnavailable
from engine.settings import Settings
from engine.wiring import open_engine
from streams.intake import BatchOutcome, Message
from streams.publisher import Publisher
from streams.waiting import GRACE_DAYS

log = logging.getLogger("benefits.worker")

# How often the consumer refreshes the brokers' metadata: a life-events topic created (or given
# more partitions) after the worker started is read within seconds, not aiokafka's 5 minutes.
METADATA_MAX_AGE_MS = 5_000
# Waits between attempts at a failed batch, doubling from the first up to the last (seconds).
RETRY_FIRST_SECONDS = 0.5
RETRY_LONGEST_SECONDS = 30.0
# How long the broker may take to say which offsets of a gap hold records before the gap is read
# again instead (seconds).
PROBE_SECONDS = 10.0
# How the worker's consumer and its probe of the broker (``held_after``) read transactions: only
# once committed, never those aborted (an agency that aborted one did not mean its events). A
# transaction still open holds back the later messages of its partition until it ends.
ISOLATION_LEVEL = "read_committed"
# A worker silent for this long (it died) loses its partitions to the others; it says it is
# alive this often (milliseconds).
SESSION_TIMEOUT_MS = 10_000
HEARTBEAT_INTERVAL_MS = 2_000
# How long a rebalance waits for the batch being applied before handing its partitions over.
REVOKE_WAIT_SECONDS = 5.0

T = TypeVar("T")
# A gap in a partition's offsets: the store's position and the first position delivered past it.
Gap = tuple[int, int]
# What one read of the consumer returned: each partition's records, in offset order.
Fetched = dict[aiokafka.TopicPartition, list[Any]]


def build_app(settings: Settings) -> faust.App:
    """The faust app: its producer publishes, its tasks and timers run the worker's jobs, and
    one of them consumes ``life-events`` with an aiokafka consumer of the worker's own."""
    app = faust.App(
        settings.consumer_group,
        broker=",".join(
            f"kafka://{s.strip()}" for s in settings.kafka_bootstrap_servers.split(",")
        ),
        store="memory://",
        web_enabled=False,
        key_serializer="raw",
        value_serializer="raw",
        topic_allow_declare=True,
        producer_acks=-1,
    )
    app.boot_strategy = WithoutFaustConsumer(app)
    engine = open_engine(settings.database_url, aggregate_cache=settings.aggregate_cache)
    publisher = Publisher(
        engine.intake,
        positions=engine.view,
        person_ids=engine.view.person_ids,
        decisions_topic=settings.decisions_topic,
        dead_letter_topic=settings.dead_letter_topic,
        notifications_topic=settings.notifications_topic,
        instructions_topic=settings.instructions_topic,
        lock=engine.publishing_turn,
    )
    engine.followers.append(publisher.tracking_name)
    totals = BatchOutcome()
    # One writer at a time in this process: the consumer's batches and the hourly expiry.
    writing = asyncio.Lock()

    async def reconnect(exc: BaseException) -> None:
        if is_lost_connection(exc):
            async with writing:
                engine.drop_connections()

    async def send(topic_name: str, key: bytes | None, value: bytes) -> Any:
        return await app.producer.send(topic_name, key, value, None, None, None)

    sealed_before: date | None = None  # the day whose earlier days are sealed

    async def apply(
        consumer: aiokafka.AIOKafkaConsumer,
        partitions: dict[int, list[Message]],
        lags: dict[str, float],
        spent: dict[str, float],
    ) -> BatchOutcome:
        """Apply one batch (every partition in one transaction), bring the read models up to
        date and publish; safe to call again after a failure (what was recorded is skipped).
        ``spent`` gets each step's seconds."""
        nonlocal sealed_before
        began = time.perf_counter()
        today = datetime.now(UTC).date()
        policy.refresh(strict=False)  # a version added meanwhile applies without a restart
        async with writing:
            if sealed_before != today:
                # A new day: yesterday's events go under yesterday's Merkle root (one worker
                # records it; for the others the seal is already there).
                await asyncio.to_thread(engine.intake.seal, today - timedelta(days=1))
                sealed_before = today
            sources = {p: f"kafka:{settings.life_events_topic}:{p}" for p in sorted(partitions)}
            done = await asyncio.to_thread(engine.intake.positions, sources.values())
            runs: dict[str, list[Message]] = {}
            read_from: dict[int, int] = {}
            for partition, source in sources.items():
                messages = partitions[partition]
                run, gap = applicable(messages, done[source])
                if gap is not None:
                    run, gap = await past_empty_gaps(
                        consumer, partition, messages, done[source], gap
                    )
                if run:
                    runs[source] = run
                if gap is not None:
                    read_from[partition] = gap[0]
            # One thread does the store's work: one transaction for every partition's messages
            # and positions, then the read models.
            outcome, applied = await asyncio.to_thread(record_and_fold, runs, today, done, lags)
            for partition, offset in read_from.items():
                await read_again(consumer, partition, offset)
            refreshed = time.perf_counter()
            await publisher.publish_pending(send)
            spent.update(
                applying=applied - began,
                read_models=refreshed - applied,
                publishing=time.perf_counter() - refreshed,
            )
        return outcome

    def record_and_fold(
        runs: dict[str, list[Message]],
        today: date,
        done: dict[str, int],
        lags: dict[str, float],
    ) -> tuple[BatchOutcome, float]:
        """Apply the runs (if any) and bring the read models up to date; returns the outcome
        and when applying ended."""
        outcome = BatchOutcome()
        if runs:
            started = time.perf_counter()
            outcome = engine.intake.apply_runs(runs, today, done)
            engine.kpis.note_batch(time.perf_counter() - started)
        applied = time.perf_counter()
        engine.kpis.view.set_gauges("consumer_lag", lags)
        engine.refresh()
        return outcome, applied

    async def past_empty_gaps(
        consumer: aiokafka.AIOKafkaConsumer,
        partition: int,
        messages: list[Message],
        done: int,
        gap: Gap,
    ) -> tuple[list[Message], Gap | None]:
        """``applicable``'s answer once the broker has said which offsets hold no record to
        read: those retention removed before they were applied (an error: they never will be),
        those that never held one (the marker each commit or abort of a transactional producer
        leaves), those whose record is never read (an aborted transaction's) and those that no
        longer hold one (records compaction removed). Reading again could not fill any of them;
        any other gap is read again."""
        kept_from = await first_kept(consumer, partition)
        run, rest = applicable(messages, done, kept_from)
        if rest is not None:
            try:
                held = await held_after(
                    settings.kafka_bootstrap_servers,
                    settings.life_events_topic,
                    partition,
                    max(rest[0], kept_from - 1),
                    {m.position for m in messages},
                )
            except Exception as exc:  # unknown: read again, the safe way
                log.warning(
                    "partition %d: the broker did not say whether offsets %d to %d hold"
                    " records (%s)",
                    partition,
                    rest[0],
                    rest[1] - 2,
                    type(exc).__name__,
                )
            else:
                run, rest = applicable(messages, done, kept_from, held)
        if run and run[-1].position >= gap[1] and gap[0] < kept_from - 1:
            log.error(
                "partition %d: offsets %d to %d left the topic before they were"
                " applied (retention); continuing after them",
                partition,
                gap[0],
                min(gap[1], kept_from) - 2,
            )
        ends = [done, *(m.position for m in run)]
        empty = [(max(a, kept_from - 1), b) for a, b in pairwise(ends)]
        empty = [(a, b) for a, b in empty if b - a > 1]
        if empty:
            log.info(
                "partition %d: no record to read at offsets %s (transaction markers, aborted or"
                " compacted records); passed over",
                partition,
                _offsets(empty),
            )
        return run, rest

    async def first_kept(consumer: aiokafka.AIOKafkaConsumer, partition: int) -> int:
        """The position of the partition's first message still on the topic."""
        tp = aiokafka.TopicPartition(settings.life_events_topic, partition)
        try:
            earliest = await consumer.beginning_offsets([tp])
        except Exception as exc:  # unknown: assume nothing was removed, and read again
            log.info("partition %d: earliest offset unknown (%s)", partition, type(exc).__name__)
            return 0
        return earliest.get(tp, -1) + 1

    async def read_again(consumer: aiokafka.AIOKafkaConsumer, partition: int, offset: int) -> None:
        log.warning(
            "partition %d: delivered from past the store's position; reading again from offset %d",
            partition,
            offset,
        )
        try:
            consumer.seek(aiokafka.TopicPartition(settings.life_events_topic, partition), offset)
        except Exception as exc:  # no longer ours: its new owner reads from the store's position
            log.info("partition %d: not read again here (%s)", partition, type(exc).__name__)

    async def apply_fetched(consumer: aiokafka.AIOKafkaConsumer, fetched: Fetched) -> None:
        partitions: dict[int, list[Message]] = defaultdict(list)
        count = 0
        for tp, records in fetched.items():
            count += len(records)
            partitions[tp.partition].extend(
                Message(
                    position=record.offset + 1,
                    value=record.value,
                    received_at=datetime.fromtimestamp(record.timestamp / 1000, UTC),
                )
                for record in records
            )
        lags = lag(consumer, fetched)
        what = f"batch of {count}"
        spent: dict[str, float] = {}
        outcome = await retrying(what, partial(apply, consumer, partitions, lags, spent), reconnect)
        totals.add(outcome)
        log.info(
            "batch of %d (partitions %s) in %s: accepted %d, rejected %d, duplicates %d"
            " (totals: %d/%d/%d)",
            count,
            ",".join(str(p) for p in sorted(partitions)),
            ", ".join(f"{step} {seconds * 1000:.0f} ms" for step, seconds in spent.items()),
            outcome.accepted,
            outcome.rejected,
            outcome.duplicates,
            totals.accepted,
            totals.rejected,
            totals.duplicates,
        )

    def lag(consumer: aiokafka.AIOKafkaConsumer, fetched: Fetched) -> dict[str, float]:
        """Per partition: messages on the topic not yet applied (the highwater minus the next
        offset to read)."""
        lags: dict[str, float] = {}
        mine = consumer.assignment()
        for tp, records in fetched.items():
            if tp not in mine:  # aiokafka asserts on a partition no longer assigned
                continue
            highwater = consumer.highwater(tp)
            if highwater is not None and records:
                lags[str(tp.partition)] = float(max(0, highwater - (records[-1].offset + 1)))
        return lags

    @app.task
    async def consume() -> None:
        """Read ``life-events`` in batches and apply each; after each batch, tell the group how
        far this worker got (Kafka's committed offsets only say where a worker taking the
        partition over starts reading: the store's positions decide what is applied)."""
        consumer = aiokafka.AIOKafkaConsumer(**consumer_settings(settings))
        in_flight = asyncio.Lock()  # held while a batch is applied; a rebalance waits for it
        consumer.subscribe([settings.life_events_topic], listener=Assignments(in_flight))
        await consumer.start()
        reading = partial(next_batch, consumer, settings.batch_size, settings.batch_wait_ms / 1000)
        try:
            while True:
                fetched = await retrying("reading life-events", reading)
                async with in_flight:
                    # Records of partitions taken away meanwhile (a rebalance during the
                    # read) are their new owner's to apply.
                    mine = consumer.assignment()
                    fetched = {tp: records for tp, records in fetched.items() if tp in mine}
                    if not fetched:
                        continue
                    await apply_fetched(consumer, fetched)
                    await acknowledge(consumer, fetched)
                # What the batch left in memory (cached people, mostly) is not looked at again
                # by Python's cycle collector, whose full passes over a growing cache otherwise
                # stall a batch for tens of milliseconds, and later more; the hourly job
                # collects what is no longer used (``collect_cycles``).
                gc.freeze()
        finally:
            await consumer.stop()

    def expire_waiting() -> int:
        """Dead-letter events whose person was not registered within the grace period."""
        today = datetime.now(UTC).date()
        keys = engine.view.waiting_due(today - timedelta(days=GRACE_DAYS))
        return engine.intake.expire_waiting(keys, today, GRACE_DAYS) if keys else 0

    async def expire_and_publish() -> None:
        async with writing:
            if await asyncio.to_thread(expire_waiting):
                await asyncio.to_thread(engine.refresh)
                await publisher.publish_pending(send)

    @app.timer(interval=3600.0)
    async def expire_waiting_hourly() -> None:
        # Every worker runs it; the waiting room's version lets only one expire an event.
        await retrying("expiry of waiting events", expire_and_publish, reconnect)
        async with writing:
            collect_cycles()

    async def publish() -> None:
        async with writing:
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
        await retrying("publishing at start-up", publish, reconnect)

    return app


class WithoutFaustConsumer(BootStrategy):
    """faust starts its producer, tasks and timers, but no consumer: the worker reads
    ``life-events`` with aiokafka's own (``consumer_settings``). faust's stream machinery cost
    more per message than applying it, and holding a batch back to fill it delayed every
    decision; aiokafka's ``getmany`` hands over, at once, everything fetched in the
    meantime."""

    enable_kafka_consumer = False


def consumer_settings(settings: Settings) -> dict[str, Any]:
    """The worker's aiokafka consumer: in the consumer group, reading only what producers
    committed (``ISOLATION_LEVEL``), from the start of a partition the group has no offset for,
    seeing a topic or partitions added within seconds, and committing offsets itself."""
    return {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "group_id": settings.consumer_group,
        "client_id": f"{settings.consumer_group}-worker",
        "isolation_level": ISOLATION_LEVEL,
        "auto_offset_reset": "earliest",
        "enable_auto_commit": False,
        "metadata_max_age_ms": METADATA_MAX_AGE_MS,
        "session_timeout_ms": SESSION_TIMEOUT_MS,
        "heartbeat_interval_ms": HEARTBEAT_INTERVAL_MS,
        "max_poll_records": settings.batch_size,
    }


class Assignments(aiokafka.ConsumerRebalanceListener):  # type: ignore[misc]
    """Lets the batch being applied finish before partitions are given to another worker (up
    to ``REVOKE_WAIT_SECONDS``: a batch retrying through a database outage does not hold the
    group up; the store's positions keep it exactly once either way), and logs the partitions
    the group gives this worker at each rebalance."""

    def __init__(self, in_flight: asyncio.Lock) -> None:
        self.in_flight = in_flight

    async def on_partitions_revoked(self, revoked: Any) -> None:
        try:
            async with asyncio.timeout(REVOKE_WAIT_SECONDS), self.in_flight:
                pass
        except TimeoutError:
            log.info("partitions handed over while a batch is still being applied")

    async def on_partitions_assigned(self, assigned: Any) -> None:
        mine = sorted(tp.partition for tp in assigned)
        log.info("partitions assigned: %s", ",".join(str(p) for p in mine) or "none")


async def next_batch(consumer: aiokafka.AIOKafkaConsumer, size: int, wait: float) -> Fetched:
    """Up to ``size`` messages, by partition: those fetched already, else the first to arrive
    within a second; if fewer than ``size``, with those that arrive within ``wait`` seconds
    more (a fetch on its way: it returns as soon as any arrive)."""
    fetched: Fetched = await consumer.getmany(timeout_ms=1000, max_records=size)
    count = sum(len(records) for records in fetched.values())
    if fetched and wait > 0 and count < size:
        more = await consumer.getmany(timeout_ms=int(wait * 1000), max_records=size - count)
        for tp, records in more.items():
            fetched.setdefault(tp, []).extend(records)
    return fetched


async def acknowledge(consumer: aiokafka.AIOKafkaConsumer, fetched: Fetched) -> None:
    """Commit the group's offset of each of the batch's partitions still this worker's: the
    next it reads (past the batch, or the store's position for a partition read again). A
    failure only means that whoever reads these partitions next starts earlier and skips what
    the store has: one line, and on."""
    try:
        mine = consumer.assignment()
        offsets = {tp: await consumer.position(tp) for tp in fetched if tp in mine}
        if offsets:
            await consumer.commit(offsets)
    except Exception as exc:
        log.info("offsets not committed (%s)", type(exc).__name__)


@dataclass(frozen=True)
class Held:
    """Which positions of a partition hold a record, as the broker said when asked directly:
    ``positions``, in order, are all those after ``after`` up to the last of them; the others
    in between hold none."""

    after: int
    positions: tuple[int, ...]

    def holds_none(self, gap: Gap) -> bool:
        """No position inside ``gap`` (between its two ends) holds a record, as far as known."""
        start, end = gap
        if start < self.after:
            return False
        next_held = bisect_right(self.positions, start)
        return next_held < len(self.positions) and self.positions[next_held] >= end


def applicable(
    messages: Sequence[Message], done: int, kept_from: int = 0, held: Held | None = None
) -> tuple[list[Message], Gap | None]:
    """Of one partition's delivered ``messages``, those to apply now: in offset order, after the
    store's position ``done``, up to the first gap in positions; and that gap (the store's
    position after the messages to apply, the first position delivered past it), to be read
    again from its start. Kafka delivers from past the store's position when the consumer
    group's committed offset ran ahead of it (a batch acknowledged but never recorded), and in
    a stale order just after reading again. A gap below ``kept_from``, the first position still
    on the topic, is passed over: retention removed those messages. So is a gap in which, by
    the broker's answer ``held``, no position retention left holds a record to read: a
    transactional producer's commit and abort markers take offsets, an aborted transaction's
    records are never read, and compaction removes records. (How a gap looks in the delivered
    messages never says so: a stale delivery just after reading again can show the same gap
    twice.)"""
    fresh = sorted({m.position: m for m in messages if m.position > done}.values(), key=_position)
    run: list[Message] = []
    expected = done + 1
    for message in fresh:
        if message.position != expected:
            gap = (expected - 1, message.position)
            kept = (max(gap[0], kept_from - 1), gap[1])  # the part retention did not remove
            if message.position > kept_from and not (held and held.holds_none(kept)):
                return run, gap
            expected = message.position
        run.append(message)
        expected += 1
    return run, None


def _position(message: Message) -> int:
    return message.position


def _offsets(gaps: list[Gap], most: int = 5) -> str:
    """The offsets inside ``gaps``, for a log line: "5, 7 to 9", the first ``most`` gaps."""
    shown = [f"{a}" if b - a == 2 else f"{a} to {b - 2}" for a, b in gaps[:most]]
    if len(gaps) > most:
        shown.append(f"and {len(gaps) - most} more gaps up to {gaps[-1][1] - 2}")
    return ", ".join(shown)


async def held_after(
    servers: str,
    topic: str,
    partition: int,
    position: int,
    delivered: set[int],
    timeout: float = PROBE_SECONDS,
) -> Held:
    """Ask the broker which positions of ``topic``'s ``partition`` after ``position`` hold a
    record to read, with a consumer of its own (no group, nothing committed) that reads
    transactions as the worker's does (``ISOLATION_LEVEL``). It reads up to the last of the
    ``delivered`` positions, or to a record they lack (no gap past that one is passed over
    yet), or as far as ``timeout`` allows. Raise when it cannot tell: the broker unreachable,
    nothing read in time, or ``position`` no longer on the topic (this consumer does not skip
    to the first kept offset, so it never answers for offsets other than those asked about)."""
    tp = aiokafka.TopicPartition(topic, partition)
    consumer = aiokafka.AIOKafkaConsumer(
        bootstrap_servers=servers,
        enable_auto_commit=False,
        auto_offset_reset="none",
        isolation_level=ISOLATION_LEVEL,
    )
    positions: list[int] = []
    try:
        async with asyncio.timeout(timeout):
            await consumer.start()
            consumer.assign([tp])
            consumer.seek(tp, position)  # positions are offsets + 1: the first offset after it
            last = max(delivered)
            while True:
                records = await consumer.getmany(tp, timeout_ms=1000)
                read = [r.offset + 1 for r in records.get(tp, [])]
                positions.extend(read)
                if read and (read[-1] >= last or not delivered.issuperset(read)):
                    break
    except TimeoutError:
        if not positions:
            raise
    finally:
        await consumer.stop()
    return Held(position, tuple(positions))


async def retrying(
    what: str,
    attempt: Callable[[], Awaitable[T]],
    after_failure: Callable[[BaseException], Awaitable[None]] | None = None,
) -> T:
    """Run ``attempt`` until it succeeds, waiting longer after each failure (up to
    ``RETRY_LONGEST_SECONDS``), and calling ``after_failure`` first. Each failure is one log
    line naming the error's kind and the first line of its message, which for the database and
    the broker says what is unreachable and holds no personal data; an unexpected error (a bug)
    also logs where it happened, once, without its message."""
    failures = 0
    while True:
        try:
            return await attempt()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if after_failure is not None:
                await after_failure(exc)
            failures += 1
            wait = min(RETRY_LONGEST_SECONDS, RETRY_FIRST_SECONDS * 2 ** (failures - 1))
            if is_infrastructure(exc):
                log.warning(
                    "%s not applied (%s: %s); attempt %d in %.1f s",
                    what,
                    type(exc).__name__,
                    _first_line(exc),
                    failures + 1,
                    wait,
                )
            else:
                where = "".join(traceback.format_tb(exc.__traceback__)) if failures == 1 else ""
                log.error(
                    "%s not applied (unexpected %s); attempt %d in %.1f s%s",
                    what,
                    type(exc).__name__,
                    failures + 1,
                    wait,
                    f"\n{where}" if where else "",
                )
            await asyncio.sleep(wait)


def _lost_connection_errors() -> tuple[type[BaseException], ...]:
    import psycopg
    from eventsourcing.persistence import InterfaceError, OperationalError

    return (psycopg.OperationalError, psycopg.InterfaceError, OperationalError, InterfaceError)


def is_lost_connection(exc: BaseException) -> bool:
    """The database could not be reached, or a connection to it broke."""
    return isinstance(exc, _lost_connection_errors())


def is_infrastructure(exc: BaseException) -> bool:
    """The database or the broker failed, or another writer recorded first: worth trying
    again as it is."""
    import psycopg
    from aiokafka.errors import KafkaError
    from eventsourcing.persistence import IntegrityError

    return isinstance(
        exc,
        (
            *_lost_connection_errors(),
            psycopg.IntegrityError,
            IntegrityError,
            KafkaError,
            OSError,
            TimeoutError,
        ),
    )


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0].strip() if lines else ""
    return text[:200] if text else "no message"


def collect_cycles() -> None:
    """A full pass of Python's cycle collector over everything, frozen after each batch
    included (one line with how long it took)."""
    started = time.perf_counter()
    gc.unfreeze()
    found = gc.collect()
    gc.freeze()
    log.info(
        "memory: %d unreachable objects collected in %.0f ms",
        found,
        (time.perf_counter() - started) * 1000,
    )


def run_worker(settings: Settings) -> None:
    """Run until interrupted (after checking, in one line if not, that the brokers answer)."""
    check_brokers(settings.kafka_bootstrap_servers)
    app = build_app(settings)
    worker = faust.Worker(app, loglevel="INFO")
    worker.execute_from_commandline()


def check_brokers(servers: str, timeout: float = 15.0) -> None:
    """Raise ``BrokerUnavailable`` unless a broker in ``servers`` answers within ``timeout``."""
    from aiokafka.client import AIOKafkaClient

    async def probe() -> None:
        client = AIOKafkaClient(bootstrap_servers=servers, request_timeout_ms=int(timeout * 1000))
        try:
            await asyncio.wait_for(client.bootstrap(), timeout)
        finally:
            await client.close()

    quiet = logging.getLogger("aiokafka")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # its own lines about each failed try: ours says it once
    try:
        asyncio.run(probe())
    except Exception as exc:
        raise BrokerUnavailable(
            f"cannot reach Kafka at {servers} (KAFKA_BOOTSTRAP_SERVERS): no broker answered"
            f" ({type(exc).__name__})"
        ) from None
    finally:
        quiet.setLevel(level)
