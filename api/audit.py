"""Who looked at a person's record: ``/v1/persons/{person_id}/access-log`` for the person themself
or an auditor, and ``/v1/access-log`` for auditors (what ``api/access_log.py`` records)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query

from api import views
from api.access import check_access_log, require_role
from api.access_log import PeopleShown, person_key
from api.service import ERROR_RESPONSES, CallerDep, ServiceDep

router = APIRouter(tags=["access log"], responses=ERROR_RESPONSES)
PersonId = Annotated[str, Path(min_length=1, max_length=200)]
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
Since = Annotated[datetime | None, Query(description="Entries at or after this time (UTC)")]


@router.get("/v1/persons/{person_id}/access-log", response_model=list[views.AccessLogEntry])
async def read_access_log(
    person_id: PersonId,
    who: CallerDep,
    service: ServiceDep,
    since: Since = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[views.AccessLogEntry]:
    """Who of the staff read this person's record, newest first: the person themself (staff
    subjects masked) or an auditor."""
    exists = bool(service.view.person_ids([person_key(person_id)]))
    check_access_log(who, person_id, exists)
    entries = service.access_log.entries(person_id, since=since, limit=limit, offset=offset)
    return [views.access_log_entry(entry, who) for entry in entries]


@router.get("/v1/access-log", response_model=list[views.AccessRecord])
async def read_whole_access_log(
    who: CallerDep,
    service: ServiceDep,
    shown: PeopleShown,
    person_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    by: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    since: Since = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[views.AccessRecord]:
    """Auditors: every recorded staff read, newest first, narrowed by person, staff subject and
    time (``person_id`` is null for an ID that names no registered person). Like a person's own
    log, this is a read of each person it shows, and recorded as such."""
    require_role(who, "auditor")
    entries = service.access_log.entries(person_id, by, since, limit, offset)
    people = service.view.person_ids({entry["person_key"] for entry in entries})
    shown.extend(people.values())
    return [
        views.AccessRecord(
            person_id=people.get(entry["person_key"]),
            **views.access_log_entry(entry, who).model_dump(),
        )
        for entry in entries
    ]
