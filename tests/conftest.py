"""Every test runs under the shipped policy (a test may install another one for a while), and
with one cipher key for every store it makes (tests of the key file unset it)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

import policy
from domain.policy import install, installed
from engine.keys import KEY_ENV, new_key

# Subprocesses (workers, the service, the CLI) inherit it.
os.environ.setdefault(KEY_ENV, new_key())


@pytest.fixture(autouse=True)
def shipped_policy() -> Iterator[None]:
    policy.refresh()
    book = installed()
    yield
    install(book)
