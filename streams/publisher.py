"""Publishes stored decisions, notifications and dead letters to Kafka, following the store's log.

The position of the last published notification is tracked, so after a crash publishing resumes
where it stopped. Several workers publish from one store taking turns (``lock``), so each
publishes only what the one before it has not. Delivery to Kafka is at least once (a worker that
dies between sending and recording the position leaves a page to be sent again); each message
carries a stable ``decision_id`` (or ``fingerprint``) so a consumer can drop the rare repeat.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

from eventsourcing.application import Application
from eventsourcing.persistence import Tracking, TrackingRecorder

from domain.pensioner import Pensioner
from streams.contracts import mask_payload
from streams.dead_letters import DeadLetter

# Enqueues one message and returns an awaitable that resolves once the broker has it.
Send = Callable[[str, bytes | None, bytes], Awaitable[Awaitable[Any]]]
PersonLookup = Callable[[Iterable[str]], dict[str, str]]


class Lock(Protocol):
    """Held by one process at a time (blocking ``acquire``)."""

    def acquire(self) -> None: ...

    def release(self) -> None: ...


def decision_message(domain_event: Pensioner.Decided, person_id: str) -> dict[str, Any]:
    return {
        "decision_id": f"{domain_event.originator_id.hex}:{domain_event.originator_version}",
        "person_id": person_id,
        "decision": domain_event.decision,
        "on": domain_event.on.isoformat(),
        "reason": domain_event.reason,
        "event_id": domain_event.event_id,
        "rule_version": domain_event.rule_version,
        "benefit_status": domain_event.benefit_status,
        "risk_level": domain_event.risk_level,
    }


def notification_message(domain_event: Pensioner.NotificationQueued, person_id: str) -> dict:
    return {
        "notification_id": f"{domain_event.originator_id.hex}:{domain_event.key}",
        "person_id": person_id,
        "template": domain_event.template,
        "on": domain_event.on.isoformat(),
        "event_id": domain_event.event_id,
        **domain_event.details,
    }


def dead_letter_message(domain_event: DeadLetter.Event) -> dict[str, Any]:
    return {
        "fingerprint": domain_event.fingerprint,
        "event_id": domain_event.event_id,
        "source": domain_event.source,
        "reason": domain_event.reason,
        "payload": mask_payload(domain_event.payload),
    }


def instruction_message(domain_event: Pensioner.PaymentInstructed, person_id: str) -> dict:
    """The one output that carries the bank account in clear: the bank needs it."""
    return {
        "instruction_id": domain_event.instruction_id,
        "person_id": person_id,
        "month": domain_event.month,
        "kind": domain_event.kind,
        "amount_cents": domain_event.amount_cents,
        "on": domain_event.on.isoformat(),
        "bank_account": domain_event.bank_account,
        "bank_region": domain_event.bank_region,
    }


# The events whose message names the person (``person_id``, looked up in the read model).
NAMED = (Pensioner.Decided, Pensioner.NotificationQueued, Pensioner.PaymentInstructed)


class Publisher:
    """Sends what the store decided to the decisions and dead-letter topics."""

    def __init__(
        self,
        app: Application,
        positions: TrackingRecorder,
        person_ids: PersonLookup,
        decisions_topic: str,
        dead_letter_topic: str,
        notifications_topic: str,
        instructions_topic: str,
        page_size: int = 2000,
        lock: Lock | None = None,
    ) -> None:
        self.app = app
        self.positions = positions
        self.person_ids = person_ids
        self.decisions_topic = decisions_topic
        self.dead_letter_topic = dead_letter_topic
        self.notifications_topic = notifications_topic
        self.instructions_topic = instructions_topic
        self.page_size = page_size
        self.lock = lock
        self.tracking_name = f"publisher:{app.name}"

    async def publish_pending(self, send: Send) -> int:
        """Send everything recorded since the last published position; returns messages sent."""
        if self.lock is None:
            return await self._publish(send)
        await asyncio.to_thread(self.lock.acquire)
        try:
            return await self._publish(send)
        finally:
            await asyncio.to_thread(self.lock.release)

    async def _publish(self, send: Send) -> int:
        sent = 0
        start = (self.positions.max_tracking_id(self.tracking_name) or 0) + 1
        # Only what the read model has projected: it names the people (person_id).
        projected = self.positions.max_tracking_id(self.app.name) or 0
        while start <= projected:
            page = self._page(start, projected)
            if not page:
                return sent
            events = [domain_event for domain_event, _ in page]
            named = [e for e in events if isinstance(e, NAMED)]
            people = self.person_ids({e.originator_id.hex for e in named}) if named else {}
            pending = []
            for domain_event in events:
                if isinstance(domain_event, Pensioner.Decided):
                    person_id = people[domain_event.originator_id.hex]
                    body = decision_message(domain_event, person_id)
                    pending.append(
                        await send(self.decisions_topic, person_id.encode(), _json(body))
                    )
                elif isinstance(domain_event, Pensioner.NotificationQueued):
                    person_id = people[domain_event.originator_id.hex]
                    body = notification_message(domain_event, person_id)
                    topic = self.notifications_topic
                    pending.append(await send(topic, person_id.encode(), _json(body)))
                elif isinstance(domain_event, Pensioner.PaymentInstructed):
                    person_id = people[domain_event.originator_id.hex]
                    body = instruction_message(domain_event, person_id)
                    topic = self.instructions_topic
                    pending.append(await send(topic, person_id.encode(), _json(body)))
                elif isinstance(domain_event, DeadLetter.Event):
                    body = dead_letter_message(domain_event)
                    pending.append(await send(self.dead_letter_topic, None, _json(body)))
            await asyncio.gather(*pending)
            self.positions.insert_tracking(Tracking(self.tracking_name, page[-1][1]))
            sent += len(pending)
            start = page[-1][1] + 1
        return sent

    def _page(self, start: int, stop: int) -> list[tuple[Any, int]]:
        """(domain event, notification id) from ``start`` to ``stop``: as this process recorded
        them when it has them all, otherwise read from the store."""
        recent = getattr(self.app, "recent_since", None)
        page = recent(start, self.page_size, stop) if recent is not None else None
        if page is not None:
            return page
        notifications = self.app.recorder.select_notifications(
            start=start, limit=self.page_size, stop=stop
        )
        return [(self.app.mapper.to_domain_event(n), n.id) for n in notifications]


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, ensure_ascii=False).encode("utf-8")
