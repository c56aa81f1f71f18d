"""case-api: allocation, contacts, missing episodes, decisions and exits of every referred child."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI
from ictg_common.consumer import Consumer
from ictg_common.events import CloudEvent
from ictg_common.service import create_service_app
from sqlalchemy.ext.asyncio import AsyncSession

from .cases import service as cases
from .cases.claimcheck import IntakeClient
from .cases.endpoints import router as cases_router
from .models import SCHEMA
from .settings import CasesSettings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: CasesSettings | None = None, *, intake_transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    """`intake_transport` lets in-process tests route the claim check to an intake app."""
    settings = settings or CasesSettings()
    intake = IntakeClient(settings, transport=intake_transport)

    async def on_referral(session: AsyncSession, event: CloudEvent) -> None:
        await cases.open_case(session, event, intake=intake, settings=settings)

    async def close_intake(_app: FastAPI) -> None:
        await intake.aclose()

    return create_service_app(
        name="case-api",
        title="ICTG case API",
        settings=settings,
        schema=SCHEMA,
        routers=[cases_router],
        consumers=[
            Consumer(
                name="cases-referrals",
                filter_subjects=[f"{settings.subject_prefix}.intake.referral.received"],
                handler=on_referral,
                schema=SCHEMA,
                max_deliver=settings.max_deliver,
            )
        ],
        on_shutdown=[close_intake],
    )
