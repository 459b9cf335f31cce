"""`/v1/kpis` and `/metrics` through a real `benefits serve`: who may see the figures, that they
name no one, and that the Prometheus counters match the run."""

from __future__ import annotations

import json
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.cli import cli_json
from tests.events import death_registered, person_registered, write_jsonl
from tests.service.conftest import start_server, stop_server, token

EVENTS = [
    person_registered("K1", region="110101", name="欧阳娜娜"),
    person_registered("K2", region="310101", bank_account=None),
    person_registered("K3", region="310101"),
    death_registered("K3", "2026-02-10", "2026-02-01"),
    "not json",
]


def test_kpis_for_staff_only_scoped_to_a_caseworkers_regions(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'k.db'}"
    cli_json("run", "--input", str(write_jsonl(tmp_path / "in.jsonl", EVENTS)), "--store", store,
             "--until", "2026-03-31")  # fmt: skip
    server = start_server(store, tmp_path, today="2026-03-31")
    try:
        with server.client(token("op", "operator")) as operator:
            everyone = operator.get("/v1/kpis", params={"from": "2026-01", "to": "2026-03"})
            assert everyone.status_code == 200
            figures = everyone.json()
            narrowed = operator.get(
                "/v1/kpis", params={"from": "2026-01", "to": "2026-03", "region": "31"}
            ).json()
        with server.client(token("cw", "caseworker", ("1101",))) as caseworker:
            own = caseworker.get("/v1/kpis", params={"from": "2026-01", "to": "2026-03"}).json()
            outside = caseworker.get(
                "/v1/kpis", params={"from": "2026-01", "to": "2026-03", "region": "31"}
            ).json()
        with server.client(token("K1", "citizen")) as citizen:
            assert citizen.get("/v1/kpis").status_code == 403
        with server.client() as anonymous:
            assert anonymous.get("/v1/kpis").status_code == 401
            assert anonymous.get("/v1/kpis", params={"from": "2026-13"}).status_code == 401
        with server.client(token("op", "operator")) as operator:
            assert operator.get("/v1/kpis", params={"from": "2026-13"}).status_code == 422
            assert (
                operator.get("/v1/kpis", params={"from": "2026-04", "to": "2026-01"}).status_code
                == 422
            )
    finally:
        stop_server(server)
    january = {m["month"]: m for m in figures["money"]}["2026-01"]
    assert january["instructions"]["pension"]["count"] == 2  # K1, K3 (K2 has no account)
    assert january["skipped"]["no_account"] == 1
    assert figures["risk"]["by_colour"]["red"] == 1  # K3 died
    assert narrowed["risk"]["by_colour"]["red"] == 1
    assert {m["month"]: m for m in own["money"]}["2026-01"]["instructions"]["pension"]["count"] == 1
    assert own["risk"]["by_colour"]["red"] == 0
    assert outside["risk"]["by_colour"] == {"red": 0, "yellow": 0, "blue": 0}
    shown = json.dumps([figures, narrowed, own], ensure_ascii=False)
    for secret in ("K1", "K2", "K3", "欧阳娜娜", "110101195"):
        assert secret not in shown


def test_metrics_parse_and_match_the_run(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'm.db'}"
    summary = cli_json("run", "--input", str(write_jsonl(tmp_path / "in.jsonl", EVENTS)),
                       "--store", store, "--until", "2026-03-31")  # fmt: skip
    server = start_server(store, tmp_path, today="2026-03-31")
    try:
        with server.client() as client:
            response = client.get("/metrics")
    finally:
        stop_server(server)
    assert response.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    decisions = {s.labels["kind"]: s.value for s in families["benefits_decisions"].samples}
    assert decisions == {k: float(v) for k, v in summary["decisions"].items()}
    accepted = families["benefits_events_accepted"].samples[0].value
    assert accepted == summary["accepted"] + summary["scheduled_events"]
    rejected = sum(s.value for s in families["benefits_events_rejected"].samples)
    assert rejected == summary["rejected"]
    batches = families["benefits_batch_apply_seconds"]
    count = next(s.value for s in batches.samples if s.name.endswith("_count"))
    assert count >= 1
    backlog = {s.labels["kind"]: s.value for s in families["benefits_review_backlog"].samples}
    assert set(backlog) == {"proxy_request", "payment_review", "evidence_after_death"}
