"""Responsibility periods (which local authority answers for the child, when): all their SQL, and the rule of which records fall inside them.

A case belongs to the local authority of its referral from `received_at`, then to each move's
authority from `moved_at` (moves are never slotted in before the latest, so a new period always
follows the open one). A period covers `[starts_at, ends_at)`: a record at the instant of a move is
the new authority's. The move itself is shown to both: it ends one period and starts the next.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common.events import new_id

from ..models import Case, LocalIdentifier, ResponsibilityPeriod


async def open_first(session: AsyncSession, case: Case) -> None:
    """The referral's authority answers for the child from `received_at`."""
    session.add(
        ResponsibilityPeriod(
            id=new_id(), case_id=case.id, local_authority_code=case.local_authority_code, region=case.region,
            starts_at=case.received_at, ends_at=None,
        )
    )  # fmt: skip
    await session.flush()


async def hand_over(session: AsyncSession, case: Case, *, at: datetime) -> None:
    """The child moved at `at` to the case's (new) current authority: close the open period there."""
    await session.execute(
        update(ResponsibilityPeriod)
        .where(ResponsibilityPeriod.case_id == case.id, ResponsibilityPeriod.ends_at.is_(None))
        .values(ends_at=at)
    )
    session.add(
        ResponsibilityPeriod(
            id=new_id(), case_id=case.id, local_authority_code=case.local_authority_code, region=case.region,
            starts_at=at, ends_at=None,
        )
    )  # fmt: skip
    await session.flush()


def lasted() -> ColumnElement[bool]:
    """A period that lasted: a move at the very instant of the referral or of another move makes a
    period of no length, during which the authority answered for nothing."""
    p = ResponsibilityPeriod
    return or_(p.ends_at.is_(None), p.ends_at > p.starts_at)


async def responsible_at(session: AsyncSession, case_id: UUID, at: datetime) -> str | None:
    """The authority answering for the child at `at` (the period covering it), if any does."""
    p = ResponsibilityPeriod
    q = (
        select(p.local_authority_code)
        .where(p.case_id == case_id, p.starts_at <= at, or_(p.ends_at.is_(None), at < p.ends_at))
        .order_by(p.starts_at.desc(), p.id)
        .limit(1)
    )
    return (await session.scalars(q)).first()


async def touch(session: AsyncSession, case_id: UUID, times: Iterable[datetime]) -> None:
    """A record dated at `times` was written: the periods it falls in (or ends, for a move) change, so
    a council's feed lists the case again even after the child has moved on."""
    p = ResponsibilityPeriod
    within = [and_(p.starts_at <= t, or_(p.ends_at.is_(None), t <= p.ends_at)) for t in times]
    if within:
        await session.execute(update(p).where(p.case_id == case_id, or_(*within)).values(changed_at=None))


async def of_cases(
    session: AsyncSession, case_ids: Sequence[UUID], codes: Iterable[str]
) -> dict[UUID, list[ResponsibilityPeriod]]:
    """Each case's periods with one of `codes`, in time order."""
    q = (
        select(ResponsibilityPeriod)
        .where(
            ResponsibilityPeriod.case_id.in_(list(case_ids)),
            ResponsibilityPeriod.local_authority_code.in_(list(codes)),
            lasted(),
        )
        .order_by(ResponsibilityPeriod.case_id, ResponsibilityPeriod.starts_at, ResponsibilityPeriod.id)
    )  # fmt: skip
    return by_case((await session.scalars(q)).all())


R = TypeVar("R", ResponsibilityPeriod, LocalIdentifier)


def by_case(rows: Iterable[R]) -> dict[UUID, list[R]]:
    """Rows of several cases, grouped by case (in the order given)."""
    found: dict[UUID, list[R]] = {}
    for row in rows:
        found.setdefault(row.case_id, []).append(row)
    return found


def covers(periods: Iterable[ResponsibilityPeriod], at: datetime, *, or_ends: bool = False) -> bool:
    """Whether `at` falls inside one of `periods` (`or_ends`: or is the instant one of them ended)."""
    return any(p.covers(at) or (or_ends and p.ends_at == at) for p in periods)


def overlaps(periods: Iterable[ResponsibilityPeriod], start: datetime, end: datetime | None) -> bool:
    """Whether the stretch `[start, end)` (open-ended when `end` is None) meets one of `periods`."""
    return any(
        (p.ends_at is None or start < p.ends_at) and (end is None or end > p.starts_at or end == start == p.starts_at)
        for p in periods
    )


def responsible_now(periods: Iterable[ResponsibilityPeriod]) -> bool:
    return any(p.ends_at is None for p in periods)
