"""Several processes started together on a new PostgreSQL database (workers, the scheduler, the
service) all open the store: none fails while another creates the tables."""

from __future__ import annotations

import subprocess
import sys
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

pytestmark = pytest.mark.integration

OPEN = "from engine.wiring import open_engine; open_engine({url!r}).close(); print('opened')"


def test_processes_opening_a_new_database_at_once_all_open_it(postgres_url: str) -> None:
    for _ in range(3):  # the race was intermittent: several new databases
        name = f"benefits_race_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = urlunsplit(urlsplit(postgres_url)._replace(path=f"/{name}"))
        try:
            processes = [
                subprocess.Popen(
                    [sys.executable, "-c", OPEN.format(url=url)],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                )
                for _ in range(4)
            ]
            outputs = [p.communicate()[0].decode() for p in processes]
            assert [p.returncode for p in processes] == [0, 0, 0, 0], outputs
            assert all(out.strip().endswith("opened") for out in outputs), outputs
        finally:
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
