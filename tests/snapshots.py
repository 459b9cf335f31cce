"""A person's snapshot as the event store gives it back, and a person loaded from one."""

from __future__ import annotations

from eventsourcing.persistence import DatetimeAsISO, JSONTranscoder, UUIDAsHex

from domain.pensioner import Pensioner
from streams.intake import DateAsISO


def store_transcoder() -> JSONTranscoder:
    """The JSON the event store writes states with (without the encryption around it)."""
    transcoder = JSONTranscoder()
    for transcoding in (DateAsISO(), DatetimeAsISO(), UUIDAsHex()):
        transcoder.register(transcoding)
    return transcoder


def stored_snapshot(p: Pensioner) -> Pensioner.Snapshot:
    """A snapshot of ``p`` as the event store reads it back (its state through the JSON)."""
    taken = Pensioner.Snapshot.take(p)
    transcoder = store_transcoder()
    return Pensioner.Snapshot(
        originator_id=taken.originator_id,
        originator_version=taken.originator_version,
        timestamp=taken.timestamp,
        topic=taken.topic,
        state=transcoder.decode(transcoder.encode(taken.state)),
    )


def reloaded(log: list, snapshot: Pensioner.Snapshot | None) -> Pensioner:
    """The person from the snapshot and the events of ``log`` after it, or (None) from every
    event, as the store loads them."""
    p = snapshot.mutate(None) if snapshot is not None else None
    after = snapshot.originator_version if snapshot is not None else 0
    for event in log:
        if event.originator_version > after:
            p = event.mutate(p)
    assert p is not None
    return p
