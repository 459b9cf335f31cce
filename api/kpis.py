"""``/v1/kpis`` (the operations figures as JSON, docs/kpis.md) and ``/metrics`` (Prometheus text
format). Both read the KPI projection's pre-aggregated tables; neither names a person."""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)

from api.access import require_role
from api.auth import Caller
from api.dashboard import KpiCallerDep
from api.service import ERROR_RESPONSES, ApiError, Service, ServiceDep
from projections.database import Database
from projections.kpis import bucket_value, kpis_from_store

router = APIRouter(tags=["operations"], responses=ERROR_RESPONSES)
MonthParam = Annotated[str | None, Query(pattern=r"^(19|20)[0-9]{2}-(0[1-9]|1[0-2])$")]
RegionParam = Annotated[str | None, Query(pattern=r"^[0-9]{2}(?:[0-9]{2}){0,2}$")]


def figures(
    service: Service, who: Caller, first: str | None, last: str | None, region: str | None
) -> dict[str, Any]:
    """The figures a staff caller may see: a caseworker only those of their regions."""
    require_role(who, "operator", "auditor", "caseworker")
    as_of = service.view.last_processed_day() or service.today()
    last = last or f"{as_of:%Y-%m}"
    if first is None:  # the twelve months up to ``last``
        year, month = int(last[:4]), int(last[5:7]) - 11
        if month < 1:
            year, month = year - 1, month + 12
        first = f"{year:04d}-{month:02d}"
    if first > last:
        raise ApiError(422, "invalid", "from: must not be after to")
    prefixes: list[str] | None = [region] if region else None
    if who.role == "caseworker":
        prefixes = [
            region if region and region.startswith(p) else p
            for p in who.regions
            if region is None or region.startswith(p) or p.startswith(region)
        ]
    result = kpis_from_store(service.view, first, last, prefixes, service.today())
    result["region"] = region
    return result


@router.get("/v1/kpis")
async def read_kpis(
    who: KpiCallerDep,
    service: ServiceDep,
    from_month: Annotated[MonthParam, Query(alias="from")] = None,
    to_month: Annotated[MonthParam, Query(alias="to")] = None,
    region: RegionParam = None,
) -> dict[str, Any]:
    """The operations figures (docs/kpis.md) for a month range and a region prefix."""
    return figures(service, who, from_month, to_month, region)


class StoreCollector:
    """Reads the figures from the store at each scrape."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def collect(self) -> Any:
        database: Database = self.service.view.database
        with database.transaction() as cursor:
            counts = cursor.execute(
                "SELECT metric, key, SUM(value) FROM kpi_counts"
                " WHERE metric IN ('received', 'decisions', 'dead_letters') GROUP BY metric, key"
            ).fetchall()
            batches = cursor.execute(
                "SELECT bucket, value FROM kpi_hist WHERE metric = 'batch_seconds'"
            ).fetchall()
            gauges = cursor.execute(
                "SELECT key, value FROM kpi_gauges WHERE name = 'consumer_lag'"
            ).fetchall()
        received = CounterMetricFamily(
            "benefits_events_received",
            "Life events received and accepted, by source",
            labels=["source"],
        )
        accepted = CounterMetricFamily("benefits_events_accepted", "Life events accepted")
        rejected = CounterMetricFamily(
            "benefits_events_rejected", "Messages dead-lettered, by reason", labels=["reason"]
        )
        decisions = CounterMetricFamily(
            "benefits_decisions", "Decisions recorded, by kind", labels=["kind"]
        )
        by_reason: Counter[str] = Counter()
        total_accepted = 0
        for metric, key, value in counts:
            if metric == "received":
                received.add_metric([key], int(value))
                total_accepted += int(value)
            elif metric == "decisions":
                decisions.add_metric([key], int(value))
            else:
                by_reason[key.split("|", 1)[1]] += int(value)
        accepted.add_metric([], total_accepted)
        for reason, value in sorted(by_reason.items()):
            rejected.add_metric([reason], value)
        yield from (received, accepted, rejected, decisions)
        yield self._batches(batches)
        lag = GaugeMetricFamily(
            "benefits_consumer_lag",
            "Messages not yet applied, per partition (Kafka mode)",
            labels=["partition"],
        )
        for partition, value in gauges:
            lag.add_metric([partition], float(value))
        yield lag
        backlog = GaugeMetricFamily(
            "benefits_review_backlog", "Open review items, by kind", labels=["kind"]
        )
        kinds = Counter(i["kind"] for i in self.service.view.review_items(None))
        for kind in ("proxy_request", "payment_review", "evidence_after_death"):
            backlog.add_metric([kind], kinds[kind])
        yield backlog

    @staticmethod
    def _batches(rows: list[tuple[int, int]]) -> HistogramMetricFamily:
        bounds = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
        counts = [0] * (len(bounds) + 1)
        total_seconds = 0.0
        for bucket, value in rows:
            seconds = bucket_value(int(bucket)) / 1000
            total_seconds += seconds * int(value)
            index = next((n for n, bound in enumerate(bounds) if seconds <= bound), len(bounds))
            counts[index] += int(value)
        cumulative, running = [], 0
        for bound, count in zip([*map(str, bounds), "+Inf"], counts, strict=True):
            running += count
            cumulative.append((bound, running))
        family = HistogramMetricFamily(
            "benefits_batch_apply_seconds", "Time to apply one batch of messages"
        )
        family.add_metric([], cumulative, sum_value=round(total_seconds, 6))
        return family


@router.get("/metrics", include_in_schema=False)
async def metrics(service: ServiceDep) -> Response:
    """Prometheus text format; aggregates only, so no token is needed (scrape it internally)."""
    registry = CollectorRegistry()
    registry.register(StoreCollector(service))  # type: ignore[arg-type]
    return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")
