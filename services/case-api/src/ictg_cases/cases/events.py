"""Every case event carries `case_id` and `referral_id` (docs/events.md) and goes out via the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common.events import make_event
from ictg_common.outbox import emit

from ..models import SCHEMA, Case
from ..settings import CasesSettings


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def publish(
    session: AsyncSession, case: Case, *, name: str, time: datetime, settings: CasesSettings, data: dict[str, Any]
) -> None:
    """Write the event into the outbox in the caller's transaction (it commits with the record)."""
    event = make_event(
        service="cases", name=name, subject=case.id, time=time,
        data={"case_id": str(case.id), "referral_id": str(case.referral_id), **data},
    )  # fmt: skip
    await emit(session, event, schema=SCHEMA, subject_prefix=settings.subject_prefix)
