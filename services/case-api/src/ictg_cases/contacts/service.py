"""Recording a contact (attempted or made) with the child or anyone around them."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common.auth import Actor
from ictg_common.contracts import ContactRecorded

from ..cases.service import add_record
from ..models import Case, Contact
from ..settings import CasesSettings
from .schemas import ContactCreate


async def record(
    session: AsyncSession, case: Case, body: ContactCreate, *, actor: Actor, settings: CasesSettings
) -> Contact:
    row = await add_record(session, case, Contact, body, when="occurred_at", actor=actor, settings=settings)
    case.record_contact(
        ContactRecorded(
            case_id=case.id, referral_id=case.referral_id, contact_id=row.id, occurred_at=body.occurred_at,
            outcome=body.outcome, method=body.method, party=body.party, topics=list(body.topics),
        )
    )  # fmt: skip
    return row
