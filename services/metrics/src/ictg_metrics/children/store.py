"""Storing an event and refolding its child's facts (the consumer's handler)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common.events import CloudEvent

from ..disclosure.cellkey import child_record_key
from ..models import Child, Event
from .facts import Ev, child_key, fold


async def record_event(session: AsyncSession, event: CloudEvent) -> None:
    key = child_key(event.type, event.subject, event.data)
    if key is None:
        return  # not about a child: nothing to count
    child_id = UUID(key)
    stored = await session.execute(
        insert(Event)
        .values(
            # the database clock, as the rebuild compares it with its own start time
            id=event.id,
            type=event.type,
            child_id=child_id,
            time=event.time,
            data=event.data,
            stored_at=func.clock_timestamp(),
        )
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(Event.id)
    )
    if stored.first() is None:
        return  # the same event again: nothing changes
    await refold(session, child_id)


def child_row(child_id: UUID, events: list[Ev]) -> dict[str, object]:
    """The `metrics.child` row of one child, from all its events."""
    facts = fold(events)
    return {
        "child_id": child_id, "referred": facts["received_on"] is not None,
        "record_key": child_record_key(child_id), **facts,
    }  # fmt: skip


async def refold(session: AsyncSession, child_id: UUID) -> None:
    # Serialise refolds of one child (events of a child may be handled concurrently by replicas).
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"), {"k": str(child_id)})
    rows = (
        await session.execute(select(Event.id, Event.type, Event.time, Event.data).where(Event.child_id == child_id))
    ).all()
    values = child_row(child_id, [Ev(str(r.id), r.type, r.time, r.data) for r in rows])
    await session.execute(
        insert(Child).values(**values).on_conflict_do_update(index_elements=["child_id"], set_=values)
    )
