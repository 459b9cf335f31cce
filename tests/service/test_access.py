"""The access matrix, every cell, against a real `benefits serve`: who may see and do what, and
what each caller sees of personal data."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.service.conftest import (
    ALL_SCOPES,
    NATIONAL_ID_NAME,
    OPEN_CYCLE,
    PROXY,
    SELF,
    SHARED_A,
    STRANGER,
    Server,
    build_store,
    proxy_request,
    start_server,
    stop_server,
    token,
)

CALLERS = {
    "self": token(SELF, "citizen"),
    "proxy": token(PROXY, "citizen"),  # holds view_status + view_payments for SELF
    "stranger": token(STRANGER, "citizen"),  # holds every scope for OPEN_CYCLE, none for SELF
    "caseworker_in": token("cw-11", "caseworker", ("11",)),  # SELF is in 110101
    "caseworker_out": token("cw-44", "caseworker", ("44",)),
    "auditor": token("aud-1", "auditor"),
    "operator": token("op-1", "operator"),
    "none": None,
    "bad": "not-a-token",
    "expired": token(SELF, "citizen", ttl=-60),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    folder: Path = tmp_path_factory.mktemp("access")
    server = start_server(build_store(folder), folder)
    try:
        with server.client(CALLERS["proxy"]) as proxy:
            reads = proxy_request(proxy, SELF, 0.97, ["view_status", "view_payments"]).json()
            revocable = proxy_request(proxy, SELF, 0.97, ["view_status"]).json()
        with server.client(CALLERS["stranger"]) as stranger:
            proxy_request(stranger, OPEN_CYCLE, 0.99, ALL_SCOPES)
        with server.client(CALLERS["caseworker_in"]) as caseworker:
            items = caseworker.get("/v1/reviews", params={"kind": "payment_review"}).json()
        item = next(i for i in items if i["person_id"] == SHARED_A)
        yield {
            "server": server,
            "grant": reads["request_id"],
            "revocable": revocable["request_id"],
            "item": item["item_id"],
        }
    finally:
        stop_server(server)


def request(server: Server, who: str, method: str, path: str, body: dict | None = None) -> int:
    with server.client(CALLERS[who]) as client:
        return client.request(method, path, json=body).status_code


NEW_REQUEST = {
    "principal_id": OPEN_CYCLE,
    "relationship": "sibling",
    "kinship_proof": {"reference": "KIN-9", "score": 0.95},
    "scopes": ["view_status"],
}
LIVENESS = {"reference": "FACE-1", "score": 0.97}
DECISION = {"approve": True, "reason": "the couple share the account by choice"}
UNAUTHENTICATED = {"none": 401, "bad": 401, "expired": 401}

# route -> expected status per caller (callers without a token always get 401, except healthz).
MATRIX: dict[tuple[str, str], dict[str, int]] = {
    ("GET", "/v1/persons/{self}"): {
        "self": 200, "proxy": 200, "stranger": 404, "caseworker_in": 200,
        "caseworker_out": 404, "auditor": 200, "operator": 403,
    },
    ("GET", "/v1/persons/{self}/history"): {
        "self": 200, "proxy": 200, "stranger": 404, "caseworker_in": 200,
        "caseworker_out": 404, "auditor": 200, "operator": 403,
    },
    ("GET", "/v1/persons/{self}/history/{n}/explain"): {
        "self": 200, "proxy": 200, "stranger": 404, "caseworker_in": 200,
        "caseworker_out": 404, "auditor": 200, "operator": 403,
    },
    ("GET", "/v1/persons/{self}/payments"): {
        "self": 200, "proxy": 200, "stranger": 404, "caseworker_in": 200,
        "caseworker_out": 404, "auditor": 200, "operator": 403,
    },
    ("GET", "/v1/persons/{self}/notifications"): {
        "self": 200, "proxy": 404, "stranger": 404, "caseworker_in": 200,
        "caseworker_out": 404, "auditor": 200, "operator": 403,
    },
    ("GET", "/v1/persons/{self}/access-log"): {
        "self": 200, "proxy": 404, "stranger": 404, "caseworker_in": 403,
        "caseworker_out": 403, "auditor": 200, "operator": 403,
    },
    ("GET", "/v1/persons/NOBODY/access-log"): {
        "self": 404, "proxy": 404, "stranger": 404, "caseworker_in": 403,
        "caseworker_out": 403, "auditor": 404, "operator": 403,
    },
    ("GET", "/v1/access-log"): {
        "self": 403, "proxy": 403, "stranger": 403, "caseworker_in": 403,
        "caseworker_out": 403, "auditor": 200, "operator": 403,
    },
    ("GET", "/v1/persons/NOBODY"): {
        "self": 404, "proxy": 404, "stranger": 404, "caseworker_in": 404,
        "caseworker_out": 404, "auditor": 404, "operator": 403,
    },
    ("POST", "/v1/persons/{cycle}/liveness-checks"): {
        "self": 404, "proxy": 404, "stranger": 201, "caseworker_in": 403,
        "caseworker_out": 403, "auditor": 403, "operator": 403,
    },
    ("POST", "/v1/proxy-requests"): {
        "self": 201, "proxy": 201, "stranger": 201, "caseworker_in": 403,
        "caseworker_out": 403, "auditor": 403, "operator": 403,
    },
    ("GET", "/v1/proxy-requests/{grant}"): {
        "self": 200, "proxy": 200, "stranger": 404, "caseworker_in": 200,
        "caseworker_out": 404, "auditor": 200, "operator": 403,
    },
    ("GET", "/v1/proxies"): {
        "self": 200, "proxy": 200, "stranger": 200, "caseworker_in": 403,
        "caseworker_out": 403, "auditor": 403, "operator": 403,
    },
    ("DELETE", "/v1/proxies/{revocable}"): {
        "self": 200, "proxy": 200, "stranger": 404, "caseworker_in": 200,
        "caseworker_out": 404, "auditor": 403, "operator": 403,
    },
    ("GET", "/v1/reviews"): {
        "self": 403, "proxy": 403, "stranger": 403, "caseworker_in": 200,
        "caseworker_out": 200, "auditor": 200, "operator": 403,
    },
    ("POST", "/v1/reviews/{item}/decision"): {
        "self": 403, "proxy": 403, "stranger": 403, "caseworker_out": 404,
        "auditor": 403, "operator": 403, "caseworker_in": 201,
    },
    ("GET", "/v1/kpis"): {
        "self": 403, "proxy": 403, "stranger": 403, "caseworker_in": 200,
        "caseworker_out": 200, "auditor": 200, "operator": 200,
    },
    ("GET", "/v1/summary"): {
        "self": 403, "proxy": 403, "stranger": 403, "caseworker_in": 200,
        "caseworker_out": 200, "auditor": 200, "operator": 200,
    },
}  # fmt: skip
BODIES = {
    "/v1/persons/{cycle}/liveness-checks": LIVENESS,
    "/v1/proxy-requests": NEW_REQUEST,
    "/v1/reviews/{item}/decision": DECISION,
}
CELLS = [
    (method, path, who, expected)
    for (method, path), row in MATRIX.items()
    for who, expected in (row | UNAUTHENTICATED).items()
]


@pytest.mark.parametrize(("method", "path", "who", "expected"), CELLS)
def test_access_matrix(world: dict, method: str, path: str, who: str, expected: int) -> None:
    concrete = path.format(
        self=SELF,
        cycle=OPEN_CYCLE,
        grant=world["grant"],
        revocable=world["revocable"],
        item=world["item"],
        n=1,
    )
    status = request(world["server"], who, method, concrete, BODIES.get(path))
    assert status == expected, f"{who} {method} {concrete}"


def test_every_route_of_the_spec_is_in_the_matrix(world: dict) -> None:
    with world["server"].client() as client:
        spec = client.get("/openapi.json").json()
    routes = {
        (method.upper(), path)
        for path, operations in spec["paths"].items()
        for method in operations
        if path not in ("/healthz", "/v1/writes/{write_id}")
    }
    named = {
        (m, p.replace("{self}", "{person_id}").replace("{cycle}", "{person_id}")) for m, p in MATRIX
    }
    named = {
        (m, p.replace("{grant}", "{request_id}").replace("{revocable}", "{request_id}"))
        for m, p in named
    }
    named = {(m, p.replace("{item}", "{item_id}").replace("{n}", "{number}")) for m, p in named}
    assert routes <= named | {("GET", "/v1/persons/{person_id}")}


def test_healthz_needs_no_token(world: dict) -> None:
    with world["server"].client() as client:
        assert client.get("/healthz").json()["status"] == "ok"


def test_errors_have_one_shape(world: dict) -> None:
    with world["server"].client(CALLERS["operator"]) as client:
        for response in (
            client.get(f"/v1/persons/{SELF}"),
            client.get("/v1/nowhere"),
            client.post("/v1/proxy-requests", json={"principal_id": 3}),
        ):
            error = response.json()["error"]
            assert set(error) == {"code", "message"}
    with world["server"].client() as client:
        assert client.get(f"/v1/persons/{SELF}").json()["error"]["code"] == "unauthorized"


def test_personal_data_is_minimised_per_caller(world: dict) -> None:
    server = world["server"]
    with server.client(CALLERS["self"]) as client:
        own = client.get(f"/v1/persons/{SELF}").json()
    national_id = own["national_id"]
    assert len(national_id) == 18 and "*" not in national_id
    assert own["name"] == NATIONAL_ID_NAME
    seen = {}
    for who in ("proxy", "caseworker_in", "auditor"):
        with server.client(CALLERS[who]) as client:
            response = client.get(f"/v1/persons/{SELF}")
            payments = client.get(f"/v1/persons/{SELF}/payments").text
        seen[who] = response.json()
        assert national_id not in response.text and national_id not in payments
        assert seen[who]["national_id"] == "*" * 14 + national_id[-4:]
    # The full name, like the full national ID, only in the person's own record (read from the
    # event store: the read model keeps the name masked).
    for who in ("proxy", "caseworker_in", "auditor"):
        assert seen[who]["name"] == NATIONAL_ID_NAME[0] + "*" * (len(NATIONAL_ID_NAME) - 1)
        assert NATIONAL_ID_NAME not in json.dumps(seen[who], ensure_ascii=False)
    for doc in (own, *seen.values()):
        assert doc["bank_account"].startswith("************")
