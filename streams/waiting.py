"""Life events that arrived before their person's registration, waiting for it.

Agencies do not coordinate: a death can reach us before the registration of the person who died.
Such an event is parked here (one aggregate per ``person_id``) and applied when the registration
arrives, in the same transaction; only if no registration has arrived ``GRACE_DAYS`` days after
it was parked is it dead-lettered. So the outcome never depends on arrival order, and an event is
never both rejected and applied.
"""

from __future__ import annotations

from datetime import date
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

WAITING_NAMESPACE = uuid5(NAMESPACE_URL, "urn:benefits-engine:waiting")
GRACE_DAYS = 30
EXPIRED_REASON = (
    "unknown person: no person_registered arrived for this person_id within {days} days"
)


def waiting_id(person_id: str) -> UUID:
    return uuid5(WAITING_NAMESPACE, person_id)


class WaitingEvents(Aggregate):
    """The events parked for one ``person_id`` not registered yet, and what became of them."""

    @staticmethod
    def create_id(person_id: str) -> UUID:
        return waiting_id(person_id)

    @event("Opened")
    def __init__(self, person_id: str) -> None:
        self.person_id = person_id
        self.waiting: dict[str, dict[str, str]] = {}
        self.released: set[str] = set()
        self.expired: set[str] = set()

    def has_seen(self, event_id: str) -> bool:
        return event_id in self.waiting or event_id in self.released or event_id in self.expired

    @event("EventParked")
    def park(self, event_id: str, payload: str, source: str, parked_on: date) -> None:
        self.waiting[event_id] = {
            "payload": payload,
            "source": source,
            "parked_on": parked_on.isoformat(),
        }

    @event("EventsReleased")
    def release(self, event_ids: list[str]) -> None:
        """The registration arrived: these events were applied to the person."""
        for event_id in event_ids:
            self.waiting.pop(event_id, None)
            self.released.add(event_id)

    @event("EventsExpired")
    def expire(self, event_ids: list[str]) -> None:
        """No registration within the grace period: these events were dead-lettered."""
        for event_id in event_ids:
            self.waiting.pop(event_id, None)
            self.expired.add(event_id)

    def due(self, cutoff: date) -> list[str]:
        """Events parked on or before ``cutoff``."""
        return [
            event_id
            for event_id, parked in self.waiting.items()
            if date.fromisoformat(parked["parked_on"]) <= cutoff
        ]
