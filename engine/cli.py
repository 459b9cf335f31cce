"""The `benefits` command line: the embedded engine, the service, and Kafka mode's processes."""

from __future__ import annotations

import json
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from eventsourcing.utils import TopicError
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text
from typer.core import TyperGroup

from engine.errors import UserError
from engine.settings import Settings
from engine.simulation import SimulationOutcome, simulate
from engine.wiring import Engine, open_engine
from projections.status import ReadModelView
from streams.contracts import EARLIEST_DATE, LATEST_DATE, mask_payload
from streams.ledger import StoreFormatError

T = TypeVar("T")

# Exit codes: 1 = not found / not available now, 2 = a usage error, 70 = a bug (EX_SOFTWARE),
# 130 = interrupted.
UNEXPECTED = 70
INTERRUPTED = 130
# user:password@ in any URL a message quotes, e.g. a driver's error about the store
PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*:)[^@\s]+@")


class Commands(TyperGroup):
    """Runs a command so that no traceback reaches the user: a ``UserError`` becomes one line and
    its exit code, anything unexpected one line and exit 70 (the traceback with BENEFITS_DEBUG=1).
    Typer's own usage errors and exits pass through unchanged."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except UserError as exc:
            raise fail(exc.message, exc.exit_code) from None
        except StoreFormatError as exc:
            raise fail(
                f"the store holds an event that cannot be read ({exc}); `benefits audit verify`"
                " names every changed event",
                1,
            ) from None
        except TopicError as exc:
            raise fail(
                "the store holds events this version of the engine does not know (it was"
                f" written by an earlier one: {str(exc).split(':')[0]}); process its input"
                " again into a new store",
                1,
            ) from None
        except KeyboardInterrupt:
            raise typer.Exit(INTERRUPTED) from None
        except Exception as exc:
            raise unexpected(exc) from None


app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__, cls=Commands)
# No emoji codes or markup in data: event IDs like "scheduler:birthday:..." must print as they are.
out = Console(emoji=False, highlight=False)
err = Console(stderr=True, emoji=False, highlight=False)

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


def _query(store: str | None, read: Callable[[ReadModelView], T]) -> T:
    """Open an existing store (never creating one, never locking), read its read model, close."""
    engine = open_engine(_store(store), must_exist=True)
    try:
        return read(engine.view)
    finally:
        engine.close()


def fail(message: str, code: int) -> typer.Exit:
    """Print ``error: message`` as one line on stderr; raise what this returns to exit ``code``."""
    line = PASSWORD_IN_URL.sub(r"\1***@", " ".join(message.split()))
    err.print(Text.assemble(("error:", "red"), " ", line), soft_wrap=True)
    return typer.Exit(code)


def unexpected(exc: BaseException) -> typer.Exit:
    """A bug or an unforeseen failure: one line, and the traceback only when asked for."""
    if os.environ.get("BENEFITS_DEBUG", "") not in ("", "0"):
        traceback.print_exception(exc, file=sys.stderr)
    message = f"unexpected {type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return fail(f"{message} (set BENEFITS_DEBUG=1 for the traceback)", UNEXPECTED)


def _no_such_person(person_id: str) -> typer.Exit:
    return fail(f"no person with person_id {person_id!r} in this store", 1)


def _at_least_one(value: int, option: str) -> None:
    if value < 1:
        raise fail(f"{option} must be 1 or more, got {value}", 2)


@app.command()
def run(
    input: Annotated[Path, typer.Option("--input", help="JSON-lines file of life events.")],
    until: Annotated[
        str | None,
        typer.Option(
            help="Simulate every day up to this date, YYYY-MM-DD "
            "(default: the latest date of a valid event in the file)."
        ),
    ] = None,
    store: StoreOption = None,
    batch_size: Annotated[int, typer.Option(help="Messages per transaction.")] = 1000,
    json_output: JsonOption = False,
) -> None:
    """Process a JSON-lines file of life events in embedded mode on a simulated clock."""
    _check_input(input, until)
    until_day = _parse_day(until, "--until") if until else None
    _at_least_one(batch_size, "--batch-size")
    engine = open_engine(_store(store), exclusive=True)
    try:
        outcome = run_simulation(
            engine, input, until_day, batch_size, show_progress=not json_output
        )
    finally:
        engine.close()
    if json_output:
        print(json.dumps(outcome_json(outcome), indent=2))
    else:
        print_outcome(outcome)


def _check_input(path: Path, until: str | None) -> None:
    """The input must be a readable file; an empty one only makes sense with --until."""
    if path.is_dir():
        raise fail(f"--input {path} is a directory; give a JSON-lines file of life events", 2)
    if not path.is_file():
        raise fail(f"no such file: {path}", 2)
    try:
        with path.open("rb") as handle:
            empty = all(not line.strip() for line in handle)
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}", 2) from None
    if empty and until is None:
        raise fail(
            f"{path} holds no life events (to run only the daily jobs, give --until YYYY-MM-DD)",
            2,
        )


def _progress(*label: TextColumn, quiet: bool) -> Progress:
    """A progress bar on stderr (gone when done; none with ``quiet``, e.g. for --json, nor when
    stderr is not a terminal, where it could not be redrawn and would leave a blank line)."""
    return Progress(
        *label,
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        disable=quiet or not err.is_terminal,
        transient=True,
    )


@contextmanager
def _phases(quiet: bool) -> Iterator[Callable[[str, int, int | None], None]]:
    """Progress through named phases, one bar each on stderr (the previous one hidden when the
    next begins); yields the callback ``(phase, done, total)``."""
    with _progress(TextColumn("[bold]{task.description}"), quiet=quiet) as progress:
        tasks: dict[str, Any] = {}

        def on_progress(description: str, done: int, total: int | None) -> None:
            if description not in tasks:
                for task in tasks.values():
                    progress.update(task, visible=False)
                tasks[description] = progress.add_task(description, total=total)
            progress.update(tasks[description], completed=done, total=total)

        yield on_progress


def _parse_day(value: str, option: str) -> date:
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise fail(f"{option} must be a date written YYYY-MM-DD, got {value!r}", 2) from None
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        # The contract's range: the engine's own events could not be dated beyond it.
        raise fail(f"{option} must be between {EARLIEST_DATE} and {LATEST_DATE}, got {value}", 2)
    return day


def run_simulation(
    engine: Engine, path: Path, until: date | None, batch_size: int, show_progress: bool
) -> SimulationOutcome:
    """Simulate the file's days with a progress bar on the terminal."""
    with _progress(
        TextColumn("[bold]simulating"), TextColumn("{task.fields[day]}"), quiet=not show_progress
    ) as progress:
        task = progress.add_task("days", total=None, day="")

        def on_day(day: date, last: date) -> None:
            if progress.tasks[0].total is None:
                progress.update(task, total=(last - day).days + 1)
            progress.update(task, advance=1, day=day.isoformat())

        return simulate(engine, path, until=until, batch_size=batch_size, on_day=on_day)


