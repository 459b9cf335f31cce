"""Who looked, against a real `benefits serve`: staff reads of a person's record are recorded with
who, when, which route and the outcome; the person sees them, an auditor sees everyone's, and the
log names no one by national ID or name."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from api.access_log import person_key
from projections.database import sqlite_path
from tests.cli import cli
from tests.service.conftest import (
    AFTER_DEATH,
    NATIONAL_ID_NAME,
    PROXY,
    SELF,
    SHARED_A,
    SHARED_B,
    STRANGER,
    Server,
    build_store,
    proxy_request,
    start_server,
    stop_server,
    token,
)

SELF_TOKEN = token(SELF, "citizen")
PROXY_TOKEN = token(PROXY, "citizen")
CASEWORKER = token("cw-0011", "caseworker", ("11",))
CASEWORKER_ELSEWHERE = token("cw-0044", "caseworker", ("44",))
AUDITOR = token("aud-0001", "auditor")
STATUS, HISTORY = "/v1/persons/{person_id}", "/v1/persons/{person_id}/history"
ACCESS_LOG = "/v1/persons/{person_id}/access-log"
PROXY_REQUEST, REVIEWS = "/v1/proxy-requests/{request_id}", "/v1/reviews"


def get(server: Server, who: str, path: str, **params: object) -> list | dict:
    with server.client(who) as client:
        response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    folder: Path = tmp_path_factory.mktemp("access_log")
    server = start_server(build_store(folder), folder)
    try:
        with server.client(PROXY_TOKEN) as proxy:
            assert proxy_request(proxy, SELF, 0.97, ["view_status"]).status_code == 201
            proxy.get(f"/v1/persons/{SELF}").raise_for_status()  # a citizen: not recorded
        own = get(server, SELF_TOKEN, f"/v1/persons/{SELF}")  # the person's own: not recorded
        started = datetime.now(UTC)
        get(server, CASEWORKER, f"/v1/persons/{SELF}")
        get(server, CASEWORKER, f"/v1/persons/{SELF}/history")
        get(server, AUDITOR, f"/v1/persons/{SELF}")
        yield {"server": server, "started": started, "national_id": own["national_id"]}
    finally:
        stop_server(server)


def staff_reads(entries: list) -> list:
    """The world's reads: answered, and not of the access log itself."""
    return [e for e in entries if e["route"] != ACCESS_LOG and e["status"] == 200]


def test_the_person_sees_the_staff_reads_of_their_record_newest_first(world: dict) -> None:
    entries = staff_reads(get(world["server"], SELF_TOKEN, f"/v1/persons/{SELF}/access-log"))
    assert [(e["by"], e["role"], e["route"], e["status"]) for e in entries] == [
        ("****0001", "auditor", STATUS, 200),
        ("***0011", "caseworker", HISTORY, 200),
        ("***0011", "caseworker", STATUS, 200),
    ]
    moments = [datetime.fromisoformat(e["at"]) for e in entries]
    assert all(world["started"] <= m <= datetime.now(UTC) for m in moments)
    assert moments == sorted(moments, reverse=True)


def test_an_auditor_sees_the_staff_subjects_whole_and_their_own_look_is_recorded(
    world: dict,
) -> None:
    server = world["server"]
    first = get(server, AUDITOR, f"/v1/persons/{SELF}/access-log")
    assert {e["by"] for e in staff_reads(first)} == {"cw-0011", "aud-0001"}
    again = get(server, AUDITOR, f"/v1/persons/{SELF}/access-log", limit=1)
    assert [(e["by"], e["route"]) for e in again] == [("aud-0001", ACCESS_LOG)]


