"""`benefits bench`: the engine's figures measured in one run, each beside a reference measured in
the same run on the same machine (raw INSERTs, a new person), as a table or JSON."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import platform
import resource
import tempfile
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from engine import bench_embedded, bench_kafka, bench_latency
from engine.bench_embedded import Progress, failure, quiet
from engine.keys import KEY_ENV, new_key
from engine.wiring import open_engine

PARTS = ("year", "history", "memory", "kafka", "latency")
KAFKA_PARTS = ("kafka", "latency")

TITLES = {
    "year": "Embedded year (SQLite, as `benefits run`)",
    "history": "Long history (SQLite): one person",
    "memory": "Registered population (SQLite)",
    "kafka": "Kafka + PostgreSQL end to end",
    "latency": "Death to `terminated` in the read model",
    "process": "Resident memory of the whole run",
}
# (part, JSON key, label, unit, the same-run reference's key, its unit, the ratio's key)
ROWS: tuple[tuple[str, str, str, str, str | None, str, str | None], ...] = (
    ("year", "year_people", "persons", "", None, "", None),
    ("year", "year_input_events", "input events", "lines", None, "", None),
    ("year", "year_seconds", "wall time", "s", None, "", None),
    ("year", "year_persons_per_second", "throughput", "persons/s", None, "", None),
    ("year", "year_ms_per_person_year", "cost", "ms/person-year", None, "", None),
    ("year", "year_rows_written", "rows written", "rows", None, "", None),
    (
        "year",
        "year_rows_per_second",
        "write rate",
        "rows/s",
        "year_reference_insert_rows_per_second",
        "rows/s raw",
        "year_ratio",
    ),
    ("year", "year_events_stored", "events stored", "events", None, "", None),
    (
        "year",
        "year_store_floor_seconds",
        "event store alone",
        "s",
        "year_seconds",
        "s the year",
        "year_store_floor_share",
    ),
    (
        "year",
        "year_store_floor_ms_per_person_year",
        "event store alone",
        "ms/person-year",
        "year_ms_per_person_year",
        "ms the year",
        None,
    ),
    ("history", "history_years", "daily life evidence", "years", None, "", None),
    ("history", "history_facts", "facts", "", None, "", None),
    ("history", "history_build_seconds", "build (untimed)", "s", None, "", None),
    ("history", "history_events_timed", "events timed", "per person", None, "", None),
    (
        "history",
        "heavy_cold_ms_per_event",
        "event, uncached",
        "ms",
        "new_cold_ms_per_event",
        "ms new person",
        "history_cold_ratio",
    ),
    (
        "history",
        "heavy_warm_ms_per_event",
        "event, cached",
        "ms",
        "new_warm_ms_per_event",
        "ms new person",
        "history_warm_ratio",
    ),
    ("memory", "memory_people", "persons registered", "", None, "", None),
    ("memory", "memory_seconds", "registering", "s", None, "", None),
    ("memory", "memory_rss_mb", "resident memory", "MiB", None, "", None),
    ("memory", "memory_peak_rss_mb", "peak resident", "MiB", None, "", None),
    ("kafka", "kafka_people", "persons", "", None, "", None),
    ("kafka", "kafka_events", "events produced", "", None, "", None),
    ("kafka", "kafka_workers", "workers", "processes", None, "", None),
    ("kafka", "kafka_partitions", "partitions", "", None, "", None),
    ("kafka", "kafka_produce_seconds", "producing", "s", None, "", None),
    ("kafka", "kafka_seconds", "send to caught up", "s", None, "", None),
    ("kafka", "kafka_events_per_second", "throughput", "events/s", None, "", None),
    ("kafka", "kafka_rows_written", "rows written", "rows", None, "", None),
    (
        "kafka",
        "kafka_rows_per_second",
        "write rate",
        "rows/s",
        "kafka_reference_insert_rows_per_second",
        "rows/s raw",
        "kafka_ratio",
    ),
    ("kafka", "kafka_events_stored", "events stored", "events", None, "", None),
    (
        "kafka",
        "kafka_store_floor_events_per_second",
        "event store alone",
        "events/s",
        "kafka_reference_insert_rows_per_second",
        "rows/s raw",
        "kafka_store_floor_ratio",
    ),
    (
        "kafka",
        "kafka_store_ceiling_events_per_second",
        "ceiling it sets",
        "events/s",
        "kafka_events_per_second",
        "events/s measured",
        "kafka_store_ceiling_share",
    ),
    (
        "latency",
        "latency_events_per_second",
        "stream",
        "events/s",
        "latency_target_events_per_second",
        "target events/s",
        None,
    ),
    ("latency", "death_to_terminated_ms_p50", "p50", "ms", None, "", None),
    ("latency", "death_to_terminated_ms_p99", "p99", "ms", None, "", None),
    ("latency", "latency_samples", "deaths timed", "", None, "", None),
    ("latency", "latency_missing", "not seen in 120 s", "", None, "", None),
    ("latency", "latency_poll_interval_ms", "resolution (poll)", "ms", None, "", None),
    ("process", "peak_rss_bench_mb", "this process, peak", "MiB", None, "", None),
    ("process", "peak_rss_worker_mb", "largest worker, peak", "MiB", None, "", None),
    ("process", "peak_rss_children_mb", "largest child (any), peak", "MiB", None, "", None),
    ("process", "aggregate_cache_limit", "aggregate cache", "max", None, "", None),
)
# Figures in the JSON only (the notes below the table quote them).
EXTRA = (
    "year_reference_row_bytes",
    "year_journal_mode",
    "kafka_reference_row_bytes",
    "year_store_floor_event_bytes",
    "kafka_store_floor_event_bytes",
    # Why the event store alone was not measured, when it failed (else None).
    "year_store_floor_failure",
    "kafka_store_floor_failure",
)
# Every figure's JSON key: the measured ones, their references and ratios.
FIGURES = (
    *(k for _, key, _, _, ref, _, ratio in ROWS for k in (key, ref, ratio) if k is not None),
    *EXTRA,
)
NOTES = {
    "year": "Embedded year: reference = plain executemany INSERTs of as many rows of"
    " {year_reference_row_bytes} bytes (the store's size / its rows), 1,000 a transaction, into a"
    " fresh SQLite file, journal mode {year_journal_mode}; ratio = rows/s ÷ reference rows/s."
    " Event store alone = as many events of {year_store_floor_event_bytes} bytes (the year's"
    " mean) stored through the same library, cipher and recorder with none of the engine's"
    " deciding, validating, hash chain or read models, 500 aggregates a transaction: the least"
    " the year could take; ratio = its share of the year.",
    "history": "Long history: uncached = each event loads the person from the store, as after a"
    " restart; ratio = the long history's ms/event ÷ a new person's.",
    "kafka": "Kafka: the workers consume before the clock starts at the first send; reference ="
    " executemany INSERTs of as many rows of {kafka_reference_row_bytes} bytes, 1,000 a"
    " transaction, on the same PostgreSQL server; ratio = rows/s ÷ reference rows/s. Event store"
    " alone = as many events of {kafka_store_floor_event_bytes} bytes (the run's mean) stored"
    " through the same library, cipher and recorder with none of the engine's other work, 500"
    " aggregates a transaction, ratio over the raw INSERT rate; the ceiling it sets = the input"
    " events/s storing alone would allow; ratio = the measured throughput's share of it.",
    "latency": "Latency: one event in 100 of the paced stream is a death; produce time to the"
    " status row's `terminated`, measured to the poll interval.",
    "process": "Peaks: this process and the largest child are getrusage's maxrss; Linux counts"
    " in a child's the size of the bench when it forked it (so the child figure is at least"
    " that; a child the bench started may be Kafka's JVM or PostgreSQL), hence the workers' and"
    " the memory run's own peaks are /proc's VmHWM.",
}


@dataclass(frozen=True)
class Sizes:
    """What the bench measures; every part can be skipped."""

    people: int = 20_000
    kafka_people: int = 12_000
    workers: int = 1
    partitions: int = 4
    rate: int = 1_000
    deaths: int = 1000
    history_years: int = 30
    history_events: int = 20
    memory_people: int = 10_000
    skip: frozenset[str] = field(default_factory=frozenset)


def bench(sizes: Sizes, progress: Progress = quiet) -> dict[str, Any]:
    """Run every part not skipped; a part that cannot run or fails leaves its figures None and
    says why under ``missing``."""
    # Every store the bench makes is scratch: one key for them all, so none needs a key file.
    os.environ.setdefault(KEY_ENV, new_key())
    figures: dict[str, Any] = dict.fromkeys(FIGURES)
    missing: dict[str, str] = {}
    report = {
        "date_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "sizes": asdict(sizes) | {"skip": sorted(sizes.skip)},
        "figures": figures,
        "missing": missing,
    }
    for part in sizes.skip:
        missing[part] = f"skipped (--skip {part})"
    if sizes.memory_people == 0 and "memory" not in sizes.skip:
        missing["memory"] = "not measured (--memory-people 0)"
    with tempfile.TemporaryDirectory(prefix="benefits-bench-") as name:
        folder = Path(name)
        embedded: dict[str, Callable[[], dict[str, Any]]] = {
            "year": lambda: bench_embedded.embedded_year(sizes.people, folder, progress),
            "history": lambda: bench_embedded.history_cost(
                sizes.history_years, sizes.history_events, folder, progress
            ),
            "memory": lambda: bench_embedded.memory(sizes.memory_people, folder, progress),
        }
        for part, measure in embedded.items():
            if part not in missing:
                _measure(part, measure, figures, missing)
        wanted = [part for part in KAFKA_PARTS if part not in missing]
        if wanted:
            _kafka_parts(sizes, wanted, folder, figures, missing, progress)
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    figures["peak_rss_bench_mb"] = _mib(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    figures["peak_rss_children_mb"] = _mib(children) if children else None
    cache = inspect.signature(open_engine).parameters["aggregate_cache"].default
    figures["aggregate_cache_limit"] = cache
    report["missing"] = {part: missing[part] for part in PARTS if part in missing}
    return report


def _mib(kib: int) -> float:
    return round(kib / 1024, 1)


def _measure(
    part: str,
    measure: Callable[[], dict[str, Any]],
    figures: dict[str, Any],
    missing: dict[str, str],
) -> None:
    try:
        figures.update(measure())
    except Exception as exc:  # one part failing leaves the others' figures standing
        missing[part] = failure(exc)


def _kafka_parts(
    sizes: Sizes,
    wanted: list[str],
    folder: Path,
    figures: dict[str, Any],
    missing: dict[str, str],
    progress: Progress,
) -> None:
    from engine.demo import generate_events
    from engine.servers import unavailable

    reason = unavailable()
    if reason:
        missing.update(dict.fromkeys(wanted, f"not measured: {reason}"))
        return
    events = generate_events(sizes.kafka_people, seed=bench_embedded.SEED + 1)
    dead = {e["person_id"] for e in events if e["type"] == "death_registered"}
    alive = sorted({e["person_id"] for e in events if e["type"] == "person_registered"} - dead)
    try:
        with _servers(progress) as (kafka, postgres):
            deployment = bench_kafka.Deployment(
                kafka, postgres, folder, sizes.workers, sizes.partitions
            )
            try:
                progress("starting the workers", 0, None)
                deployment.start()
                if "kafka" in wanted:
                    figures.update(
                        kafka_people=sizes.kafka_people,
                        kafka_workers=sizes.workers,
                        kafka_partitions=sizes.partitions,
                    )
                    _measure(
                        "kafka",
                        lambda: bench_kafka.throughput(deployment, events, progress),
                        figures,
                        missing,
                    )
                if "latency" in wanted:
                    _measure(
                        "latency",
                        lambda: _latency(deployment, sizes, alive, "kafka" in missing, progress),
                        figures,
                        missing,
                    )
            finally:
                deployment.stop()
                figures["peak_rss_worker_mb"] = deployment.worker_peak_rss_mb
    except Exception as exc:
        for part in wanted:
            missing.setdefault(part, failure(exc))


def _latency(
    deployment: bench_kafka.Deployment,
    sizes: Sizes,
    alive: list[str],
    register: bool,
    progress: Progress,
) -> dict[str, Any]:
    """Deaths of persons the throughput part registered (or, without it, registrations produced
    here first, untimed)."""
    if register:
        alive = [f"L{n:07d}" for n in range(sizes.deaths + 1000)]
        registrations = [
            bench_embedded.registration(p, date(2026, 1, 1), n) for n, p in enumerate(alive)
        ]
        progress("registering persons for the latency run (untimed)", 0, None)
        ends = asyncio.run(bench_kafka.produce(deployment.kafka, deployment.topic, registrations))
        engine = open_engine(deployment.database_url)
        try:
            deployment.wait_caught_up(engine, ends, timeout=3600)
        finally:
            engine.close()
    if len(alive) < sizes.deaths + 1:
        raise RuntimeError(f"--deaths {sizes.deaths} needs more living persons than {len(alive)}")
    dying, background = alive[: sizes.deaths], alive[sizes.deaths :]
    return bench_latency.latency(deployment, background, dying, sizes.rate, progress)


@contextmanager
def _servers(progress: Progress) -> Iterator[tuple[str, str]]:
    """KAFKA_BOOTSTRAP_SERVERS and a postgresql:// DATABASE_URL when set, else servers started
    here on 127.0.0.1 and stopped afterwards."""
    from engine.servers import KafkaBroker, PostgresServer

    # The client's retries while a broker starts are expected: not for the bench's output.
    quiet_kafka = logging.getLogger("aiokafka")
    quiet_kafka.addHandler(logging.NullHandler())
    quiet_kafka.propagate = False
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
    postgres = os.environ.get("DATABASE_URL", "")
    started: list[KafkaBroker | PostgresServer] = []
    try:
        if not kafka:
            progress("starting Kafka", 0, None)
            broker = KafkaBroker()
            started.append(broker)
            kafka = broker.start().bootstrap_servers
        if not postgres.startswith("postgres"):
            progress("starting PostgreSQL", 0, None)
            server = PostgresServer()
            started.append(server)
            postgres = server.start().url
        yield kafka, postgres
    finally:
        for server in reversed(started):
            server.stop()
