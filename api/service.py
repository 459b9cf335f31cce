"""The service's shared parts: the store, the token keys, the clock and the write path, handed to
routes as FastAPI dependencies; idempotent writes; errors as ``{"error": {"code", "message"}}``."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse

from api.access import Forbidden, NotVisible
from api.access_log import AccessLog
from api.auth import Caller, KeyConfig, Unauthorized
from api.views import Error
from api.writes import (
    WRITES_SCHEMA,
    InvalidWrite,
    KafkaWrites,
    StoreBusyNow,
    StoreWrites,
    Submitted,
    life_event,
)
from domain.pensioner import GoldenRecord
from engine.wiring import Engine
from projections.status import ReadModelView

log = logging.getLogger("benefits.service")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def today_from_environment() -> Callable[[], date]:
    """The service's day: ``BENEFITS_TODAY`` (YYYY-MM-DD, for demos and tests) or UTC today."""
    fixed = os.environ.get("BENEFITS_TODAY")
    if fixed:
        day = date.fromisoformat(fixed)
        return lambda: day
    return lambda: datetime.now(UTC).date()


@dataclass
class Service:
    engine: Engine
    store_url: str
    keys: KeyConfig
    today: Callable[[], date]
    store_writes: StoreWrites | None = None
    kafka_writes: KafkaWrites | None = None
    access_log: AccessLog = field(init=False)

    def __post_init__(self) -> None:
        with self.view.database.transaction() as cursor:
            for statement in WRITES_SCHEMA:
                cursor.execute(statement)
        # The keyed hash the read models use, so both name the same text alike.
        self.access_log = AccessLog(self.view.database, self.engine.projection.token)

    @property
    def view(self) -> ReadModelView:
        return self.engine.view

    @property
    def mode(self) -> str:
        return "kafka" if self.kafka_writes is not None else "store"

    def person(self, person_id: str) -> dict[str, Any] | None:
        return self.view.person(person_id, self.today())

    def particulars(self, person_id: str) -> GoldenRecord | None:
        """The person's registered particulars in full (national ID, name), from the event store:
        the read model keeps only the ID's last four and the name masked."""
        pensioner = self.engine.intake.pensioner(person_id)
        return pensioner.record if pensioner is not None else None

    async def write(
        self, caller: Caller, kind: str, person_id: str, event_id: str, data: dict[str, Any]
    ) -> Submitted:
        """Write one life event through the intake (embedded) or the topic (Kafka mode)."""
        today = self.today()
        try:
            message = life_event(kind, person_id, today, event_id, data)
        except InvalidWrite as exc:
            raise ApiError(422, "invalid", str(exc)) from None
        if self.kafka_writes is not None:
            submitted = await self.kafka_writes.produce(message)
        else:
            assert self.store_writes is not None
            try:
                submitted = self.store_writes.submit(message, today)
            except StoreBusyNow as exc:
                raise ApiError(503, "store_busy", str(exc)) from None
        with self.view.database.transaction() as cursor:
            cursor.execute(
                "INSERT INTO service_writes (write_id, caller, person_id, event_id, type,"
                " created_on) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (write_id) DO NOTHING",
                (event_id, caller.sub, person_id, event_id, kind, today.isoformat()),
            )
        return submitted

    def write_record(self, write_id: str) -> dict[str, str] | None:
        with self.view.database.transaction() as cursor:
            row = cursor.execute(
                "SELECT caller, person_id, event_id, type FROM service_writes WHERE write_id = ?",
                (write_id,),
            ).fetchone()
        if row is None:
            return None
        return dict(zip(("caller", "person_id", "event_id", "type"), row, strict=True))

    async def idempotent(
        self,
        caller: Caller,
        key: str | None,
        request: Any,
        respond: Callable[[], Awaitable[JSONResponse]],
    ) -> JSONResponse:
        """A repeat with the same ``Idempotency-Key`` returns the first answer; the same key with
        another request is refused."""
        if key is None:
            return await respond()
        body = json.dumps(request, sort_keys=True, default=str)
        digest = hashlib.sha256(body.encode()).hexdigest()
        with self.view.database.transaction() as cursor:
            row = cursor.execute(
                "SELECT request_hash, status, body FROM service_idempotency"
                " WHERE caller = ? AND idempotency_key = ?",
                (caller.sub, key),
            ).fetchone()
        if row is not None:
            if row[0] != digest:
                raise ApiError(
                    422,
                    "idempotency_key_reused",
                    "this Idempotency-Key was used for another request",
                )
            return JSONResponse(
                json.loads(row[2]), status_code=int(row[1]), headers={"Idempotent-Replay": "true"}
            )
        response = await respond()
        if response.status_code < 500:
            with self.view.database.transaction() as cursor:
                cursor.execute(
                    "INSERT INTO service_idempotency (caller, idempotency_key, request_hash,"
                    " status, body) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT (caller, idempotency_key) DO NOTHING",
                    (caller.sub, key, digest, response.status_code, response.body.decode()),
                )
        return response


def service(request: Request) -> Service:
    return request.app.state.service


def caller(request: Request, authorization: Annotated[str | None, Header()] = None) -> Caller:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("send a bearer token: Authorization: Bearer <token>")
    who = request.app.state.service.keys.verify(authorization.split(None, 1)[1].strip())
    request.state.caller = who  # for the access log, which records staff reads as answered
    return who


ServiceDep = Annotated[Service, Depends(service)]
CallerDep = Annotated[Caller, Depends(caller)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Repeat a write with the same key to get the first answer back.",
    ),
]

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Error, "description": text}
    for status, text in (
        (401, "No, bad or expired token"),
        (403, "This role cannot use this route"),
        (404, "Not found, or not visible to the caller"),
        (422, "The request breaks the rules"),
        (503, "The store is busy (a `benefits run` is writing); try again"),
    )
}


def install_error_handlers(app: Any) -> None:
    from fastapi.exceptions import RequestValidationError
    from starlette.exceptions import HTTPException

    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return error(exc.status, exc.code, exc.message)

    @app.exception_handler(Unauthorized)
    async def _unauthorized(_: Request, exc: Unauthorized) -> JSONResponse:
        response = error(401, "unauthorized", str(exc))
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return error(403, "forbidden", str(exc) or "this role cannot use this route")

    @app.exception_handler(NotVisible)
    async def _not_visible(_: Request, exc: NotVisible) -> JSONResponse:
        return error(404, "not_found", "no such resource")

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for problem in exc.errors()[:5]:
            where = ".".join(str(p) for p in problem.get("loc", ()) if p != "body")
            parts.append(f"{where}: {problem.get('msg', 'invalid')}" if where else problem["msg"])
        return error(422, "invalid", "; ".join(parts)[:300] or "invalid request")

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return error(exc.status_code, codes.get(exc.status_code, "error"), str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected %s", type(exc).__name__, exc_info=exc)
        return error(500, "internal_error", "an unexpected error; it has been logged")