def test_only_the_person_and_auditors_may_see_who_looked(world: dict) -> None:
    server = world["server"]
    path = f"/v1/persons/{SELF}/access-log"
    with server.client(token(STRANGER, "citizen")) as stranger:
        refused = stranger.get(path)
        other_route = stranger.get(f"/v1/persons/{SELF}")
    assert refused.status_code == other_route.status_code == 404
    assert refused.json() == other_route.json()
    with server.client(PROXY_TOKEN) as proxy:  # holds view_status for SELF: still not theirs
        assert proxy.get(path).status_code == 404
    with server.client(SELF_TOKEN) as own:
        assert own.get("/v1/access-log").status_code == 403
    with server.client(CASEWORKER) as caseworker:
        assert caseworker.get(path).status_code == 403
        assert caseworker.get("/v1/access-log").status_code == 403


def test_the_auditor_wide_view_filters_by_person_caller_and_time(world: dict) -> None:
    server = world["server"]
    by_caseworker = get(server, AUDITOR, "/v1/access-log", by="cw-0011")
    assert [(e["person_id"], e["route"]) for e in staff_reads(by_caseworker)] == [
        (SELF, HISTORY),
        (SELF, STATUS),
    ]
    assert get(server, AUDITOR, "/v1/access-log", by="cw-0011", limit=1, offset=1) == [
        by_caseworker[1]
    ]
    for_self = get(server, AUDITOR, "/v1/access-log", person_id=SELF)
    assert {e["person_id"] for e in for_self} == {SELF} and len(for_self) >= 3
    assert get(server, AUDITOR, "/v1/access-log", person_id=STRANGER) == []
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert get(server, AUDITOR, "/v1/access-log", since=later) == []
    since = world["started"].isoformat()
    assert by_caseworker == get(server, AUDITOR, "/v1/access-log", by="cw-0011", since=since)


def test_refused_staff_reads_are_recorded_with_their_outcome(world: dict) -> None:
    server = world["server"]
    with server.client(CASEWORKER_ELSEWHERE) as caseworker:
        assert caseworker.get(f"/v1/persons/{SELF}/payments").status_code == 404
    with server.client(token("op-0001", "operator")) as operator:
        assert operator.get(f"/v1/persons/{SELF}/history").status_code == 403
    with server.client(AUDITOR) as auditor:
        assert auditor.get(f"/v1/persons/{SELF}/history/0/explain").status_code == 422
    entries = get(server, AUDITOR, "/v1/access-log", person_id=SELF, limit=3)
    assert [(e["by"], e["route"], e["status"]) for e in entries] == [
        ("aud-0001", "/v1/persons/{person_id}/history/{number}/explain", 422),
        ("op-0001", HISTORY, 403),
        ("cw-0044", "/v1/persons/{person_id}/payments", 404),
    ]


def test_the_log_holds_no_national_id_or_name(world: dict) -> None:
    server, national_id = world["server"], world["national_id"]
    with server.client(CASEWORKER) as caseworker:  # a national ID typed where a person ID goes
        assert caseworker.get(f"/v1/persons/{national_id}").status_code == 404
    typed = get(server, AUDITOR, "/v1/access-log", by="cw-0011", limit=1)[0]
    assert typed["person_id"] is None and typed["status"] == 404
    rows = sqlite_rows(server.store)
    assert len(rows) >= 6
    stored = "".join(str(value) for row in rows for value in row).encode()
    for secret in (national_id, national_id[-8:], NATIONAL_ID_NAME, SELF):
        assert secret.encode() not in stored  # the person is named by their aggregate ID
    # Nor by anything that can be searched back: not the aggregate ID the typed text would make.
    assert person_key(national_id).encode() not in stored


