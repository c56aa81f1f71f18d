"""The case API's own metrics on its `GET /metrics` (the mechanism: `ictg_common.telemetry`)."""

from __future__ import annotations

from typing import get_args

from fastapi import FastAPI
from prometheus_client import Gauge

from ictg_common.contracts import SlaClock
from ictg_common.telemetry import Telemetry

from .sla import repository as sla


def install(app: FastAPI) -> None:
    """SLA breaches recorded, by clock, counted in the database at scrape time (every replica reports
    the same figure: aggregate with `max`). Reconciliation with intake reports through
    `Telemetry.reconciled` (`admin/schedule.py`)."""
    telemetry: Telemetry = app.state.telemetry
    breaches = Gauge(
        "ictg_sla_breaches",
        "Deadlines missed (sla.breached emitted once per case and clock) so far, by clock.",
        ["clock"],
        registry=telemetry.registry,
    )

    async def read() -> None:
        async with app.state.sessionmaker() as session:
            counts = await sla.breach_counts(session)
        for clock in get_args(SlaClock):
            breaches.labels(clock).set(counts.get(clock, 0))

    telemetry.on_scrape(read)
