"""Routes about the service itself: health, the status of a Kafka-mode write, and aggregate
figures for operators."""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Path

from api import views
from api.access import NotVisible, require_role
from api.service import ERROR_RESPONSES, CallerDep, ServiceDep

router = APIRouter(tags=["system"])


@router.get("/healthz", response_model=views.Health)
async def health(service: ServiceDep) -> views.Health:
    """No token needed."""
    return views.Health(status="ok", writes=service.mode)  # type: ignore[arg-type]


@router.get("/v1/writes/{write_id}", response_model=views.WriteStatus, responses=ERROR_RESPONSES)
async def write_status(
    write_id: Annotated[str, Path(min_length=1, max_length=200)],
    who: CallerDep,
    service: ServiceDep,
) -> views.WriteStatus:
    """Whether a write the caller made has been applied (Kafka mode answers 202 with this URL)."""
    record = service.write_record(write_id)
    if record is None or record["caller"] != who.sub:
        raise NotVisible()
    event_id, person_id = record["event_id"], record["person_id"]
    resource = f"/v1/proxy-requests/{event_id}" if record["type"] == "proxy_requested" else None
    pensioner = service.engine.intake.pensioner(person_id)
    # Applied once the store has it and, for a write with a resource, once the read model the
    # resource is read from has it too (the worker folds a batch in just after recording it).
    recorded = pensioner is not None and pensioner.has_seen(event_id)
    if recorded and (resource is None or service.view.proxy_grant(event_id) is not None):
        return views.WriteStatus(write_id=write_id, status="applied", resource_url=resource)
    if recorded:
        return views.WriteStatus(write_id=write_id, status="pending")
    reason = service.view.dead_letter_reason(event_id)
    if reason is not None:
        return views.WriteStatus(write_id=write_id, status="rejected", reason=reason)
    status = "waiting" if service.view.is_waiting(event_id) else "pending"
    return views.WriteStatus(write_id=write_id, status=status)  # type: ignore[arg-type]


@router.get("/v1/summary", response_model=views.Summary, responses=ERROR_RESPONSES)
async def summary(who: CallerDep, service: ServiceDep) -> views.Summary:
    """Aggregate figures only (no person appears): people by status, open reviews by kind."""
    require_role(who, "operator", "auditor", "caseworker")
    counts = {status: count for status, (count, _) in service.view.status_counts().items()}
    regions = list(who.regions) if who.role == "caseworker" else None
    backlog = Counter(item["kind"] for item in service.view.review_items(regions))
    return views.Summary(
        people=sum(counts.values()), by_status=counts, review_backlog=dict(backlog)
    )
