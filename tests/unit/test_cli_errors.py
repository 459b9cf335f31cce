"""No traceback reaches a user of `benefits`: each mistake or mishap is one line on stderr starting
"error: ", with exit 2 for a usage error, 1 for something not found or busy, 70 for a bug."""

from __future__ import annotations

import fcntl
import os
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import Result

from engine.cli import app
from projections.status import ReadModelView
from tests.cli import runner
from tests.events import custody_started, person_registered, write_jsonl

ROOT = Path(__file__).resolve().parents[2]
BENEFITS = Path(sys.executable).with_name("benefits")
HANG_GUARD = 120  # seconds; only so that a hang fails the test instead of blocking the suite


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def error_line(result: Result, code: int) -> str:
    """The command exited ``code`` with exactly one "error: ..." line on stderr."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def populated(tmp_path: Path, store: str, until: str = "2026-03-01") -> None:
    events = [person_registered("P1"), custody_started("P1", "2026-02-01")]
    path = write_jsonl(tmp_path / "first.jsonl", events)
    result = invoke("run", "--input", str(path), "--store", store, "--until", until)
    assert result.exit_code == 0, result.output


def db_path(store: str) -> Path:
    return Path(store.removeprefix("sqlite:///"))


@contextmanager
def writer_lock_held(database: Path) -> Iterator[None]:
    """Hold the store's writer lock as another `benefits` process would."""
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{database}.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# ----- 1. a --store that cannot hold a store


def test_a_store_that_is_a_directory_is_a_usage_error(tmp_path: Path) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    for command in (["status", "P1"], ["rejected"], ["demo", "--people", "1"]):
        line = error_line(invoke(*command, "--store", f"sqlite:///{folder}"), 2)
        assert str(folder) in line and "is a directory" in line


def test_a_store_that_is_a_text_file_is_a_usage_error_and_stays_untouched(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    events = write_jsonl(tmp_path / "in.jsonl", [person_registered("P1")])
    for command in (["status", "P1"], ["run", "--input", str(events)], ["rebuild"]):
        line = error_line(invoke(*command, "--store", f"sqlite:///{notes}"), 2)
        assert str(notes) in line and "not a SQLite database" in line
    assert notes.read_text() == "my notes\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "notes.txt"]


def test_a_store_under_a_regular_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "somefile.txt").write_text("x")
    store = f"sqlite:///{tmp_path / 'somefile.txt' / 'x.db'}"
    events = write_jsonl(tmp_path / "in.jsonl", [person_registered("P1")])
    for command in (["run", "--input", str(events)], ["status", "P1"], ["demo", "--people", "1"]):
        line = error_line(invoke(*command, "--store", store), 2)
        assert "somefile.txt" in line and "is not a directory" in line


def test_a_store_url_ending_in_a_slash_names_a_folder(tmp_path: Path) -> None:
    line = error_line(invoke("demo", "--people", "1", "--store", f"sqlite:///{tmp_path}/new/"), 2)
    assert f"{tmp_path}/new/ names a folder" in line
    assert list(tmp_path.iterdir()) == []


def test_a_store_url_of_an_unknown_kind_never_shows_its_password() -> None:
    line = error_line(invoke("status", "P1", "--store", "mysql://admin:secret@db/benefits"), 2)
    assert "unsupported store URL" in line and "secret" not in line
    line = error_line(invoke("status", "P1", "--store", "postgresql://u:secret@db:port/x"), 2)
    assert "not a port number" in line and "secret" not in line


# ----- 2. PostgreSQL out of reach


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def benefits(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BENEFITS), *args],
        cwd=cwd,
        env=os.environ | (env or {}),
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
    )


def assert_one_error_line(done: subprocess.CompletedProcess, code: int) -> str:
    assert done.returncode == code, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def test_unreachable_postgres_is_one_line_naming_host_and_port_never_the_password(
    tmp_path: Path,
) -> None:
    port = closed_port()
    store = f"postgresql://user:secret@127.0.0.1:{port}/db"
    events = write_jsonl(tmp_path / "in.jsonl", [person_registered("P1")])
    for command in (["status", "P1"], ["run", "--input", str(events)], ["rebuild"]):
        done = benefits(*command, "--store", store, cwd=tmp_path)
        line = assert_one_error_line(done, 2)
        assert f"127.0.0.1:{port}" in line and "refused" in line
        assert "secret" not in done.stdout + done.stderr


