"""Opening a case for every referral, and reading cases."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from ictg_common import clock
from ictg_common.auth import Actor
from ictg_common.errors import NotFound
from ictg_common.events import CloudEvent, make_event, new_id
from ictg_common.outbox import emit
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import SCHEMA, Case
from ..settings import CasesSettings
from . import repository
from .claimcheck import IntakeClient

PERSONAL = ("child", "referrer", "notes")


async def open_case(session: AsyncSession, event: CloudEvent, *, intake: IntakeClient, settings: CasesSettings) -> Case | None:
    """Handle `referral.received`: one case per referral, whatever the redeliveries."""
    data = event.data
    referral_id = UUID(data["referral_id"])
    referral = await intake.referral(referral_id)
    timeliness = data["timeliness"]
    case = Case(
        id=new_id(),
        referral_id=referral_id,
        status="awaiting_allocation",
        received_at=datetime.fromisoformat(data["received_at"]),
        opened_at=clock.utcnow(),
        region=data["region"],
        pathway=data["pathway"],
        local_authority_code=data["local_authority_code"],
        allocation_due_by=datetime.fromisoformat(timeliness["allocation_due_by"]),
        first_contact_due_by=datetime.fromisoformat(timeliness["first_contact_due_by"]),
        attributes=data,
        personal={k: referral.get(k) for k in PERSONAL},
        version=1,
    )
    if not await repository.insert_if_new(session, case):
        return None
    await emit(
        session,
        make_event(
            service="cases", name="case.opened", subject=case.id, time=case.received_at,
            data={"case_id": str(case.id), "referral_id": str(referral_id), "status": case.status,
                  "region": case.region, "pathway": case.pathway, "opened_at": case.opened_at.isoformat()},
        ),
        schema=SCHEMA,
        subject_prefix=settings.subject_prefix,
    )  # fmt: skip
    return case


def visible(actor: Actor, case: Case) -> bool:
    return case.region in actor.regions


async def read(session: AsyncSession, case_id: UUID, *, actor: Actor) -> Case:
    case = await repository.get(session, case_id)
    if case is None or not visible(actor, case):
        raise NotFound("No such case.")
    return case
