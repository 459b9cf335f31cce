"""`benefits whatif`: the store's facts replayed under a changed policy, compared with what was
recorded. Nothing is written: each person is replayed into a scratch aggregate in memory.

Each person's facts are applied in the order they arrived, on the engine's days they arrived.
The scheduler's deadline marks are not replayed as stored (they were raised for the old policy's
days): the replay raises the marks its own cycles call for, on their due days, as the daily job
would. Cycle openings and payment runs are replayed as stored.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import policy
from domain.entitlement import Fact
from domain.explanations import explain
from domain.pensioner import GoldenRecord, Pensioner
from domain.policy import PolicyBook, install, installed
from engine.wiring import Engine, open_engine

SCHEDULED = ("certification_deadline_reached", "birthday_month_started", "payment_due")


# Kinds a comparison reads: the registration and facts are replayed; decisions, instructions
# and the last status are what was recorded. (Notices and earlier statuses are not needed.)
READ = ("PersonRegistered", "FactRecorded", "Decided", "PaymentInstructed")
STATUS = f"{Pensioner.__module__}:{Pensioner.StatusChanged.__qualname__}"


def stored_people(engine: Engine, page: int = 5000) -> dict[Any, list[Any]]:
    """Every person's stored records a comparison reads (not yet decoded), in recorded order:
    the registration, facts, decisions, instructions, and the last status."""
    wanted = {f"{Pensioner.__module__}:{Pensioner.__qualname__}.{name}" for name in READ}
    people: dict[Any, list[Any]] = defaultdict(list)
    statuses: dict[Any, Any] = {}
    start = 1
    while True:
        notifications = engine.intake.recorder.select_notifications(start=start, limit=page)
        if not notifications:
            break
        for notification in notifications:
            if notification.topic in wanted:
                people[notification.originator_id].append(notification)
            elif notification.topic == STATUS:
                statuses[notification.originator_id] = notification
        start = notifications[-1].id + 1
    for person, status in statuses.items():
        people[person].append(status)
    return people


def replay(events: list[Any], book: PolicyBook, last_day: date | None) -> list[Any]:
    """The events a scratch aggregate records when ``events``' facts arrive again under
    ``book``, with deadline marks raised from the replayed cycles."""
    install(book)
    created = events[0]
    p = Pensioner.register(
        created.person_id,
        created.event_id,
        created.occurred_on,
        GoldenRecord.from_dict(created.record),
        dead_lettered=list(created.dead_lettered or ()),
    )
    for event in events[1:]:
        if not isinstance(event, Pensioner.FactRecorded):
            continue
        kind = event.kind
        if kind == "certification_deadline_reached":
            continue
        arrived = (event.arrival or {}).get("received_on")
        if arrived:
            day = date.fromisoformat(arrived)
            _raise_marks(p, day if kind in SCHEDULED else day - timedelta(days=1))
        p.arrive(event.arrival)
        p.observe(kind, event.event_id, event.occurred_on, event.data)
    if last_day is not None:
        _raise_marks(p, last_day)
    return p.collect_events()


def _raise_marks(p: Pensioner, up_to: date) -> None:
    """The daily job: each open cycle's marks due by ``up_to``, dated their due day."""
    while True:
        cycle = (p.status or {}).get("certification")
        due = [
            d
            for d in (cycle or {}).get("deadlines", ())
            if date.fromisoformat(d["due_on"]) <= up_to
        ]
        if not cycle or cycle["status"] != "open" or not due or p.standing is None:
            return
        first = min(due, key=lambda d: d["due_on"])
        mark, on = first["mark"], date.fromisoformat(first["due_on"])
        event_id = f"scheduler:deadline:{p.person_id}:{cycle['year']}:{mark}"
        before = p.version
        p.reach_deadline(event_id, on, cycle["year"], mark)
        if p.version == before:
            return


def outcome(events: list[Any]) -> dict[str, Any]:
    """What a person's events decided: decisions, money by month, the final status."""
    decisions = [
        (e.decision, e.on.isoformat(), e.reason) for e in events if isinstance(e, Pensioner.Decided)
    ]
    money: Counter[tuple[str, str]] = Counter()
    for e in events:
        if isinstance(e, Pensioner.PaymentInstructed):
            money[(e.on.isoformat()[:7], f"{e.kind}_cents")] += e.amount_cents
            money[(e.on.isoformat()[:7], f"{e.kind}_count")] += 1
        elif isinstance(e, Pensioner.Decided) and e.decision == "payment_blocked":
            money[(e.details.get("month", ""), f"blocked_{e.reason}")] += 1
    statuses = [e.status for e in events if isinstance(e, Pensioner.StatusChanged)]
    final = statuses[-1] if statuses else {}
    return {
        "decisions": decisions,
        "money": money,
        "status": (final.get("benefit_status"), final.get("risk_level")),
        "history": [_entry(e) for e in events if isinstance(e, Pensioner.Decided)],
    }


def _entry(e: Any) -> dict[str, Any]:
    return {
        "on": e.on.isoformat(),
        "decision": e.decision,
        "reason": e.reason,
        "event_id": e.event_id,
        "rule_version": e.rule_version,
        "details": e.details,
        "key": e.key,
    }


