"""`benefits rotate-key`: every stored event and snapshot re-encrypted under a new cipher key in
one transaction, so that the store is wholly under the old key or wholly under the new one.

A row keeps its clear header (format, previous hash, own hash: the hashes are over the plaintext,
so the chains and the day seals stay valid); only its AES-GCM body is encrypted anew. Before the
commit every row is opened under the new key and its body checked against the hash in its header.
In key-file mode the new key is written beside the old one (``<db>.key.new``) before the commit and
replaces it after; ``engine.wiring`` adopts it if a crash came in between. The read models' keyed
hashes derive from the key, so they are rebuilt at the end. See docs/keys.md.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eventsourcing.cryptography import AESCipher
from eventsourcing.persistence import JSONTranscoder, StoredEvent
from eventsourcing.utils import Environment

from engine.errors import (
    SettingInvalid,
    StoreBusy,
    StoreUnavailable,
    StoreUnusable,
    UserError,
)
from engine.keys import (
    HINT,
    KEY_ENV,
    NEW_KEY_ENV,
    CipherKey,
    new_key,
    parse_key,
    pending_key_path,
    write_key_file,
)
from engine.settings import eventsourcing_environment
from engine.wiring import WRITER_LOCK_KEY, lock_store, open_engine
from projections.database import connect_postgres
from streams.ledger import (
    HEADER_BYTES,
    ChainedMapper,
    StoreFormatError,
    matches_its_hash,
)

PAGE_ROWS = 5_000
SESSIONS_GRACE_SECONDS = 3.0
# description, rows done, rows in all (None: not counted)
Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True)
class Rotated:
    """What a rotation did: rows re-encrypted, and where the new key is."""

    events: int
    snapshots: int
    key_file: Path | None  # key-file mode: the file that now holds the new key

    def summary(self) -> str:
        done = f"re-encrypted {self.events:,} events and {self.snapshots:,} snapshots under"
        if self.key_file is not None:
            return f"{done} a new key; the key file {self.key_file} now holds it"
        return (
            f"{done} the key in {NEW_KEY_ENV}; set {KEY_ENV} to that key (and unset"
            f" {NEW_KEY_ENV}) for every process that opens this store"
        )


def rotate(store_url: str, on_progress: Progress | None = None) -> Rotated:
    """Re-encrypt the store at ``store_url`` under a new key, holding its writer lock, then
    rebuild its read models (see the module doc)."""
    progress = on_progress or (lambda description, done, total: None)
    given = os.environ.get(NEW_KEY_ENV)
    new_value = parse_key(given, NEW_KEY_ENV) if given else None
    if new_value is None and os.environ.get(KEY_ENV):
        raise SettingInvalid(
            f"the store's key comes from {KEY_ENV}: set {NEW_KEY_ENV} to the new key ({HINT})"
        )
    lock = lock_store(store_url, must_exist=True)
    try:
        # Opening checks the current key (and adopts one a stopped rotation left).
        engine = open_engine(store_url, must_exist=True, lock=lock)
        engine.lock = None  # kept for the rebuild
        try:
            old = engine.key
            snapshots: Any = engine.intake.snapshots
            tables = {
                "events": engine.intake.recorder.events_table_name,
                "snapshots": snapshots.recorder.events_table_name,
            }
        finally:
            engine.close()
        if old.file is None and old.source != KEY_ENV:
            raise StoreUnusable("this store lives in memory only: it has no key to rotate")
        if new_value is None:
            new_value = new_key()
        if new_value == old.value:
            raise SettingInvalid(f"{NEW_KEY_ENV} holds the store's current key; give a new one")
        counts = _reencrypt(store_url, tables, old, new_value, progress)
        progress("rebuilding the read models", 0, None)
        new = CipherKey(new_value, old.source if old.file else NEW_KEY_ENV, old.file)
        try:
            engine = open_engine(store_url, must_exist=True, lock=lock, key=new)
            lock = None  # the engine releases it on close
            try:
                engine.rebuild()
            finally:
                engine.close()
        except Exception as exc:
            reason = exc.message if isinstance(exc, UserError) else _first_line(exc)
            where = f" in {old.file}" if old.file else f" in {NEW_KEY_ENV}"
            raise StoreUnavailable(
                f"the store is now under the new key{where}, but its read models could not be"
                f" rebuilt ({reason}): run `benefits rebuild` with the new key"
            ) from None
    finally:
        if lock is not None:
            lock.release()
    return Rotated(counts["events"], counts["snapshots"], old.file)


def _reencrypt(
    store_url: str, tables: dict[str, str], old: CipherKey, new_value: str, progress: Progress
) -> dict[str, int]:
    """Rewrite every row of ``tables`` (kind: table name) under the new key and check them all,
    in one transaction; in key-file mode put the new key in place around the commit."""
    opener, sealer = _mapper(old.value), _mapper(new_value)
    pending = pending_key_path(old.file) if old.file is not None else None
    rows = _rows(store_url, list(tables.values()))
    counts: dict[str, int] = {}
    try:
        for kind, table in tables.items():
            counts[kind] = total = rows.count(table)
            done = 0
            progress(f"re-encrypting {kind}", done, total)
            for page in rows.pages(table):
                rows.update(
                    table,
                    [
                        (
                            stored.state[:HEADER_BYTES]
                            + sealer.sealer.encrypt(opener.open(stored)),
                            stored.originator_id,
                            stored.originator_version,
                        )
                        for stored in page
                    ],
                )
                done += len(page)
                progress(f"re-encrypting {kind}", done, total)
            if done != total:
                raise StoreUnusable(f"{table} held {total:,} rows and {done:,} were read")
        for kind, table in tables.items():
            done = 0
            progress(f"checking {kind} under the new key", done, counts[kind])
            for page in rows.pages(table):
                for stored in page:
                    _check(sealer, stored)
                done += len(page)
                progress(f"checking {kind} under the new key", done, counts[kind])
            if done != counts[kind]:
                raise StoreUnusable(f"{table} held {counts[kind]:,} rows and now {done:,}")
        if pending is not None:
            write_key_file(pending, new_value)
        rows.commit()
    except (StoreFormatError, StoreUnusable) as exc:
        raise StoreUnusable(f"the key was not rotated (nothing was changed): {exc}") from None
    except rows.errors as exc:
        raise StoreUnavailable(
            f"the key was not rotated (nothing was changed): {_first_line(exc)}"
        ) from None
    finally:
        rows.close()
        # Before the commit was tried the store is wholly under the old key, and the new key
        # goes. A failed commit may still have committed: then it stays, for wiring to adopt.
        if not rows.commit_tried and pending is not None:
            pending.unlink(missing_ok=True)
    if old.file is not None and pending is not None:
        os.replace(pending, old.file)
        _sync_folder(old.file.parent)
    return counts


def _check(mapper: ChainedMapper, stored: StoredEvent) -> None:
    """The row opens under the new key, and its body is the one its header's hash was made of."""
    if not matches_its_hash(stored, mapper.open(stored)):
        raise StoreFormatError(
            f"event {stored.originator_version} of stream {stored.originator_id} does not match"
            " the hash in its header (run `benefits audit verify`)"
        )


