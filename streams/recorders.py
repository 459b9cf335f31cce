"""The event store's recorders: eventsourcing's own, able to record the positions of several
sources (a worker's Kafka partitions) in the transaction of one batch's events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent, Tracking
from eventsourcing.postgres import PostgresProcessRecorder
from eventsourcing.sqlite import SQLiteProcessRecorder

# The keyword under which ``EventStore.put`` passes the further tracking records.
MORE_TRACKING = "more_tracking"


class _MoreTracking:
    """Records, besides the library's one ``tracking`` record, each of ``more_tracking``, in
    the same transaction: all are recorded with the events, or none is."""

    def _insert_events(
        self, cursor: Any, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Any:
        more: Sequence[Tracking] = kwargs.get(MORE_TRACKING, ())
        for tracking in more:
            self._insert_tracking(cursor, tracking)  # type: ignore[attr-defined]
        return super()._insert_events(cursor, stored_events, **kwargs)  # type: ignore[misc]


class SQLiteRecorder(_MoreTracking, SQLiteProcessRecorder):
    """eventsourcing's SQLite process recorder, with ``more_tracking``."""


class PostgresRecorder(_MoreTracking, PostgresProcessRecorder):
    """eventsourcing's PostgreSQL process recorder, with ``more_tracking``."""
