"""Metrics' own figures on its `GET /metrics` (the mechanism: `ictg_common.telemetry`)."""

from __future__ import annotations

import math
import time
from uuid import UUID

from prometheus_client import Gauge
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ictg_common.telemetry import Telemetry

# The newest event folded: every event is stored and folded in the same transaction (children/store.py).
NEWEST = text(
    "SELECT id, EXTRACT(EPOCH FROM stored_at) AS stored FROM metrics.event ORDER BY stored_at DESC, id DESC LIMIT 1"
)


def created_at(event_id: UUID, stored: float) -> float:
    """When the producer built the event (the millisecond time of its UUIDv7 id), else when it was stored."""
    return (event_id.int >> 80) / 1000 if event_id.version == 7 else stored


def install(telemetry: Telemetry, engine: AsyncEngine) -> None:
    """`ictg_metrics_freshness_seconds`: now minus the creation time of the newest event folded (NaN
    before the first). It grows while nothing happens; a consumer that is behind shows in
    `ictg_consumer_pending_messages{consumer="metrics-all"}`. Reconciliation with the case API
    (`GET /v1/admin/reconcile`) reports through `Telemetry.reconciled`."""
    freshness = Gauge(
        "ictg_metrics_freshness_seconds",
        "Now minus the creation time of the newest event the figures include (NaN before the first).",
        registry=telemetry.registry,
    )

    async def read() -> None:
        async with engine.connect() as conn:
            row = (await conn.execute(NEWEST)).one_or_none()
        freshness.set(math.nan if row is None else max(time.time() - created_at(row.id, float(row.stored)), 0.0))

    telemetry.on_scrape(read)
