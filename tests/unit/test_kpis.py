"""The operations figures against hand-computed answers on small stories (embedded runs)."""

from __future__ import annotations

from pathlib import Path

from engine.wiring import open_engine
from projections.kpis import kpi_figures
from tests.cli import cli, cli_json
from tests.events import (
    death_registered,
    envelope,
    life_evidence,
    liveness_verified,
    person_registered,
    write_jsonl,
)


def figures(store: str, first: str = "2026-01", last: str = "2026-12", region=None) -> dict:
    engine = open_engine(store, must_exist=True)
    try:
        return kpi_figures(engine.view.database, first, last, region)
    finally:
        engine.close()


def run(store: str, path: Path, *options: str) -> dict:
    return cli_json("run", "--input", str(path), "--store", store, *options)


def ten_cycles_in_march() -> list[dict]:
    """Ten pensioners born in March (no bank account, so no payment closes a case): seven leave
    evidence in the look-back, two answer the invitation by liveness, one never answers."""
    events = []
    for n in range(10):
        person = f"C{n}"
        region = "110101" if n < 5 else "310101"
        events.append(
            person_registered(person, birth_date="1950-03-09", bank_account=None, region=region)
        )
        if n < 7:
            events.append(life_evidence(person, "2026-02-15"))
        elif n < 9:
            events.append(liveness_verified(person, "2026-04-10"))
    return events


def test_ten_cycles_seven_silent_two_by_liveness_one_held_is_90_percent(
    tmp_path: Path, store: str
) -> None:
    run(store, write_jsonl(tmp_path / "in.jsonl", ten_cycles_in_march()), "--until", "2026-07-31")
    automation = figures(store)["automation"]
    assert automation["total"] == {"closed": 10, "automated": 9, "rate": 0.9}
    by_month = {m["month"]: (m["closed"], m["automated"]) for m in automation["by_month"]}
    assert by_month["2026-03"] == (7, 7)  # certified silently on the opening day
    assert by_month["2026-04"] == (2, 2)  # by liveness
    assert by_month["2026-06"] == (1, 0)  # held on day 120, 29 June


def test_the_certification_funnel_by_month_of_opening(tmp_path: Path, store: str) -> None:
    run(store, write_jsonl(tmp_path / "in.jsonl", ten_cycles_in_march()), "--until", "2026-07-31")
    funnel = figures(store)["certification_funnel"]
    assert funnel == [
        {
            "month": "2026-03",
            "opened": 10,
            "silent": 7,
            "liveness": 2,
            "invited": 3,  # day 30: the two who answered later, and the one who never did
            "blue": 1,
            "held": 1,
            "resumed": 0,
        }
    ]


def test_risk_by_colour_and_region_rolled_up(tmp_path: Path, store: str) -> None:
    events = [
        *ten_cycles_in_march(),
        person_registered("D1", region="310115"),
        death_registered("D1", "2026-02-01", "2026-01-30"),
    ]
    run(store, write_jsonl(tmp_path / "in.jsonl", events), "--until", "2026-07-31")
    risk = figures(store)["risk"]
    assert risk["by_colour"] == {"red": 1, "yellow": 1, "blue": 0}  # the dead, the held (C9)
    assert risk["by_region"] == [
        {"region": "310101", "red": 0, "yellow": 1, "blue": 0},
        {"region": "310115", "red": 1, "yellow": 0, "blue": 0},
    ]
    assert risk["by_prefix4"] == [{"region": "3101", "red": 1, "yellow": 1, "blue": 0}]
    assert risk["by_prefix2"] == [{"region": "31", "red": 1, "yellow": 1, "blue": 0}]
    assert figures(store, region="11")["risk"]["by_colour"] == {"red": 0, "yellow": 0, "blue": 0}


