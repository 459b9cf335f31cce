"""Embedded-mode source: a JSON-lines file, each line's number its position."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from streams.intake import Message


def read_messages(path: Path) -> Iterator[Message]:
    """Non-blank lines, as messages positioned by line number."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if number == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 BOM, as Windows tools write
            if not line.strip():
                continue
            yield Message(position=number, value=line.rstrip(b"\r\n"))
