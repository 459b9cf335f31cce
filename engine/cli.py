"""The ``benefits`` command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from engine.settings import Settings
from engine.wiring import Engine, open_engine
from streams.intake import BatchOutcome, batched
from streams.jsonl import count_lines, file_source_name, read_messages

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
out = Console()
err = Console(stderr=True)

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="Event store: sqlite:///path.db or postgresql://user:pass@host:port/db "
        "(default: $DATABASE_URL, else sqlite:///var/benefits.db).",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _store(store: str | None) -> str:
    return store or Settings.from_environment().database_url


def _open(store: str | None) -> Engine:
    try:
        return open_engine(_store(store))
    except ValueError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


@app.command()
def run(
    input: Annotated[Path, typer.Option("--input", help="JSON-lines file of life events.")],
    store: StoreOption = None,
    batch_size: Annotated[int, typer.Option(help="Messages per transaction.")] = 1000,
    json_output: JsonOption = False,
) -> None:
    """Process a JSON-lines file of life events in embedded mode (no broker)."""
    if not input.is_file():
        err.print(f"[red]error:[/red] no such file: {input}")
        raise typer.Exit(2)
    engine = _open(store)
    try:
        outcome = process_file(engine, input, batch_size, show_progress=not json_output)
        engine.refresh()
    finally:
        engine.close()
    if json_output:
        out.print_json(data=_outcome_json(outcome))
    else:
        print_outcome(outcome)


def process_file(engine: Engine, path: Path, batch_size: int, show_progress: bool) -> BatchOutcome:
    """Apply a file's messages after the last line this store recorded for it."""
    source = file_source_name(path)
    done = engine.intake.position(source)
    total = count_lines(path)
    outcome = BatchOutcome(already_processed=min(done, total))
    with Progress(
        TextColumn("[bold]processing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=not show_progress or total < 5000,
        transient=True,
    ) as progress:
        task = progress.add_task("events", total=total, completed=min(done, total))
        for chunk in batched(read_messages(path, after=done), batch_size):
            outcome.add(engine.intake.apply_batch(source, chunk))
            progress.update(task, completed=chunk[-1].position)
            engine.refresh()
    return outcome


def _outcome_json(outcome: BatchOutcome) -> dict[str, Any]:
    return {
        "accepted": outcome.accepted,
        "rejected": outcome.rejected,
        "duplicates": outcome.duplicates,
        "skipped_already_processed": outcome.already_processed,
        "decisions": dict(sorted(outcome.decisions.items())),
    }


def print_outcome(outcome: BatchOutcome) -> None:
    table = Table(title="Life events", show_header=False)
    table.add_row("accepted", str(outcome.accepted))
    table.add_row("rejected (see `benefits rejected`)", str(outcome.rejected))
    table.add_row("duplicates ignored", str(outcome.duplicates))
    if outcome.already_processed:
        table.add_row("lines already processed earlier", str(outcome.already_processed))
    out.print(table)
    decisions = Table(title="Decisions by kind")
    decisions.add_column("decision")
    decisions.add_column("count", justify="right")
    for kind, count in sorted(outcome.decisions.items()):
        decisions.add_row(kind, str(count))
    out.print(decisions)


@app.command()
def status(
    person_id: Annotated[str, typer.Argument(help="The person's person_id.")],
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Print a person's benefit status and decision history."""
    engine = _open(store)
    try:
        doc = engine.view.status(person_id)
    finally:
        engine.close()
    if doc is None:
        err.print(f"[red]error:[/red] no person with person_id {person_id!r} in this store")
        raise typer.Exit(1)
    if json_output:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    out.print(
        f"[bold]{doc['person_id']}[/bold]: {doc['benefit_status']}, risk {doc['risk_level']}"
        + (f", reason {doc['reason']}" if doc["reason"] else "")
        + f", monthly pension {doc['monthly_pension_cents'] / 100:.2f}"
    )
    table = Table(title="History (oldest first)")
    columns = ("on", "decision", "reason", "event_id", "rule_version")
    for column in columns:
        table.add_column(column)
    for entry in doc["history"]:
        table.add_row(*(str(entry.get(c) or "") for c in columns))
    out.print(table)


@app.command()
def rejected(store: StoreOption = None, json_output: JsonOption = False) -> None:
    """List dead-lettered events with the reason each was rejected."""
    engine = _open(store)
    try:
        rows = engine.view.dead_letters()
    finally:
        engine.close()
    if json_output:
        items = [
            {"event_id": r.event_id, "source": r.source, "reason": r.reason, "payload": r.payload}
            for r in rows
        ]
        print(json.dumps(items, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Rejected events ({len(rows)})")
    table.add_column("event_id")
    table.add_column("reason")
    for row in rows:
        table.add_row(row.event_id or "-", row.reason)
    out.print(table)


@app.command()
def rebuild(store: StoreOption = None) -> None:
    """Drop the read models and rebuild them from the event store."""
    engine = _open(store)
    try:
        engine.view.clear(engine.intake.name)
        count = engine.refresh()
    finally:
        engine.close()
    out.print(f"rebuilt read models from {count} stored events")


@app.command()
def worker() -> None:
    """Run the Kafka-mode stream processor (settings from the environment, see README)."""
    from streams.worker import run_worker

    run_worker(Settings.from_environment())


@app.command()
def demo(
    people: Annotated[int, typer.Option(help="Size of the synthetic population.")] = 5000,
    seed: Annotated[int, typer.Option(help="Random seed, for a repeatable population.")] = 2026,
    store: Annotated[
        str | None, typer.Option("--store", help="Store URL (default: a fresh var/demo.db).")
    ] = None,
) -> None:
    """Generate a realistic synthetic population and its life events, process them, report."""
    from engine.demo import run_demo

    run_demo(people=people, seed=seed, store=store, console=out)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
