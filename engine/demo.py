"""``benefits demo``: a synthetic province-sized slice of life, processed in embedded mode."""

from __future__ import annotations

import json
import os
import random
import shlex
import shutil
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from faker import Faker
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from domain.resident_id import make_resident_id
from engine.settings import redacted_url
from engine.wiring import lock_store, open_engine
from projections.database import sqlite_path

# A few real county-level region codes, so generated resident IDs look like real ones.
REGIONS = ("110101", "110105", "310101", "310115", "440103", "440305", "510104", "330102")
YEAR_START = date(2026, 1, 1)
YEAR_END = date(2026, 12, 31)
EVIDENCE_KINDS = (
    "hospital_visit",
    "pharmacy_purchase",
    "transit_tap",
    "bank_counter",
    "utility_payment",
    "community_check",
)


def _certification_story(
    rng: random.Random, emit: Any, person_id: str, birth: date, alive_until: date
) -> None:
    """Most pensioners leave traces of life; some answer a liveness invitation, late or never."""
    opening = date(2026, birth.month, 1)
    roll = rng.random()
    if roll < 0.8:
        for _ in range(rng.randint(3, 10)):
            on = YEAR_START + timedelta(days=rng.randint(0, (alive_until - YEAR_START).days))
            kind = rng.choice(EVIDENCE_KINDS)
            emit("life_evidence", person_id, on, f"{kind}_feed", {"kind": kind})
    elif roll < 0.95:
        answered = opening + timedelta(
            days=rng.choice((rng.randint(31, 89), rng.randint(91, 119), rng.randint(121, 200)))
        )
        if answered <= alive_until - timedelta(days=20):
            channel = rng.choice(("app", "app", "kiosk", "home_visit"))
            emit("liveness_verified", person_id, answered, "liveness_app", {"channel": channel})


def write_events(path: Path, events: list[dict[str, Any]]) -> Path:
    """Write life events as JSON lines (the input of `benefits run`); returns ``path``."""
    with path.open("w", encoding="utf-8") as handle:
        for event in events:
            handle.write(json.dumps(event, ensure_ascii=False) + "\n")
    return path