def test_a_postgres_server_that_never_answers_times_out(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (the kernel does) but never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        store = f"postgresql://user:secret@127.0.0.1:{port}/db"
        done = benefits("status", "P1", "--store", store, cwd=tmp_path)
    line = assert_one_error_line(done, 2)
    assert f"127.0.0.1:{port}" in line and "timeout" in line
    assert "secret" not in done.stdout + done.stderr


# ----- 3. --people


@pytest.mark.parametrize("people", ["0", "-3"])
def test_demo_needs_at_least_one_person(people: str, tmp_path: Path) -> None:
    line = error_line(
        invoke("demo", "--people", people, "--store", f"sqlite:///{tmp_path}/d.db"), 2
    )
    assert line == f"error: --people must be 1 or more, got {people}"
    assert list(tmp_path.iterdir()) == []


# ----- 4. one writer at a time


def test_a_second_writer_finds_the_store_busy_and_changes_nothing(
    tmp_path: Path, store: str
) -> None:
    populated(tmp_path, store)
    before = invoke("status", "P1", "--store", store, "--json").output
    more = write_jsonl(tmp_path / "more.jsonl", [person_registered("P2", on="2026-03-02")])
    with writer_lock_held(db_path(store)):
        for command in (
            ["run", "--input", str(more)],
            ["rebuild"],
            ["demo", "--people", "3"],
        ):
            line = error_line(invoke(*command, "--store", store), 1)
            assert "is busy" in line and str(db_path(store)) in line
        # Readers never take the lock.
        assert invoke("status", "P1", "--store", store, "--json").output == before
        error_line(invoke("status", "P2", "--store", store), 1)
    result = invoke("run", "--input", str(more), "--store", store)
    assert result.exit_code == 0, result.output
    assert invoke("status", "P1", "--store", store, "--json").output == before
    assert invoke("status", "P2", "--store", store).exit_code == 0


def test_readers_create_no_lock_file(tmp_path: Path, store: str) -> None:
    populated(tmp_path, store)
    lock = Path(f"{db_path(store)}.lock")
    lock.unlink()
    for command in (["status", "P1"], ["payments", "P1"], ["rejected"]):
        assert invoke(*command, "--store", store).exit_code == 0
    assert not lock.exists()


def test_a_second_demo_stops_before_touching_the_first_ones_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "var" / "demo"
    folder.mkdir(parents=True)
    (folder / "life-events.jsonl").write_text("the first demo's events\n")
    with writer_lock_held(folder / "demo.db"):
        line = error_line(invoke("demo", "--people", "3"), 1)
    assert "is busy" in line
    assert (folder / "life-events.jsonl").read_text() == "the first demo's events\n"


# ----- 5. reading a store that is not there


@pytest.mark.parametrize(
    "command",
    [
        ["status", "P1"],
        ["payments", "P1"],
        ["notifications", "P1"],
        ["payroll", "--month", "2026-03"],
        ["rejected"],
        ["rebuild"],
    ],
)
def test_reading_a_missing_store_says_so_and_creates_nothing(
    command: list[str], tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere" / "store.db"
    line = error_line(invoke(*command, "--store", f"sqlite:///{missing}"), 1)
    assert f"no store at {missing}" in line
    assert "benefits run" in line and "benefits demo" in line
    assert list(tmp_path.iterdir()) == []


def test_an_empty_file_is_no_store_either(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.touch()
    line = error_line(invoke("status", "P1", "--store", f"sqlite:///{empty}"), 1)
    assert "no store at" in line
    assert empty.stat().st_size == 0 and [p.name for p in tmp_path.iterdir()] == ["empty.db"]


def test_an_unknown_person_in_an_existing_store_exits_1(tmp_path: Path, store: str) -> None:
    populated(tmp_path, store)
    for command in ("status", "payments", "notifications"):
        line = error_line(invoke(command, "NOBODY", "--store", store), 1)
        assert line == "error: no person with person_id 'NOBODY' in this store"


# ----- 6. a payroll that has not run yet


def test_payroll_of_a_month_not_yet_run_says_so(tmp_path: Path, store: str) -> None:
    populated(tmp_path, store, until="2026-03-01")
    assert invoke("payroll", "--month", "2026-03", "--store", store).exit_code == 0
    line = error_line(invoke("payroll", "--month", "2026-04", "--store", store), 1)
    assert line == (
        "error: the payroll for 2026-04 has not run yet"
        " (the store has processed days up to 2026-03-01)"
    )


# ----- 7. the demo's last line can be pasted as it is


def try_command(stdout: str) -> str:
    tries = [line for line in stdout.splitlines() if line.startswith("Try: ")]
    assert len(tries) == 1, stdout
    return tries[0].removeprefix("Try: ")


def test_the_demos_try_line_works_when_pasted_at_the_repository_root(tmp_path: Path) -> None:
    done = benefits("demo", "--people", "30", cwd=tmp_path, env={"BENEFITS_CLI": "./dev"})
    assert done.returncode == 0, done.stderr
    command = try_command(done.stdout)
    assert command.startswith("./dev status ")
    assert f"--store sqlite:///{tmp_path}/var/demo/demo.db" in command
    pasted = subprocess.run(
        command, shell=True, cwd=ROOT, capture_output=True, text=True, timeout=HANG_GUARD
    )
    assert pasted.returncode == 0, pasted.stdout + pasted.stderr
    assert shlex.split(command)[2] in pasted.stdout


def test_without_dev_the_try_line_names_benefits(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "BENEFITS_CLI"}
    done = subprocess.run(
        [str(BENEFITS), "demo", "--people", "5"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
    )
    assert done.returncode == 0, done.stderr
    assert try_command(done.stdout).startswith("benefits status ")


# ----- 8. the last resort


def test_an_unexpected_error_is_one_line_and_exit_70(
    tmp_path: Path, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    populated(tmp_path, store)

    def broken(self: ReadModelView) -> None:
        raise RuntimeError("boom\nwith a second line")

    monkeypatch.setattr(ReadModelView, "dead_letters", broken)
    monkeypatch.delenv("BENEFITS_DEBUG", raising=False)
    line = error_line(invoke("rejected", "--store", store), 70)
    assert line == (
        "error: unexpected RuntimeError: boom with a second line"
        " (set BENEFITS_DEBUG=1 for the traceback)"
    )
    monkeypatch.setenv("BENEFITS_DEBUG", "1")
    result = invoke("rejected", "--store", store)
    assert result.exit_code == 70
    assert "Traceback" in result.stderr and "boom" in result.stderr


def test_an_unexpected_error_quoting_a_url_never_shows_its_password(
    tmp_path: Path, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    populated(tmp_path, store)

    def broken(self: ReadModelView) -> None:
        raise ConnectionError("lost postgresql://admin:secret@db:5432/benefits")

    monkeypatch.setattr(ReadModelView, "dead_letters", broken)
    monkeypatch.delenv("BENEFITS_DEBUG", raising=False)
    line = error_line(invoke("rejected", "--store", store), 70)
    assert "postgresql://admin:***@db:5432/benefits" in line and "secret" not in line


def test_an_interrupt_exits_130(
    tmp_path: Path, store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    populated(tmp_path, store)

    def interrupted(self: ReadModelView) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ReadModelView, "dead_letters", interrupted)
    result = invoke("rejected", "--store", store)
    assert result.exit_code == 130 and "Traceback" not in result.output


def test_typers_own_usage_errors_still_exit_2() -> None:
    result = invoke("status")
    assert result.exit_code == 2 and "Missing argument" in result.output
    result = invoke("no-such-command")
    assert result.exit_code == 2 and "No such command" in result.output
    result = invoke("demo", "--people", "many")
    assert result.exit_code == 2 and "Invalid value" in result.output


def test_a_bad_setting_in_the_environment_is_one_line(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCH_SIZE", "lots")
    line = error_line(invoke("status", "P1"), 2)
    assert line == "error: BATCH_SIZE must be a whole number, got 'lots'"
    for name, value, expected in [
        ("BATCH_SIZE", "0", "error: BATCH_SIZE must be at least 1, got 0"),
        ("BATCH_WAIT_MS", "-5", "error: BATCH_WAIT_MS must be at least 0, got -5"),
        ("AGGREGATE_CACHE", "-1", "error: AGGREGATE_CACHE must be at least 0, got -1"),
    ]:
        monkeypatch.setenv("BATCH_SIZE", "1000")
        monkeypatch.setenv(name, value)
        assert error_line(invoke("worker"), 2) == expected
        monkeypatch.delenv(name)


def test_a_worker_whose_brokers_do_not_answer_says_so_in_one_line(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")  # nothing listens there
    monkeypatch.setenv("DATABASE_URL", store)
    assert error_line(invoke("worker"), 2) == (
        "error: cannot reach Kafka at 127.0.0.1:1 (KAFKA_BOOTSTRAP_SERVERS): no broker answered"
        " (KafkaConnectionError)"
    )


# ----- 9. careless input


@pytest.mark.parametrize("size", ["0", "-5"])
def test_batch_size_must_be_positive(size: str, tmp_path: Path, store: str) -> None:
    events = write_jsonl(tmp_path / "in.jsonl", [person_registered("P1")])
    line = error_line(
        invoke("run", "--input", str(events), "--batch-size", size, "--store", store), 2
    )
    assert line == f"error: --batch-size must be 1 or more, got {size}"
    assert not db_path(store).exists()


def test_input_that_is_missing_a_directory_or_empty(tmp_path: Path, store: str) -> None:
    line = error_line(invoke("run", "--input", str(tmp_path / "nope.jsonl"), "--store", store), 2)
    assert "no such file" in line
    line = error_line(invoke("run", "--input", str(tmp_path), "--store", store), 2)
    assert "is a directory" in line
    empty = write_jsonl(tmp_path / "empty.jsonl", ["", "  "])
    line = error_line(invoke("run", "--input", str(empty), "--store", store), 2)
    assert "holds no life events" in line
    assert not db_path(store).exists()


@pytest.mark.parametrize("until", ["2026-02-30", "31/12/2026", "tomorrow"])
def test_until_must_be_a_real_date(until: str, tmp_path: Path, store: str) -> None:
    events = write_jsonl(tmp_path / "in.jsonl", [person_registered("P1")])
    line = error_line(invoke("run", "--input", str(events), "--until", until, "--store", store), 2)
    assert line == f"error: --until must be a date written YYYY-MM-DD, got {until!r}"
