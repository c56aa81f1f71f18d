"""Case events go out via the outbox; their `data` is a model of `ictg_common.contracts` (which carries
`case_id` and `referral_id`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common.contracts import CaseEventData, make_event
from ictg_common.outbox import emit

from ..models import SCHEMA
from ..settings import CasesSettings


async def publish(session: AsyncSession, data: CaseEventData, *, time: datetime, settings: CasesSettings) -> None:
    """Write the event of `data` (subject: its case) into the outbox in the caller's transaction (it
    commits with the record)."""
    event = make_event(data=data, subject=data.case_id, time=time)
    await emit(session, event, schema=SCHEMA, subject_prefix=settings.subject_prefix)