def test_a_death_reported_five_days_late_is_a_delay_of_five_days(
    tmp_path: Path, store: str
) -> None:
    run(
        store, write_jsonl(tmp_path / "a.jsonl", [person_registered("P1")]), "--until", "2026-03-10"
    )
    death = death_registered("P1", "2026-03-06", "2026-03-05") | {"source": "civil_affairs"}
    run(store, write_jsonl(tmp_path / "b.jsonl", [death]), "--until", "2026-03-11")
    delays = {d["source"]: d for d in figures(store)["latency"]["reporting_delay_days"]}
    assert delays["civil_affairs"] == {
        "source": "civil_affairs",
        "count": 1,
        "p50": 5,
        "p95": 5,
        "p99": 5,
        "max": 5,
    }
    assert delays["test-agency"]["max"] == 0  # the registration, on its day
    fresh = {f["source"]: f for f in figures(store)["freshness"]}
    assert fresh["civil_affairs"] == {
        "source": "civil_affairs",
        "last_received_on": "2026-03-11",
        "last_occurred_on": "2026-03-06",
        "lag_days": 5,
    }
    latency = {t["type"]: t for t in figures(store)["latency"]["by_event_type"]}
    assert latency["death_registered"]["count"] == 1
    assert latency["death_registered"]["p99_ms"] >= latency["death_registered"]["p50_ms"] >= 0


def test_money_by_month_matches_the_payroll_report(tmp_path: Path, store: str) -> None:
    shared = "6217000099991111"
    events = [
        person_registered("M1", pension_cents=300_000),
        person_registered("M2", pension_cents=200_000, bank_account=None),
        person_registered("M3", pension_cents=250_000, bank_account=shared),
        person_registered("M4", pension_cents=250_000, bank_account=shared),
        person_registered("M5", pension_cents=300_000),
        death_registered("M5", "2026-02-20", "2026-01-15"),  # February was paid after it
    ]
    run(store, write_jsonl(tmp_path / "in.jsonl", events), "--until", "2026-03-01")
    money = {m["month"]: m for m in figures(store, "2026-01", "2026-03")["money"]}
    for month in ("2026-01", "2026-02", "2026-03"):
        report = cli_json("payroll", "--month", month, "--store", store)
        shown = money[month]
        assert shown["instructions"]["pension"]["count"] == report["by_kind"]["pension"]["count"]
        assert (
            shown["instructions"]["pension"]["total_cents"]
            == report["by_kind"]["pension"]["total_cents"]
        )
        assert shown["skipped"]["no_account"] == report["skipped"].get("no_account", 0)
        assert shown["skipped"]["review"] == report["skipped"].get("review_account_shared", 0)
    assert money["2026-01"]["instructions"]["pension"] == {"count": 2, "total_cents": 600_000}
    assert money["2026-01"]["held_for_review"] == 2
    assert money["2026-02"]["overpayment_opened_cents"] == 300_000


def test_dead_letters_by_day_source_and_reason(tmp_path: Path, store: str) -> None:
    bad = envelope("marriage_registered", "P1", "2026-01-01", {})
    lines = [person_registered("P1"), "{not json", bad, bad | {"event_id": "other"}]
    run(store, write_jsonl(tmp_path / "in.jsonl", lines), "--until", "2026-01-02")
    letters = figures(store)["dead_letters"]
    assert {(d["day"], d["reason"], d["count"]) for d in letters} == {
        ("2026-01-01", "message is not valid JSON", 1),
        ("2026-01-01", "unknown event type 'marriage_registered'", 2),
    }
    assert {d["source"] for d in letters} == {"file:in.jsonl"}


def test_the_figures_survive_a_rebuild(tmp_path: Path, store: str) -> None:
    run(store, write_jsonl(tmp_path / "in.jsonl", ten_cycles_in_march()), "--until", "2026-07-31")
    before = figures(store)
    assert cli("rebuild", "--store", store)[0] == 0
    after = figures(store)
    # Everything but the receive-time latencies, which a rebuild measures again the same way.
    for key in ("automation", "certification_funnel", "risk", "money", "freshness"):
        assert after[key] == before[key], key
