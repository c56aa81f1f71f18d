"""What the referrer may know of the case, learnt from the case API's events: its id, when it opened,
when a guardian was first allocated and whether one is allocated now (a pathway change can take the
guardian off), when the child left. No personal data travels for it.

Each update is order-free and idempotent (the earliest allocation wins, a field once set by an event
is set again to the same value), so a redelivered or late event changes nothing it should not.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import case, func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common.codes import ReferralStatus
from ictg_common.consumer import Consumer
from ictg_common.contracts import (
    CaseAllocated,
    CaseEventData,
    CaseExited,
    CaseOpened,
    CasePathwayChanged,
    EventData,
    ReferralStatusChanged,
    make_event,
    parse_data,
)
from ictg_common.events import CloudEvent
from ictg_common.outbox import emit

from ..models import SCHEMA, Referral


def _allocation(now_allocated: bool, at: datetime) -> dict[str, Any]:
    """Whether a guardian is allocated now, from the newest event that says (an allocation, or a pathway
    change that took the guardian off): an older one arriving late changes nothing."""
    newer = or_(Referral.allocation_changed_at.is_(None), Referral.allocation_changed_at <= at)
    return {
        "allocated": case((newer, now_allocated), else_=Referral.allocated),
        "allocation_changed_at": case((newer, at), else_=Referral.allocation_changed_at),
    }


def _opened(data: CaseOpened) -> dict[str, Any]:
    return {"case_opened_at": func.coalesce(Referral.case_opened_at, data.opened_at)}


def _allocated(data: CaseAllocated) -> dict[str, Any]:
    # LEAST ignores NULL: the earliest allocation wins.
    return {"allocated_at": func.least(Referral.allocated_at, data.allocated_at)} | _allocation(True, data.allocated_at)


def _pathway_changed(data: CasePathwayChanged) -> dict[str, Any] | None:
    return _allocation(False, data.changed_at) if data.unallocated else None


def _exited(data: CaseExited) -> dict[str, Any]:
    return {"exited_at": data.exited_at}


LEARNT: dict[type[EventData], Callable[[Any], dict[str, Any] | None]] = {
    CaseOpened: _opened,
    CaseAllocated: _allocated,
    CasePathwayChanged: _pathway_changed,
    CaseExited: _exited,
}
"""Case event model -> what an event of it tells of the referral (column values; None: nothing)."""
TYPES = tuple(LEARNT)


async def on_case_event(session: AsyncSession, event: CloudEvent, *, subject_prefix: str) -> None:
    """Learn how the case stands from a case event, and tell the referrer (`referral.status_changed`, in the
    same transaction through the outbox) when its status changed."""
    parsed = parse_data(event.type, event.data)
    learn = LEARNT.get(type(parsed)) if parsed is not None else None  # any other type is not in the table
    if learn is None:
        return
    data = cast(CaseEventData, parsed)
    before = await session.get(Referral, data.referral_id, with_for_update=True)
    if before is None:
        return  # not a referral of this intake (another environment's case): nothing to learn
    was = status_of(before)
    learnt = learn(data)
    if learnt is None:
        return
    values: dict[str, Any] = {"case_id": func.coalesce(Referral.case_id, data.case_id), **learnt}
    await session.execute(update(Referral).where(Referral.id == data.referral_id).values(values))
    await session.refresh(before)
    now = status_of(before)
    if now != was:
        changed = ReferralStatusChanged(
            referral_id=before.id, org_type=before.org_type, org_name=before.org_name,
            referrer_reference=before.referrer_reference, status=now, case_opened_at=before.case_opened_at,
            allocated_at=before.allocated_at, exited_at=before.exited_at, withdrawn_at=before.withdrawn_at,
        )  # fmt: skip
        await emit(session, make_event(data=changed, subject=before.id, time=event.time), schema=SCHEMA,
                   subject_prefix=subject_prefix)  # fmt: skip


def status_of(r: Referral) -> ReferralStatus:
    """How the case stands, from what the case events told intake; `withdrawn` once the referrer withdrew
    it, whatever the case did after (its exit, `referral_withdrawn`, follows from the withdrawal)."""
    if r.withdrawn_at is not None:
        return "withdrawn"
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
