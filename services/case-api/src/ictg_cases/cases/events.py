"""Case events go out via the outbox; their `data` is a model of `ictg_common.contracts` (which carries
`case_id` and `referral_id`). Events a case caused are recorded by the case itself (`domain/case.py`)
and written here with `add_recorded_to_outbox`: by the unit of work at the end of every case write,
and when a case is opened."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common.contracts import CaseEventData, make_event
from ictg_common.outbox import emit

from ..domain.case import CaseLife
from ..models import SCHEMA
from ..settings import CasesSettings
from . import periods


async def add_to_outbox(session: AsyncSession, data: CaseEventData, *, time: datetime, settings: CasesSettings) -> None:
    """Write the event of `data` (subject: its case) into the outbox in the caller's transaction (it
    commits with the record). `data` must name the child's current local authority and region (so a
    subscriber routes it without a lookup): the case's own methods stamp them on what they record; other
    writers set them from the case. Here it is also stamped with the authority responsible at `time`, the
    event's own time (`periods.responsible_at`; a move's periods are written before its event), which is
    whose the event is whatever order the stream delivers it in."""
    if not data.located():
        raise ValueError(f"{type(data).__name__} of case {data.case_id} names no local authority or region")
    responsible = await periods.responsible_at(session, data.case_id, time) or data.local_authority_code
    data = data.model_copy(update={"responsible_local_authority_code": responsible})
    event = make_event(data=data, subject=data.case_id, time=time)
    await emit(session, event, schema=SCHEMA, subject_prefix=settings.subject_prefix)


async def add_recorded_to_outbox(session: AsyncSession, case: CaseLife, *, settings: CasesSettings) -> None:
    """Write every event `case` recorded (and forget them there), in order, in the caller's transaction."""
    for data, time in case.pull_events():
        await add_to_outbox(session, data, time=time, settings=settings)
