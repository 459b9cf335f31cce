"""Builds the intake application and the read model for one store URL, after making sure the store
can be used as asked: its path or server is usable, it exists (for commands that only read it) and
no other writer is using it (for commands that write; see ``lock_store``)."""

from __future__ import annotations

import fcntl
import os
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlsplit

from eventsourcing.persistence import PersistenceError

import policy
from engine.errors import StoreBusy, StoreNotFound, StoreUnavailable, StoreUnusable
from engine.keys import CipherKey, adopt_pending_key, keyed_token, pending_key, store_key
from engine.settings import eventsourcing_environment, redacted_url
from projections.database import Database, connect_postgres
from projections.kpis import TRACKING as KPI_TRACKING
from projections.kpis import KpiProjection, KpiView
from projections.status import ReadModelView, StatusProjection, catch_up
from streams.intake import LifeEventIntake
from streams.ledger import StoreFormatError
from streams.recorders import advisory_lock_key

SQLITE_HEADER = b"SQLite format 3\x00"
# Any of these tables means a store is there: the event store's (its SQLite and PostgreSQL names)
# and the read model's tracked positions.
# The event store's table: its SQLite name, and its PostgreSQL name (the intake's, lower case).
SQLITE_EVENTS_TABLE = "stored_events"
POSTGRES_EVENTS_TABLE = f"{LifeEventIntake.name.lower()}_events"
STORE_TABLES = (SQLITE_EVENTS_TABLE, POSTGRES_EVENTS_TABLE, "projection_position")


WRITER_LOCK_KEY = advisory_lock_key("benefits-engine writer")
READ_MODELS_LOCK_KEY = advisory_lock_key("benefits-engine read models")
PUBLISHER_LOCK_KEY = advisory_lock_key("benefits-engine publisher")
SCHEMA_LOCK_KEY = advisory_lock_key("benefits-engine schema")


class WriterLock(Protocol):
    """The store's exclusive writer lock, held until ``release`` or the end of the process."""

    def release(self) -> None: ...


@dataclass
class Engine:
    """The parts that share one store: the intake (event store) and the status projection."""

    key: CipherKey
    intake: LifeEventIntake
    projection: StatusProjection
    kpis: KpiProjection
    lock: WriterLock | None = None
    # Several workers share a PostgreSQL store: they take turns at bringing the read models up
    # to date and at publishing, so that nothing is folded in or published twice.
    read_models_turn: Turn | None = None
    publishing_turn: Turn | None = None
    # Tracked positions that follow the store's log (beyond the read models': the publisher's),
    # so the intake keeps the events it recorded in memory until each of them has them.
    followers: list[str] = field(default_factory=list)

    @property
    def view(self) -> ReadModelView:
        return self.projection.view

    def refresh(self) -> int:
        """Bring the read models (status and operations figures) up to date with the store."""
        with _taken(self.read_models_turn):
            return self._catch_up()

    def _catch_up(self) -> int:
        reached: dict[str, int] = {}
        read = catch_up(
            self.intake,
            [(self.projection, self.intake.name), (self.kpis, KPI_TRACKING)],
            reached=reached,
        )
        self.kpis.flush()
        # The intake forgets the events it recorded once every follower of the log has them.
        positions = [self.view.max_tracking_id(name) or 0 for name in self.followers]
        self.intake.forget_recent(min([*positions, *reached.values()]) + 1)
        return read

    def rebuild(self) -> int:
        """Drop the read models and rebuild them from the event store."""
        with _taken(self.read_models_turn):
            self.view.clear(self.intake.name)
            self.kpis.view.clear()
            return self._catch_up()

    def drop_connections(self) -> None:
        """Close the read models' and the turns' PostgreSQL connections: each is opened again on
        its next use. After the server restarted, that makes them all anew at once instead of
        each failing once on its stale connection (the event store's pool finds its own)."""
        self.view.database.close()
        for turn in (self.read_models_turn, self.publishing_turn):
            if turn is not None:
                turn.close()

    def close(self) -> None:
        try:
            self.intake.close()
            self.view.database.close()
            for turn in (self.read_models_turn, self.publishing_turn):
                if turn is not None:
                    turn.close()
        finally:
            if self.lock is not None:
                self.lock.release()
                self.lock = None


