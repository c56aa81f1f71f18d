"""Webhook deliveries on the webhooks service's `GET /metrics` (the mechanism: `ictg_common.telemetry`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from ictg_common.telemetry import LATENCY_BUCKETS, Telemetry

from . import sender
from .models import DELIVERED, FAILED

OUTCOMES = ("delivered", "retrying", "failed", "gone", "dropped")
PENDING = text("SELECT count(*) AS n FROM webhooks.delivery WHERE status = 'pending'")


class DeliveryMetrics:
    """Each attempt by outcome, with its latency (per process); deliveries pending (at scrape time,
    the same on every replica: aggregate with `max`)."""

    def __init__(self, telemetry: Telemetry) -> None:
        r = telemetry.registry
        self.attempts = Counter(
            "ictg_webhook_attempts",
            "Delivery attempts by outcome: delivered (2xx), retrying (will be sent again), failed (gave up), "
            "gone (410: subscription disabled), dropped (the delivery was cancelled or deleted meanwhile).",
            ["outcome"],
            registry=r,
        )
        self.seconds = Histogram(
            "ictg_webhook_attempt_duration_seconds",
            "Time from sending a delivery to the receiver's answer (or the timeout), by outcome.",
            ["outcome"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.pending = Gauge("ictg_webhook_deliveries_pending", "Deliveries waiting to be sent or retried.", registry=r)
        for outcome in OUTCOMES:  # every series from the start, at 0
            self.attempts.labels(outcome)
            self.seconds.labels(outcome)

    def attempt(self, outcome: sender.Outcome, status: str | None) -> None:
        """Count one attempt; `status` is the delivery's status once it is recorded (None: gone meanwhile)."""
        if status is None:
            label = "dropped"
        elif outcome.ok and status == DELIVERED:
            label = "delivered"
        elif outcome.gone:
            label = "gone"
        elif status == FAILED:
            label = "failed"
        else:
            label = "retrying"
        self.attempts.labels(label).inc()
        self.seconds.labels(label).observe(outcome.latency_ms / 1000)


def install(telemetry: Telemetry, engine: AsyncEngine) -> DeliveryMetrics:
    """The delivery metrics on the service's registry, the pending deliveries read at scrape time."""
    metrics = DeliveryMetrics(telemetry)

    async def read() -> None:
        async with engine.connect() as conn:
            metrics.pending.set(int((await conn.execute(PENDING)).scalar_one()))

    telemetry.on_scrape(read)
    return metrics