def compare(
    people: list[list[Any]], book: PolicyBook, last_day: date | None, examples: int
) -> dict[str, Any]:
    """Replay ``people`` under ``book`` and compare each with what was recorded."""
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    money: dict[str, Counter[str]] = defaultdict(Counter)
    changed, shown = 0, []
    for events in people:
        if not isinstance(events[0], Pensioner.PersonRegistered):
            continue
        before = outcome(events)
        replayed = replay(events, book, last_day)
        after = outcome(replayed)
        differs = before["money"] != after["money"] or before["status"] != after["status"]
        for kind in {d[0] for d in before["decisions"] + after["decisions"]}:
            old = Counter(d for d in before["decisions"] if d[0] == kind)
            new = Counter(d for d in after["decisions"] if d[0] == kind)
            by_kind[kind]["before"] += sum(old.values())
            by_kind[kind]["after"] += sum(new.values())
            if old != new:
                by_kind[kind]["persons"] += 1
                differs = True
        for (month, figure), value in before["money"].items():
            money[month][figure] -= value
        for (month, figure), value in after["money"].items():
            money[month][figure] += value
        if differs:
            changed += 1
            if len(shown) < examples:
                shown.append(_example(events, before, after, replayed, book))
    return {"by_kind": by_kind, "money": money, "changed": changed, "examples": shown}


# Set in the parent before the workers fork, so records are not pickled to them: the stored
# records of each person, and the mapper that decodes them.
_PEOPLE: list[list[Any]] = []
_MAPPER: Any = None


def _compare_part(arguments: tuple[int, int, PolicyBook, date | None, int]) -> dict:
    start, end, book, last_day, examples = arguments
    decode = _MAPPER.to_domain_event
    people = [[decode(record) for record in stored] for stored in _PEOPLE[start:end]]
    return compare(people, book, last_day, examples)


def whatif(
    store: str,
    change: Path,
    first_day: date,
    progress: Callable[[int, int], None] | None = None,
    examples: int = 20,
    processes: int | None = None,
) -> dict[str, Any]:
    """Replay the store's facts under the policy with ``change`` applied from ``first_day``
    and report what changes against what was recorded (people shared among processes)."""
    changed_book = policy.load(policy.deployment_changes(), [change], not_before=first_day)
    global _PEOPLE, _MAPPER
    engine = open_engine(store, must_exist=True)
    shipped = installed()
    try:
        last_day = engine.view.last_processed_day()
        _PEOPLE, _MAPPER = list(stored_people(engine).values()), engine.intake.mapper
    finally:
        engine.close()
    total = len(_PEOPLE)
    workers = max(1, min(processes or os.cpu_count() or 1, 8))
    size = 250
    chunks = [
        (s, min(s + size, total), changed_book, last_day, examples) for s in range(0, total, size)
    ]
    parts: list[dict[str, Any]] = []
    done = 0
    try:
        if workers == 1 or len(chunks) <= 1:
            results: Any = map(_compare_part, chunks)
            pool = None
        else:
            pool = multiprocessing.get_context("fork").Pool(workers)
            results = pool.imap(_compare_part, chunks)
        try:
            for chunk, part in zip(chunks, results, strict=True):
                parts.append(part)
                done += chunk[1] - chunk[0]
                if progress is not None:
                    progress(done, total)
        finally:
            if pool is not None:
                pool.terminate()
    finally:
        install(shipped)
        _PEOPLE, _MAPPER = [], None
    by_kind: dict[str, Counter[str]] = defaultdict(Counter)
    money: dict[str, Counter[str]] = defaultdict(Counter)
    shown: list[dict[str, Any]] = []
    for part in parts:
        for kind, counts in part["by_kind"].items():
            by_kind[kind].update(counts)
        for month, figures in part["money"].items():
            money[month].update(figures)
        shown += part["examples"][: examples - len(shown)]
    return {
        "policy": str(change),
        "from": first_day.isoformat(),
        "persons": total,
        "persons_changed": sum(part["changed"] for part in parts),
        "by_decision_kind": {
            kind: {"before": c["before"], "after": c["after"], "persons": c["persons"]}
            for kind, c in sorted(by_kind.items())
            if c["persons"]
        },
        "money_by_month": {
            month: {k: v for k, v in sorted(figures.items()) if v}
            for month, figures in sorted(money.items())
            if any(figures.values())
        },
        "examples": shown,
    }


def _signature(entry: dict[str, Any]) -> str:
    return json.dumps([entry["decision"], entry["on"], entry["reason"], entry["details"]],
                      sort_keys=True, default=str)  # fmt: skip


def _example(
    events: list[Any], before: dict, after: dict, replayed: list[Any], book: PolicyBook
) -> dict[str, Any]:
    """A changed person: the first decision that is new or different (its amounts, its reason),
    explained under the new policy; else the decisions no longer made; else the money."""
    person_id = events[0].person_id
    shown: dict[str, Any] = {
        "person_id": person_id,
        "status_before": before["status"],
        "status_after": after["status"],
    }
    old = {_signature(h) for h in before["history"]}
    new_history = after["history"]
    facts = [e for e in replayed if isinstance(e, Pensioner.FactRecorded)]
    known = [Fact("person_registered", events[0].event_id, events[0].occurred_on, events[0].record)]
    known += [Fact(f.kind, f.event_id, f.occurred_on, f.data) for f in facts]
    for number, entry in enumerate(new_history, start=1):
        if _signature(entry) not in old:
            when = (entry["decision"], entry["on"])
            same_day = [h for h in before["history"] if (h["decision"], h["on"]) == when]
            was = {"was": same_day[0]} if same_day else {}
            return shown | {"explanation": explain(number, entry, known, book)} | was
    now = {_signature(x) for x in new_history}
    gone = [h for h in before["history"] if _signature(h) not in now]
    if gone:
        return shown | {"no_longer": gone[:3]}
    money: dict[str, dict[str, int]] = defaultdict(dict)
    for key in sorted(set(before["money"]) | set(after["money"])):
        delta = after["money"].get(key, 0) - before["money"].get(key, 0)
        if delta:
            money[key[0]][key[1]] = delta
    return shown | {"money": dict(money)}
