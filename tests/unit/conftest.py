from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture()
def store(tmp_path: Path) -> str:
    """A fresh embedded (SQLite) store for one test."""
    return f"sqlite:///{tmp_path / 'store.db'}"
