"""Configuration read from the environment; docker-compose.yml sets the same names."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from urllib.parse import unquote, urlsplit, urlunsplit

from engine.errors import SettingInvalid, StoreUnusable

DEFAULT_STORE = "sqlite:///var/benefits.db"


@dataclass(frozen=True)
class Settings:
    """Every setting, with the environment variable that sets it (see ``ENVIRONMENT``)."""

    database_url: str = DEFAULT_STORE
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    life_events_topic: str = "life-events"
    dead_letter_topic: str = "life-events.dlq"
    decisions_topic: str = "benefit-decisions"
    notifications_topic: str = "notifications"
    instructions_topic: str = "payment-instructions"
    consumer_group: str = "benefits-engine"
    batch_size: int = 1000
    # How long the worker, having read what has arrived, waits for messages already on their
    # way from the broker before applying the batch (a full batch goes at once). Longer makes
    # batches larger under a light load and every decision that much later.
    batch_wait_ms: int = 5
    # How many people the worker keeps in memory between batches (about 40 KB each with a year
    # of facts); fewer means more reads from the store.
    aggregate_cache: int = 100_000

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            name = ENVIRONMENT[f.name]
            raw = env.get(name)
            if not raw:
                continue
            if f.type in ("int", int):
                try:
                    number = int(raw)
                except ValueError:
                    raise SettingInvalid(f"{name} must be a whole number, got {raw!r}") from None
                least = LEAST.get(f.name, 0)
                if number < least:
                    raise SettingInvalid(f"{name} must be at least {least}, got {number}")
                values[f.name] = number
            else:
                values[f.name] = raw
        return cls(**values)  # type: ignore[arg-type]


# The smallest value each whole-number setting takes (others: 0).
LEAST: dict[str, int] = {"batch_size": 1}

ENVIRONMENT: dict[str, str] = {
    "database_url": "DATABASE_URL",
    "kafka_bootstrap_servers": "KAFKA_BOOTSTRAP_SERVERS",
    "life_events_topic": "LIFE_EVENTS_TOPIC",
    "dead_letter_topic": "DEAD_LETTER_TOPIC",
    "decisions_topic": "DECISIONS_TOPIC",
    "notifications_topic": "NOTIFICATIONS_TOPIC",
    "instructions_topic": "PAYMENT_INSTRUCTIONS_TOPIC",
    "consumer_group": "CONSUMER_GROUP",
    "batch_size": "BATCH_SIZE",
    "batch_wait_ms": "BATCH_WAIT_MS",
    "aggregate_cache": "AGGREGATE_CACHE",
}


def eventsourcing_environment(store_url: str) -> dict[str, str]:
    """The eventsourcing library's settings for a ``sqlite:///`` or ``postgresql://`` store URL."""
    try:
        parts = urlsplit(store_url)
    except ValueError as exc:
        raise StoreUnusable(f"the store URL is malformed: {exc}") from None
    if parts.scheme == "sqlite":
        from projections.database import sqlite_path

        try:
            path = sqlite_path(store_url)
        except ValueError as exc:
            raise StoreUnusable(str(exc)) from None
        return {
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "PROCESS_RECORDER_TOPIC": "streams.recorders:SQLiteRecorder",
            "SQLITE_DBNAME": path,
        }
    if parts.scheme in ("postgres", "postgresql"):
        from projections.database import CONNECT_TIMEOUT_SECONDS

        try:
            port = parts.port
        except ValueError:
            raise StoreUnusable(
                f"the port in {redacted_url(store_url)} is not a port number"
            ) from None
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "PROCESS_RECORDER_TOPIC": "streams.recorders:PostgresRecorder",
            "POSTGRES_DBNAME": parts.path.lstrip("/") or "postgres",
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            # Fail within seconds, not the library's 30, when the server does not answer.
            "POSTGRES_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT_SECONDS),
            # The library's stored-function insert takes no lock and passes by the recorder's
            # (streams/recorders.py): never on, whatever the process environment says.
            "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
        }
    raise StoreUnusable(
        f"unsupported store URL {redacted_url(store_url)!r}:"
        " use sqlite:///path.db or postgresql://user:password@host:port/db"
    )


def redacted_url(url: str) -> str:
    """The URL with any password replaced by ``***``, safe to print or log."""
    parts = urlsplit(url)
    if not parts.netloc or "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))