def outcome_json(outcome: SimulationOutcome) -> dict[str, Any]:
    decisions = outcome.intake.decisions + outcome.jobs.decisions
    return {
        "accepted": outcome.intake.accepted,
        "rejected": outcome.intake.rejected,
        "duplicates": outcome.intake.duplicates,
        "already_processed": outcome.already_processed,
        "waiting_for_registration": outcome.still_waiting,
        "released_on_registration": outcome.intake.released,
        "expired_unregistered": outcome.intake.expired,
        "scheduled_events": outcome.scheduled_events,
        "first_day": outcome.first_day.isoformat() if outcome.first_day else None,
        "last_day": outcome.last_day.isoformat() if outcome.last_day else None,
        "days": outcome.days,
        "left_for_later": outcome.left_for_later,
        "decisions": dict(sorted(decisions.items())),
    }


def print_outcome(outcome: SimulationOutcome) -> None:
    summary = outcome_json(outcome)
    table = Table(title="Life events", show_header=False)
    table.add_row("accepted", str(summary["accepted"]))
    table.add_row("rejected (see `benefits rejected`)", str(summary["rejected"]))
    table.add_row("duplicates ignored", str(summary["duplicates"]))
    if outcome.already_processed:
        table.add_row("already processed by an earlier run", str(outcome.already_processed))
    if outcome.intake.released:
        table.add_row("applied once their person was registered", str(outcome.intake.released))
    if outcome.intake.expired:
        table.add_row(
            "person never registered: dead-lettered after the grace period",
            str(outcome.intake.expired),
        )
    if outcome.still_waiting:
        table.add_row("waiting for their person's registration", str(outcome.still_waiting))
    table.add_row("raised by the daily jobs", str(summary["scheduled_events"]))
    if outcome.days:
        table.add_row(
            "days simulated", f"{summary['first_day']} … {summary['last_day']} ({outcome.days})"
        )
    if outcome.left_for_later:
        table.add_row("dated after --until, left for a later run", str(outcome.left_for_later))
    out.print(table)
    decisions = Table(title="Decisions by kind")
    decisions.add_column("decision")
    decisions.add_column("count", justify="right")
    for kind, count in summary["decisions"].items():
        decisions.add_row(kind, str(count))
    out.print(decisions)


