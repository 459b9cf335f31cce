"""Embedded-mode source: a JSON-lines file, each line's number its position."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from streams.intake import Message


def file_source_name(path: Path) -> str:
    """The tracking name of a file: runs on the same file continue after its last applied line."""
    return f"file:{path.resolve()}"


def read_messages(path: Path, after: int = 0) -> Iterator[Message]:
    """Non-blank lines after line number ``after``, as messages positioned by line number."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if number <= after or not line.strip():
                continue
            yield Message(position=number, value=line.rstrip(b"\r\n"))


def count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)
