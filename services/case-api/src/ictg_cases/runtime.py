"""The case API's runtime, typed: its settings and its own running parts (`ictg_common.runtime`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, FastAPI

from ictg_common.runtime import Runtime, runtime_dependency, typed_runtime

from .settings import CasesSettings

if TYPE_CHECKING:
    from .admin.schedule import Reconciler
    from .cases.claimcheck import IntakeClient
    from .cases.context import AfterWrite
    from .sla.watcher import SlaWatcher


@dataclass(frozen=True)
class CasesExtras:
    """What the case API runs besides the common parts."""

    intake: IntakeClient  # the claim check's client, also the admin endpoints' (replay, reconcile)
    sla_watcher: SlaWatcher  # emits sla.breached for missed deadlines
    reconciler: Reconciler  # every referral has one case: checks, replays the missing
    after_case_write: tuple[AfterWrite, ...]  # every write to a case ends with these (`cases/unit_of_work.py`)

    def start(self) -> None:
        self.sla_watcher.start()
        self.reconciler.start()

    async def stop(self) -> None:
        await self.sla_watcher.stop()
        await self.reconciler.stop()
        await self.intake.aclose()


CasesRuntime = Runtime[CasesSettings, CasesExtras]
CasesRuntimeDep = Annotated[CasesRuntime, Depends(runtime_dependency(CasesSettings, CasesExtras))]


def cases_runtime(app: FastAPI) -> CasesRuntime:
    return typed_runtime(app, CasesSettings, CasesExtras)
