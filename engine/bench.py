"""Benchmarks that print figures (never timed tests): `benefits bench-service` measures the HTTP
service through a real uvicorn server on 127.0.0.1 over an embedded store; `bench-kpis` the
operations figures; `bench-whatif` a policy change replayed over a year's store."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from api.auth import KeyConfig
from engine.demo import generate_events, write_events
from engine.servers import free_port
from engine.simulation import simulate
from engine.wiring import open_engine

SECRET = "bench-secret-not-for-production-0123456789abcdef"


@contextmanager
def _service(store: str, today: str) -> Iterator[str]:
    """`benefits serve` over ``store`` on a free port with the bench's token secret, as if on
    ``today``; yields its URL and stops it afterwards."""
    port = free_port()
    env = os.environ | {"BENEFITS_JWT_SECRET": SECRET, "BENEFITS_TODAY": today}
    server = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", "--store", store, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url, server)
        yield url
    finally:
        server.terminate()
        server.wait(15)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def bench_service(people: int = 2000, grants: int = 200, reads: int = 3000) -> dict[str, Any]:
    """Request-to-grant latency (p50/p99) and status reads per second."""
    from datetime import timedelta

    with tempfile.TemporaryDirectory() as folder:
        store = f"sqlite:///{Path(folder) / 'bench.db'}"
        path = Path(folder) / "events.jsonl"
        events = generate_events(people, seed=7)
        write_events(path, events)
        engine = open_engine(store, exclusive=True)
        try:
            simulate(engine, path, until=date(2026, 3, 1))
            ids = sorted(p for p, _ in engine.view.payroll_candidates(("active",)))
        finally:
            engine.close()
        with _service(store, "2026-03-02") as url:
            keys = KeyConfig(SECRET, ("HS256",), SECRET)

            def bearer(sub: str) -> dict[str, str]:
                token = keys.mint(sub, "citizen", (), timedelta(hours=1))
                return {"Authorization": f"Bearer {token}"}

            grant_ms = []
            pairs = list(zip(ids[1::2], ids[0::2], strict=False))[:grants]
            with httpx.Client(base_url=url, timeout=30) as client:
                for proxy, principal in pairs:
                    body = {
                        "principal_id": principal,
                        "relationship": "child",
                        "kinship_proof": {"reference": f"KIN-{proxy}", "score": 0.97},
                        "scopes": ["view_status"],
                    }
                    started = time.perf_counter()
                    response = client.post("/v1/proxy-requests", json=body, headers=bearer(proxy))
                    grant_ms.append((time.perf_counter() - started) * 1000)
                    assert response.json()["status"] == "granted", response.text
            headers = [bearer(p) for p in ids[: min(len(ids), 200)]]
            per_second, read_ms = asyncio.run(_reads(url, ids, headers, reads))
    return {
        "people": people,
        "grants": len(grant_ms),
        "request_to_grant_ms_p50": round(statistics.median(grant_ms), 1),
        "request_to_grant_ms_p99": round(_percentile(grant_ms, 0.99), 1),
        "status_reads": reads,
        "status_reads_per_second": round(per_second),
        "status_read_ms_p50": round(statistics.median(read_ms), 2),
        "status_read_ms_p99": round(_percentile(read_ms, 0.99), 2),
        "cpus": os.cpu_count(),
    }


async def _reads(
    url: str, ids: list[str], headers: list[dict[str, str]], total: int, concurrency: int = 8
) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue = list(range(total))

    async def worker(client: httpx.AsyncClient) -> None:
        while queue:
            n = queue.pop()
            person = ids[n % len(headers)]
            started = time.perf_counter()
            response = await client.get(f"/v1/persons/{person}", headers=headers[n % len(headers)])
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return total / elapsed, latencies


def _wait(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the service exited during start-up")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("the service did not start within 60 s")


def bench_kpis(people: int = 100_000, requests: int = 50) -> dict[str, Any]:
    """`/v1/kpis` (and `/dashboard`) response times over KPI tables the size a year of
    ``people`` persons makes: the real KPI projection is fed a synthetic year of domain events
    (the figures are answered by those tables alone; the event store is not read)."""
    import random
    import uuid
    from datetime import UTC, date, datetime, timedelta

    from eventsourcing.persistence import Tracking

    from domain.pensioner import Pensioner

    rng = random.Random(7)
    regions = [
        f"{p:02d}{c:02d}{d:02d}" for p in range(11, 66, 5) for c in range(1, 4) for d in range(1, 9)
    ]
    with tempfile.TemporaryDirectory() as folder:
        store = f"sqlite:///{Path(folder) / 'kpis.db'}"
        engine = open_engine(store, exclusive=True)
        started = time.perf_counter()
        try:
            now = datetime.now(UTC)
            page: list[Any] = []
            position = 0

            def add(event: Any) -> None:
                nonlocal position
                position += 1
                page.append((event, Tracking("kpis", position)))
                if len(page) >= 20_000:
                    engine.kpis.process_page(page)
                    page.clear()

            for n in range(people):
                key = uuid.uuid5(uuid.NAMESPACE_URL, f"bench:{n}")
                region = rng.choice(regions)
                birth_month = rng.randint(1, 12)
                risk = rng.choices(["none", "blue", "yellow", "red"], [90, 5, 3, 2])[0]
                common = {"originator_id": key, "timestamp": now}
                add(
                    Pensioner.StatusChanged(
                        **common,
                        originator_version=1,
                        status={"region": region, "risk_level": risk, "birth_month": birth_month},
                    )
                )
                opening = date(2026, birth_month, 1)
                decisions = [
                    ("cycle_opened", opening, {}),
                    ("silently_certified", opening, {"cycle_year": 2026}),
                ]
                if rng.random() < 0.05:
                    decisions.append(
                        (
                            "payment_blocked",
                            opening,
                            {"month": f"{opening:%Y-%m}", "kind": "pension"},
                        )
                    )
                for version, (kind, on, details) in enumerate(decisions, start=2):
                    add(
                        Pensioner.Decided(
                            **common,
                            originator_version=version,
                            key=f"{kind}:{n}",
                            decision=kind,
                            on=on,
                            reason="held" if kind == "payment_blocked" else None,
                            event_id=f"e{n}",
                            rule_version="2026.1",
                            details=details,
                            benefit_status="active",
                            risk_level=risk,
                            status_reason=None,
                        )
                    )
                for month in range(1, 13):
                    add(
                        Pensioner.PaymentInstructed(
                            **common,
                            originator_version=10 + month,
                            instruction_id=f"i{n}-{month}",
                            key=f"pension:2026-{month:02d}",
                            kind="pension",
                            month=f"2026-{month:02d}",
                            amount_cents=300_000,
                            on=date(2026, month, 1),
                            bank_account="0" * 16,
                            bank_region=region,
                        )
                    )
            if page:
                engine.kpis.process_page(page)
            engine.view.record_processed_day(date(2026, 12, 31))
            built = time.perf_counter() - started
        finally:
            engine.close()
        with _service(store, "2026-12-31") as url:
            keys = KeyConfig(SECRET, ("HS256",), SECRET)
            operator = keys.mint("bench-operator", "operator", (), timedelta(hours=1))
            caseworker = keys.mint("bench-cw", "caseworker", ("11", "3601"), timedelta(hours=1))
            timings: dict[str, list[float]] = {
                "kpis_operator": [],
                "kpis_caseworker": [],
                "dashboard": [],
            }
            with httpx.Client(base_url=url, timeout=60) as client:
                for _ in range(requests):
                    for name, bearer in (
                        ("kpis_operator", operator),
                        ("kpis_caseworker", caseworker),
                    ):
                        began = time.perf_counter()
                        response = client.get(
                            "/v1/kpis", headers={"Authorization": f"Bearer {bearer}"}
                        )
                        timings[name].append((time.perf_counter() - began) * 1000)
                        assert response.status_code == 200, response.text
                    began = time.perf_counter()
                    response = client.get("/dashboard", cookies={"benefits_session": operator})
                    timings["dashboard"].append((time.perf_counter() - began) * 1000)
    figures: dict[str, Any] = {"people": people, "kpi_tables_built_s": round(built, 1)}
    for name, values in timings.items():
        figures[f"{name}_ms_p50"] = round(statistics.median(values), 1)
        figures[f"{name}_ms_p99"] = round(_percentile(values, 0.99), 1)
    figures["cpus"] = os.cpu_count()
    return figures


EXAMPLE_CHANGE = Path(__file__).resolve().parents[1] / "policy/examples/hold-at-100-days.yaml"


def bench_whatif(
    people: int = 20_000,
    store: str | None = None,
    building: Callable[[date, date], None] | None = None,
    replaying: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """`benefits whatif` with the shipped example change on a year of ``people`` (a store built
    first, untimed) or on an existing ``store``: seconds, people per second."""
    from engine.whatif import whatif

    with tempfile.TemporaryDirectory() as folder:
        built = 0.0
        if store is None:
            store = f"sqlite:///{Path(folder) / 'bench.db'}"
            path = Path(folder) / "events.jsonl"
            events = generate_events(people, seed=2026)
            write_events(path, events)
            engine = open_engine(store, exclusive=True)
            started = time.perf_counter()
            try:
                simulate(engine, path, on_day=building)
            finally:
                engine.close()
            built = time.perf_counter() - started
        started = time.perf_counter()
        report = whatif(store, EXAMPLE_CHANGE, date(2026, 1, 1), replaying, examples=20)
        seconds = time.perf_counter() - started
    return {
        "people": report["persons"],
        "persons_changed": report["persons_changed"],
        "whatif_seconds": round(seconds, 1),
        "people_per_second": round(report["persons"] / seconds) if seconds else None,
        "processes": min(os.cpu_count() or 1, 8),
        "store_build_seconds": round(built, 1) if built else None,
    }