def test_staff_reads_of_a_proxy_request_and_the_review_queue_are_recorded_per_person(
    server: Server,
) -> None:
    with server.client(PROXY_TOKEN) as proxy:  # below the threshold: waits in the queue
        request_id = proxy_request(proxy, SELF, 0.80, ["view_status"]).json()["request_id"]
        get(server, PROXY_TOKEN, f"/v1/proxy-requests/{request_id}")  # a citizen: not recorded
    get(server, SELF_TOKEN, f"/v1/proxy-requests/{request_id}")  # the principal's own: neither
    assert get(server, AUDITOR, "/v1/access-log") == []
    get(server, CASEWORKER, f"/v1/proxy-requests/{request_id}")
    queue = get(server, CASEWORKER, "/v1/reviews")
    with server.client(CASEWORKER_ELSEWHERE) as caseworker:
        assert caseworker.get(f"/v1/proxy-requests/{request_id}").status_code == 404
    listed = {item["person_id"] for item in queue} | {PROXY}  # the request's requester too
    assert {SELF, SHARED_A, SHARED_B, AFTER_DEATH} <= listed

    for who, person in ((SELF_TOKEN, SELF), (PROXY_TOKEN, PROXY)):
        own = get(server, who, f"/v1/persons/{person}/access-log")
        assert [(e["by"], e["route"], e["status"]) for e in own] == [
            ("***0044", PROXY_REQUEST, 404),
            ("***0011", REVIEWS, 200),
            ("***0011", PROXY_REQUEST, 200),
        ]

    refused = get(server, AUDITOR, "/v1/access-log", limit=2)
    assert sorted((e["person_id"], e["by"], e["route"], e["status"]) for e in refused) == [
        (PROXY, "cw-0044", PROXY_REQUEST, 404),
        (SELF, "cw-0044", PROXY_REQUEST, 404),
    ]
    by_caseworker = get(server, AUDITOR, "/v1/access-log", by="cw-0011")
    read_queue = [e for e in by_caseworker if e["route"] == REVIEWS]
    assert sorted(e["person_id"] for e in read_queue) == sorted(listed)  # one entry each
    assert {(e["role"], e["status"]) for e in read_queue} == {("caseworker", 200)}
    read_request = [(e["person_id"], e["status"]) for e in by_caseworker[len(read_queue) :]]
    assert sorted(read_request) == [(PROXY, 200), (SELF, 200)]

    shared = get(server, AUDITOR, f"/v1/persons/{SHARED_A}/access-log")
    assert [(e["by"], e["route"]) for e in shared] == [
        ("aud-0001", "/v1/access-log"),  # the auditor's look by cw-0011 above showed them too
        ("cw-0011", REVIEWS),
    ]


def sqlite_rows(store: str) -> list[tuple]:
    with sqlite3.connect(sqlite_path(store)) as connection:
        return connection.execute("SELECT * FROM access_log ORDER BY id").fetchall()


def test_benefits_rebuild_keeps_the_access_log(server: Server) -> None:
    get(server, CASEWORKER, f"/v1/persons/{SELF}")
    stop_server(server)
    before = sqlite_rows(server.store)
    code, output = cli("rebuild", "--store", server.store)
    assert code == 0, output
    assert sqlite_rows(server.store) == before and len(before) == 1


def test_a_staff_read_that_cannot_be_recorded_is_refused(server: Server) -> None:
    with server.client(PROXY_TOKEN) as proxy:
        request_id = proxy_request(proxy, SELF, 0.80, ["view_status"]).json()["request_id"]
    with sqlite3.connect(sqlite_path(server.store)) as connection:
        connection.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON access_log BEGIN SELECT RAISE(ABORT, 'no'); END"
        )
    for path in (f"/v1/persons/{SELF}", f"/v1/proxy-requests/{request_id}", "/v1/reviews"):
        with server.client(CASEWORKER) as caseworker:  # the server closes after a 500
            refused = caseworker.get(path)
        assert refused.status_code == 500, path
        assert NATIONAL_ID_NAME not in refused.text and SELF not in refused.text
    with server.client(SELF_TOKEN) as own:  # a citizen's own reads are not recorded: still served
        assert own.get(f"/v1/persons/{SELF}").status_code == 200
        assert own.get(f"/v1/proxy-requests/{request_id}").status_code == 200
