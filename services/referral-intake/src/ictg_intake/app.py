"""referral-intake: accepts referrals from first responders and starts the timeliness clock."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from ictg_common.audit import audit_router
from ictg_common.service import create_service_app

from .admin.endpoints import router as admin_router
from .models import SCHEMA, audit
from .reference.endpoints import router as reference_router
from .referrals import casestatus, repository
from .referrals.correction_endpoints import router as corrections_router
from .referrals.endpoints import router
from .settings import IntakeSettings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    return create_service_app(
        name="referral-intake",
        title="ICTG referral intake",
        settings=settings,
        schema=SCHEMA,
        routers=[router, corrections_router, reference_router, admin_router, audit_router(audit)],
        consumers=[casestatus.consumer(settings.subject_prefix)],
        engine_setup=[repository.tune_connections],
    )
