"""The service's write path in Kafka mode, against a real Kafka broker and a real PostgreSQL:
a write is produced to life-events, answered 202 with a status URL that reports pending until
the worker has applied it."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.wiring import open_engine
from tests.events import person_registered
from tests.infra.services import free_port
from tests.integration.conftest import WorkerEnv, stop, wait_for
from tests.integration.kafka_io import produce
from tests.service.conftest import SECRET, TODAY, token

pytestmark = pytest.mark.integration


def test_a_proxy_request_goes_through_kafka_and_the_worker(worker_env: WorkerEnv) -> None:
    produce(
        worker_env.kafka,
        worker_env.life_events_topic,
        [person_registered("K-PRINCIPAL"), person_registered("K-PROXY", region="310101")],
    )
    worker = worker_env.start_worker()
    engine = open_engine(worker_env.database_url)
    port = free_port()
    log = (worker_env.folder / "serve.log").open("wb")
    serve = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", "--port", str(port)],
        env=worker_env.environ() | {"BENEFITS_JWT_SECRET": SECRET, "BENEFITS_TODAY": TODAY},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: engine.view.status("K-PRINCIPAL") is not None, what="registrations")
        wait_for(lambda: _healthy(url), what="the service")
        assert httpx.get(f"{url}/healthz").json()["writes"] == "kafka"
        headers = {"Authorization": f"Bearer {token('K-PROXY', 'citizen')}"}
        body = {
            "principal_id": "K-PRINCIPAL",
            "relationship": "grandchild",
            "kinship_proof": {"reference": "KIN-K", "score": 0.99},
            "scopes": ["view_status"],
        }
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            answer = client.post("/v1/proxy-requests", json=body, headers={"Idempotency-Key": "k1"})
            assert answer.status_code == 202
            status_url = answer.json()["status_url"]
            assert answer.headers["location"] == status_url
            seen = [client.get(status_url).json()["status"]]
            deadline = time.monotonic() + 60
            while seen[-1] != "applied" and time.monotonic() < deadline:
                time.sleep(0.1)
                seen.append(client.get(status_url).json()["status"])
            assert seen[-1] == "applied" and set(seen) <= {"pending", "applied"}
            resource = client.get(status_url).json()["resource_url"]
            assert client.get(resource).json()["status"] == "granted"
            assert client.get("/v1/persons/K-PRINCIPAL").status_code == 200
            again = client.post("/v1/proxy-requests", json=body, headers={"Idempotency-Key": "k1"})
            assert (again.status_code, again.json()) == (202, answer.json())
            metrics = client.get("/metrics").text
        lag = {
            sample.labels["partition"]: sample.value
            for family in text_string_to_metric_families(metrics)
            if family.name == "benefits_consumer_lag"
            for sample in family.samples
        }
        assert lag == {"0": 0.0}  # the worker has applied everything on the topic
    finally:
        serve.terminate()
        serve.wait(15)
        stop(worker)
        engine.close()


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
