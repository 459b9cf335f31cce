"""Family proxies: a relative's request to act for the person is granted at once at a kinship
proof score of ``proxy.auto_grant_score`` or more, else waits for a caseworker; it is refused for
a deceased principal, and ends on ``valid_until``, on revocation and on the principal's death."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from domain.facts import (
    Fact,
    handles,
)
from domain.policy import PolicyVersion

if TYPE_CHECKING:
    from domain.entitlement import Replay

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass
class ProxyGrant:
    """A relative's request to act for the person, and what became of it."""

    request_id: str
    requester_id: str
    relationship: str
    scopes: tuple[str, ...]
    valid_until: date
    requested_on: date
    proof_reference: str
    proof_score: float
    status: str = "pending"  # pending | granted | rejected | refused | revoked | ended
    decided_on: date | None = None
    decided_by: str | None = None
    reason: str | None = None

    def active_on(self, day: date) -> bool:
        """A grant ends on ``valid_until``: reads after that day see it ended, no job needed."""
        return self.status == "granted" and day <= self.valid_until

    def as_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "requester_id": self.requester_id,
            "relationship": self.relationship,
            "scopes": list(self.scopes),
            "valid_until": self.valid_until.isoformat(),
            "requested_on": self.requested_on.isoformat(),
            "kinship_proof": {"reference": self.proof_reference, "score": self.proof_score},
            "status": self.status,
            "decided_on": self.decided_on.isoformat() if self.decided_on else None,
            "decided_by": self.decided_by,
            "reason": self.reason,
        }


def grant_active(grant: Mapping[str, Any], day: date) -> bool:
    """``ProxyGrant.active_on`` for a grant as the status shows it."""
    return grant["status"] == "granted" and day.isoformat() <= grant["valid_until"]


@handles(
    "proxy_requested",
    order=10,
    decisions=("proxy_granted", "proxy_review_requested", "proxy_refused"),
)
def proxy_requested(r: Replay, fact: Fact, policy: PolicyVersion) -> None:
    data = fact.data
    proof = data["kinship_proof"]
    grant = ProxyGrant(
        request_id=fact.event_id,
        requester_id=data["requester_id"],
        relationship=data["relationship"],
        scopes=tuple(data["scopes"]),
        valid_until=date.fromisoformat(str(data["valid_until"])),
        requested_on=fact.on,
        proof_reference=proof["reference"],
        proof_score=float(proof["score"]),
    )
    r.proxies[fact.event_id] = grant
    died = r.known_death_date is not None and fact.on > r.known_death_date
    if r.dead or died:
        end_grant(r, grant, "refused", fact, "principal_deceased", "proxy_refused", policy)
    elif grant.proof_score >= policy.proxy.auto_grant_score:
        end_grant(r, grant, "granted", fact, "kinship_proof_score", "proxy_granted", policy)
        r.notice(f"proxy_granted:{grant.request_id}", "proxy_granted", fact, _grant(grant))
    else:
        r.decide(
            f"proxy_review_requested:{grant.request_id}",
            "proxy_review_requested",
            fact,
            policy,
            "kinship_proof_below_threshold",
            details=_grant(grant) | {"threshold": policy.proxy.auto_grant_score},
        )


@handles("proxy_request_reviewed", order=11, decisions=("proxy_granted", "proxy_rejected"))
def proxy_request_reviewed(r: Replay, fact: Fact, policy: PolicyVersion) -> None:
    grant = r.proxies.get(fact.data["request_id"])
    if grant is None or grant.status != "pending":
        return
    grant.decided_by = fact.data["reviewer"]
    if fact.data["approved"]:
        end_grant(r, grant, "granted", fact, "review_approved", "proxy_granted", policy)
        r.notice(f"proxy_granted:{grant.request_id}", "proxy_granted", fact, _grant(grant))
    else:
        end_grant(r, grant, "rejected", fact, "review_rejected", "proxy_rejected", policy)


@handles("proxy_revoked", order=12, decisions=("proxy_revoked",))
def proxy_revoked(r: Replay, fact: Fact, policy: PolicyVersion) -> None:
    grant = r.proxies.get(fact.data["request_id"])
    if grant is None or grant.status not in ("granted", "pending"):
        return
    grant.decided_by = fact.data["revoked_by"]
    reason = f"revoked_by_{fact.data['role']}"
    end_grant(r, grant, "revoked", fact, reason, "proxy_revoked", policy)


def end_grant(
    r: Replay,
    grant: ProxyGrant,
    status: str,
    fact: Fact,
    reason: str,
    decision: str,
    policy: PolicyVersion,
) -> None:
    grant.status, grant.decided_on, grant.reason = status, fact.on, reason
    details = _grant(grant)
    if fact.kind != "proxy_requested" and fact.data.get("reason"):
        details["review_reason"] = fact.data["reason"]
    r.decide(f"{decision}:{grant.request_id}", decision, fact, policy, reason, details=details)


def _grant(grant: ProxyGrant) -> dict[str, Any]:
    return {
        "request_id": grant.request_id,
        "requester_id": grant.requester_id,
        "relationship": grant.relationship,
        "scopes": list(grant.scopes),
        "valid_until": grant.valid_until.isoformat(),
        "decided_by": grant.decided_by,
    }
