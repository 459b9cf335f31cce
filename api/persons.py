"""``/v1/persons``: a person's status, payments, notifications and history, and liveness checks a
family proxy submits for them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi import Path as ApiPath
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api import views
from api.access import check_person
from api.service import ERROR_RESPONSES, ApiError, CallerDep, IdempotencyKey, ServiceDep
from api.writes import event_id_for
from domain.policy import policy_in_force

router = APIRouter(prefix="/v1/persons", tags=["persons"], responses=ERROR_RESPONSES)
PersonId = Annotated[str, Path(min_length=1, max_length=200)]


@router.get("/{person_id}", response_model=views.Person)
async def read_person(person_id: PersonId, who: CallerDep, service: ServiceDep) -> views.Person:
    """Status, certification, open alerts and history (the content of `benefits status --json`)."""
    doc = service.person(person_id)
    check_person(who, doc, "status", service.today())
    assert doc is not None
    own = who.role == "citizen" and who.sub == person_id
    return views.person(doc, who, service.particulars(person_id) if own else None)


@router.get("/{person_id}/history", response_model=list[views.HistoryEntry])
async def read_history(
    person_id: PersonId, who: CallerDep, service: ServiceDep
) -> list[views.HistoryEntry]:
    """Decisions oldest first, each with its reason, rule version, causing event and details."""
    doc = service.person(person_id)
    check_person(who, doc, "history", service.today())
    assert doc is not None
    return [views.HistoryEntry(**entry) for entry in doc["history"]]


@router.get("/{person_id}/history/{number}/explain")
async def explain_decision(
    person_id: PersonId,
    number: Annotated[int, ApiPath(ge=1, le=1_000_000)],
    who: CallerDep,
    service: ServiceDep,
) -> dict:
    """Decision ``number`` (1 = the oldest): the facts, the rule and the parameters in force (with
    their references) behind it; personal data in the facts masked."""
    import policy
    from domain.explanations import explain
    from domain.policy import installed

    policy.refresh(strict=False)  # a version added to the deployment, without a restart
    doc = service.person(person_id)
    check_person(who, doc, "history", service.today())
    assert doc is not None
    history = doc["history"]
    pensioner = service.engine.intake.pensioner(person_id)
    if not 1 <= number <= len(history) or pensioner is None:
        raise ApiError(404, "not_found", f"no decision {number} for this person")
    return explain(number, history[number - 1], pensioner.facts.values(), installed())


@router.get("/{person_id}/payments", response_model=views.Payments)
async def read_payments(person_id: PersonId, who: CallerDep, service: ServiceDep) -> views.Payments:
    """Payment instructions (accounts masked) and overpayment recoveries."""
    check_person(who, service.person(person_id), "payments", service.today())
    payments = service.view.payments(person_id)
    assert payments is not None
    return views.Payments(**payments)


@router.get("/{person_id}/notifications", response_model=list[views.Notification])
async def read_notifications(
    person_id: PersonId, who: CallerDep, service: ServiceDep
) -> list[views.Notification]:
    check_person(who, service.person(person_id), "notifications", service.today())
    return [views.Notification(**n) for n in service.view.notifications(person_id) or []]


class LivenessCheck(BaseModel):
    """The result of a liveness check a proxy ran on the person in the app."""

    reference: str = Field(min_length=1, max_length=200, description="The provider's reference")
    score: float = Field(ge=0, le=1, allow_inf_nan=False)


@router.post(
    "/{person_id}/liveness-checks",
    status_code=201,
    response_model=views.LivenessResult,
    responses={202: {"model": views.Pending}},
)
async def submit_liveness_check(
    person_id: PersonId,
    check: LivenessCheck,
    who: CallerDep,
    service: ServiceDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """A proxy with the `certify_on_behalf` scope submits a liveness check on the principal;
    at or above the policy threshold it certifies an open cycle (channel `proxy_app`)."""
    today = service.today()
    check_person(who, service.person(person_id), "liveness_checks", today)
    threshold = policy_in_force(today).proxy.liveness_min_score
    if check.score < threshold:
        raise ApiError(422, "score_below_threshold", f"score must be at least {threshold}")

    async def respond() -> JSONResponse:
        event_id = event_id_for(who.sub, idempotency_key, "liveness")
        data = {
            "channel": "proxy_app",
            "reference": check.reference,
            "score": check.score,
            "submitted_by": who.sub,
        }
        submitted = await service.write(who, "liveness_verified", person_id, event_id, data)
        if not submitted.applied:
            return pending(event_id)
        doc = service.person(person_id)
        assert doc is not None
        result = views.LivenessResult(
            person_id=person_id,
            accepted=True,
            certification=views.Certification(**doc["certification"]),
        )
        return JSONResponse(result.model_dump(), status_code=201)

    return await service.idempotent(who, idempotency_key, (person_id, check.model_dump()), respond)


def pending(write_id: str) -> JSONResponse:
    body = views.Pending(status="pending", write_id=write_id, status_url=f"/v1/writes/{write_id}")
    return JSONResponse(body.model_dump(), status_code=202, headers={"Location": body.status_url})
