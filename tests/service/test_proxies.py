"""Family proxies through a real `benefits serve`: granted, pending then approved, rejected,
refused, expired, revoked, ended by death; a proxy's liveness check certifying a cycle; retries
with an Idempotency-Key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import cli_json
from tests.events import death_registered, write_jsonl
from tests.service.conftest import (
    ALL_SCOPES,
    DEAD,
    OPEN_CYCLE,
    PROXY,
    SELF,
    STRANGER,
    Server,
    proxy_request,
    start_server,
    stop_server,
    token,
)

PROXY_TOKEN = token(PROXY, "citizen")
SELF_TOKEN = token(SELF, "citizen")
CASEWORKER = token("cw-11", "caseworker", ("1101",))


def history(server: Server, person_id: str) -> list[dict]:
    with server.client(CASEWORKER) as client:
        return client.get(f"/v1/persons/{person_id}/history").json()


def can_read(server: Server, who: str, person_id: str = SELF) -> bool:
    with server.client(who) as client:
        return client.get(f"/v1/persons/{person_id}").status_code == 200


def test_a_strong_kinship_proof_is_granted_at_once(server: Server) -> None:
    assert not can_read(server, PROXY_TOKEN)
    with server.client(PROXY_TOKEN) as proxy:
        response = proxy_request(proxy, SELF, 0.93, ["view_status"])
        assert response.status_code == 201
        grant = response.json()
        assert (grant["status"], grant["principal_id"], grant["requester_id"]) == (
            "granted",
            SELF,
            PROXY,
        )
        assert response.headers["location"] == f"/v1/proxy-requests/{grant['request_id']}"
        assert grant["valid_until"] == "2027-06-10"  # one year by default
        holds = proxy.get("/v1/proxies").json()["holds"]
    assert [g["request_id"] for g in holds] == [grant["request_id"]]
    with server.client(SELF_TOKEN) as principal:
        given = principal.get("/v1/proxies").json()["given"]
    assert [g["request_id"] for g in given] == [grant["request_id"]]
    assert can_read(server, PROXY_TOKEN)
    decided = [h["decision"] for h in history(server, SELF)]
    assert decided[-1] == "proxy_granted"


def test_a_weak_proof_waits_in_the_review_queue_then_is_approved(server: Server) -> None:
    with server.client(PROXY_TOKEN) as proxy:
        grant = proxy_request(proxy, SELF, 0.80, ["view_status"]).json()
    assert grant["status"] == "pending"
    assert not can_read(server, PROXY_TOKEN)
    with server.client(CASEWORKER) as caseworker:
        queue = caseworker.get("/v1/reviews", params={"kind": "proxy_request"}).json()
        item = next(i for i in queue if i["details"]["requester_id"] == PROXY)
        assert (item["person_id"], item["region"], item["age_days"]) == (SELF, "110101", 0)
        decided = caseworker.post(
            f"/v1/reviews/{item['item_id']}/decision",
            json={"approve": True, "reason": "birth certificate checked"},
        )
        assert decided.status_code == 201
        assert caseworker.get("/v1/reviews", params={"kind": "proxy_request"}).json() == []
        shown = caseworker.get(f"/v1/proxy-requests/{grant['request_id']}").json()
    assert (shown["status"], shown["decided_by"], shown["reason"]) == (
        "granted",
        "cw-11",
        "review_approved",
    )
    assert can_read(server, PROXY_TOKEN)


def test_a_rejected_request_grants_nothing(server: Server) -> None:
    with server.client(PROXY_TOKEN) as proxy:
        grant = proxy_request(proxy, SELF, 0.5, ["view_status"]).json()
    with server.client(CASEWORKER) as caseworker:
        item = caseworker.get("/v1/reviews", params={"kind": "proxy_request"}).json()[0]
        caseworker.post(
            f"/v1/reviews/{item['item_id']}/decision",
            json={"approve": False, "reason": "no kinship found"},
        )
    with server.client(PROXY_TOKEN) as proxy:
        assert proxy.get(f"/v1/proxy-requests/{grant['request_id']}").json()["status"] == (
            "rejected"
        )
    assert not can_read(server, PROXY_TOKEN)


def test_a_deceased_principal_is_refused(server: Server) -> None:
    with server.client(PROXY_TOKEN) as proxy:
        response = proxy_request(proxy, DEAD, 0.99, ["view_status"])
    assert response.status_code == 201
    assert (response.json()["status"], response.json()["reason"]) == (
        "refused",
        "principal_deceased",
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"principal_id": PROXY}, "own proxy"),
        ({"scopes": ["view_everything"]}, "scopes"),
        ({"scopes": []}, "scopes"),
        ({"kinship_proof": {"reference": "K", "score": 1.5}}, "score"),
        ({"valid_until": "2029-06-11"}, "valid_until"),
        ({"valid_until": "2026-06-09"}, "valid_until"),
    ],
)
def test_bad_requests_are_422(server: Server, change: dict, message: str) -> None:
    body = {
        "principal_id": SELF,
        "relationship": "child",
        "kinship_proof": {"reference": "KIN", "score": 0.95},
        "scopes": ["view_status"],
    } | change
    with server.client(PROXY_TOKEN) as proxy:
        response = proxy.post("/v1/proxy-requests", json=body)
    assert response.status_code == 422
    assert message in response.json()["error"]["message"]


def test_a_grant_ends_on_valid_until_without_any_job(server: Server, tmp_path: Path) -> None:
    with server.client(PROXY_TOKEN) as proxy:
        grant = proxy_request(proxy, SELF, 0.99, ["view_status"], valid_until="2026-06-11").json()
    assert can_read(server, PROXY_TOKEN)
    later = start_server(server.store, tmp_path, today="2026-06-12")
    try:
        assert not can_read(later, PROXY_TOKEN)
        with later.client(PROXY_TOKEN) as proxy:
            shown = proxy.get(f"/v1/proxy-requests/{grant['request_id']}").json()
        assert shown["status"] == "expired"
    finally:
        stop_server(later)


@pytest.mark.parametrize("revoker", ["principal", "proxy", "caseworker"])
def test_a_grant_is_revoked_by_principal_proxy_or_caseworker(server: Server, revoker: str) -> None:
    with server.client(PROXY_TOKEN) as proxy:
        grant = proxy_request(proxy, SELF, 0.99, ["view_status"]).json()
    who = {"principal": SELF_TOKEN, "proxy": PROXY_TOKEN, "caseworker": CASEWORKER}[revoker]
    with server.client(who) as client:
        response = client.delete(f"/v1/proxies/{grant['request_id']}")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["reason"]) == (
        "revoked",
        f"revoked_by_{revoker}",
    )
    assert not can_read(server, PROXY_TOKEN)


def test_the_principals_death_ends_the_grant(server: Server, tmp_path: Path) -> None:
    with server.client(PROXY_TOKEN) as proxy:
        grant = proxy_request(proxy, SELF, 0.99, ["view_status"]).json()
    death = write_jsonl(
        tmp_path / "death.jsonl", [death_registered(SELF, "2026-06-11", "2026-06-11")]
    )
    cli_json("run", "--input", str(death), "--store", server.store, "--until", "2026-06-11")
    with server.client(SELF_TOKEN) as principal:
        shown = principal.get(f"/v1/proxy-requests/{grant['request_id']}").json()
    assert (shown["status"], shown["reason"]) == ("ended", "principal_death")
    assert not can_read(server, PROXY_TOKEN)


def test_a_proxys_liveness_check_certifies_the_open_cycle(server: Server) -> None:
    stranger = token(STRANGER, "citizen")
    with server.client(stranger) as proxy:
        proxy_request(proxy, OPEN_CYCLE, 0.95, ALL_SCOPES)
        assert proxy.get(f"/v1/persons/{OPEN_CYCLE}").json()["certification"]["status"] == "open"
        low = proxy.post(
            f"/v1/persons/{OPEN_CYCLE}/liveness-checks", json={"reference": "F-1", "score": 0.5}
        )
        assert low.status_code == 422
        response = proxy.post(
            f"/v1/persons/{OPEN_CYCLE}/liveness-checks", json={"reference": "F-2", "score": 0.96}
        )
    assert response.status_code == 201
    assert response.json()["certification"]["status"] == "certified"
    assert response.json()["certification"]["method"] == "liveness"
    certified = [h for h in history(server, OPEN_CYCLE) if h["decision"] == "certified_by_liveness"]
    assert certified[0]["reason"] == "liveness_verified:proxy_app"
    assert certified[0]["details"]["submitted_by"] == STRANGER


def test_a_retry_with_the_same_idempotency_key_returns_the_first_answer(server: Server) -> None:
    body = {
        "principal_id": SELF,
        "relationship": "spouse",
        "kinship_proof": {"reference": "KIN-7", "score": 0.97},
        "scopes": ["view_status"],
    }
    headers = {"Idempotency-Key": "request-7"}
    with server.client(PROXY_TOKEN) as proxy:
        first = proxy.post("/v1/proxy-requests", json=body, headers=headers)
        again = proxy.post("/v1/proxy-requests", json=body, headers=headers)
        other = proxy.post(
            "/v1/proxy-requests", json=body | {"scopes": ["view_payments"]}, headers=headers
        )
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    granted = [h for h in history(server, SELF) if h["decision"] == "proxy_granted"]
    assert len(granted) == 1


def test_a_review_decision_retried_returns_the_first_answer(server: Server) -> None:
    with server.client(PROXY_TOKEN) as proxy:
        proxy_request(proxy, SELF, 0.7, ["view_status"])
    with server.client(CASEWORKER) as caseworker:
        item = caseworker.get("/v1/reviews", params={"kind": "proxy_request"}).json()[0]
        path = f"/v1/reviews/{item['item_id']}/decision"
        decision = {"approve": True, "reason": "checked"}
        first = caseworker.post(path, json=decision, headers={"Idempotency-Key": "d-1"})
        again = caseworker.post(path, json=decision, headers={"Idempotency-Key": "d-1"})
        unkeyed = caseworker.post(path, json=decision)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert unkeyed.status_code == 404  # decided: no longer in the queue
