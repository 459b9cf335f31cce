"""The store's cipher key: where it comes from, and the keys derived from it.

Personal data in the event store is encrypted with AES-GCM (eventsourcing's ``AESCipher`` on the
``cryptography`` package) under one 256-bit key, given as base64:
- ``BENEFITS_CIPHER_KEY`` when set (a deployment's secret; required for PostgreSQL);
- otherwise, for an embedded (SQLite) store, ``<store file>.key`` beside it, created with
  owner-only permissions the first time the store is opened, and announced once.
The read models never hold the key's plaintext: they keep keyed hashes (HMAC-SHA256 under a key
derived from the cipher key) where a query needs to match values, such as a shared bank account.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from engine.errors import SettingInvalid, StoreUnusable
from engine.settings import eventsourcing_environment

KEY_ENV = "BENEFITS_CIPHER_KEY"
NEW_KEY_ENV = "BENEFITS_NEW_CIPHER_KEY"
KEY_BYTES = 32
HINT = "`benefits keygen` prints a new one"


@dataclass(frozen=True)
class CipherKey:
    """A cipher key and where it came from (an environment variable's name, or a file)."""

    value: str  # base64, as eventsourcing's AESCipher takes it
    source: str
    file: Path | None = None  # the key file, when the key lives beside an embedded store

    @property
    def raw(self) -> bytes:
        return base64.b64decode(self.value)

    def lookup_key(self) -> bytes:
        """The key of the read models' keyed hashes, derived so that it reveals nothing of the
        cipher key (and changes with it: a rotation rebuilds the read models)."""
        return hmac.new(self.raw, b"benefits-engine lookup key v1", hashlib.sha256).digest()


def new_key() -> str:
    """A new random 256-bit key, base64-encoded."""
    return base64.b64encode(AESGCM.generate_key(KEY_BYTES * 8)).decode()


def parse_key(text: str, source: str) -> str:
    """``text`` as a key, or one line saying what is wrong with it (never the text itself)."""
    value = text.strip()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise SettingInvalid(
            f"{source} is not a key: expected {KEY_BYTES} bytes in base64 ({HINT})"
        )
    return value


def key_file(store_url: str) -> Path | None:
    """Where an embedded store keeps its key when no key is given: beside the store file."""
    env = eventsourcing_environment(store_url)
    name = env.get("SQLITE_DBNAME")
    if name is None or name == ":memory:" or name.startswith("file::memory:"):
        return None
    return key_path(Path(name))


def key_path(database: Path) -> Path:
    """The key file beside an embedded store's database file."""
    return database.with_name(database.name + ".key")


def store_key(store_url: str, *, may_create: Callable[[], bool]) -> CipherKey:
    """The key for the store at ``store_url``: ``BENEFITS_CIPHER_KEY`` if set, else the key file
    beside an embedded store, created (owner-only, announced on stderr) when there is none and
    ``may_create()`` (asked only then: no store there yet). A PostgreSQL store without the
    variable is one line naming it."""
    given = os.environ.get(KEY_ENV)
    if given:
        return CipherKey(parse_key(given, KEY_ENV), KEY_ENV)
    path = key_file(store_url)
    if path is None:
        if "SQLITE_DBNAME" in eventsourcing_environment(store_url):
            return CipherKey(new_key(), "a key for this process only")  # an in-memory store
        raise StoreUnusable(f"a PostgreSQL store needs its key in {KEY_ENV} ({HINT})")
    if path.exists():
        return _read_key_file(path)
    if not may_create():
        raise StoreUnusable(
            f"no cipher key for this store: set {KEY_ENV} or put the store's key file at {path}"
        )
    if not _create_key_file(path, new_key()):
        return _read_key_file(path)  # another process made it first: theirs is the key
    print(
        f"created a cipher key for this store at {path} (owner-only); keep it with the store:"
        " without it the store cannot be read",
        file=sys.stderr,
    )
    return _read_key_file(path)


def write_key_file(path: Path, value: str) -> None:
    """Write ``value`` to ``path`` readable by the owner only, replacing any file atomically."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(value + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def pending_key_path(path: Path) -> Path:
    """Where ``benefits rotate-key`` keeps a store's new key until its transaction has committed
    and the key file is replaced (``<store file>.key.new``)."""
    return path.with_name(path.name + ".new")


def pending_key(key: CipherKey) -> CipherKey | None:
    """The new key a key rotation left beside ``key``'s file, if there is a readable one."""
    if key.file is None:
        return None
    path = pending_key_path(key.file)
    if not path.is_file():
        return None
    try:
        return _read_key_file(path)
    except (StoreUnusable, SettingInvalid):
        return None


def adopt_pending_key(key: CipherKey) -> CipherKey:
    """Make the pending key the store's key, announced on stderr: a rotation committed and
    stopped before it could replace the key file itself."""
    assert key.file is not None
    pending = pending_key_path(key.file)
    try:
        os.replace(pending, key.file)
    except OSError as exc:
        raise StoreUnusable(
            f"the store is under the key in {pending} (a key rotation stopped before replacing"
            f" {key.file}), and it cannot be moved there: {exc.strerror}"
        ) from None
    print(
        f"the store is under the key in {pending}, not {key.file}: a key rotation committed and"
        f" stopped before replacing the key file, so {key.file} now holds that key",
        file=sys.stderr,
    )
    return _read_key_file(key.file)


def _create_key_file(path: Path, value: str) -> bool:
    """Make ``path`` hold ``value`` (owner-only) unless it exists: False if another process made
    it first. Linking a finished file into place is atomic and never replaces one."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.new")
    write_key_file(partial, value)
    try:
        os.link(partial, path)
    except FileExistsError:
        return False
    finally:
        partial.unlink(missing_ok=True)
    return True


def _read_key_file(path: Path) -> CipherKey:
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not a key"
        raise StoreUnusable(f"cannot read the key file {path}: {reason}") from None
    return CipherKey(parse_key(text, f"the key file {path}"), f"the key file {path}", path)


def keyed_token(key: bytes, value: str) -> str:
    """A keyed hash of ``value``: equal values match, and nobody without the key can tell which
    value it was (a bank account has too few digits for a plain hash to hide it)."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
