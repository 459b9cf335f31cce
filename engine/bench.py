"""Benchmarks that print figures (never timed tests): `benefits bench-service` measures the HTTP
service through a real uvicorn server on 127.0.0.1 over an embedded store."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from api.auth import KeyConfig
from engine.demo import generate_events
from engine.simulation import simulate
from engine.wiring import open_engine

SECRET = "bench-secret-not-for-production-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def bench_service(people: int = 2000, grants: int = 200, reads: int = 3000) -> dict[str, Any]:
    """Request-to-grant latency (p50/p99) and status reads per second."""
    from datetime import date, timedelta

    with tempfile.TemporaryDirectory() as folder:
        store = f"sqlite:///{Path(folder) / 'bench.db'}"
        path = Path(folder) / "events.jsonl"
        events = generate_events(people, seed=7)
        path.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in events) + "\n")
        engine = open_engine(store, exclusive=True)
        try:
            simulate(engine, path, until=date(2026, 3, 1))
            ids = sorted(p for p, _ in engine.view.payroll_candidates(("active",)))
        finally:
            engine.close()
        port = _free_port()
        env = os.environ | {"BENEFITS_JWT_SECRET": SECRET, "BENEFITS_TODAY": "2026-03-02"}
        server = subprocess.Popen(
            [sys.executable, "-m", "engine", "serve", "--store", store, "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait(url, server)
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
        finally:
            server.terminate()
            server.wait(15)
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
