"""A small SQL adapter: read models live in the same SQLite or PostgreSQL database as the store."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from eventsourcing.persistence import Tracking, TrackingRecorder

# Seconds to wait for a PostgreSQL server before giving up (libpq's connect_timeout).
CONNECT_TIMEOUT_SECONDS = 5


class Database:
    """A connection to ``sqlite:///path`` or ``postgresql://...``; SQL uses ``?`` marks."""

    def __init__(self, url: str) -> None:
        self.url = url
        scheme = urlsplit(url).scheme
        self.is_postgres = scheme.startswith("postgres")
        self._connection: Any = None
        if not self.is_postgres and scheme != "sqlite":
            raise ValueError(f"unsupported store URL scheme {scheme!r}")

    def _connect(self) -> Any:
        if self.is_postgres and self._connection is not None and self._connection.closed:
            # Lost (a server restart, a dropped link): the next transaction connects again.
            self._connection = None
        if self._connection is None:
            if self.is_postgres:
                self._connection = connect_postgres(self.url)
            else:
                path = sqlite_path(self.url)
                self._connection = sqlite3.connect(path, timeout=30)
                self._connection.execute("PRAGMA journal_mode=WAL")
                # In WAL mode NORMAL stays consistent on power loss; the read model is
                # rebuildable from the event store and its position commits with its rows.
                self._connection.execute("PRAGMA synchronous=NORMAL")
        return self._connection

    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.is_postgres else statement

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        connection = self._connect()
        cursor = connection.cursor()
        try:
            if self.is_postgres:
                # Statements go out together, without a round trip each, until a result is read.
                with connection.pipeline():
                    yield Cursor(self, cursor)
            else:
                yield Cursor(self, cursor)
            connection.commit()
        except BaseException:
            if self.is_postgres and connection.closed:
                self._connection = None  # its transaction went with it: nothing to roll back
            else:
                connection.rollback()
            raise
        finally:
            cursor.close()

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class Cursor:
    """Runs ``?``-marked SQL on either database."""

    def __init__(self, database: Database, cursor: Any) -> None:
        self._database = database
        self._cursor = cursor

    def execute(self, statement: str, params: Sequence[Any] = ()) -> Cursor:
        self._cursor.execute(self._database._sql(statement), tuple(params))
        return self

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            self._cursor.executemany(self._database._sql(statement), [tuple(r) for r in rows])

    def select_in(self, statement: str, values: Sequence[Any], chunk: int = 500) -> list[Any]:
        """The rows of ``statement`` whose ``{marks}`` (inside ``IN (...)``) takes each of
        ``values``, asked a chunk at a time so that no statement has too many marks."""
        rows: list[Any] = []
        for start in range(0, len(values), chunk):
            part = values[start : start + chunk]
            rows += self.execute(statement.format(marks=",".join("?" * len(part))), part).fetchall()
        return rows

    def fetchone(self) -> Any:
        return self._cursor.fetchone()

    def fetchall(self) -> list[Any]:
        return list(self._cursor.fetchall())


def connect_postgres(url: str, autocommit: bool = False) -> Any:
    """A psycopg connection that gives up after ``CONNECT_TIMEOUT_SECONDS``."""
    import psycopg

    return psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=autocommit)


def sqlite_path(url: str) -> str:
    """The file path in ``sqlite:///relative.db`` or ``sqlite:////absolute.db`` (nothing is
    created here: whoever writes makes the folder)."""
    path = url.removeprefix("sqlite:///")
    if path == url or not path:
        raise ValueError(f"expected sqlite:///path.db, got {url!r}")
    return path


POSITIONS = (
    "CREATE TABLE IF NOT EXISTS projection_position ("
    " name TEXT PRIMARY KEY, notification_id BIGINT NOT NULL)"
)


class TrackedTables(TrackingRecorder):
    """A read model's tables in ``database`` (created from ``schema``), with the positions it
    has reached in logs it follows, by name, in ``projection_position``."""

    def __init__(self, database: Database, schema: Sequence[str]) -> None:
        self.database = database
        with database.transaction() as cursor:
            for statement in (POSITIONS, *schema):
                cursor.execute(statement)

    def insert_tracking(self, tracking: Tracking) -> None:
        with self.database.transaction() as cursor:
            self._track(cursor, tracking)

    def _track(self, cursor: Cursor, tracking: Tracking) -> None:
        cursor.execute(
            "INSERT INTO projection_position (name, notification_id) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET notification_id = excluded.notification_id",
            (tracking.application_name, tracking.notification_id),
        )

    def max_tracking_id(self, application_name: str) -> int | None:
        with self.database.transaction() as cursor:
            row = cursor.execute(
                "SELECT notification_id FROM projection_position WHERE name = ?",
                (application_name,),
            ).fetchone()
        return None if row is None else int(row[0])
