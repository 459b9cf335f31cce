"""The read models fold in what this process just recorded without reading it back, and still
see every event when another process wrote to the same store in between."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.wiring import Engine, open_engine
from streams.intake import Message
from tests.events import death_registered, person_registered


def apply(engine: Engine, *events: dict[str, Any], refresh: bool = True) -> None:
    engine.intake.apply_messages([Message(0, json.dumps(e)) for e in events])
    if refresh:
        engine.refresh()


def test_each_process_sees_the_others_events_between_its_own(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'store.db'}"
    first, second = open_engine(store), open_engine(store)
    try:
        # The first records, the second records, the first records again, and only then does
        # the first fold in: its own events have the second's between them.
        apply(first, person_registered("P1"), person_registered("P2"), refresh=False)
        apply(
            second,
            person_registered("P3"),
            death_registered("P1", "2026-02-03", "2026-02-01"),
            refresh=False,
        )
        apply(first, person_registered("P4"), death_registered("P3", "2026-02-05", "2026-02-02"))
        apply(second, death_registered("P4", "2026-02-06", "2026-02-03"), refresh=False)
        for engine in (first, second):
            engine.refresh()
            statuses = {
                pid: engine.view.person(pid)["benefit_status"]  # type: ignore[index]
                for pid in ("P1", "P2", "P3", "P4")
            }
            assert statuses == {
                "P1": "terminated",
                "P2": "active",
                "P3": "terminated",
                "P4": "terminated",
            }
        # Once every follower has them, the recorded events are forgotten.
        assert first.intake.recent_since(1, 1000) is None
    finally:
        first.close()
        second.close()
