"""webhooks: a durable consumer of every event turns it into deliveries; a worker signs and sends them."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from ictg_common.audit import audit_router
from ictg_common.consumer import Consumer
from ictg_common.runtime import Runtime
from ictg_common.service import create_service_app

from . import sender
from .deliveries.endpoints import router as deliveries_router
from .models import SCHEMA, audit
from .observability import install as install_metrics
from .routing import route, route_all
from .runtime import WebhooksExtras
from .settings import WebhooksSettings
from .subscriptions.endpoints import router
from .worker import Worker

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: WebhooksSettings | None = None) -> FastAPI:
    settings = settings or WebhooksSettings()

    async def extras(app: FastAPI, core: Runtime[WebhooksSettings, None]) -> WebhooksExtras:
        metrics = install_metrics(core.telemetry, core.engine)
        worker = Worker(core.sessionmaker, settings, metrics=metrics)
        return WebhooksExtras(client=sender.Pool(8), worker=worker, delivery_metrics=metrics)

    return create_service_app(
        name="webhooks",
        title="ICTG webhooks",
        settings=settings,
        schema=SCHEMA,
        routers=[router, deliveries_router, audit_router(audit)],
        consumers=[
            Consumer(
                name="webhooks-all",
                filter_subjects=[f"{settings.subject_prefix}.>"],
                handler=route,
                batch_handler=route_all,  # a fetched batch: stored and its deliveries made in a few statements
            )
        ],
        extras=extras,
    )
