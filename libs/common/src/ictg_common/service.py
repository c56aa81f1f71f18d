"""The one way a service app is built: lifespan (engine, NATS, relay, consumers), errors, health."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from . import apidocs
from .auth import TokenVerifier
from .consumer import Consumer, ConsumerRunner
from .db import create_engine, create_sessionmaker
from .errors import install_error_handlers
from .http import GuardMiddleware
from .logs import configure_logging
from .natslink import NatsLink
from .outbox import OutboxRelay
from .queries import refuse_unknown_query
from .ratelimit import SharedRateLimiter
from .runtime import Extras, Runtime, RuntimeDep
from .settings import ServiceSettings
from .telemetry import Telemetry
from .telemetry import install as install_telemetry

S = TypeVar("S", bound=ServiceSettings)
# Builds a service's own running parts (`Runtime.extras`) from the app and its common running parts.
ExtrasFactory = Callable[[FastAPI, Runtime[S, None]], Awaitable[Extras]]

PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": desc,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status, desc in {
        400: "Malformed request",
        401: "Missing or invalid token",
        403: "Missing scope",
        413: "Body over 64 KiB",
        415: "Body not JSON",
        422: "Validation failed",
        429: "Rate limit exceeded",
        503: "A dependency is down",
    }.items()
}


def create_service_app(
    *,
    name: str,
    title: str,
    settings: S,
    schema: str,
    routers: Sequence[APIRouter],
    consumers: Sequence[Consumer] = (),
    publishes: bool = True,
    extras: ExtrasFactory[S] | None = None,
    engine_setup: Sequence[Callable[[AsyncEngine], None]] = (),
    bus: bool = True,
    form_paths: tuple[str, ...] = (),
) -> FastAPI:
    """Build a service. Everything with a connection starts in the lifespan, none at import.
    `engine_setup` runs on the engine as soon as it exists, before anything connects (pool events).
    `extras` builds the service's own running parts in the lifespan, once the common ones exist; the app's
    one runtime then carries them (`Runtime.extras`), started after the relay and consumers, stopped first.
    `bus=False`: a service that neither publishes nor consumes events (identity) does not connect to NATS."""
    if not bus and (publishes or consumers):
        raise ValueError("a service off the bus neither publishes nor consumes")

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(name, settings.log_level)
        core = build_runtime(
            settings, schema=schema, telemetry=telemetry, consumers=consumers, publishes=publishes, bus=bus,
            engine_setup=engine_setup,
        )  # fmt: skip
        # The one thing on app.state, read through `runtime_of` / `typed_runtime` and their dependencies, never
        # by name. The common parts first: the service's own may read them (its settings) while they are built.
        app.state.runtime = core
        own = None if extras is None else await extras(app, core)
        app.state.runtime = runtime = core.with_extras(own)
        if runtime.relay is not None:
            runtime.relay.start()
        for runner in runtime.consumers:
            runner.start()
        if own is not None:
            own.start()
        try:
            yield
        finally:
            if own is not None:
                await own.stop()
            for runner in runtime.consumers:
                await runner.stop()
            if runtime.relay is not None:
                await runtime.relay.stop()
            if runtime.nats is not None:
                await runtime.nats.close()
            await runtime.engine.dispose()

    app = FastAPI(
        title=title,
        version="1.0.0",
        lifespan=lifespan,
        responses=PROBLEM_RESPONSES,
        docs_url=None,  # served by `apidocs` from this service's own assets
        redoc_url=None,
    )
    install_error_handlers(app)
    app.add_middleware(GuardMiddleware, form_paths=form_paths)
    telemetry = install_telemetry(  # GET /metrics, tracing
        app,
        name=name,
        schema=schema,
        publishes=publishes,
        reading_seconds=settings.telemetry_reading_seconds,
        scrape_token=settings.scrape_token,
    )
    app.include_router(health_router())
    for router in routers:
        # Every list (every read) refuses query parameters it does not take: `ictg_common.queries`.
        app.include_router(router, dependencies=[Depends(refuse_unknown_query)])
    apidocs.install(app)
    return app


def build_runtime(
    settings: S,
    *,
    schema: str,
    telemetry: Telemetry,
    consumers: Sequence[Consumer],
    publishes: bool,
    bus: bool,
    engine_setup: Sequence[Callable[[AsyncEngine], None]],
) -> Runtime[S, None]:
    """A service's common running parts, their connections opening (the NATS link starts; nothing else runs yet).
    `engine_setup` runs on the engine as soon as it exists, before anything connects (pool events)."""
    engine = create_engine(settings.database_url)
    for setup in engine_setup:
        setup(engine)
    link = None
    if bus:
        link = NatsLink(
            settings.nats_url,
            stream=settings.nats_stream,
            subject_prefix=settings.subject_prefix,
            credentials=settings.nats_credentials,
            replicas=settings.nats_replicas,
        )
        link.start()
    sessionmaker = create_sessionmaker(engine)
    relay = None
    if publishes and link is not None:
        relay = OutboxRelay(
            engine, link, schema=schema, database_url=settings.database_url, poll_seconds=settings.relay_poll_seconds,
            sink=telemetry,
        )  # fmt: skip
    runners = [
        ConsumerRunner(
            dataclasses.replace(c, schema=c.schema or schema, max_deliver=c.max_deliver or settings.max_deliver),
            link=link,
            sessionmaker=sessionmaker,
            sink=telemetry,
        )
        for c in consumers
        if link is not None  # consumers exist only on the bus (checked when the app is built)
    ]
    for runner in runners:
        telemetry.consumes(runner.c.name)
    verifier = TokenVerifier(
        secret=settings.auth_secret,
        audience=settings.auth_audience,
        issuers=settings.auth_issuers,
        development=settings.auth_development,
        max_token_seconds=settings.auth_max_token_seconds,
    )
    limiter = SharedRateLimiter(
        settings.rate_limit_per_minute, engine=engine, schema=schema, fell_back=telemetry.rate_limit_fell_back,
        store_timeout=settings.rate_limit_store_timeout_seconds,
    )  # fmt: skip
    return Runtime(
        settings=settings, schema=schema, engine=engine, sessionmaker=sessionmaker, verifier=verifier,
        limiter=limiter, telemetry=telemetry, extras=None, nats=link,
        relay=relay, consumers=runners,
    )  # fmt: skip


def health_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", responses={503: PROBLEM_RESPONSES[503]})
    async def readyz(runtime: RuntimeDep) -> JSONResponse:
        link = runtime.nats
        checks = {"database": "ok"} | ({} if link is None else {"nats": "ok" if link.connected else "down"})
        try:
            async with runtime.engine.connect() as conn:
                await asyncio.wait_for(conn.execute(text("SELECT 1")), timeout=2)
        except Exception:  # noqa: BLE001 - any failure means not ready
            checks["database"] = "down"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": checks}, status_code=200 if ready else 503
        )

    return router


async def _session(runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: commit on success, roll back on error."""
    # Connection failures surface as OperationalError/OSError: the error handlers answer 503.
    async with runtime.sessionmaker() as session, session.begin():
        yield session


# scope="function": commit before the response is sent, so a 201 means committed.
SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]
