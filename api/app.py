"""The HTTP service (`benefits serve`): a FastAPI application over the same store as every other
command, with versioned routes under ``/v1``, OpenAPI at ``/openapi.json`` and docs at ``/docs``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from api import audit, dashboard, kpis, persons, proxies, reviews, system
from api.access_log import AccessLogMiddleware
from api.auth import key_config
from api.service import Service, install_error_handlers, today_from_environment
from api.writes import KafkaWrites, StoreWrites
from engine.settings import Settings
from engine.wiring import open_engine


def create_app(store_url: str, writes: str = "store", settings: Settings | None = None) -> FastAPI:
    """The service over ``store_url``; ``writes`` is ``store`` (applied before the response) or
    ``kafka`` (produced to the life-events topic, applied by the worker)."""
    settings = settings or Settings.from_environment()
    keys = key_config(store_url)
    # No aggregate cache: `benefits run` or the worker may write the same people meanwhile.
    engine = open_engine(store_url, aggregate_cache=0, must_exist=True)
    service = Service(engine=engine, store_url=store_url, keys=keys, today=today_from_environment())
    if writes == "kafka":
        service.kafka_writes = KafkaWrites(
            settings.kafka_bootstrap_servers, settings.life_events_topic
        )
    else:
        service.store_writes = StoreWrites(engine, store_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if service.kafka_writes is not None:
            await service.kafka_writes.start()
        try:
            yield
        finally:
            if service.kafka_writes is not None:
                await service.kafka_writes.stop()
            engine.close()

    app = FastAPI(
        title="Proactive benefits engine",
        version="1",
        description="Status for citizens, family proxies and caseworkers; proxy requests and "
        "the review queue. Every write is a life event through the same intake as Kafka's.",
        lifespan=lifespan,
    )
    app.state.service = service
    install_error_handlers(app)
    app.add_middleware(AccessLogMiddleware)
    routers = (system.router, persons.router, audit.router, proxies.router, reviews.router)
    for router in (*routers, kpis.router):
        app.include_router(router)
    app.include_router(dashboard.router)
    return app
