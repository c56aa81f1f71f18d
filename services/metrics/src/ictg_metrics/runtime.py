"""Metrics' runtime, typed: its settings and its own running parts (`ictg_common.runtime`)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI

from ictg_common.runtime import Runtime, runtime_dependency, typed_runtime

from .settings import MetricsSettings

if TYPE_CHECKING:
    from ictg_common.peer import PeerClient

    from .disclosure.cellkey import Ptable
    from .releases.schedule import ReleaseSchedule


@dataclass(frozen=True)
class MetricsExtras:
    """What metrics runs besides the common parts."""

    ptable: Ptable  # the cell key method's perturbation table (ICTG_METRICS_PTABLE, checked when the app is built)
    cases: PeerClient  # the case API, for reconciliation (`GET /v1/admin/reconcile`)
    release_schedule: ReleaseSchedule  # publishes each month's release by itself
    rebuilds: set[asyncio.Task[Any]] = field(default_factory=set)  # rebuilds outliving their request

    def start(self) -> None:
        self.release_schedule.start()

    async def stop(self) -> None:
        await self.release_schedule.stop()
        await self.cases.aclose()


MetricsRuntime = Runtime[MetricsSettings, MetricsExtras]
MetricsRuntimeDep = Annotated[MetricsRuntime, Depends(runtime_dependency(MetricsSettings, MetricsExtras))]


def metrics_runtime(app: FastAPI) -> MetricsRuntime:
    return typed_runtime(app, MetricsSettings, MetricsExtras)
