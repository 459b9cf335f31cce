"""Stored events are encrypted and chained, and each day's events are sealed under a Merkle root.

Every stored event's bytes are a clear header and an encrypted body:

    0x01 | previous event's hash (32 bytes) | this event's hash (32 bytes) | AES-GCM(body)

The body is the event's JSON as eventsourcing's transcoder writes it. An event's hash is
``SHA-256("benefits-event-v1" 0x00 | stream ID 0x00 | version (8 bytes, big-endian) | topic 0x00 |
previous hash | body)``, so it covers the event's place in its stream, its kind and its content,
and through the previous hash every event before it in the stream (the first's previous hash is
32 zero bytes). Snapshots are encrypted the same way but stand outside the chains: they are
derived, and can always be made again from the events.

Each day the engine's log since the last seal is sealed: the ``AuditLedger`` records a
``DaySealed`` event with the RFC 6962 Merkle root over those events' hashes, in log order.
``benefits audit verify`` recomputes all of it; ``benefits audit proof`` shows one event is under
its day's root.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, CanSnapshotAggregate, event
from eventsourcing.persistence import Mapper, MapperDeserialisationError, StoredEvent
from eventsourcing.utils import get_topic

FORMAT = b"\x01"
HASH_BYTES = 32
HEADER_BYTES = 1 + 2 * HASH_BYTES
GENESIS = bytes(HASH_BYTES)  # the "previous hash" of a stream's first event
_DOMAIN = b"benefits-event-v1\x00"

LEDGER_ID = uuid5(NAMESPACE_URL, "urn:benefits-engine:audit-ledger")


class StoreFormatError(MapperDeserialisationError):
    """A stored event this version cannot read: written before encryption, or under another key,
    or changed since it was written."""


def event_hash(originator_id: Any, version: int, topic: str, previous: bytes, body: bytes) -> bytes:
    """The hash that chains an event to the one before it in its stream (see the module doc)."""
    return hashlib.sha256(
        b"".join(
            (
                _DOMAIN,
                str(originator_id).encode(),
                b"\x00",
                version.to_bytes(8, "big", signed=True),
                topic.encode(),
                b"\x00",
                previous,
                body,
            )
        )
    ).digest()


def previous_of(state: bytes) -> bytes:
    return state[1 : 1 + HASH_BYTES]


def hash_of(state: bytes) -> bytes:
    """The event's own hash as its header records it."""
    return state[1 + HASH_BYTES : HEADER_BYTES]


def matches_its_hash(stored: StoredEvent, body: bytes) -> bool:
    """Whether the hash in a stored event's header is the one its place, kind, previous hash and
    (decrypted) ``body`` make. The stream's ID may be as a table holds it (text)."""
    stream = stored.originator_id
    stream = stream if isinstance(stream, UUID) else UUID(str(stream))
    expected = event_hash(
        stream, stored.originator_version, stored.topic, previous_of(stored.state), body
    )
    return expected == hash_of(stored.state)


class ChainedMapper(Mapper[UUID]):
    """eventsourcing's mapper, writing the header above and encrypting with the cipher it is
    given (always one: see ``engine.keys``). It knows each stream's last hash from the events it
    has written or read; for one it has not seen, ``read_head`` asks the store."""

    HEADS_LIMIT = 200_000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.cipher is None:
            raise ValueError("the event store is always encrypted: no cipher was given")
        # The base class must not encrypt the body: the header goes outside the ciphertext.
        self.sealer, self.cipher = self.cipher, None
        self._heads: dict[Any, tuple[int, bytes]] = {}
        self.read_head: Callable[[Any, int], bytes | None] | None = None

    def forget_heads(self) -> None:
        """Forget every stream's last hash (after a failed write: it may not have been stored)."""
        self._heads.clear()

    def _previous(self, originator_id: Any, version: int) -> bytes:
        if version <= 1:
            return GENESIS
        known = self._heads.get(originator_id)
        if known is not None and known[0] == version - 1:
            return known[1]
        found = self.read_head(originator_id, version - 1) if self.read_head else None
        if found is None:
            raise StoreFormatError(
                f"cannot chain event {version} of stream {originator_id}: event {version - 1}"
                " is not in the store"
            )
        return found

    def _remember(self, originator_id: Any, version: int, own: bytes) -> None:
        if len(self._heads) >= self.HEADS_LIMIT:
            self._heads.clear()
        self._heads[originator_id] = (version, own)

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        topic = get_topic(domain_event.__class__)
        event_state = dict(vars(domain_event))
        originator_id = event_state.pop("originator_id")
        version = event_state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            event_state["class_version"] = class_version
        body = self.transcoder.encode(event_state)
        if isinstance(domain_event, CanSnapshotAggregate):
            previous = GENESIS
            own = event_hash(originator_id, version, topic, previous, body)
        else:
            previous = self._previous(originator_id, version)
            own = event_hash(originator_id, version, topic, previous, body)
            self._remember(originator_id, version, own)
        state = FORMAT + previous + own + self.sealer.encrypt(body)
        return StoredEvent(
            originator_id=originator_id, originator_version=version, topic=topic, state=state
        )

    def open(self, stored: StoredEvent) -> bytes:
        """The body of a stored event, decrypted; ``StoreFormatError`` if it cannot be."""
        state = stored.state
        if len(state) < HEADER_BYTES or state[:1] != FORMAT:
            raise StoreFormatError(
                f"event {stored.originator_version} of stream {stored.originator_id} was not"
                " written by this version (no encryption header)"
            )
        try:
            return self.sealer.decrypt(state[HEADER_BYTES:])
        except ValueError:
            raise StoreFormatError(
                f"event {stored.originator_version} of stream {stored.originator_id} cannot be"
                " decrypted with this key (another key's store, or changed since it was written)"
            ) from None

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        body = self.open(stored_event)
        plain = StoredEvent(
            originator_id=stored_event.originator_id,
            originator_version=stored_event.originator_version,
            topic=stored_event.topic,
            state=body,
        )
        domain_event = super().to_domain_event(plain)
        if not isinstance(domain_event, CanSnapshotAggregate):
            version = stored_event.originator_version
            known = self._heads.get(stored_event.originator_id)
            if known is None or known[0] <= version:
                self._remember(stored_event.originator_id, version, hash_of(stored_event.state))
        return domain_event


class AuditLedger(Aggregate):
    """The seals of the engine's log: one ``DaySealed`` per day, each the Merkle root over the
    hashes of the events recorded since the previous seal, in log order."""

    @staticmethod
    def create_id() -> UUID:
        return LEDGER_ID

    @event("Opened")
    def __init__(self) -> None:
        self.sealed_through = 0  # the last notification ID under a seal
        self.last_day: date | None = None

    @event("DaySealed")
    def seal(self, day: date, first_id: int, last_id: int, size: int, root: str) -> None:
        """``size`` events with notification IDs ``first_id`` to ``last_id`` are under ``root``
        (hex), the seal of ``day``."""
        self.sealed_through = last_id
        self.last_day = day
