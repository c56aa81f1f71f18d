"""The case API's own metrics on its `GET /metrics` (the mechanism: `ictg_common.telemetry`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import get_args

from prometheus_client import Counter

from ictg_common.contracts import SlaClock
from ictg_common.telemetry import Telemetry


def install(telemetry: Telemetry) -> Callable[[str, int], None]:
    """`ictg_sla_breaches_total{clock}`: deadlines this process found missed (each `sla.breached` it
    emitted, counted once its transaction committed). A counter kept in process, not a count of the
    `sla_breach` table at scrape time: that table only grows, and counting it on every scrape of
    every replica would cost more each day. Per process like every counter: aggregate with
    `sum(increase(...))`; it restarts at 0 with the process, which `increase` allows for.
    Reconciliation with intake reports through `Telemetry.reconciled` (`admin/schedule.py`).
    Returns what the SLA watcher tells of the breaches it committed (clock, how many)."""
    breaches = Counter(
        "ictg_sla_breaches",
        "Deadlines this process found missed (sla.breached emitted, once per case and clock), by clock.",
        ["clock"],
        registry=telemetry.registry,
    )
    for clock in get_args(SlaClock):  # every series from the start, at 0
        breaches.labels(clock)

    def breached(clock: str, count: int) -> None:
        breaches.labels(clock).inc(count)

    return breached