def generate_events(people: int, seed: int) -> list[dict[str, Any]]:
    """Life events for ``people`` persons over one year, with the flaws real feeds have:
    duplicates, late and out-of-order deliveries, and a few malformed or orphan messages."""
    rng = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    events: list[dict[str, Any]] = []
    shared_accounts: list[tuple[str, str]] = []
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
        record = {
            "national_id": make_resident_id(region, birth, rng.randint(0, 999), male),
            "name": fake.name_male() if male else fake.name_female(),
            "birth_date": birth.isoformat(),
            "sex": "M" if male else "F",
            "region": region,
            "monthly_pension_cents": rng.randint(180_000, 900_000) if retired else 0,
        }
        account_roll = rng.random()
        if account_roll < 0.01 and shared_accounts:  # a couple paid into one account
            record["bank_account"], record["bank_region"] = rng.choice(shared_accounts)
        elif account_roll < 0.95:
            bank_region = rng.choice(REGIONS) if account_roll < 0.03 else region
            record["bank_account"] = f"6222{rng.randint(10**11, 10**12 - 1)}"
            record["bank_region"] = bank_region
            if rng.random() < 0.02:
                shared_accounts.append((record["bank_account"], bank_region))
        emit("person_registered", person_id, YEAR_START, "contribution_records", record)
        if "bank_account" not in record and rng.random() < 0.5:
            on = YEAR_START + timedelta(days=rng.randint(20, 300))
            account = {
                "bank_account": f"6217{rng.randint(10**11, 10**12 - 1)}",
                "bank_region": region,
            }
            emit("bank_account_changed", person_id, on, "banks", account)
        if not retired and rng.random() < 0.15:
            on = YEAR_START + timedelta(days=rng.randint(10, 330))
            emit(
                "retirement_eligible",
                person_id,
                on,
                "contribution_records",
                {
                    "scheme": "enterprise_employee",
                    "contribution_months": rng.choice(
                        (rng.randint(120, 179), rng.randint(180, 480), rng.randint(180, 480))
                    ),
                    "indexed_wage_cents": rng.randint(400_000, 1_500_000),
                    "regional_average_wage_cents": 1_052_500,
                    "personal_account_cents": rng.randint(2_000_000, 20_000_000),
                    "retirement_age": rng.choice((50, 55, 60)),
                },
            )
        day = YEAR_START + timedelta(days=rng.randint(1, 360))
        roll = rng.random()
        if retired:
            _certification_story(rng, emit, person_id, birth, day if roll < 0.02 else YEAR_END)
        if roll < 0.02:
            death = day - timedelta(days=rng.randint(0, 20))
            emit(
                "death_registered",
                person_id,
                day,
                "civil_affairs",
                {"death_date": death.isoformat()},
            )
            if rng.random() < 0.1:  # a relative keeps using the card: evidence after death
                used = min(day + timedelta(days=rng.randint(1, 30)), YEAR_END)
                emit("life_evidence", person_id, used, "transit", {"kind": "transit_tap"})
        elif roll < 0.027:
            case = f"CASE-{rng.randint(10000, 99999)}"
            emit("custody_started", person_id, day, "courts", {"case_ref": case})
            if rng.random() < 0.5:
                end = min(day + timedelta(days=rng.randint(10, 120)), YEAR_END)
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
    from engine.cli import print_outcome, run_simulation

    started = time.perf_counter()
    folder = Path("var/demo")
    fresh = store is None
    if store is None:
        store = f"sqlite:///{(folder / 'demo.db').absolute()}"
    # The writer lock first: a second demo on the same store stops here, before touching a file.
    lock = lock_store(store)
    try:
        if fresh:
            for leftover in folder.iterdir():
                if leftover.is_dir():
                    shutil.rmtree(leftover)
                elif leftover.name != "demo.db.lock":
                    leftover.unlink()
        folder.mkdir(parents=True, exist_ok=True)
        events = generate_events(people, seed)
        path = write_events(folder / "life-events.jsonl", events)
        console.print(
            f"Generated {people:,} people and {len(events):,} life events for 2026 → {path}"
        )
        engine = open_engine(store, lock=lock)
    except BaseException:
        lock.release()
        raise
    try:
        outcome = run_simulation(engine, path, YEAR_END, batch_size=1000, show_progress=True)
        print_outcome(outcome)
        counts = engine.view.status_counts()
        statuses = {status: count for status, (count, _) in counts.items()}
        examples = {status: example for status, (_, example) in counts.items()}
        decisions = outcome.intake.decisions + outcome.jobs.decisions
        year = Table(title="A year of no-touch certification")
        year.add_column("outcome")
        year.add_column("people", justify="right")
        for label, count in (
            ("certified silently from life evidence", decisions["silently_certified"]),
            ("certified by a liveness check", decisions["certified_by_liveness"]),
            ("invited to a liveness check (day 30)", decisions["liveness_invited"]),
            ("flagged blue (day 90)", decisions["flagged_blue"]),
            ("yellow: payments held (day 120)", decisions["held"]),
            ("resumed after a hold", decisions["resumed"]),
            ("still held at year end", statuses.get("held", 0)),
            ("evidence after death (alert)", decisions["evidence_after_death"]),
        ):
            year.add_row(label, f"{count:,}")
        console.print(year)
        money = Table(title="Money in 2026 (payment instructions, integer cents shown as yuan)")
        money.add_column("")
        money.add_column("", justify="right")
        runs = [engine.view.payroll(f"2026-{m:02d}") for m in range(1, 13)]
        by_kind: Counter[str] = Counter()
        totals: Counter[str] = Counter()
        skipped: Counter[str] = Counter()
        for run in runs:
            for kind, figures in run["by_kind"].items():
                by_kind[kind] += figures["count"]
                totals[kind] += figures["total_cents"]
            skipped.update(run["skipped"])
        money.add_row("pensions awarded with zero paperwork", f"{decisions['awarded']:,}")
        money.add_row("awards refused (under 180 months)", f"{decisions['award_refused']:,}")
        money.add_row("monthly pension instructions", f"{by_kind['pension']:,}")
        money.add_row("  paid", f"{totals['pension'] / 100:,.2f}")
        money.add_row(
            "arrears instructions (held or no account, since resolved)", f"{by_kind['arrears']:,}"
        )
        money.add_row("  paid", f"{totals['arrears'] / 100:,.2f}")
        for reason, count in sorted(skipped.items()):
            money.add_row(f"person-months skipped: {reason}", f"{count:,}")
        money.add_row(
            "overpayment recoveries opened (death registered late)",
            f"{decisions['overpayment_recovery']:,}",
        )
        money.add_row("payment alerts raised (blue)", f"{decisions['payment_alert']:,}")
        console.print(money)
        table = Table(title="Where people stand at the end of the year")
        table.add_column("benefit_status")
        table.add_column("people", justify="right")
        table.add_column("for example")
        for key, count in sorted(statuses.items()):
            table.add_row(key, f"{count:,}", examples[key])
        console.print(table)
        reasons = Counter(_reason_kind(r.reason) for r in engine.view.dead_letters())
        cli = os.environ.get("BENEFITS_CLI") or "benefits"
        rejected = Table(
            title="Dead letters by reason: rejected, or never registered within the grace period"
            f" (`{cli} rejected` lists them)"
        )
        rejected.add_column("reason")
        rejected.add_column("count", justify="right")
        for reason, count in reasons.most_common():
            rejected.add_row(escape(reason), str(count))
        console.print(rejected)
    finally:
        engine.close()
    elapsed = time.perf_counter() - started
    console.print(f"Done in {elapsed:.1f} s.")
    example = (
        examples.get("held") or examples.get("terminated") or min(examples.values(), default="")
    )
    if example:
        # ./dev sets BENEFITS_CLI so that the line can be pasted as it is.
        command = [*shlex.split(os.environ.get("BENEFITS_CLI") or "benefits"), "status", example]
        command += ["--store", _pasteable(store)]
        console.print(f"Try: {shlex.join(command)}", soft_wrap=True)


def _pasteable(store: str) -> str:
    """The store URL to print: a SQLite path made absolute, a password masked."""
    if store.startswith("sqlite:///"):
        return f"sqlite:///{Path(sqlite_path(store)).absolute()}"
    return redacted_url(store)


def _reason_kind(reason: str) -> str:
    """The first clause of a rejection reason, without the offending value."""
    return reason.split(";")[0].split(" (")[0].split(", got")[0]
