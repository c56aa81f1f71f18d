"""Recording a contact (attempted or made) with the child or anyone around them."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common import clock
from ictg_common.auth import Actor
from ictg_common.events import new_id

from ..cases import repository as cases_repo
from ..cases.events import iso, publish
from ..cases.service import time_errors
from ..errors import RecordInvalid
from ..models import Case, Contact
from ..settings import CasesSettings
from .schemas import ContactCreate


async def record(
    session: AsyncSession, case: Case, body: ContactCreate, *, actor: Actor, settings: CasesSettings
) -> Contact:
    now = clock.utcnow()
    errors = time_errors(case, body.occurred_at, pointer="/occurred_at", now=now, settings=settings)
    if errors:
        raise RecordInvalid(errors)
    row = Contact(id=new_id(), case_id=case.id, recorded_at=now, recorded_by=actor.sub, **body.model_dump())
    await cases_repo.add(session, row)
    # Any contact, attempted or made, with anyone, meets the first-contact deadline (DESIGN §9, §10).
    if case.first_contact_at is None or body.occurred_at < case.first_contact_at:
        case.first_contact_at = body.occurred_at
    await publish(
        session, case, name="contact.recorded", time=body.occurred_at, settings=settings,
        data={"contact_id": str(row.id), "occurred_at": iso(body.occurred_at), "outcome": body.outcome,
              "method": body.method, "party": body.party, "topics": list(body.topics)},
    )  # fmt: skip
    return row
