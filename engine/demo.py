"""``benefits demo``: a synthetic province-sized slice of life, processed in embedded mode."""

from __future__ import annotations

import json
import random
import shutil
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from faker import Faker
from rich.console import Console
from rich.table import Table

from domain.resident_id import make_resident_id
from engine.wiring import open_engine

# A few real county-level region codes, so generated resident IDs look like real ones.
REGIONS = ("110101", "110105", "310101", "310115", "440103", "440305", "510104", "330102")
YEAR_START = date(2026, 1, 1)


def generate_events(people: int, seed: int) -> list[dict[str, Any]]:
    """Life events for ``people`` persons over one year, with the flaws real feeds have:
    duplicates, late and out-of-order deliveries, and a few malformed or orphan messages."""
    rng = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    events: list[dict[str, Any]] = []
    counter = 0

    def emit(
        kind: str, person_id: str, on: date, source: str, data: dict[str, Any]
    ) -> dict[str, Any]:
        nonlocal counter
        counter += 1
        event = {
            "event_id": f"evt-{seed}-{counter:08d}",
            "type": kind,
            "person_id": person_id,
            "occurred_on": on.isoformat(),
            "source": source,
            "data": data,
        }
        events.append(event)
        return event

    for n in range(people):
        person_id = f"P{seed}-{n:07d}"
        male = rng.random() < 0.48
        retired = rng.random() < 0.75
        age = rng.randint(61, 95) if retired else rng.randint(30, 59)
        birth = date(2026 - age, rng.randint(1, 12), rng.randint(1, 28))
        region = rng.choice(REGIONS)
        emit(
            "person_registered",
            person_id,
            YEAR_START,
            "contribution_records",
            {
                "national_id": make_resident_id(region, birth, rng.randint(0, 999), male),
                "name": fake.name_male() if male else fake.name_female(),
                "birth_date": birth.isoformat(),
                "sex": "M" if male else "F",
                "region": region,
                "monthly_pension_cents": rng.randint(180_000, 900_000) if retired else 0,
            },
        )
        day = YEAR_START + timedelta(days=rng.randint(1, 360))
        roll = rng.random()
        if roll < 0.02:
            death = day - timedelta(days=rng.randint(0, 20))
            emit(
                "death_registered",
                person_id,
                day,
                "civil_affairs",
                {"death_date": death.isoformat()},
            )
        elif roll < 0.027:
            case = f"CASE-{rng.randint(10000, 99999)}"
            emit("custody_started", person_id, day, "courts", {"case_ref": case})
            if rng.random() < 0.5:
                end = min(day + timedelta(days=rng.randint(10, 120)), date(2026, 12, 31))
                emit("custody_ended", person_id, end, "courts", {"case_ref": case})

    events.sort(key=lambda e: e["occurred_on"])
    # Real feeds: some deliveries are late (out of order), some repeated, a few broken.
    for _ in range(len(events) // 100):
        i = rng.randrange(1, len(events))
        j = min(len(events) - 1, i + rng.randint(1, 50))
        events[i], events[j] = events[j], events[i]
    for _ in range(len(events) // 50):
        events.insert(rng.randrange(len(events)), dict(rng.choice(events)))
    for _ in range(max(1, len(events) // 200)):
        bad = json.loads(json.dumps(rng.choice(events)))
        flaw = rng.choice(("check_digit", "date", "type", "orphan"))
        bad["event_id"] = f"{bad['event_id']}-{flaw}"
        if flaw == "check_digit" and bad["type"] == "person_registered":
            nid = bad["data"]["national_id"]
            bad["data"]["national_id"] = nid[:17] + ("0" if nid[17] != "0" else "1")
        elif flaw == "date":
            bad["occurred_on"] = bad["occurred_on"].replace("-", "/")
        elif flaw == "type":
            bad["type"] = "marriage_registered"
        else:
            bad["person_id"] = f"UNKNOWN-{rng.randint(0, 10**6)}"
            bad["type"] = "death_registered"
            bad["data"] = {"death_date": bad["occurred_on"]}
        events.insert(rng.randrange(len(events)), bad)
    return events


def run_demo(people: int, seed: int, store: str | None, console: Console) -> None:
    from engine.cli import print_outcome, process_file

    started = time.perf_counter()
    folder = Path("var/demo")
    if store is None:
        shutil.rmtree(folder, ignore_errors=True)
        store = f"sqlite:///{folder / 'demo.db'}"
    folder.mkdir(parents=True, exist_ok=True)
    events = generate_events(people, seed)
    path = folder / "life-events.jsonl"
    with path.open("w", encoding="utf-8") as handle:
        for event in events:
            handle.write(json.dumps(event, ensure_ascii=False) + "\n")
    console.print(f"Generated {people:,} people and {len(events):,} life events for 2026 → {path}")
    engine = open_engine(store)
    try:
        outcome = process_file(engine, path, batch_size=1000, show_progress=True)
        engine.refresh()
        print_outcome(outcome)
        statuses = Counter()
        examples: dict[str, str] = {}
        for n in range(people):
            doc = engine.view.status(f"P{seed}-{n:07d}")
            if doc is not None:
                statuses[doc["benefit_status"]] += 1
                examples.setdefault(doc["benefit_status"], doc["person_id"])
        table = Table(title="Where people stand at the end of the year")
        table.add_column("benefit_status")
        table.add_column("people", justify="right")
        table.add_column("for example")
        for key, count in sorted(statuses.items()):
            table.add_row(key, f"{count:,}", examples[key])
        console.print(table)
        reasons = Counter(_reason_kind(r.reason) for r in engine.view.dead_letters())
        rejected = Table(title="Rejected messages, by reason (`benefits rejected` lists them)")
        rejected.add_column("reason")
        rejected.add_column("count", justify="right")
        for reason, count in reasons.most_common():
            rejected.add_row(reason, str(count))
        console.print(rejected)
    finally:
        engine.close()
    elapsed = time.perf_counter() - started
    console.print(
        f"Done in {elapsed:.1f} s. Try: benefits status {examples.get('terminated', '')} "
        f"--store {store}"
    )


def _reason_kind(reason: str) -> str:
    """The first clause of a rejection reason, without the offending value."""
    return reason.split(";")[0].split(" (")[0].split(", got")[0]