def open_engine(
    store_url: str,
    aggregate_cache: int = 100_000,
    *,
    must_exist: bool = False,
    exclusive: bool = False,
    lock: WriterLock | None = None,
    key: CipherKey | None = None,
) -> Engine:
    """Open the store. ``must_exist``: raise ``StoreNotFound`` (creating nothing) unless a store is
    already there, for commands that only read. ``exclusive``: take the writer lock first, raising
    ``StoreBusy`` if another writer holds it; or pass a ``lock`` already taken with
    ``lock_store``. The engine releases its lock on ``close``. ``key``: the cipher key to use
    instead of the store's own (``engine.keys.store_key``), e.g. a rotation's new key."""
    policy.refresh()  # the policy in force, from policy/ (and a deployment's changes)
    if exclusive and lock is None:
        lock = lock_store(store_url, must_exist=must_exist)
    else:
        check_store(store_url, must_exist=must_exist)
        if not must_exist:
            _make_folder(store_url)
    try:
        return _build(store_url, aggregate_cache, lock, key)
    except BaseException:
        if lock is not None:
            lock.release()
        raise


def _build(
    store_url: str, aggregate_cache: int, lock: WriterLock | None, key: CipherKey | None
) -> Engine:
    import psycopg

    env = eventsourcing_environment(store_url)
    # Personal data is encrypted at rest: a new embedded store gets a key file of its own.
    if key is None:
        key = store_key(store_url, may_create=lambda: not _has_events(store_url))
    env["CIPHER_TOPIC"] = "eventsourcing.cryptography:AESCipher"
    # Aggregates stay in memory between batches. The intake is the only writer of a person
    # (Kafka keys by person), so no fast-forward read per person; on a conflict the intake
    # evicts what it touched and retries once.
    # 0: no cache at all (eventsourcing reads "0" as "unbounded"), for a process that is not
    # a person's only writer, such as the service beside `benefits run`.
    env["AGGREGATE_CACHE_MAXSIZE"] = str(aggregate_cache) if aggregate_cache > 0 else ""
    env["AGGREGATE_CACHE_FASTFORWARD"] = "n"
    env["DEEPCOPY_FROM_AGGREGATE_CACHE"] = "n"
    intake: LifeEventIntake | None = None
    database: Database | None = None
    # Processes started together on a new PostgreSQL database (several workers, the
    # scheduler, the service) create its tables one at a time: PostgreSQL's CREATE ... IF NOT
    # EXISTS is not safe against a concurrent twin.
    schema_lock = None if "SQLITE_DBNAME" in env else _connect(store_url)
    try:
        if schema_lock is not None:
            schema_lock.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
        intake, key = _open_intake(env, key)
        database = Database(store_url)
        lookup_key = key.lookup_key()
        projection = StatusProjection(
            ReadModelView(database), token=lambda value: keyed_token(lookup_key, value)
        )
        kpis = KpiProjection(KpiView(database))
    except (PersistenceError, sqlite3.Error, psycopg.Error) as exc:
        _close_quietly(intake, database)
        raise StoreUnavailable(
            f"cannot open the store at {_where(store_url)}: {_reason(exc, store_url)}"
        ) from None
    except BaseException:
        _close_quietly(intake, database)
        raise
    finally:
        if schema_lock is not None:
            schema_lock.close()  # closing the session releases its advisory lock
    return Engine(
        key=key,
        intake=intake,
        projection=projection,
        kpis=kpis,
        lock=lock,
        read_models_turn=Turn(store_url, READ_MODELS_LOCK_KEY),
        publishing_turn=Turn(store_url, PUBLISHER_LOCK_KEY),
    )


