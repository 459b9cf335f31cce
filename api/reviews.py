"""``/v1/reviews``: the caseworker's queue (proxy requests below the kinship threshold, payments a
fund-flow check held, evidence of life after a death) and their decisions, each written as the
person's life event (`proxy_request_reviewed`, `payment_reviewed`, `evidence_reviewed`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api import views
from api.access import check_review, require_role
from api.access_log import PeopleShown
from api.persons import pending
from api.service import ERROR_RESPONSES, ApiError, CallerDep, IdempotencyKey, ServiceDep
from api.writes import event_id_for

router = APIRouter(prefix="/v1/reviews", tags=["reviews"], responses=ERROR_RESPONSES)
ItemId = Annotated[str, Path(min_length=1, max_length=64)]
Kind = Literal["proxy_request", "payment_review", "evidence_after_death"]


class Decision(BaseModel):
    approve: bool
    reason: str = Field(min_length=1, max_length=200)


@router.get("", response_model=list[views.ReviewItem])
async def list_reviews(
    who: CallerDep,
    service: ServiceDep,
    shown: PeopleShown,
    kind: Kind | None = None,
    region: Annotated[str | None, Query(pattern=r"^[0-9]{2}(?:[0-9]{2}){0,2}$")] = None,
) -> list[views.ReviewItem]:
    """Open items, oldest first: a caseworker's regions (narrowed by ``region``), or every region
    for an auditor. Each person shown (an item's, a proxy request's requester) has the read in
    their access log."""
    require_role(who, "caseworker", "auditor")
    prefixes: list[str] | None = [region] if region is not None else None
    if who.role == "caseworker":
        # Their regions, each narrowed to ``region`` where it lies inside one.
        prefixes = [
            region if region is not None and region.startswith(p) else p
            for p in who.regions
            if region is None or region.startswith(p) or p.startswith(region)
        ]
    items = service.view.review_items(prefixes, kind)
    for item in items:
        shown.append(item["person_id"])
        if item["kind"] == "proxy_request":
            shown.append(item["details"]["requester_id"])
    today = service.today()
    return [views.review_item(item, today) for item in items]


@router.post(
    "/{item_id}/decision",
    status_code=201,
    response_model=views.ReviewOutcome,
    responses={202: {"model": views.Pending}},
)
async def decide(
    item_id: ItemId,
    decision: Decision,
    who: CallerDep,
    service: ServiceDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Approve or reject an open item; the reason is recorded with the decision."""
    require_role(who, "caseworker")

    async def respond() -> JSONResponse:
        item = service.view.review_item(item_id)
        check_review(who, item, deciding=True)
        assert item is not None
        kind, key, person_id = item["kind"], item["key"], item["person_id"]
        approve, reason = decision.approve, decision.reason
        if kind == "proxy_request":
            event = "proxy_request_reviewed"
            data = {"request_id": key, "approved": approve, "reason": reason, "reviewer": who.sub}
        elif kind == "payment_review":
            payment_kind, month = key.split(":", 1)
            event = "payment_reviewed"
            data = {
                "month": month,
                "kind": payment_kind,
                "approved": approve,
                "reason": reason,
                "reviewer": who.sub,
            }
        else:
            event = "evidence_reviewed"
            data = {"evidence_event_id": key, "approved": approve, "reason": reason}
            data["reviewer"] = who.sub
        event_id = event_id_for(who.sub, idempotency_key, "review")
        submitted = await service.write(who, event, person_id, event_id, data)
        if not submitted.applied:
            return pending(event_id)
        if service.view.review_item(item_id) is not None:
            raise ApiError(409, "not_decided", "the item is still open after the decision")
        outcome = views.ReviewOutcome(
            item_id=item_id,
            kind=kind,
            person_id=person_id,
            approved=approve,
            reason=reason,
            applied=True,
        )
        return JSONResponse(outcome.model_dump(), status_code=201)

    return await service.idempotent(who, idempotency_key, (item_id, decision.model_dump()), respond)
