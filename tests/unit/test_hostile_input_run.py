"""Hostile and odd input through the whole engine (`benefits run`, `rejected`, `payroll`,
`rebuild`): nothing a line carries stops the engine for everyone, and a rejected line influences
nothing."""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.cli import cli, cli_json
from tests.events import person_registered, write_jsonl
from tests.unit.test_contract_fuzz import SEED, fuzzed_lines

PEOPLE = ("F1", "F2")


def statuses(store: str) -> dict[str, dict]:
    return {p: cli_json("status", p, "--store", store) for p in PEOPLE}


def test_ten_thousand_mutated_lines_run_end_to_end(tmp_path: Path, store: str) -> None:
    path = tmp_path / "fuzz.jsonl"
    with path.open("wb") as handle:
        for line in fuzzed_lines(random.Random(SEED)):
            raw = line.encode("utf-8", "surrogateescape") if isinstance(line, str) else line
            handle.write(raw.replace(b"\n", b" ") + b"\n")
    lines = sum(1 for line in path.read_bytes().split(b"\n") if line.strip())

    code, output = cli("run", "--input", str(path), "--store", store, "--until", "2026-12-31")
    assert code == 0, output[-2000:]
    summary = json.loads(cli("run", "--input", str(path), "--store", store, "--json")[1])
    assert summary["already_processed"] + summary["duplicates"] == lines

    rows = cli_json("rejected", "--store", store)
    code, table = cli("rejected", "--store", store)
    assert code == 0 and len(rows) > lines // 2
    for month in ("2026-01", "2026-06", "2026-12"):
        cli_json("payroll", "--month", month, "--store", store)

    before = statuses(store)
    code, output = cli("rebuild", "--store", store)
    assert code == 0, output
    assert statuses(store) == before


def test_named_hostile_lines_are_rejected_and_the_engine_carries_on(
    tmp_path: Path, store: str
) -> None:
    huge = person_registered("F2", pension_cents=10**30)
    nested = person_registered("F3") | {"data": {"x": json.loads("[" * 900 + "]" * 900)}}
    long_field = person_registered("F4") | {"source": "x" * 100_000}
    early = person_registered("F5", on="0001-01-01") | {"occurred_on": "0001-01-01"}
    late = person_registered("F6") | {"occurred_on": "9999-12-31"}
    surrogate = json.dumps(person_registered("F7")).replace(
        '"source": "test-agency"', '"source": "\\udc00"'
    )
    lines = [person_registered("F1"), huge, nested, long_field, early, late, surrogate]
    path = write_jsonl(tmp_path / "in.jsonl", lines)
    summary = cli_json("run", "--input", str(path), "--store", store, "--until", "2026-03-01")
    assert (summary["accepted"], summary["rejected"]) == (1, 6)
    assert summary["last_day"] == "2026-03-01"
    reasons = [row["reason"] for row in cli_json("rejected", "--store", store)]
    assert all(len(reason) <= 300 for reason in reasons)
    assert cli_json("payroll", "--month", "2026-02", "--store", store)["count"] == 1
    before = cli_json("status", "F1", "--store", store)
    assert cli("rebuild", "--store", store)[0] == 0
    assert cli_json("status", "F1", "--store", store) == before