def _has_events(store_url: str) -> bool:
    """Whether an embedded event store is already there (so its key must exist, never be made
    anew). Asked only when its key file is missing; a PostgreSQL store's key is never made."""
    path = Path(eventsourcing_environment(store_url)["SQLITE_DBNAME"])
    return path.is_file() and path.stat().st_size > 0 and _sqlite_has_store(path)


def _open_intake(env: dict[str, str], key: CipherKey) -> tuple[LifeEventIntake, CipherKey]:
    """The intake under ``key``. When ``key`` (a key file) does not open the store but the new key
    a rotation left beside it does, the rotation committed and stopped before replacing the key
    file: that key is adopted (``engine.keys.adopt_pending_key``)."""
    try:
        return _checked_intake(env, key), key
    except StoreUnusable as first:
        pending = pending_key(key)
        if pending is None:
            raise
        try:
            intake = _checked_intake(env, pending)
        except StoreUnusable:
            raise first from None
    try:
        return intake, adopt_pending_key(key)
    except BaseException:
        intake.close()
        raise


def _checked_intake(env: dict[str, str], key: CipherKey) -> LifeEventIntake:
    # eventsourcing prefers BENEFITS_CIPHER_KEY (the application's name, then the setting) to
    # CIPHER_KEY, and reads it from the process's environment too: both name ``key`` here.
    named = f"{LifeEventIntake.name.upper()}_CIPHER_KEY"
    intake = LifeEventIntake(env={**env, "CIPHER_KEY": key.value, named: key.value})
    try:
        _check_key(intake, key)
    except BaseException:
        intake.close()
        raise
    return intake


def _check_key(intake: LifeEventIntake, key: CipherKey) -> None:
    """Open the store's first and last events with ``key``: a store written under another key,
    or before encryption, is one line now rather than a failure in the middle of a batch. One
    of them changed since it was written is for `benefits audit verify` to name, so either
    opening will do."""
    recorder = intake.recorder
    last = recorder.max_notification_id()
    if not last:
        return
    ends = [*recorder.select_notifications(start=None, limit=1)]
    ends += recorder.select_notifications(start=last, limit=1)
    problem: StoreFormatError | None = None
    for stored in ends:
        try:
            intake.mapper_chain().open(stored)
            return
        except StoreFormatError as exc:
            problem = problem or exc
        except TypeError:  # not bytes at all: changed, which verify names
            continue
    if problem is not None:
        raise StoreUnusable(f"the store cannot be read with {key.source}: {problem}")


def _close_quietly(intake: LifeEventIntake | None, database: Database | None) -> None:
    for part in (intake, database):
        if part is not None:
            try:
                part.close()
            except Exception:  # already reporting the error that brought us here
                pass


def check_store(store_url: str, *, must_exist: bool = False) -> None:
    """Raise a ``StoreError`` unless ``store_url`` names a usable store (one that is already there,
    with ``must_exist``). Creates nothing."""
    env = eventsourcing_environment(store_url)  # raises StoreUnusable for a URL of no known kind
    if "SQLITE_DBNAME" in env:
        name = env["SQLITE_DBNAME"]
        if name.endswith("/"):
            raise StoreUnusable(f"{name} names a folder; name a file in it, e.g. {name}benefits.db")
        _check_sqlite(Path(name), must_exist)
    else:
        _check_postgres(store_url, must_exist)


def lock_store(store_url: str, *, must_exist: bool = False) -> WriterLock:
    """Check the store as ``check_store`` does, then take its exclusive writer lock or raise
    ``StoreBusy``. SQLite: ``flock`` on ``<db>.lock`` beside the database file. PostgreSQL: a
    session advisory lock on a connection of its own. Either way the lock goes with the process,
    so a crashed writer never leaves the store locked."""
    check_store(store_url, must_exist=must_exist)
    env = eventsourcing_environment(store_url)
    if "SQLITE_DBNAME" in env:
        _make_folder(store_url)
        return _FileLock(Path(env["SQLITE_DBNAME"]))
    return _AdvisoryLock(store_url)


