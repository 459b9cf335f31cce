"""Who is calling: bearer tokens (signed JWTs) verified with PyJWT.

A token carries ``sub``, ``role``, ``exp`` and, for staff, ``regions`` (6-digit region codes or a
2- or 4-digit prefix). The key comes from ``BENEFITS_JWT_SECRET`` (HS256) or a public key file
``BENEFITS_JWT_PUBLIC_KEY`` (RS256 or EdDSA, as an external identity provider issues); issuer and
audience are checked when configured. Without either, an embedded (SQLite) store gets a secret of
its own in a file beside it, readable by its owner only, shared by `benefits serve` and
`benefits token`.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt

from engine.errors import SettingInvalid
from engine.settings import eventsourcing_environment

ROLES = ("citizen", "caseworker", "auditor", "operator")
STAFF = ("caseworker", "auditor", "operator")
REGION_PREFIX = re.compile(r"[0-9]{2}(?:[0-9]{2}){0,2}")


class Unauthorized(Exception):
    """No usable token: 401."""


@dataclass(frozen=True)
class Caller:
    sub: str
    role: str
    regions: tuple[str, ...] = ()

    def covers(self, region: str | None) -> bool:
        """A caseworker's token covers a person whose region starts with one of its prefixes."""
        return region is not None and any(region.startswith(p) for p in self.regions)


@dataclass(frozen=True)
class KeyConfig:
    """How tokens are verified (and, with a secret, minted)."""

    verify_key: Any
    algorithms: tuple[str, ...]
    signing_key: str | None
    issuer: str | None = None
    audience: str | None = None

    def verify(self, token: str) -> Caller:
        options = {"require": ["sub", "exp"]}
        try:
            claims = jwt.decode(
                token,
                self.verify_key,
                algorithms=list(self.algorithms),
                issuer=self.issuer,
                audience=self.audience,
                options=options,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("the token has expired") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"the token is not valid: {exc}") from None
        role = claims.get("role")
        if role not in ROLES:
            raise Unauthorized(f"the token's role must be one of {', '.join(ROLES)}")
        regions = claims.get("regions") or []
        if isinstance(regions, str):
            regions = [r for r in re.split(r"[,\s]+", regions) if r]
        if not isinstance(regions, list) or not all(
            isinstance(r, str) and REGION_PREFIX.fullmatch(r) for r in regions
        ):
            raise Unauthorized("the token's regions must be 2-, 4- or 6-digit region codes")
        return Caller(sub=str(claims["sub"]), role=role, regions=tuple(regions))

    def mint(self, sub: str, role: str, regions: tuple[str, ...], ttl: timedelta) -> str:
        if self.signing_key is None:
            raise SettingInvalid(
                "tokens are verified with a public key here: an identity provider issues them;"
                " set BENEFITS_JWT_SECRET to mint local ones"
            )
        if role not in ROLES:
            raise SettingInvalid(f"--role must be one of {', '.join(ROLES)}, got {role!r}")
        for region in regions:
            if not REGION_PREFIX.fullmatch(region):
                raise SettingInvalid(f"--regions takes 2-, 4- or 6-digit codes, got {region!r}")
        now = datetime.now(UTC)
        claims: dict[str, Any] = {"sub": sub, "role": role, "iat": now, "exp": now + ttl}
        if regions:
            claims["regions"] = list(regions)
        if self.issuer:
            claims["iss"] = self.issuer
        if self.audience:
            claims["aud"] = self.audience
        return jwt.encode(claims, self.signing_key, algorithm="HS256")


def key_config(store_url: str, environ: dict[str, str] | None = None) -> KeyConfig:
    """The token keys for a store, from the environment (or the embedded store's own secret)."""
    env = os.environ if environ is None else environ
    issuer = env.get("BENEFITS_JWT_ISSUER") or None
    audience = env.get("BENEFITS_JWT_AUDIENCE") or None
    secret = env.get("BENEFITS_JWT_SECRET")
    public_key = env.get("BENEFITS_JWT_PUBLIC_KEY")
    if secret:
        return KeyConfig(secret, ("HS256",), secret, issuer, audience)
    if public_key:
        try:
            pem = Path(public_key).read_text()
        except OSError as exc:
            raise SettingInvalid(
                f"BENEFITS_JWT_PUBLIC_KEY: cannot read {public_key}: {exc}"
            ) from None
        return KeyConfig(pem, ("RS256", "EdDSA"), None, issuer, audience)
    sqlite = eventsourcing_environment(store_url).get("SQLITE_DBNAME")
    if sqlite is None:
        raise SettingInvalid(
            "set BENEFITS_JWT_SECRET (or BENEFITS_JWT_PUBLIC_KEY) to serve a PostgreSQL store"
        )
    secret = _local_secret(Path(f"{sqlite}.jwt-secret"))
    return KeyConfig(secret, ("HS256",), secret, issuer, audience)


def _local_secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secret + "\n")
    print(
        f"note: no BENEFITS_JWT_SECRET set; created a signing secret for this store in {path}",
        file=sys.stderr,
    )
    return secret


def parse_ttl(value: str) -> timedelta:
    """``30m``, ``1h``, ``7d`` or a number of seconds."""
    match = re.fullmatch(r"([0-9]+)([smhd]?)", value.strip())
    if not match or int(match[1]) == 0:
        raise SettingInvalid(f"--ttl must be like 30m, 1h or 7d, got {value!r}")
    unit = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[match[2]]
    return timedelta(seconds=int(match[1]) * unit)