@app.command()
def status(
    person_id: Annotated[str, typer.Argument(help="The person's person_id.")],
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Print a person's benefit status and decision history."""
    doc = _query(store, lambda view: view.status(person_id))
    if doc is None:
        raise _no_such_person(person_id)
    if json_output:
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    out.print(f"[bold]{escape(doc['person_id'])}[/bold]: {escape(doc['headline'])}")
    out.print(
        f"risk {doc['risk_level']}"
        + (f" ({doc['reason']})" if doc["reason"] else "")
        + f", monthly pension {doc['monthly_pension_cents'] / 100:,.2f}"
        + (
            f", arrears owed {doc['arrears_owed_cents'] / 100:,.2f}"
            f" ({', '.join(doc['arrears_owed'])})"
            if doc.get("arrears_owed_cents")
            else ""
        )
    )
    cert = doc["certification"]
    if cert["status"] != "none" or cert["opened_on"]:
        out.print(
            f"certification {cert['status']}"
            + (f" ({cert['method']}, {cert['certified_on']})" if cert["method"] else "")
            + f", cycle opened {cert['opened_on']}"
            + (f", open {cert['days_open']} days" if cert["status"] == "open" else "")
            + (f", arrears {cert['arrears_months']} months" if cert["arrears_months"] else "")
        )
    if doc.get("overpayment_cents"):
        out.print(f"overpayment to recover: {doc['overpayment_cents'] / 100:.2f}")
    for alert in doc.get("payment_alerts", []):
        out.print(
            f"payment alert ({alert['level']}): {alert['reason']} {alert['month']}"
            f" [{alert['status']}]",
            markup=False,
        )
    table = Table(title="History (oldest first)")
    columns = ("on", "decision", "reason", "event_id", "rule_version", "decision_id")
    for column in columns:
        table.add_column(column)
    for entry in doc["history"]:
        table.add_row(*(escape(str(entry.get(c) or "")) for c in columns))
    out.print(table)


@app.command()
def notifications(
    person_id: Annotated[str, typer.Argument(help="The person's person_id.")],
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """List the notifications sent to a person (template and date), oldest first."""
    items = _query(store, lambda view: view.notifications(person_id))
    if items is None:
        raise _no_such_person(person_id)
    if json_output:
        print(json.dumps(items, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Notifications ({len(items)})")
    for column in ("on", "template", "event_id"):
        table.add_column(column)
    for item in items:
        table.add_row(item["on"], item["template"], escape(item["event_id"]))
    out.print(table)


@app.command()
def payments(
    person_id: Annotated[str, typer.Argument(help="The person's person_id.")],
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """List a person's payment instructions and overpayment recoveries (accounts masked)."""
    result = _query(store, lambda view: view.payments(person_id))
    if result is None:
        raise _no_such_person(person_id)
    instructions = result["instructions"]
    if json_output:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Payment instructions ({len(instructions)})")
    for column in ("month", "kind", "amount", "on", "account", "instruction_id"):
        table.add_column(column)
    for i in instructions:
        table.add_row(
            i["month"],
            i["kind"],
            f"{i['amount_cents'] / 100:.2f}",
            i["on"],
            i["bank_account"],
            i["instruction_id"],
        )
    out.print(table)
    for recovery in result["recoveries"]:
        out.print(
            f"overpayment recovery on {recovery['on']}: months {', '.join(recovery['months'])},"
            f" {recovery['total_cents'] / 100:.2f}"
        )


@app.command()
def payroll(
    month: Annotated[str, typer.Option("--month", help="The run's month, YYYY-MM.")],
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Summarise a monthly payment run: instructions, total, and who was skipped and why."""
    if len(month) != 7 or not _is_day(month + "-01"):
        raise fail(f"--month must be written YYYY-MM, got {month!r}", 2)
    last_day, summary = _query(store, lambda view: (view.last_processed_day(), view.payroll(month)))
    if last_day is None or last_day < date.fromisoformat(month + "-01"):
        done = f"up to {last_day}" if last_day else "none yet"
        raise fail(
            f"the payroll for {month} has not run yet (the store has processed days {done})", 1
        )
    if json_output:
        print(json.dumps(summary, indent=2))
        return
    out.print(
        f"Payroll {month}: {summary['count']} instructions,"
        f" total {summary['total_cents'] / 100:,.2f}"
    )
    for kind, figures in summary["by_kind"].items():
        out.print(f"  {kind}: {figures['count']} for {figures['total_cents'] / 100:,.2f}")
    for reason, count in summary["skipped"].items():
        out.print(f"  skipped ({reason}): {count}")


def _is_day(value: str) -> bool:
    try:
        date.fromisoformat(value)
        return True
    except ValueError:
        return False


@app.command()
def rejected(store: StoreOption = None, json_output: JsonOption = False) -> None:
    """List dead-lettered events with the reason each was rejected."""
    rows = _query(store, lambda view: view.dead_letters())
    if json_output:
        items = [
            {
                "event_id": r.event_id,
                "source": r.source,
                "reason": r.reason,
                "payload": mask_payload(r.payload),
            }
            for r in rows
        ]
        print(json.dumps(items, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Rejected events ({len(rows)})")
    table.add_column("event_id")
    table.add_column("reason")
    for row in rows:
        table.add_row(escape(row.event_id or "-"), escape(row.reason))
    out.print(table)


@app.command()
def rebuild(store: StoreOption = None) -> None:
    """Drop the read models and rebuild them from the event store."""
    engine = open_engine(_store(store), must_exist=True, exclusive=True)
    try:
        count = engine.rebuild()
    finally:
        engine.close()
    out.print(f"rebuilt read models from {count} stored events")


@app.command("rotate-key")
def rotate_key(store: StoreOption = None) -> None:
    """Re-encrypt every stored event and snapshot under a new cipher key, in one transaction:
    $BENEFITS_NEW_CIPHER_KEY, else (key-file mode) a new key written to the key file.
    Stop every other process that uses the store first (see docs/keys.md)."""
    from engine.rotation import rotate

    with _phases(quiet=False) as on_progress:
        rotated = rotate(_store(store), on_progress)
    out.print(rotated.summary(), markup=False, soft_wrap=True)


@app.command()
def worker() -> None:
    """Run the Kafka-mode stream processor (settings from the environment, see README)."""
    from streams.worker import run_worker

    run_worker(Settings.from_environment())


@app.command()
def scheduler(
    start: Annotated[
        str | None,
        typer.Option(
            "--from", help="First day to run if the scheduler never ran (default: today)."
        ),
    ] = None,
) -> None:
    """Run the daily jobs on the wall clock (UTC) in Kafka mode, raising events onto the topic."""
    from engine.scheduling import run_scheduler

    first = _parse_day(start, "--from") if start else None
    run_scheduler(Settings.from_environment(), first_day=first)


@app.command()
def demo(
    people: Annotated[int, typer.Option(help="Size of the synthetic population.")] = 3000,
    seed: Annotated[int, typer.Option(help="Random seed, for a repeatable population.")] = 2026,
    store: Annotated[
        str | None, typer.Option("--store", help="Store URL (default: a fresh var/demo/demo.db).")
    ] = None,
) -> None:
    """Generate a realistic synthetic population and its life events, process them, report."""
    from engine.demo import run_demo

    _at_least_one(people, "--people")
    run_demo(people=people, seed=seed, store=store, console=out)


@app.command()
def serve(
    store: StoreOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    writes: Annotated[
        str | None,
        typer.Option(
            help="store: apply each write before answering (embedded); kafka: produce it to the"
            " life-events topic for the worker (default: kafka for a PostgreSQL store)."
        ),
    ] = None,
) -> None:
    """Serve the HTTP API (citizens, family proxies, caseworkers) over the store."""
    import uvicorn

    from api.app import create_app

    url = _store(store)
    mode = writes or ("kafka" if url.startswith("postgres") else "store")
    if mode not in ("store", "kafka"):
        raise fail(f"--writes must be store or kafka, got {mode!r}", 2)
    if not 0 < port < 65536:
        raise fail(f"--port must be 1-65535, got {port}", 2)
    application = create_app(url, mode)
    shown = PASSWORD_IN_URL.sub(r"\1***@", url)
    err.print(dashboard_link(application, host, port), soft_wrap=True)
    err.print(
        f"serving {shown} at http://{host}:{port} (docs: http://{host}:{port}/docs;"
        f" writes: {mode})",
        soft_wrap=True,
    )
    uvicorn.run(application, host=host, port=port, log_level="warning")


def dashboard_link(application: Any, host: str, port: int) -> str:
    """A one-click local sign-in for an operator (a token valid an hour), when we can mint one."""
    from datetime import timedelta

    keys = application.state.service.keys
    local = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    if keys.signing_key is None:
        return f"dashboard: http://{local}:{port}/dashboard"
    token = keys.mint("local-operator", "operator", (), timedelta(hours=1))
    return f"dashboard: http://{local}:{port}/dashboard/login?token={token}"


@app.command()
def token(
    sub: Annotated[str, typer.Option("--sub", help="The subject: a person_id for a citizen.")],
    role: Annotated[str, typer.Option("--role", help="citizen, caseworker, auditor or operator.")],
    regions: Annotated[
        str | None,
        typer.Option(help="Staff regions: 6-digit codes or 2-/4-digit prefixes, comma-separated."),
    ] = None,
    ttl: Annotated[str, typer.Option(help="Lifetime, e.g. 30m, 1h, 7d.")] = "1h",
    store: StoreOption = None,
) -> None:
    """Mint a signed token for local use (prints only the token)."""
    from api.auth import key_config, parse_ttl

    prefixes = tuple(r for r in re.split(r"[,\s]+", regions or "") if r)
    keys = key_config(_store(store))
    print(keys.mint(sub, role, prefixes, parse_ttl(ttl)))


@app.command("bench-service")
def bench_service_command(
    people: Annotated[int, typer.Option(help="People in the benchmark's store.")] = 2000,
    grants: Annotated[int, typer.Option(help="Proxy requests to time.")] = 200,
    reads: Annotated[int, typer.Option(help="Status reads to time (8 at a time).")] = 3000,
    json_output: JsonOption = False,
) -> None:
    """Measure the HTTP service on a real server: request-to-grant latency, status reads/s."""
    from engine.bench import bench_service

    for value, option in ((people, "--people"), (grants, "--grants"), (reads, "--reads")):
        _at_least_one(value, option)
    figures = bench_service(people, grants, reads)
    if json_output:
        print(json.dumps(figures, indent=2))
        return
    table = Table(title="Service benchmark (real uvicorn server, embedded store)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, str(value))
    out.print(table)


@app.command()
def report(
    from_month: Annotated[str, typer.Option("--from", help="First month, YYYY-MM.")],
    to_month: Annotated[str, typer.Option("--to", help="Last month, YYYY-MM.")],
    output: Annotated[Path, typer.Option("--out", help="The HTML file to write.")],
    store: StoreOption = None,
    region: Annotated[
        str | None, typer.Option("--region", help="A 2-, 4- or 6-digit region prefix.")
    ] = None,
) -> None:
    """Write the operations figures of a range of months as one self-contained HTML file."""
    from engine.report import report as write_report

    write_report(_store(store), from_month, to_month, output, region)
    out.print(f"wrote {output}")


@app.command("bench-kpis")
def bench_kpis_command(
    people: Annotated[int, typer.Option(help="People the KPI tables are sized for.")] = 100_000,
    requests: Annotated[int, typer.Option(help="Requests to time per route.")] = 50,
    json_output: JsonOption = False,
) -> None:
    """Measure /v1/kpis and /dashboard on KPI tables the size a year of N people makes."""
    from engine.bench import bench_kpis

    _at_least_one(people, "--people")
    _at_least_one(requests, "--requests")
    figures = bench_kpis(people, requests)
    if json_output:
        print(json.dumps(figures, indent=2))
        return
    table = Table(title="Operations figures benchmark (real uvicorn server)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, str(value))
    out.print(table)


@app.command("bench-whatif")
def bench_whatif_command(
    people: Annotated[int, typer.Option(help="People in the year's store built first.")] = 20_000,
    store: Annotated[
        str | None, typer.Option("--store", help="Time an existing store instead of building one.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Time `benefits whatif` with the shipped example change (policy/examples/
    hold-at-100-days.yaml from 2026-01-01) over a year's store."""
    from engine.bench import bench_whatif

    _at_least_one(people, "--people")
    url = _store(store) if store else None
    with _progress(TextColumn("[bold]{task.description}"), quiet=json_output) as progress:
        build = progress.add_task("building the store (untimed)", total=365, visible=url is None)
        replay = progress.add_task("whatif (timed)", total=None)

        def on_day(day: date, last: date) -> None:
            year_day = day.timetuple().tm_yday
            progress.update(build, completed=year_day, total=last.timetuple().tm_yday)

        def on_person(done: int, total: int) -> None:
            progress.update(replay, completed=done, total=total)

        figures = bench_whatif(people, url, on_day, on_person)
    if json_output:
        print(json.dumps(figures, indent=2))
        return
    table = Table(title="What-if benchmark (hold-at-100-days from 2026-01-01)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, "-" if value is None else str(value))
    out.print(table)


# The parts of `benefits bench` (engine.bench_figures.PARTS), named here for --help.
BENCH_PARTS = ("year", "history", "memory", "kafka", "latency")


@app.command("bench")
def bench_command(
    people: Annotated[int, typer.Option(help="Persons in the embedded year.")] = 20_000,
    kafka_people: Annotated[
        int, typer.Option(help="Persons whose year of events goes through Kafka.")
    ] = 12_000,
    workers: Annotated[int, typer.Option(help="`benefits worker` processes.")] = 1,
    partitions: Annotated[int, typer.Option(help="Partitions of the bench's topic.")] = 4,
    rate: Annotated[
        int, typer.Option(help="Events/s of the steady stream deaths are timed in.")
    ] = 1_000,
    deaths: Annotated[int, typer.Option(help="Deaths timed to `terminated`.")] = 1000,
    history_years: Annotated[
        int, typer.Option(help="Years of daily life evidence of the long-history person.")
    ] = 30,
    history_events: Annotated[
        int, typer.Option(help="Events timed per person after the history (3-300).")
    ] = 20,
    memory_people: Annotated[
        int, typer.Option(help="Persons registered for the memory figure (0: none).")
    ] = 10_000,
    skip: Annotated[
        str, typer.Option(help="Parts not to run, comma-separated: " + ", ".join(BENCH_PARTS))
    ] = "",
    json_output: JsonOption = False,
) -> None:
    """Measure the engine, each figure beside a reference measured in the same run: a year of
    N persons in embedded mode, Kafka + PostgreSQL end to end, death-to-terminated latency, the
    cost of a long history, resident memory. Starts Kafka and PostgreSQL itself, each unless
    KAFKA_BOOTSTRAP_SERVERS or a postgresql:// DATABASE_URL names one."""
    from engine.bench_figures import Sizes, bench

    skipped = frozenset(part.strip() for part in skip.split(",") if part.strip())
    unknown = sorted(skipped.difference(BENCH_PARTS))
    if unknown:
        raise fail(f"--skip: no part named {unknown[0]!r}; the parts: {', '.join(BENCH_PARTS)}", 2)
    for value, option in (
        (people, "--people"),
        (kafka_people, "--kafka-people"),
        (workers, "--workers"),
        (rate, "--rate"),
        (deaths, "--deaths"),
        (history_years, "--history-years"),
    ):
        _at_least_one(value, option)
    if partitions < workers:
        raise fail(f"--partitions must be at least --workers ({workers}), got {partitions}", 2)
    if history_years > 120:
        raise fail(f"--history-years must be 120 or fewer, got {history_years}", 2)
    if not 3 <= history_events <= 300:
        raise fail(f"--history-events must be 3 to 300, got {history_events}", 2)
    if memory_people < 0:
        raise fail(f"--memory-people must be 0 or more, got {memory_people}", 2)
    measured = set(BENCH_PARTS) - skipped - ({"memory"} if memory_people == 0 else set())
    if not measured:
        raise fail("--skip: every part is skipped, so there is nothing to measure", 2)
    sizes = Sizes(
        people,
        kafka_people,
        workers,
        partitions,
        rate,
        deaths,
        history_years,
        history_events,
        memory_people,
        skipped,
    )
    with _phases(quiet=json_output) as on_progress:
        report = bench(sizes, on_progress)
    failed = sorted(part for part, why in report["missing"].items() if why.startswith("failed"))
    if json_output:
        print(json.dumps(report, indent=2))
    else:
        print_bench(report)
    if failed:
        parts = "part" if len(failed) == 1 else "parts"
        raise fail(f"the bench's {' and '.join(failed)} {parts} failed (see above)", 1)


def print_bench(report: dict[str, Any]) -> None:
    """The bench's figures, a table per part, then its notes and why any part was not measured."""
    from rich import box

    from engine.bench_figures import NOTES, ROWS, TITLES

    machine = report["machine"]
    out.print(
        f"benefits bench: {machine['cpus']} CPUs, Python {machine['python']}, {report['date_utc']}",
        markup=False,
    )
    figures, missing = report["figures"], report["missing"]

    def shown(key: str | None) -> str:
        value = figures.get(key) if key else None
        if value is None:
            return "" if key is None else "-"
        return f"{value:,}" if isinstance(value, int | float) else str(value)

    for part, title in TITLES.items():
        if part in missing:
            continue
        rows = [row for row in ROWS if row[0] == part]
        compared = any(reference for _, _, _, _, reference, _, _ in rows)
        table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left")
        table.add_column("figure")
        table.add_column("measured", justify="right")
        table.add_column("unit")
        if compared:
            table.add_column("same-run reference", justify="right")
            table.add_column("ratio", justify="right")
        for _, key, label, unit, reference, reference_unit, ratio in rows:
            cited = f"{shown(reference)} {reference_unit}" if reference else ""
            cells = (label, shown(key), unit, cited, shown(ratio))
            table.add_row(*cells[: 5 if compared else 3])
        out.print(table)
    for part, note in NOTES.items():
        if part not in missing:
            out.print(note.format(**figures), markup=False)
    for part, why in missing.items():
        out.print(f"{TITLES[part]}: {why}", markup=False)
    for part in ("year", "kafka"):
        why = figures.get(f"{part}_store_floor_failure")
        if why:
            out.print(
                f"{TITLES[part]}: the event store alone was not measured: {why}", markup=False
            )


def explanation(engine: Engine, person_id: str, number: int | None) -> dict[str, Any] | None:
    """Decision ``number`` (1 = oldest; default the latest) of a person, explained."""
    from domain.explanations import explain
    from domain.policy import installed

    history = engine.view.history(person_id)
    pensioner = engine.intake.pensioner(person_id)
    if pensioner is None or not history:
        return None
    number = len(history) if number is None else number
    if not 1 <= number <= len(history):
        raise fail(f"--decision must be 1 to {len(history)} for {person_id}, got {number}", 2)
    return explain(number, history[number - 1], pensioner.facts.values(), installed())


@app.command()
def explain(
    person_id: Annotated[str, typer.Argument(help="The person's person_id.")],
    decision: Annotated[
        int | None, typer.Option(help="Which decision, 1 = the oldest (default: the latest).")
    ] = None,
    store: StoreOption = None,
    json_output: JsonOption = False,
) -> None:
    """Explain a decision: the facts, the rule and the parameters in force behind it."""
    engine = open_engine(_store(store), must_exist=True)
    try:
        shown = explanation(engine, person_id, decision)
    finally:
        engine.close()
    if shown is None:
        raise _no_such_person(person_id)
    if json_output:
        print(json.dumps(shown, ensure_ascii=False, indent=2))
        return
    d = shown["decision"]
    out.print(
        f"Decision {shown['number']}: {d['decision']} on {d['on']}"
        + (f" ({d['reason']})" if d["reason"] else "")
        + f", caused by {d['event_id']}, rules {shown['rule_version']}",
        markup=False,
    )
    rule = shown["rule"]
    out.print(f"Rule ({rule['family']}, {rule['where']}): {rule['statement']}", markup=False)
    for p in shown["parameters"]:
        out.print(
            f"  {p['parameter']} = {p['value']} {p['unit']} (since {p['since']}; {p['reference']})",
            markup=False,
        )
    out.print("Facts:")
    for f in shown["facts"]:
        data = json.dumps(f["data"], ensure_ascii=False)
        out.print(f"  {f['occurred_on']} {f['type']} {f['event_id']} {data}", markup=False)


@app.command()
def whatif(
    policy_file: Annotated[Path, typer.Option("--policy", help="A policy change (YAML).")],
    first: Annotated[str, typer.Option("--from", help="Apply the change from this day.")],
    store: StoreOption = None,
    examples: Annotated[int, typer.Option(help="Explained examples to show (0-20).")] = 20,
    json_output: JsonOption = False,
) -> None:
    """Replay the store's facts under a policy change (nothing is written) and report what
    changes: persons, decisions by kind, money by month, explained examples."""
    import policy
    from engine.whatif import whatif as replay_whatif
    from engine.wiring import check_store

    if not policy_file.is_file():
        raise fail(f"--policy: no such file: {policy_file}", 2)
    if not 0 <= examples <= 20:
        raise fail(f"--examples must be 0 to 20, got {examples}", 2)
    first_day = _parse_day(first, "--from")
    # Anything unusable is said before the progress bar starts.
    policy.load(policy.deployment_changes(), [policy_file], not_before=first_day)
    check_store(_store(store), must_exist=True)
    with _progress(TextColumn("[bold]replaying"), quiet=json_output) as progress:
        task = progress.add_task("people", total=None)

        def on_person(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = replay_whatif(_store(store), policy_file, first_day, on_person, examples)
    if json_output:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return
    out.print(
        f"{report['persons_changed']:,} of {report['persons']:,} people change under"
        f" {report['policy']} from {report['from']}",
        markup=False,
    )
    kinds = Table(title="Decisions by kind")
    for column in ("decision", "before", "after", "people changed"):
        kinds.add_column(column, justify="left" if column == "decision" else "right")
    for kind, counts in report["by_decision_kind"].items():
        kinds.add_row(kind, str(counts["before"]), str(counts["after"]), str(counts["persons"]))
    out.print(kinds)
    if report["money_by_month"]:
        money = Table(title="Money difference by month (after - before)")
        money.add_column("month")
        money.add_column("change")
        for month, figures in report["money_by_month"].items():
            money.add_row(month, ", ".join(f"{k} {v:+,}" for k, v in figures.items()))
        out.print(money)
    else:
        out.print("No month's money changes (instructions, arrears and holds are the same).")
    for example in report["examples"][:examples]:
        shown = example.get("explanation")
        if shown:
            d = shown["decision"]
            values = "".join(f" [{p['parameter']} = {p['value']}]" for p in shown["parameters"])
            rule = shown["rule"]["statement"]
            line = f"{example['person_id']}: now {d['decision']} on {d['on']}: {rule}{values}"
            was = (example.get("was") or {}).get("details") or {}
            moved = [
                f"{key} {value} (was {was[key]})"
                for key, value in (d.get("details") or {}).items()
                if key in was and was[key] != value and not isinstance(value, dict | list)
            ]
            if moved:
                line += "; " + ", ".join(moved)
            out.print(line, markup=False)
        elif example.get("no_longer"):
            lost = ", ".join(f"{h['decision']} {h['on']}" for h in example["no_longer"])
            out.print(f"{example['person_id']}: no longer {lost}", markup=False)
        else:
            moved = "; ".join(
                f"{month} " + ", ".join(f"{k} {v:+,}" for k, v in figures.items())
                for month, figures in example.get("money", {}).items()
            )
            out.print(f"{example['person_id']}: money {moved}", markup=False)


policy_app = typer.Typer(help="The policy in force: dated parameters and their references.")
app.add_typer(policy_app, name="policy")


@policy_app.command("show")
def policy_show(
    on: Annotated[str | None, typer.Option(help="The day, YYYY-MM-DD (default: today).")] = None,
    json_output: JsonOption = False,
) -> None:
    """List the parameters in force on a day, with their values, units and references."""
    import policy as policy_data
    from domain.policy import installed

    policy_data.refresh()
    day = _parse_day(on, "--on") if on else date.today()
    book = installed()
    rows = policy_data.describe(book, day)
    if json_output:
        version = book.in_force(day)
        print(
            json.dumps(
                {"on": day.isoformat(), "version": version.version, "parameters": rows}, indent=2
            )
        )
        return
    title = f"Policy in force on {day} (version {book.in_force(day).version})"
    if out.width < 120:  # a narrow terminal: one parameter per line, its reference below it
        out.print(title, markup=False)
        for row in rows:
            out.print(
                f"{row['parameter']} = {row['value']} {row['unit']}, since {row['since']}",
                markup=False,
            )
            out.print(f"    {row['reference']}", markup=False, style="dim")
        return
    table = Table(title=title)
    for column in ("parameter", "value", "unit", "since", "reference"):
        table.add_column(column, no_wrap=column != "reference")
    for row in rows:
        table.add_row(*(str(row[c]) for c in ("parameter", "value", "unit", "since", "reference")))
    out.print(table)


@policy_app.command("diff")
def policy_diff(
    first: Annotated[str, typer.Option("--from", help="The earlier day, YYYY-MM-DD.")],
    second: Annotated[str, typer.Option("--to", help="The later day, YYYY-MM-DD.")],
    json_output: JsonOption = False,
) -> None:
    """List the parameters whose value changes between two days."""
    import policy as policy_data
    from domain.policy import installed

    policy_data.refresh()
    rows = policy_data.differences(
        installed(), _parse_day(first, "--from"), _parse_day(second, "--to")
    )
    if json_output:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        out.print(f"no parameter changes between {first} and {second}")
        return
    table = Table(title=f"Policy changes from {first} to {second}")
    for column in ("parameter", "from", "to", "since", "reference"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c]) for c in ("parameter", "from", "to", "since", "reference")))
    out.print(table)


@app.command()
def keygen() -> None:
    """Print a new cipher key (256 bits, base64) for BENEFITS_CIPHER_KEY."""
    from engine.keys import new_key

    print(new_key())


audit_app = typer.Typer(help="Tamper evidence: chained events and each day's Merkle root.")
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(store: StoreOption = None, json_output: JsonOption = False) -> None:
    """Recompute every stream's hash chain and every day's Merkle root; name the first broken
    link (stream, position, day). Exit 1 if anything is broken."""
    from engine import audit

    engine = open_engine(_store(store), 0, must_exist=True)
    try:
        result = audit.verify(
            engine.intake, lambda n: err.print(f"checked {n:,} events ...", markup=False)
        )
    finally:
        engine.close()
    if json_output:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        for line in audit.summary(result):
            out.print(line, markup=False, soft_wrap=True)
    if result.breaks:
        raise typer.Exit(1)


@audit_app.command("proof")
def audit_proof(
    decision_id: Annotated[
        int, typer.Argument(help="The decision's decision_id, as `benefits status` shows it.")
    ],
    store: StoreOption = None,
) -> None:
    """Print, as JSON, the proof that a decision is under its day's Merkle root; check it with
    tools/verify_proof.py, which needs nothing but Python."""
    from engine import audit

    if not 1 <= decision_id < 2**63:
        raise fail(f"there is no decision {decision_id} in the log", 1)
    engine = open_engine(_store(store), 0, must_exist=True)
    try:
        shown = audit.proof(engine.intake, decision_id)
    except LookupError as exc:
        raise fail(str(exc), 1) from None
    finally:
        engine.close()
    print(json.dumps(shown, indent=2))


@audit_app.command("seal")
def audit_seal(
    day: Annotated[
        str | None, typer.Option(help="The day to seal as, YYYY-MM-DD (default: today, UTC).")
    ] = None,
    store: StoreOption = None,
) -> None:
    """Seal the events recorded since the last seal under a Merkle root now, as ``--day``'s
    (the worker and `benefits run` seal each day by themselves)."""
    when = _parse_day(day, "--day") if day else datetime.now(UTC).date()
    engine = open_engine(_store(store), must_exist=True, exclusive=True)
    try:
        sealed = engine.intake.seal(when)
        last_day = None if sealed else engine.intake.last_sealed_day()
    finally:
        engine.close()
    if sealed is None:
        if last_day is not None and when <= last_day:
            raise fail(
                f"cannot seal as {when}: the seals already reach {last_day}; give a later --day",
                1,
            )
        out.print(f"nothing to seal: no event was recorded since the last seal ({last_day})")
        return
    size = sealed["size"]
    out.print(
        f"sealed {size:,} event{'s' if size != 1 else ''} as {sealed['day']}: root"
        f" {sealed['root']}",
        markup=False,
        soft_wrap=True,
    )


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(INTERRUPTED)
    except Exception as exc:  # outside any command, e.g. while reading the command line
        sys.exit(unexpected(exc).exit_code)
