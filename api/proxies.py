"""Family proxies: ``/v1/proxy-requests`` (ask to act for a relative, see a request) and
``/v1/proxies`` (grants held or given, revoke one).

A request whose kinship proof scores at or above the policy threshold is granted at once; below,
it waits in the review queue of the principal's region. Each write is a life event of the
principal's (`proxy_requested`, `proxy_revoked`).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api import views
from api.access import NotVisible, check_request, require_role, revoker_role
from api.access_log import PeopleShown
from api.persons import pending
from api.service import ERROR_RESPONSES, ApiError, CallerDep, IdempotencyKey, ServiceDep
from api.writes import event_id_for
from domain.policy import policy_in_force
from streams.contracts import MAX_PROXY_YEARS

router = APIRouter(prefix="/v1", tags=["proxies"], responses=ERROR_RESPONSES)
RequestId = Annotated[str, Path(min_length=1, max_length=200)]


class KinshipProof(BaseModel):
    reference: str = Field(min_length=1, max_length=200)
    score: float = Field(ge=0, le=1, allow_inf_nan=False)


class NewProxyRequest(BaseModel):
    principal_id: str = Field(min_length=1, max_length=200)
    relationship: Literal["spouse", "child", "parent", "sibling", "grandchild", "other"]
    kinship_proof: KinshipProof
    scopes: list[
        Literal["view_status", "view_payments", "receive_notifications", "certify_on_behalf"]
    ] = Field(min_length=1, max_length=4)
    valid_until: date | None = Field(
        default=None, description="Default one year from today, at most three."
    )


class Revocation(BaseModel):
    reason: str | None = Field(default=None, min_length=1, max_length=200)


@router.post(
    "/proxy-requests",
    status_code=201,
    response_model=views.ProxyRequest,
    responses={202: {"model": views.Pending}},
)
async def request_proxy(
    body: NewProxyRequest,
    who: CallerDep,
    service: ServiceDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """A citizen asks to act for a principal."""
    require_role(who, "citizen")
    today = service.today()
    if body.principal_id == who.sub:
        raise ApiError(422, "invalid", "principal_id: a person cannot be their own proxy")
    if len(set(body.scopes)) != len(body.scopes):
        raise ApiError(422, "invalid", "scopes: lists a scope twice")
    default_days = policy_in_force(today).proxy.default_validity_days
    valid_until = body.valid_until or today + timedelta(days=default_days)
    if service.person(body.principal_id) is None:
        raise NotVisible()

    async def respond() -> JSONResponse:
        event_id = event_id_for(who.sub, idempotency_key, "proxy")
        data = {
            "requester_id": who.sub,
            "relationship": body.relationship,
            "kinship_proof": body.kinship_proof.model_dump(),
            "scopes": body.scopes,
            "valid_until": valid_until.isoformat(),
        }
        submitted = await service.write(who, "proxy_requested", body.principal_id, event_id, data)
        if not submitted.applied:
            return pending(event_id)
        grant = service.view.proxy_grant(event_id)
        assert grant is not None
        shown = views.proxy_request(grant, service.today())
        return JSONResponse(
            shown.model_dump(),
            status_code=201,
            headers={"Location": f"/v1/proxy-requests/{event_id}"},
        )

    if not today < valid_until <= _years_after(today, MAX_PROXY_YEARS):
        raise ApiError(
            422,
            "invalid",
            f"valid_until: must be after today and at most {MAX_PROXY_YEARS} years on",
        )
    return await service.idempotent(who, idempotency_key, body.model_dump(mode="json"), respond)


@router.get("/proxy-requests/{request_id}", response_model=views.ProxyRequest)
async def read_proxy_request(
    request_id: RequestId, who: CallerDep, service: ServiceDep, shown: PeopleShown
) -> views.ProxyRequest:
    """A request, for its requester, its principal or staff (a staff read is recorded in both
    people's access logs)."""
    grant = service.view.proxy_grant(request_id)
    if grant is not None:
        shown.extend((grant["principal_id"], grant["requester_id"]))
    check_request(who, grant)
    assert grant is not None
    return views.proxy_request(grant, service.today())


@router.get("/proxies", response_model=views.ProxyList)
async def list_proxies(who: CallerDep, service: ServiceDep) -> views.ProxyList:
    """The grants the caller holds (as proxy) and has given (as principal)."""
    require_role(who, "citizen")
    today = service.today()
    grants = service.view.proxy_grants_of(who.sub)
    return views.ProxyList(
        holds=[views.proxy_request(g, today) for g in grants if g["requester_id"] == who.sub],
        given=[views.proxy_request(g, today) for g in grants if g["principal_id"] == who.sub],
    )


@router.delete(
    "/proxies/{request_id}",
    response_model=views.ProxyRequest,
    responses={202: {"model": views.Pending}},
)
async def revoke_proxy(
    request_id: RequestId,
    who: CallerDep,
    service: ServiceDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """The principal, the proxy or a caseworker of the principal's region ends a grant."""
    grant = service.view.proxy_grant(request_id)
    role = revoker_role(who, grant)
    assert grant is not None

    async def respond() -> JSONResponse:
        if grant["status"] in ("granted", "pending"):
            event_id = event_id_for(who.sub, idempotency_key, "revoke")
            data = {"request_id": request_id, "revoked_by": who.sub, "role": role}
            submitted = await service.write(
                who, "proxy_revoked", grant["principal_id"], event_id, data
            )
            if not submitted.applied:
                return pending(event_id)
        current = service.view.proxy_grant(request_id)
        assert current is not None
        return JSONResponse(views.proxy_request(current, service.today()).model_dump())

    return await service.idempotent(who, idempotency_key, ("revoke", request_id), respond)


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)
