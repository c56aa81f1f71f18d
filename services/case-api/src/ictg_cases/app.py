"""case-api: allocation, contacts, missing episodes, decisions and exits of every referred child."""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common.audit import audit_router
from ictg_common.consumer import Consumer
from ictg_common.contracts import ReferralAmended, ReferralReceived, ReferralWithdrawn
from ictg_common.events import CloudEvent
from ictg_common.runtime import Runtime
from ictg_common.service import create_service_app

from .admin.endpoints import router as admin_router
from .admin.schedule import Reconciler
from .allocations.endpoints import router as allocations_router
from .casefile.endpoints import router as cases_router
from .casefile.records import router as kinds_router
from .cases import service as cases
from .cases.access import staff_router
from .cases.claimcheck import IntakeClient
from .contacts.endpoints import router as contacts_router
from .councils.endpoints import router as councils_router
from .councils.follow import periods_follow
from .exits.endpoints import router as exits_router
from .missing.endpoints import router as missing_router
from .models import SCHEMA, audit
from .observability import install as install_metrics
from .records.endpoints import router as records_router
from .referrals import follow as follow_referral
from .return_interviews.endpoints import router as return_interviews_router
from .runtime import CasesExtras
from .settings import CasesSettings
from .sla.watcher import SlaWatcher
from .workers.endpoints import router as workers_router

ROUTERS = [
    cases_router, allocations_router, contacts_router, missing_router, return_interviews_router, records_router,
    kinds_router, exits_router, councils_router, staff_router(workers_router, audit_router(audit), admin_router),
]  # fmt: skip

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(
    settings: CasesSettings | None = None, *, intake_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """`intake_transport` lets in-process tests route the claim check to an intake app."""
    settings = settings or CasesSettings()
    intake = IntakeClient(settings, transport=intake_transport)

    async def on_referral(session: AsyncSession, event: CloudEvent) -> None:
        if event.type == ReferralReceived.TYPE:
            await cases.open_case(session, event, intake=intake, settings=settings)
        else:  # the referrer's corrections and withdrawal, after the case opened (one consumer: in order)
            await follow_referral.on_referral_event(session, event, intake=intake, settings=settings)

    async def claim_check(events: list[CloudEvent]) -> None:
        # Outside the consumer's transaction: a slow intake holds no database connection.
        await intake.prefetch([UUID(str(e.data["referral_id"])) for e in events if "referral_id" in e.data])

    async def extras(app: FastAPI, core: Runtime[CasesSettings, None]) -> CasesExtras:
        return CasesExtras(
            intake=intake,  # the admin endpoints (replay, reconcile) call intake with the claim check's client
            sla_watcher=SlaWatcher(core.sessionmaker, settings, on_breach=install_metrics(core.telemetry)),
            reconciler=Reconciler(core.sessionmaker, intake=intake, settings=settings, telemetry=core.telemetry),
            after_case_write=(periods_follow,),  # every write to a case ends with these (`cases/unit_of_work.py`)
        )

    return create_service_app(
        name="case-api",
        title="ICTG case API",
        settings=settings,
        schema=SCHEMA,
        routers=ROUTERS,
        consumers=[
            Consumer(
                name="cases-referrals",
                filter_subjects=[
                    f"{settings.subject_prefix}.intake.{m.name()}"
                    for m in (ReferralReceived, ReferralAmended, ReferralWithdrawn)
                ],
                handler=on_referral,
                prepare=claim_check,
            )
        ],
        extras=extras,
    )
