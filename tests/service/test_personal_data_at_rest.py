"""What the service writes beside the read models (the access log, its writes and their
idempotent answers) and its log hold no clear national ID, name or account, even when a caller
types a national ID where a person ID belongs."""

from __future__ import annotations

from pathlib import Path

from tests.personal_data import clear_in, personal_values
from tests.service.conftest import (
    PROXY,
    SELF,
    STRANGER,
    Server,
    proxy_request,
    store_events,
    token,
)
from tests.unit.test_store_bytes import on_disk


def test_the_service_leaves_no_clear_personal_data_in_its_tables_or_log(server: Server) -> None:
    values = personal_values(store_events())
    national_id = next(e["data"]["national_id"] for e in store_events() if e["person_id"] == SELF)
    caseworker, auditor = token("cw-11", "caseworker", ("11",)), token("aud-1", "auditor")
    with server.client(token(SELF, "citizen")) as client:
        own = client.get(f"/v1/persons/{SELF}").json()
        assert own["national_id"] == national_id  # the person themself sees it whole
    for who in (caseworker, auditor):
        with server.client(who) as client:
            for path in (SELF, f"{SELF}/payments", f"{SELF}/history", national_id, STRANGER):
                client.get(f"/v1/persons/{path}")
    with server.client(token(PROXY, "citizen")) as client:
        client.headers["Idempotency-Key"] = "ask-once"
        assert proxy_request(client, SELF, 0.95, ["view_status"]).status_code == 201
        client.headers["Idempotency-Key"] = "ask-by-national-id"
        assert proxy_request(client, national_id, 0.95, ["view_status"]).status_code == 404
    with server.client(auditor) as client:
        assert len(client.get("/v1/access-log").json()) >= 10

    database = Path(server.store.removeprefix("sqlite:///"))
    for name, blob in on_disk(database).items():
        assert clear_in(blob, values) == [], f"{name} while the service runs"
    assert clear_in(server.log.read_bytes(), values) == []
