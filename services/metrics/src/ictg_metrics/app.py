"""metrics: stores every event and answers the analysts' aggregate questions."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from ictg_common.audit import audit_router
from ictg_common.consumer import Consumer
from ictg_common.db import connection_settings
from ictg_common.runtime import Runtime
from ictg_common.service import create_service_app

from .admin.endpoints import router as admin_router
from .admin.reconcile import cases_client
from .children.endpoints import router
from .children.store import record_event, record_events
from .dashboard.endpoints import router as dashboard_router
from .disclosure.cellkey import DEFAULT_PTABLE, RECORD_KEY_MODULUS, load_ptable
from .models import SCHEMA, audit
from .observability import install as install_metrics
from .releases.endpoints import router as releases_router
from .releases.schedule import ReleaseSchedule
from .runtime import MetricsExtras
from .settings import MetricsSettings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"

# Every aggregate query scans `metrics.child`: let Postgres share a scan among parallel workers once the table
# is large (`min_parallel_table_scan_size`, 8 MB, about 6,000 children), where its default costs kept most
# grouped queries on one core. At 100,000 children on 2 cores: timeliness by region 162 → 126 ms, caseload
# by region 90 → 69 ms (`make bench`).
PARALLEL_SCANS = connection_settings(parallel_setup_cost=10, parallel_tuple_cost=0.001)


def create_app(
    settings: MetricsSettings | None = None, *, cases_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """`cases_transport` lets in-process tests route reconciliation to a case API app."""
    settings = settings or MetricsSettings()
    cases = cases_client(settings, transport=cases_transport)

    ptable = load_ptable(Path(settings.ptable)) if settings.ptable else DEFAULT_PTABLE
    if ptable.key_modulus != RECORD_KEY_MODULUS:  # cell keys are summed mod 256 in SQL: the ptable must agree
        raise ValueError(
            f"ICTG_METRICS_PTABLE: the ptable's cell keys run 0..{ptable.key_modulus - 1}, but metrics' cell keys "
            f"run 0..{RECORD_KEY_MODULUS - 1} (ONS's ptables, e.g. the 10-5 one, have a row for each)"
        )

    async def extras(app: FastAPI, core: Runtime[MetricsSettings, None]) -> MetricsExtras:
        install_metrics(core.telemetry, core.engine)  # its freshness on GET /metrics
        return MetricsExtras(ptable=ptable, cases=cases, release_schedule=ReleaseSchedule(app))

    return create_service_app(
        name="metrics",
        title="ICTG metrics",
        settings=settings,
        schema=SCHEMA,
        routers=[router, releases_router, dashboard_router, admin_router, audit_router(audit)],
        consumers=[
            Consumer(
                name="metrics-all",
                filter_subjects=[f"{settings.subject_prefix}.>"],
                handler=record_event,
                batch_handler=record_events,  # a fetched batch: each child refolded or updated once
            )
        ],
        publishes=False,
        engine_setup=[PARALLEL_SCANS],
        extras=extras,
    )