# ----- SQLite


def _check_sqlite(path: Path, must_exist: bool) -> None:
    where = path.absolute()
    if path.is_dir():
        raise StoreUnusable(f"{where} is a directory, not a store file")
    if not path.exists():
        _check_creatable(path)
        if must_exist:
            raise StoreNotFound(_no_store(str(where)))
        return
    if not path.is_file():
        raise StoreUnusable(f"{where} is not a regular file, so it cannot hold a store")
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StoreUnusable(f"cannot read {where}: {exc.strerror}") from None
    if header and header != SQLITE_HEADER:
        raise StoreUnusable(f"{where} is not a store: it is not a SQLite database")
    if not must_exist and not os.access(path, os.W_OK):
        raise StoreUnusable(f"{where} is read-only, so nothing can be written to it")
    if must_exist and not _sqlite_has_store(path):
        raise StoreNotFound(_no_store(str(where)))


def _check_creatable(path: Path) -> None:
    """The nearest folder above ``path`` that exists must be a folder we may write in."""
    where = path.absolute()
    for folder in where.parents:
        if folder.exists():
            if not folder.is_dir():
                raise StoreUnusable(f"{where} cannot hold a store: {folder} is not a directory")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise StoreUnusable(f"{where} cannot hold a store: {folder} is not writable")
            return


def _sqlite_has_store(path: Path) -> bool:
    where = path.absolute()
    try:
        # Read-only, so that looking creates no database where there was none.
        connection = sqlite3.connect(f"file:{quote(str(where))}?mode=ro", uri=True, timeout=30)
        try:
            rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            names = {row[0] for row in rows}
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise StoreUnusable(f"{where} is not a usable SQLite database: {exc}") from None
    return bool(names.intersection(STORE_TABLES))


def _make_folder(store_url: str) -> None:
    env = eventsourcing_environment(store_url)
    if "SQLITE_DBNAME" not in env:
        return
    path = Path(env["SQLITE_DBNAME"])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreUnusable(
            f"{path.absolute()} cannot hold a store: cannot create {path.parent}: {exc.strerror}"
        ) from None


