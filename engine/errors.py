"""Problems a user can fix, each reported by the command line as one line and an exit code:
2 for a mistake in what was asked (a bad option, a path that cannot hold a store, a server that
cannot be reached), 1 when what was asked for is not there or not available right now."""

from __future__ import annotations


class UserError(Exception):
    """A problem worth one readable line, never a traceback."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SettingInvalid(UserError):
    """An environment variable holds a value the engine cannot use."""


class StoreError(UserError):
    """The ``--store`` cannot be used as asked."""


class StoreUnusable(StoreError):
    """The URL or path cannot hold a store: a directory, another kind of file, a path that cannot
    be created, a URL of an unknown kind."""


class StoreUnavailable(StoreError):
    """The store's database server cannot be reached or refuses us."""


class StoreNotFound(StoreError):
    """A command that reads a store found none there (and created nothing)."""

    exit_code = 1


class StoreBusy(StoreError):
    """Another writer holds the store's writer lock."""

    exit_code = 1


class BrokerUnavailable(UserError):
    """The Kafka brokers named by KAFKA_BOOTSTRAP_SERVERS cannot be reached."""
