"""The operations figures (docs/kpis.md) as a projection of domain events: counters by month and
region, latency and reporting-delay histograms, current risk by region, data freshness and dead
letters. Tracked and rebuildable like the status read model; a request reads only these
pre-aggregated tables, never the event store. No row names a person.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.projection import Projection

from domain.pensioner import Pensioner
from projections.database import Database, TrackedTables
from streams.dead_letters import DeadLetter

TRACKING = "kpis"
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS kpi_counts (metric TEXT NOT NULL, month TEXT NOT NULL,"
    " region TEXT NOT NULL, key TEXT NOT NULL, value BIGINT NOT NULL,"
    " PRIMARY KEY (metric, month, region, key))",
    "CREATE TABLE IF NOT EXISTS kpi_hist (metric TEXT NOT NULL, key TEXT NOT NULL,"
    " bucket INTEGER NOT NULL, value BIGINT NOT NULL, PRIMARY KEY (metric, key, bucket))",
    "CREATE TABLE IF NOT EXISTS kpi_people (aggregate_id TEXT PRIMARY KEY, region TEXT,"
    " risk TEXT, birth_month INTEGER)",
    "CREATE TABLE IF NOT EXISTS kpi_freshness (source TEXT PRIMARY KEY,"
    " last_received_on TEXT NOT NULL, last_occurred_on TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS kpi_gauges (name TEXT NOT NULL, key TEXT NOT NULL,"
    " value DOUBLE PRECISION NOT NULL, PRIMARY KEY (name, key))",
)
TABLES = ("kpi_counts", "kpi_hist", "kpi_people", "kpi_freshness", "kpi_gauges")
RISKS = ("red", "yellow", "blue")
# Decisions that close a case without anyone's help, and those that need a person.
AUTOMATED = {
    "silently_certified",
    "awarded",
    "award_refused",
    "suspended",
    "terminated",
}
MANUAL = {"held", "evidence_after_death", "proxy_review_requested"}
FUNNEL = {
    "cycle_opened": "opened",
    "silently_certified": "silent",
    "certified_by_liveness": "liveness",
    "liveness_invited": "invited",
    "flagged_blue": "blue",
    "held": "held",
    "resumed": "resumed",
}


def latency_bucket(milliseconds: float) -> int:
    """Log buckets ~7% wide: bucket b holds values up to 2**(b/10) - 1 ms."""
    return max(0, math.ceil(10 * math.log2(max(0.0, milliseconds) + 1)))


def bucket_value(bucket: int) -> float:
    return round(2 ** (bucket / 10) - 1, 1)


def reason_kind(reason: str) -> str:
    """The first clause of a rejection reason, without the offending value or the parser's
    detail ("message is not valid JSON: Expecting ..." is "message is not valid JSON")."""
    clause = reason.split(";")[0].split(" (")[0].split(", got")[0]
    if clause.startswith("message "):
        clause = clause.split(": ")[0]
    return clause[:120]


@dataclass
class _Page:
    counts: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    hist: Counter[tuple[str, str, int]] = field(default_factory=Counter)
    people: dict[str, dict[str, Any]] = field(default_factory=dict)
    freshness: dict[str, tuple[str, str]] = field(default_factory=dict)


class KpiView(TrackedTables):
    """The KPI tables and the projection's tracked position."""

    def __init__(self, database: Database) -> None:
        super().__init__(database, SCHEMA)

    def load_people(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        with self.database.transaction() as cursor:
            rows = cursor.select_in(
                "SELECT aggregate_id, region, risk, birth_month FROM kpi_people"
                " WHERE aggregate_id IN ({marks})",
                keys,
            )
        return {
            key: {"region": region, "risk": risk, "birth_month": birth_month}
            for key, region, risk, birth_month in rows
        }

    def save(self, page: _Page, tracking: Tracking | None) -> None:
        with self.database.transaction() as cursor:
            cursor.executemany(
                "INSERT INTO kpi_counts (metric, month, region, key, value) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (metric, month, region, key)"
                " DO UPDATE SET value = kpi_counts.value + excluded.value",
                [(*k, v) for k, v in page.counts.items() if v],
            )
            cursor.executemany(
                "INSERT INTO kpi_hist (metric, key, bucket, value) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (metric, key, bucket)"
                " DO UPDATE SET value = kpi_hist.value + excluded.value",
                [(*k, v) for k, v in page.hist.items() if v],
            )
            cursor.executemany(
                "INSERT INTO kpi_people (aggregate_id, region, risk, birth_month)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (aggregate_id) DO UPDATE SET"
                " region = excluded.region, risk = excluded.risk,"
                " birth_month = excluded.birth_month",
                [(k, p["region"], p["risk"], p["birth_month"]) for k, p in page.people.items()],
            )
            for source, (received, occurred) in page.freshness.items():
                cursor.execute(
                    "INSERT INTO kpi_freshness (source, last_received_on, last_occurred_on)"
                    " VALUES (?, ?, ?) ON CONFLICT (source) DO UPDATE SET"
                    " last_received_on = excluded.last_received_on,"
                    " last_occurred_on = excluded.last_occurred_on"
                    " WHERE excluded.last_received_on > kpi_freshness.last_received_on"
                    " OR (excluded.last_received_on = kpi_freshness.last_received_on"
                    " AND excluded.last_occurred_on > kpi_freshness.last_occurred_on)",
                    (source, received, occurred),
                )
            if tracking is not None:
                self._track(cursor, tracking)

    def set_gauges(self, name: str, values: dict[str, float]) -> None:
        with self.database.transaction() as cursor:
            cursor.executemany(
                "INSERT INTO kpi_gauges (name, key, value) VALUES (?, ?, ?)"
                " ON CONFLICT (name, key) DO UPDATE SET value = excluded.value",
                [(name, key, value) for key, value in values.items()],
            )

    def clear(self) -> None:
        with self.database.transaction() as cursor:
            for table in TABLES:
                cursor.execute(f"DELETE FROM {table}")
            cursor.execute("DELETE FROM projection_position WHERE name = ?", (TRACKING,))


class KpiProjection(Projection[KpiView]):
    """Folds a page of domain events into the KPI counters, in one transaction."""

    name = TRACKING

    def __init__(self, view: KpiView) -> None:
        super().__init__(view)
        self._page = _Page()
        # Facts seen recently, by (person, event ID): their arrival, until a decision uses it.
        self._arrivals: dict[tuple[str, str], dict[str, Any]] = {}
        self.batch_seconds: list[float] = []

    def note_batch(self, seconds: float) -> None:
        """A batch the intake applied and how long it took (saved with the next page)."""
        self.batch_seconds.append(seconds)

    def process_page(self, events: list[tuple[Any, Tracking]]) -> None:
        page = self._page = _Page()
        keys = sorted({e.originator_id.hex for e, _ in events if isinstance(e, Pensioner.Event)})
        known = self.view.load_people(keys)
        # A page's last status of each person gives the region for all its events.
        regions: dict[str, str | None] = {k: p["region"] for k, p in known.items()}
        for event, _ in events:
            if isinstance(event, Pensioner.StatusChanged):
                regions[event.originator_id.hex] = event.status.get("region")
        self._regions = regions
        self._people = known
        for event, tracking in events:
            self.process_event(event, tracking)
        for seconds in self.batch_seconds:
            page.hist[("batch_seconds", "", latency_bucket(seconds * 1000))] += 1
        self.batch_seconds = []
        self.view.save(page, events[-1][1] if events else None)

    def flush(self) -> None:
        """Save batch timings when no event came with them."""
        if self.batch_seconds:
            self.process_page([])

    def process_event(self, event: Any, tracking: Tracking) -> None:  # type: ignore[override]
        page = self._page
        if isinstance(event, DeadLetter.Event):
            day = getattr(event, "received_on", None) or event.timestamp.date().isoformat()
            page.counts[
                ("dead_letters", day, "", f"{event.source}|{reason_kind(event.reason)}")
            ] += 1
            return
        if not isinstance(event, Pensioner.Event):
            return
        key = event.originator_id.hex
        region = self._regions.get(key) or ""
        if isinstance(event, Pensioner.FactRecorded | Pensioner.PersonRegistered):
            self._arrived(key, event)
        elif isinstance(event, Pensioner.StatusChanged):
            self._status(key, event.status)
        elif isinstance(event, Pensioner.PaymentInstructed):
            month = event.on.isoformat()[:7]
            page.counts[("instructions_count", month, region, event.kind)] += 1
            page.counts[("instructions_cents", month, region, event.kind)] += event.amount_cents
            page.counts[("closed", month, region, "automated")] += 1
        elif isinstance(event, Pensioner.Decided):
            self._decided(key, region, event)

    def _arrived(self, key: str, event: Any) -> None:
        arrival = getattr(event, "arrival", None)
        if not arrival:
            return
        kind = event.kind if isinstance(event, Pensioner.FactRecorded) else "person_registered"
        self._arrivals[(key, event.event_id)] = {"kind": kind, "on": event.occurred_on, **arrival}
        if len(self._arrivals) > 100_000:  # decisions follow their fact closely
            self._arrivals.pop(next(iter(self._arrivals)))
        source = arrival["source"]
        self._page.counts[("received", "", "", source)] += 1
        latest = self._page.freshness.get(source)
        candidate = (arrival["received_on"], event.occurred_on.isoformat())
        if latest is None or candidate > latest:
            self._page.freshness[source] = candidate

    def _status(self, key: str, status: dict[str, Any]) -> None:
        page = self._page
        before = page.people.get(key) or self._people.get(key)
        after = {
            "region": status.get("region"),
            "risk": status.get("risk_level"),
            "birth_month": status.get("birth_month"),
        }
        if before is not None and before["risk"] in RISKS:
            page.counts[("risk", "", before["region"] or "", before["risk"])] -= 1
        if after["risk"] in RISKS:
            page.counts[("risk", "", after["region"] or "", after["risk"])] += 1
        page.people[key] = after

    def _decided(self, key: str, region: str, event: Any) -> None:
        page, kind, month = self._page, event.decision, event.on.isoformat()[:7]
        details = event.details or {}
        page.counts[("decisions", "", "", kind)] += 1
        arrival = self._arrivals.pop((key, event.event_id), None)
        if arrival is not None:
            elapsed = (
                event.timestamp - datetime.fromisoformat(arrival["received_at"])
            ).total_seconds()
            page.hist[("latency_ms", arrival["kind"], latency_bucket(elapsed * 1000))] += 1
            delay = (date.fromisoformat(arrival["received_on"]) - arrival["on"]).days
            page.hist[("delay_days", arrival["source"], max(0, delay))] += 1
        if (
            kind in AUTOMATED
            or (kind == "certified_by_liveness" and "home_visit" not in (event.reason or ""))
            or (kind == "proxy_granted" and event.reason == "kinship_proof_score")
        ):
            page.counts[("closed", month, region, "automated")] += 1
        elif kind in MANUAL or kind == "certified_by_liveness":
            page.counts[("closed", month, region, "manual")] += 1
        if kind in FUNNEL:
            opening = self._opening_month(key, event)
            if opening is not None:
                page.counts[("funnel", opening, region, FUNNEL[kind])] += 1
        if kind == "payment_blocked":
            reason = event.reason or ""
            blocked_month = details.get("month", month)
            if reason.startswith("review_"):
                page.counts[("held_for_review", blocked_month, region, "")] += 1
                page.counts[("closed", month, region, "manual")] += 1
            if details.get("kind") == "pension":
                skipped = "review" if reason.startswith("review_") else reason
                page.counts[("skipped", blocked_month, region, skipped)] += 1
        elif kind == "overpayment_recovery":
            page.counts[("overpayment", month, region, "opened")] += details["total_cents"]
        elif kind == "overpayment_corrected":
            delta = int(details.get("delta_cents", 0))
            side = "opened" if delta > 0 else "corrected_down"
            page.counts[("overpayment", month, region, side)] += abs(delta)

    def _opening_month(self, key: str, event: Any) -> str | None:
        """The month a decision's certification cycle opened: its year, the birth month."""
        if event.decision == "cycle_opened":
            return event.on.isoformat()[:7]
        year = (event.details or {}).get("cycle_year")
        if year is None and ":" in event.key:
            suffix = event.key.rsplit(":", 1)[1]
            year = int(suffix) if suffix.isdigit() else None
        person = self._page.people.get(key) or self._people.get(key)
        birth_month = person and person.get("birth_month")
        if year is None or not birth_month:
            return None
        return f"{int(year):04d}-{int(birth_month):02d}"


def percentiles(buckets: dict[int, int], shares: tuple[float, ...], value: Any) -> list[Any]:
    """The values at ``shares`` of a histogram (bucket -> count), read through ``value``."""
    total = sum(buckets.values())
    found, seen, ordered = [], 0, sorted(buckets.items())
    targets = [max(1, math.ceil(share * total)) for share in shares]
    index = 0
    for bucket, count in ordered:
        seen += count
        while index < len(targets) and seen >= targets[index]:
            found.append(value(bucket))
            index += 1
    return found


def months_between(first: str, last: str) -> list[str]:
    year, month = int(first[:4]), int(first[5:7])
    months = []
    while f"{year:04d}-{month:02d}" <= last:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def kpi_figures(
    database: Database, first: str, last: str, region: str | list[str] | None = None
) -> dict[str, Any]:
    """The figures of docs/kpis.md for months ``first``..``last`` and regions starting with
    ``region`` (a prefix, or a list of prefixes; all regions if None)."""
    prefixes = [region] if isinstance(region, str) else region
    months = months_between(first, last)
    where, params = _region_clause(prefixes)
    with database.transaction() as cursor:
        rows = cursor.execute(
            "SELECT metric, month, key, SUM(value) FROM kpi_counts"
            " WHERE month >= ? AND month <= ? AND metric IN ('closed', 'funnel',"
            " 'instructions_count', 'instructions_cents', 'skipped', 'held_for_review',"
            f" 'overpayment'){where} GROUP BY metric, month, key",
            (first, last, *params),
        ).fetchall()
        risk_rows = cursor.execute(
            "SELECT region, key, SUM(value) FROM kpi_counts WHERE metric = 'risk'"
            f"{where} GROUP BY region, key",
            params,
        ).fetchall()
        hist_rows = cursor.execute(
            "SELECT metric, key, bucket, value FROM kpi_hist"
            " WHERE metric IN ('latency_ms', 'delay_days')"
        ).fetchall()
        dead = cursor.execute(
            "SELECT month, key, value FROM kpi_counts WHERE metric = 'dead_letters'"
            " AND month >= ? AND month <= ? ORDER BY month, key",
            (f"{first}-01", f"{last}-31"),
        ).fetchall()
        fresh = cursor.execute(
            "SELECT source, last_received_on, last_occurred_on FROM kpi_freshness ORDER BY source"
        ).fetchall()
    by = defaultdict(lambda: defaultdict(Counter))  # metric -> month -> key -> value
    for metric, month, key, value in rows:
        by[metric][month][key] += int(value)
    return {
        "from": first,
        "to": last,
        "region": region if isinstance(region, str) else None,
        "automation": _automation(by["closed"], months),
        "latency": _latency(hist_rows),
        "certification_funnel": [
            {"month": m, **{stage: by["funnel"][m][stage] for stage in FUNNEL.values()}}
            for m in months
            if by["funnel"][m]
        ],
        "risk": _risk(risk_rows),
        "dead_letters": [
            {
                "day": day,
                "source": k.split("|", 1)[0],
                "reason": k.split("|", 1)[1],
                "count": int(v),
            }
            for day, k, v in dead
            if int(v)
        ],
        "freshness": [
            {
                "source": source,
                "last_received_on": received,
                "last_occurred_on": occurred,
                "lag_days": (date.fromisoformat(received) - date.fromisoformat(occurred)).days,
            }
            for source, received, occurred in fresh
        ],
        "money": [_money(by, m) for m in months],
    }


def _region_clause(prefixes: list[str] | None) -> tuple[str, list[str]]:
    if prefixes is None:
        return "", []
    if not prefixes:
        return " AND 1 = 0", []
    return " AND (" + " OR ".join("region LIKE ?" for _ in prefixes) + ")", [
        f"{p}%" for p in prefixes
    ]


def _rate(automated: int, closed: int) -> float | None:
    return round(automated / closed, 4) if closed else None


def _automation(closed: dict[str, Counter[str]], months: list[str]) -> dict[str, Any]:
    by_month = []
    for month in months:
        automated, manual = closed[month]["automated"], closed[month]["manual"]
        by_month.append(
            {
                "month": month,
                "closed": automated + manual,
                "automated": automated,
                "rate": _rate(automated, automated + manual),
            }
        )
    automated = sum(m["automated"] for m in by_month)
    total = sum(m["closed"] for m in by_month)
    return {
        "by_month": by_month,
        "total": {"closed": total, "automated": automated, "rate": _rate(automated, total)},
    }


def _latency(rows: list[tuple[str, str, int, int]]) -> dict[str, Any]:
    hist: dict[str, dict[str, dict[int, int]]] = defaultdict(lambda: defaultdict(dict))
    for metric, key, bucket, value in rows:
        if int(value):
            hist[metric][key][int(bucket)] = int(value)
    by_type = []
    for kind, buckets in sorted(hist["latency_ms"].items()):
        p50, p95, p99 = percentiles(buckets, (0.5, 0.95, 0.99), bucket_value)
        by_type.append(
            {
                "type": kind,
                "count": sum(buckets.values()),
                "p50_ms": p50,
                "p95_ms": p95,
                "p99_ms": p99,
            }
        )
    delays = []
    for source, buckets in sorted(hist["delay_days"].items()):
        p50, p95, p99 = percentiles(buckets, (0.5, 0.95, 0.99), int)
        delays.append(
            {
                "source": source,
                "count": sum(buckets.values()),
                "p50": p50,
                "p95": p95,
                "p99": p99,
                "max": max(buckets),
            }
        )
    return {"by_event_type": by_type, "reporting_delay_days": delays}


def _risk(rows: list[tuple[str, str, int]]) -> dict[str, Any]:
    by_region: dict[str, Counter[str]] = defaultdict(Counter)
    for region, colour, count in rows:
        if int(count):
            by_region[region or "unknown"][colour] += int(count)

    def rolled(width: int | None) -> list[dict[str, Any]]:
        grouped: dict[str, Counter[str]] = defaultdict(Counter)
        for region, counts in by_region.items():
            grouped[region[:width] if width else region].update(counts)
        return [
            {"region": r, **{c: grouped[r][c] for c in RISKS}}
            for r in sorted(grouped)
            if any(grouped[r].values())
        ]

    totals = Counter()
    for counts in by_region.values():
        totals.update(counts)
    return {
        "by_colour": {c: totals[c] for c in RISKS},
        "by_region": rolled(None),
        "by_prefix4": rolled(4),
        "by_prefix2": rolled(2),
    }


def _money(by: dict, month: str) -> dict[str, Any]:
    count, cents = by["instructions_count"][month], by["instructions_cents"][month]
    skipped = by["skipped"][month]
    return {
        "month": month,
        "instructions": {
            kind: {"count": count[kind], "total_cents": cents[kind]}
            for kind in ("pension", "arrears")
        },
        "skipped": {r: skipped[r] for r in ("held", "no_account", "suspended", "review")},
        "held_for_review": by["held_for_review"][month][""],
        "overpayment_opened_cents": by["overpayment"][month]["opened"],
        "overpayment_corrected_cents": by["overpayment"][month]["corrected_down"],
    }


def kpis_from_store(
    view: Any, first: str, last: str, prefixes: list[str] | None, today: date
) -> dict[str, Any]:
    """Everything ``/v1/kpis`` and the report show: the figures, the review backlog (from the
    status read model's review items) and the last processed day."""
    result = kpi_figures(view.database, first, last, prefixes)
    as_of = view.last_processed_day()
    result["as_of"] = as_of.isoformat() if as_of else None
    items = view.review_items(prefixes)
    opened = [date.fromisoformat(i["opened_on"]) for i in items if i.get("opened_on")]
    by_region = Counter(i.get("region") or "unknown" for i in items)
    kinds = Counter(i["kind"] for i in items)
    result["review_backlog"] = {
        "open": len(items),
        "oldest_age_days": max(0, (today - min(opened)).days) if opened else None,
        "by_kind": {
            k: kinds[k] for k in ("proxy_request", "payment_review", "evidence_after_death")
        },
        "by_region": [{"region": r, "count": n} for r, n in sorted(by_region.items())],
    }
    return result