class _FileLock:
    """``flock`` on a sidecar file; the holder writes its process ID there for the busy message.
    The file stays after release: deleting it could let two writers lock two different files."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreUnusable(
                f"cannot create the lock file {self.path.absolute()}: {exc.strerror}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            raise StoreBusy(_busy(str(database.absolute()), holder)) from None
        except OSError as exc:  # a file system without flock
            os.close(fd)
            raise StoreUnusable(f"cannot lock {self.path.absolute()}: {exc.strerror}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # no stale process ID for the next busy message
            os.close(self._fd)  # closing the file drops the flock
            self._fd = None


# ----- PostgreSQL


def _connect(store_url: str, must_exist: bool = False) -> Any:
    import psycopg

    try:
        return connect_postgres(store_url, autocommit=True)
    except psycopg.Error as exc:
        reason = _reason(exc, store_url)
        database = unquote(urlsplit(store_url).path.lstrip("/"))
        if must_exist and re.search(r'database ".*" does not exist', reason):
            raise StoreNotFound(f"{_no_store(redacted_url(store_url))}: {reason}") from None
        raise StoreUnavailable(
            f"cannot connect to PostgreSQL at {_where(store_url)}"
            f" (database {database or 'postgres'!r}): {reason}"
        ) from None


def _check_postgres(store_url: str, must_exist: bool) -> None:
    connection = _connect(store_url, must_exist)
    try:
        if must_exist:
            found = connection.execute(
                "SELECT count(*) FROM information_schema.tables"
                " WHERE table_schema = current_schema() AND table_name = ANY(%s)",
                (list(STORE_TABLES),),
            ).fetchone()[0]
            if not found:
                raise StoreNotFound(_no_store(redacted_url(store_url)))
    finally:
        connection.close()


class _AdvisoryLock:
    """A session-level ``pg_try_advisory_lock`` on a dedicated connection; ``release`` unlocks
    it, and losing the connection (a process that dies) releases it too."""

    def __init__(self, store_url: str) -> None:
        import psycopg

        self._connection: Any = _connect(store_url)
        try:
            row = self._connection.execute(
                "SELECT pg_try_advisory_lock(%s)", (WRITER_LOCK_KEY,)
            ).fetchone()
        except psycopg.Error as exc:
            self._close()
            raise StoreUnavailable(
                f"cannot lock the store at {_where(store_url)}: {_reason(exc, store_url)}"
            ) from None
        if not row[0]:
            self._close()
            raise StoreBusy(_busy(redacted_url(store_url), ""))

    def release(self) -> None:
        """Unlock, then close. Closing alone releases the lock only once the server's process
        for the session has ended, after the close returns: a writer starting right after this
        one ended could find the store still busy."""
        import psycopg

        if self._connection is not None:  # held: a lock not had was closed at once
            try:
                self._connection.execute("SELECT pg_advisory_unlock(%s)", (WRITER_LOCK_KEY,))
            except psycopg.Error:
                pass  # the session is gone, and the lock with it
        self._close()

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class Turn:
    """One kind of work that the processes sharing a PostgreSQL store do one at a time: a
    blocking session advisory lock on a connection of its own (opened on first use, opened
    again after it was lost), so a process that dies releases it with its connection. On
    SQLite there is one writer at a time anyway, and a turn is always free."""

    def __init__(self, store_url: str, key: int) -> None:
        self.store_url = store_url
        self.key = key
        self.shared = urlsplit(store_url).scheme.startswith("postgres")
        self._connection: Any = None

    def acquire(self) -> None:
        """Wait until no other process holds this turn, then hold it."""
        if not self.shared:
            return
        if self._connection is None or self._connection.closed:
            self._connection = connect_postgres(self.store_url, autocommit=True)
        self._connection.execute("SELECT pg_advisory_lock(%s)", (self.key,))

    def release(self) -> None:
        if self._connection is None:
            return
        import psycopg

        try:
            self._connection.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        except psycopg.Error:
            self.close()  # the session is gone, and the lock with it

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


@contextmanager
def _taken(turn: Turn | None) -> Iterator[None]:
    if turn is None:
        yield
        return
    turn.acquire()
    try:
        yield
    finally:
        turn.release()


# ----- messages


def _no_store(where: str) -> str:
    return (
        f"no store at {where} (nothing has been processed there yet:"
        " run `benefits run --input EVENTS.jsonl` or `benefits demo` first)"
    )


def _busy(where: str, holder: str) -> str:
    by = f" (process {holder})" if holder.isdigit() else ""
    return (
        f"the store at {where} is busy: another writer{by} is using it;"
        " try again when it has finished"
    )


def _where(store_url: str) -> str:
    """How messages name a store: the SQLite file, or PostgreSQL's host and port."""
    parts = urlsplit(store_url)
    if parts.scheme == "sqlite":
        return str(Path(eventsourcing_environment(store_url)["SQLITE_DBNAME"]).absolute())
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}"


def _reason(exc: BaseException, store_url: str) -> str:
    """The first line of a driver's message, without the host and port we name already and never
    with the password."""
    lines = str(exc).strip().splitlines()
    text = lines[0].strip() if lines else ""
    text = re.sub(r"^connection failed: ", "", text)
    text = re.sub(r'^connection to server at "[^"]*"( \([^)]*\))?, port \d+ failed: ', "", text)
    password = urlsplit(store_url).password
    if password:
        for secret in {password, unquote(password)}:
            text = text.replace(secret, "***")
    return text.strip() or type(exc).__name__
