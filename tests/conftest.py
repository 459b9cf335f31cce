"""Every test runs under the shipped policy (a test may install another one for a while)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import policy
from domain.policy import install, installed


@pytest.fixture(autouse=True)
def shipped_policy() -> Iterator[None]:
    policy.refresh()
    book = installed()
    yield
    install(book)
