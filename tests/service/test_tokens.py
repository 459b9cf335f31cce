"""Tokens as an external identity provider issues them: verified against a public key file
(EdDSA, RS256), with issuer and audience checked; `benefits token` with a shared secret."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from tests.cli import cli
from tests.service.conftest import SELF, build_store, start_server, stop_server


def claims(**extra: object) -> dict:
    now = datetime.now(UTC)
    return {"sub": SELF, "role": "citizen", "iat": now, "exp": now + timedelta(minutes=5)} | extra


def test_tokens_from_an_identity_provider_are_checked_with_its_public_key(tmp_path: Path) -> None:
    ed_key = ed25519.Ed25519PrivateKey.generate()
    public = ed_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "idp.pem").write_bytes(public)
    server = start_server(
        build_store(tmp_path),
        tmp_path,
        BENEFITS_JWT_SECRET="",
        BENEFITS_JWT_PUBLIC_KEY=str(tmp_path / "idp.pem"),
        BENEFITS_JWT_ISSUER="https://idp.example",
        BENEFITS_JWT_AUDIENCE="benefits-api",
    )
    good = claims(iss="https://idp.example", aud="benefits-api")
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tokens = {
        "valid": (jwt.encode(good, ed_key, algorithm="EdDSA"), 200),
        "wrong audience": (jwt.encode(good | {"aud": "other"}, ed_key, algorithm="EdDSA"), 401),
        "wrong issuer": (
            jwt.encode(good | {"iss": "https://evil"}, ed_key, algorithm="EdDSA"),
            401,
        ),
        "another key": (jwt.encode(good, other_key, algorithm="RS256"), 401),
        "shared secret": (
            jwt.encode(good, "a-guessed-shared-secret-of-32-bytes!", algorithm="HS256"),
            401,
        ),
        "expired": (
            jwt.encode(good | {"exp": datetime.now(UTC) - timedelta(minutes=1)}, ed_key, "EdDSA"),
            401,
        ),
        "no role": (
            jwt.encode({k: v for k, v in good.items() if k != "role"}, ed_key, "EdDSA"),
            401,
        ),
    }
    try:
        for name, (token, expected) in tokens.items():
            with server.client(token) as client:
                response = client.get(f"/v1/persons/{SELF}")
            assert response.status_code == expected, name
            if expected == 401:
                assert response.json()["error"]["code"] == "unauthorized"
                assert response.headers["www-authenticate"] == "Bearer"
    finally:
        stop_server(server)


def test_benefits_token_prints_only_a_token_the_server_accepts(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("BENEFITS_JWT_SECRET", "a-local-secret-of-enough-length-0123456789")
    store = build_store(tmp_path)
    code, output = cli(
        "token", "--sub", SELF, "--role", "citizen", "--ttl", "30m", "--store", store
    )
    assert code == 0
    token = output.strip()
    assert "\n" not in token and token.count(".") == 2
    decoded = jwt.decode(token, "a-local-secret-of-enough-length-0123456789", algorithms=["HS256"])
    assert (decoded["sub"], decoded["role"]) == (SELF, "citizen")
    assert 29 * 60 <= decoded["exp"] - decoded["iat"] <= 30 * 60
    code, output = cli("token", "--sub", "cw", "--role", "boss", "--store", store)
    assert code == 2 and output.startswith("error: --role must be one of")
    code, output = cli(
        "token", "--sub", "cw", "--role", "caseworker", "--regions", "1", "--store", store
    )
    assert code == 2 and "--regions" in output
