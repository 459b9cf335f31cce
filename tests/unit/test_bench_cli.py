"""`benefits bench` at tiny sizes, without the Kafka parts: every figure is in the JSON, each ratio
is the measured figure over its reference, and a bad option is one line. No timing is asserted."""

from __future__ import annotations

from datetime import datetime

import pytest

from engine.bench_figures import FIGURES, PARTS
from engine.cli import BENCH_PARTS
from tests.cli import cli, cli_json
from tests.unit.test_cli_errors import error_line, invoke

TINY = ("--people", "20", "--history-years", "1", "--history-events", "3")


def test_the_json_holds_every_figure_with_ratios_over_their_references() -> None:
    report = cli_json("bench", *TINY, "--memory-people", "20", "--skip", "kafka,latency")

    figures = report["figures"]
    assert set(figures) == set(FIGURES)
    assert report["missing"] == {
        "kafka": "skipped (--skip kafka)",
        "latency": "skipped (--skip latency)",
    }
    assert report["machine"]["cpus"] >= 1 and report["machine"]["python"].count(".") == 2
    assert datetime.fromisoformat(report["date_utc"]).utcoffset().total_seconds() == 0
    measured = [k for k in FIGURES if not k.startswith(("kafka", "latency", "death"))]
    # Nothing failed: only the worker's memory (no Kafka part) and the floor's failure are unset.
    assert [k for k in measured if figures[k] is None] == [
        "peak_rss_worker_mb",
        "year_store_floor_failure",
    ]

    assert figures["year_people"] == 20 and figures["year_rows_written"] > 20
    assert figures["year_ms_per_person_year"] == pytest.approx(
        figures["year_seconds"] * 1000 / 20, rel=0.2, abs=5
    )
    assert figures["year_ratio"] == pytest.approx(
        figures["year_rows_per_second"] / figures["year_reference_insert_rows_per_second"],
        rel=0.01,
        abs=1e-4,
    )
    assert figures["year_journal_mode"] == "wal"
    # The event store alone stored as many events as the year did: part of its rows.
    assert 20 < figures["year_events_stored"] < figures["year_rows_written"]
    assert 0 < figures["year_store_floor_seconds"] and figures["year_store_floor_event_bytes"] > 0
    assert figures["year_store_floor_share"] == pytest.approx(
        figures["year_store_floor_seconds"] / figures["year_seconds"], rel=0.1, abs=0.05
    )
    assert figures["year_store_floor_ms_per_person_year"] == pytest.approx(
        figures["year_store_floor_seconds"] * 1000 / 20, abs=0.0005 * 50 + 0.0005
    )
    assert figures["history_facts"] == 365 and figures["history_events_timed"] == 3
    for cache in ("cold", "warm"):
        heavy, new = figures[f"heavy_{cache}_ms_per_event"], figures[f"new_{cache}_ms_per_event"]
        assert heavy > 0 and new > 0
        assert figures[f"history_{cache}_ratio"] == pytest.approx(heavy / new, rel=0.05, abs=0.1)
    assert figures["memory_people"] == 20 and figures["memory_rss_mb"] > 10
    assert figures["peak_rss_bench_mb"] > 10
    assert figures["aggregate_cache_limit"] > 0


def test_a_skipped_part_is_named_with_the_reason_under_the_table() -> None:
    others = ",".join(part for part in PARTS if part != "memory")
    code, output = cli("bench", "--skip", others, "--memory-people", "20")
    assert code == 0, output
    assert "aggregate cache" in output and "persons registered" in output
    assert "Kafka + PostgreSQL end to end: skipped (--skip kafka)" in output
    assert "Embedded year" in output and "persons/s" not in output


def test_the_help_names_the_parts_the_bench_has() -> None:
    assert BENCH_PARTS == PARTS


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--skip", "year,kafak"), "--skip: no part named 'kafak'"),
        (("--workers", "3", "--partitions", "2"), "--partitions must be at least --workers"),
        (("--history-events", "2"), "--history-events must be 3 to 300, got 2"),
        (("--people", "0"), "--people must be 1 or more, got 0"),
        (("--memory-people", "-1"), "--memory-people must be 0 or more"),
        (("--skip", ",".join(PARTS)), "--skip: every part is skipped, so there is nothing"),
        (
            ("--skip", "year,history,kafka,latency", "--memory-people", "0"),
            "--skip: every part is skipped",
        ),
    ],
)
def test_a_bad_option_is_one_line_and_exit_2(args: tuple[str, ...], says: str) -> None:
    assert says in error_line(invoke("bench", *args), 2)
