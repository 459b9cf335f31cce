"""A real `benefits serve` (uvicorn) on 127.0.0.1 over a small embedded store, and tokens."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.auth import KeyConfig
from tests.cli import cli_json
from tests.events import death_registered, life_evidence, person_registered, write_jsonl
from tests.infra.services import free_port

SECRET = "test-secret-for-the-service-tests-only-0123456789"
TODAY = "2026-06-10"
KEYS = KeyConfig(SECRET, ("HS256",), SECRET)

# The people of the test store, by what they are for.
SELF = "P-SELF"  # region 110101, a principal
PROXY = "P-PROXY"  # region 310101, a relative of P-SELF
STRANGER = "P-STRANGER"  # region 440103
DEAD = "P-DEAD"  # region 110101, died in April
SHARED_A, SHARED_B = "P-SHARED-A", "P-SHARED-B"  # one account: payments held for review
AFTER_DEATH = "P-AFTERDEATH"  # a transit tap after the registered death
OPEN_CYCLE = "P-CYCLE"  # born in May: an open certification cycle on the 10th of June
NATIONAL_ID_NAME = "欧阳娜娜"


def token(sub: str, role: str, regions: tuple[str, ...] = (), ttl: float = 3600) -> str:
    return KEYS.mint(sub, role, regions, timedelta(seconds=ttl))


def store_events() -> list[dict[str, Any]]:
    shared = "6217000012349999"
    return [
        person_registered(SELF, name=NATIONAL_ID_NAME),
        person_registered(PROXY, region="310101", bank_region="310101"),
        person_registered(STRANGER, region="440103", bank_region="440103"),
        person_registered(DEAD),
        death_registered(DEAD, "2026-04-20", "2026-04-18"),
        person_registered(SHARED_A, bank_account=shared),
        person_registered(SHARED_B, bank_account=shared),
        person_registered(AFTER_DEATH),
        death_registered(AFTER_DEATH, "2026-03-05", "2026-03-01"),
        life_evidence(AFTER_DEATH, "2026-03-20", "transit_tap", event_id="tap-after-death"),
        person_registered(OPEN_CYCLE, birth_date="1950-05-20"),
    ]


@dataclass
class Server:
    url: str
    store: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, who: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {who}"} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def build_store(folder: Path) -> str:
    store = f"sqlite:///{folder / 'service.db'}"
    events = write_jsonl(folder / "events.jsonl", store_events())
    cli_json("run", "--input", str(events), "--store", store, "--until", TODAY)
    return store


def start_server(store: str, folder: Path, today: str = TODAY, **env: str) -> Server:
    port = free_port()
    log = folder / f"serve-{port}.log"
    environ = (
        os.environ
        | {
            "BENEFITS_JWT_SECRET": SECRET,
            "BENEFITS_TODAY": today,
            "PYTHONUNBUFFERED": "1",
        }
        | env
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", "--store", store, "--port", str(port)],
        env=environ,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    server = Server(f"http://127.0.0.1:{port}", store, process, log)
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise AssertionError(f"serve exited: {log.read_text()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"serve did not start: {log.read_text()}")
        time.sleep(0.1)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(5)


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[Server]:
    running = start_server(build_store(tmp_path), tmp_path)
    try:
        yield running
    finally:
        stop_server(running)


def proxy_request(
    client: httpx.Client, principal: str, score: float, scopes: list[str], **extra: Any
) -> httpx.Response:
    body = {
        "principal_id": principal,
        "relationship": "child",
        "kinship_proof": {"reference": "KIN-1", "score": score},
        "scopes": scopes,
    } | extra
    return client.post("/v1/proxy-requests", json=body)


ALL_SCOPES = ["view_status", "view_payments", "receive_notifications", "certify_on_behalf"]
