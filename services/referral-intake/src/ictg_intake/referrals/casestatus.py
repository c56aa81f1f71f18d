"""What the referrer may know of the case, learnt from the case API's events: its id, when it opened,
when a guardian was first allocated and whether one is allocated now (a pathway change can take the
guardian off), when the child left. No personal data travels for it.

Each update is order-free and idempotent (the earliest allocation wins, a field once set by an event
is set again to the same value), so a redelivered or late event changes nothing it should not.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common.codes import ReferralStatus
from ictg_common.consumer import Consumer
from ictg_common.contracts import (
    CaseAllocated,
    CaseExited,
    CaseOpened,
    CasePathwayChanged,
    ReferralStatusChanged,
    make_event,
    parse_data,
)
from ictg_common.events import CloudEvent
from ictg_common.outbox import emit

from ..models import SCHEMA, Referral

TYPES = (CaseOpened, CaseAllocated, CasePathwayChanged, CaseExited)


def _allocation(now_allocated: bool, at: datetime) -> dict[str, Any]:
    """Whether a guardian is allocated now, from the newest event that says (an allocation, or a pathway
    change that took the guardian off): an older one arriving late changes nothing."""
    newer = or_(Referral.allocation_changed_at.is_(None), Referral.allocation_changed_at <= at)
    return {
        "allocated": case((newer, now_allocated), else_=Referral.allocated),
        "allocation_changed_at": case((newer, at), else_=Referral.allocation_changed_at),
    }


async def on_case_event(session: AsyncSession, event: CloudEvent, *, subject_prefix: str) -> None:
    """Learn how the case stands from a case event, and tell the referrer (`referral.status_changed`, in the
    same transaction through the outbox) when its status changed."""
    data = parse_data(event.type, event.data)
    if not isinstance(data, TYPES):
        return
    before = await session.get(Referral, data.referral_id, with_for_update=True)
    if before is None:
        return  # not a referral of this intake (another environment's case): nothing to learn
    was = status_of(before)
    values: dict[str, Any] = {"case_id": func.coalesce(Referral.case_id, data.case_id)}
    if isinstance(data, CaseOpened):
        values["case_opened_at"] = func.coalesce(Referral.case_opened_at, data.opened_at)
    elif isinstance(data, CaseAllocated):
        values["allocated_at"] = func.least(Referral.allocated_at, data.allocated_at)  # LEAST ignores NULL
        values |= _allocation(True, data.allocated_at)
    elif isinstance(data, CasePathwayChanged):
        if not data.unallocated:
            return
        values |= _allocation(False, data.changed_at)
    else:
        values["exited_at"] = data.exited_at
    await session.execute(update(Referral).where(Referral.id == data.referral_id).values(values))
    await session.refresh(before)
    now = status_of(before)
    if now != was:
        changed = ReferralStatusChanged(
            referral_id=before.id, org_type=before.org_type, org_name=before.org_name,
            referrer_reference=before.referrer_reference, status=now, case_opened_at=before.case_opened_at,
            allocated_at=before.allocated_at, exited_at=before.exited_at,
        )  # fmt: skip
        await emit(session, make_event(data=changed, subject=before.id, time=event.time), schema=SCHEMA,
                   subject_prefix=subject_prefix)  # fmt: skip


def status_of(r: Referral) -> ReferralStatus:
    """How the case stands, from what the case events told intake."""
    if r.exited_at is not None:
        return "exited"
    if r.allocated:
        return "allocated"
    return "awaiting_allocation" if r.case_id is not None else "received"


def consumer(subject_prefix: str) -> Consumer:
    return Consumer(
        name="intake-case-status",
        filter_subjects=[f"{subject_prefix}.cases.{m.name()}" for m in TYPES],
        handler=functools.partial(on_case_event, subject_prefix=subject_prefix),
    )
