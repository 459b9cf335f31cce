"""Schemathesis runs the service's own OpenAPI spec against a real `benefits serve` with valid
tokens: no request may cause a 5xx or a response that breaks the spec."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.service.conftest import SELF, Server, build_store, start_server, stop_server, token

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    content_type_conformance,
    status_code_conformance,
]
TOKENS = {
    "citizen": token(SELF, "citizen", ttl=3600 * 4),
    "caseworker": token("cw-all", "caseworker", ("11", "31", "44"), ttl=3600 * 4),
    "auditor": token("aud-1", "auditor", ttl=3600 * 4),
}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder: Path = tmp_path_factory.mktemp("schemathesis")
    server = start_server(build_store(folder), folder)
    try:
        yield server
    finally:
        stop_server(server)


SETTINGS = settings(
    max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


@pytest.mark.parametrize("role", sorted(TOKENS))
def test_no_5xx_and_every_response_follows_the_spec(running: Server, role: str) -> None:
    schema = schemathesis.openapi.from_url(f"{running.url}/openapi.json")
    headers = {"Authorization": f"Bearer {TOKENS[role]}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:

        @SETTINGS
        @given(case=operation.as_strategy())
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)

        call()
