"""Messages that failed validation or could not be applied, kept in the event store with the reason.

Keeping them in the event store means a rejection is recorded in the same transaction as the
message's tracked position: a crash can neither lose a rejection nor record it twice.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

DEAD_LETTER_NAMESPACE = uuid5(NAMESPACE_URL, "urn:benefits-engine:dead-letter")


def dead_letter_id(fingerprint: str) -> UUID:
    return uuid5(DEAD_LETTER_NAMESPACE, fingerprint)


class DeadLetter(Aggregate):
    """One rejected message: the original payload, why it was rejected and where it came from."""

    @staticmethod
    def create_id(fingerprint: str, **_: object) -> UUID:
        return dead_letter_id(fingerprint)

    @event("LifeEventRejected")
    def __init__(
        self,
        fingerprint: str,
        payload: str,
        reason: str,
        event_id: str | None,
        source: str,
        original_base64: str | None = None,
        received_on: str | None = None,
    ) -> None:
        self.fingerprint = fingerprint
        self.payload = payload
        self.reason = reason
        self.event_id = event_id
        self.source = source
        # The exact bytes of a message that was not UTF-8 (``payload`` shows them decoded).
        self.original_base64 = original_base64
        self.received_on = received_on  # the engine's day it was received