def _mapper(key: str) -> ChainedMapper:
    return ChainedMapper(
        transcoder=JSONTranscoder(), cipher=AESCipher(Environment(env={"CIPHER_KEY": key}))
    )


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0].strip() if lines else type(exc).__name__


def _sync_folder(folder: Path) -> None:
    """Make the key file's replacement durable (a rename is an entry in its folder)."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# ----- one transaction over the store's rows


def _rows(store_url: str, tables: list[str]) -> _SQLiteRows | _PostgresRows:
    env = eventsourcing_environment(store_url)
    if "SQLITE_DBNAME" in env:
        try:
            return _SQLiteRows(Path(env["SQLITE_DBNAME"]))
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"the key was not rotated: {_first_line(exc)}") from None
    import psycopg

    try:
        return _PostgresRows(store_url, tables)
    except psycopg.Error as exc:
        raise StoreUnavailable(f"the key was not rotated: {_first_line(exc)}") from None


class _SQLiteRows:
    """The rows of an embedded store in one write transaction. ``secure_delete`` zeroes what
    the old ciphertext leaves behind, and the write-ahead log is emptied after the commit, so
    that no old ciphertext stays in the files."""

    errors: Any = sqlite3.Error

    def __init__(self, path: Path) -> None:
        self.commit_tried = self.committed = False
        self.connection = sqlite3.connect(path, isolation_level=None, timeout=30)
        try:
            self.connection.execute("PRAGMA secure_delete = ON")
            self.connection.execute("BEGIN IMMEDIATE")
        except BaseException:
            self.connection.close()
            raise

    def count(self, table: str) -> int:
        return int(self.connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    def pages(self, table: str) -> Iterator[list[StoredEvent]]:
        columns = f"SELECT originator_id, originator_version, topic, state FROM {table}"
        order = "ORDER BY originator_id, originator_version LIMIT ?"
        page = self.connection.execute(f"{columns} {order}", (PAGE_ROWS,)).fetchall()
        while page:
            yield [StoredEvent(*row) for row in page]
            last = page[-1]
            page = self.connection.execute(
                f"{columns} WHERE (originator_id, originator_version) > (?, ?) {order}",
                (last[0], last[1], PAGE_ROWS),
            ).fetchall()

    def update(self, table: str, rows: list[tuple[bytes, Any, int]]) -> None:
        self.connection.executemany(
            f"UPDATE {table} SET state = ? WHERE originator_id = ? AND originator_version = ?",
            rows,
        )

    def commit(self) -> None:
        self.commit_tried = True
        self.connection.execute("COMMIT")
        self.committed = True

    def close(self) -> None:
        try:
            if self.connection.in_transaction:
                self.connection.execute("ROLLBACK")
            elif self.committed:
                self.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            self.connection.close()


class _PostgresRows:
    """The rows of a PostgreSQL store in one transaction that locks its tables against writes
    (readers go on reading the old key's rows until the commit). Workers do not take the writer
    lock, so the rotation also refuses while any other session is connected to the database."""

    def __init__(self, store_url: str, tables: list[str]) -> None:
        import psycopg
        from psycopg.sql import SQL

        self.errors: Any = psycopg.Error
        self.commit_tried = False
        self.connection = connect_postgres(store_url)
        try:
            self.connection.execute(
                SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(
                    SQL(", ").join(self._table(t) for t in tables)
                )
            )
            self._refuse_other_sessions()
        except BaseException:
            self.connection.close()
            raise

    def _refuse_other_sessions(self) -> None:
        # The writer lock's holder is this process, on a connection of its own; any other
        # session may be a worker, the scheduler or the service, writing under the old key.
        # Sessions this process closed a moment ago may take a little while to go.
        unsigned = WRITER_LOCK_KEY & 0xFFFF_FFFF_FFFF_FFFF
        deadline = time.monotonic() + SESSIONS_GRACE_SECONDS
        while True:
            others = self.connection.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND backend_type = 'client backend'"
                " AND pid <> pg_backend_pid() AND pid NOT IN (SELECT pid FROM pg_locks"
                "  WHERE locktype = 'advisory' AND granted AND objsubid = 1"
                "  AND classid::bigint = %s AND objid::bigint = %s)",
                (unsigned >> 32, unsigned & 0xFFFF_FFFF),
            ).fetchone()[0]
            if not others or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        if others:
            sessions = "session is" if others == 1 else "sessions are"
            raise StoreBusy(
                f"{others} other {sessions} connected to the store's database (workers, the"
                " scheduler or the service?): stop them before rotating its key, or they would"
                " go on writing under the old key"
            )

    @staticmethod
    def _table(table: str) -> Any:
        from psycopg.sql import Identifier

        return Identifier(*table.split("."))

    def count(self, table: str) -> int:
        from psycopg.sql import SQL

        statement = SQL("SELECT count(*) FROM {}").format(self._table(table))
        return int(self.connection.execute(statement).fetchone()[0])

    def pages(self, table: str) -> Iterator[list[StoredEvent]]:
        from psycopg.sql import SQL

        columns = SQL("SELECT originator_id, originator_version, topic, state FROM {}").format(
            self._table(table)
        )
        order = SQL("ORDER BY originator_id, originator_version LIMIT %s")
        after = SQL("WHERE (originator_id, originator_version) > (%s, %s)")
        page = self.connection.execute(SQL(" ").join([columns, order]), (PAGE_ROWS,)).fetchall()
        while page:
            yield [StoredEvent(row[0], row[1], row[2], bytes(row[3])) for row in page]
            last = page[-1]
            page = self.connection.execute(
                SQL(" ").join([columns, after, order]), (last[0], last[1], PAGE_ROWS)
            ).fetchall()

    def update(self, table: str, rows: list[tuple[bytes, Any, int]]) -> None:
        from psycopg.sql import SQL

        statement = SQL(
            "UPDATE {} SET state = %s WHERE originator_id = %s AND originator_version = %s"
        ).format(self._table(table))
        with self.connection.cursor() as cursor:
            cursor.executemany(statement, rows)

    def commit(self) -> None:
        self.commit_tried = True
        self.connection.commit()

    def close(self) -> None:
        try:
            if not self.connection.closed:
                self.connection.rollback()  # nothing, after the commit
        finally:
            self.connection.close()
