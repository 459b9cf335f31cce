"""The personal data a run's life events carry (national IDs, names, bank accounts), and where any
of it turns up in clear in a blob of bytes (a database file, a table dump, a command's output)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

PERSONAL_FIELDS = ("national_id", "name", "bank_account")


def personal_values(events: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Every national ID, name and bank account in the events' data (valid or not), with its
    field: value -> field."""
    found: dict[str, str] = {}
    for event in events:
        data = event.get("data")
        if not isinstance(data, dict):
            continue
        for field in PERSONAL_FIELDS:
            value = data.get(field)
            if isinstance(value, str) and len(value) >= 2:
                found[value] = field
    return found


def spellings(value: str) -> set[bytes]:
    """How ``value`` can sit in stored text: UTF-8, and JSON's ``\\uXXXX`` escapes."""
    escaped = json.dumps(value)[1:-1]
    return {value.encode("utf-8"), escaped.encode("ascii")}


def clear_in(blob: bytes, values: dict[str, str]) -> list[tuple[str, str]]:
    """The (field, value) pairs of ``values`` that appear in ``blob``."""
    return sorted(
        (field, value)
        for value, field in values.items()
        if any(spelling in blob for spelling in spellings(value))
    )
