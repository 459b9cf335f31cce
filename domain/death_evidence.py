"""Evidence after death: life evidence, a liveness check or a life certificate dated after the
registered death date never reactivates a pension. It opens an alert (``evidence_after_death``)
for a caseworker, who reviews it (``evidence_reviewed``: the death stands, or it does not and the
registration must be corrected at its source). No parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from domain.facts import Fact, handles
from domain.policy import PolicyVersion

if TYPE_CHECKING:
    from domain.entitlement import Replay


def after_death(r: Replay, fact: Fact, policy: PolicyVersion) -> bool:
    if r.known_death_date is None or fact.on <= r.known_death_date:
        return False
    r.evidence_alerts.setdefault(
        fact.event_id,
        {
            "open": True,
            "on": fact.on.isoformat(),
            "kind": fact.kind,
            "evidence": dict(fact.data),
            "death_date": r.known_death_date.isoformat(),
        },
    )
    r.decide(
        f"evidence_after_death:{fact.event_id}",
        "evidence_after_death",
        fact,
        policy,
        reason=f"{fact.kind} dated after the registered death date",
        details={"evidence": dict(fact.data), "death_date": r.known_death_date.isoformat()},
    )
    return True


@handles("evidence_reviewed", order=9, decisions=("evidence_reviewed",))
def evidence_reviewed(r: Replay, fact: Fact, policy: PolicyVersion) -> None:
    alert = r.evidence_alerts.get(fact.data["evidence_event_id"])
    if alert is None or not alert["open"]:
        return
    alert["open"] = False
    r.decide(
        f"evidence_reviewed:{fact.data['evidence_event_id']}",
        "evidence_reviewed",
        fact,
        policy,
        fact.data["reason"],
        details={
            "evidence_event_id": fact.data["evidence_event_id"],
            "death_stands": fact.data["approved"],
            "reviewer": fact.data["reviewer"],
        },
    )
