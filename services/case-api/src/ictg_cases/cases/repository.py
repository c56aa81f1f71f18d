"""All SQL of cases (and the shared reads of a case's records)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import BigInteger, ColumnElement, Text, cast, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common.codes import ALLOCATED

from ..domain import deadlines
from ..models import BreakGlass, Case, MissingEpisode

T = TypeVar("T")


async def insert_if_new(session: AsyncSession, case: Case) -> bool:
    """Insert unless a case for this referral exists. True if inserted."""
    values = {c.key: getattr(case, c.key) for c in Case.__table__.columns}
    done = await session.execute(
        insert(Case).values(**values).on_conflict_do_nothing(index_elements=["referral_id"]).returning(Case.id)
    )
    return done.first() is not None


async def get(session: AsyncSession, case_id: UUID) -> Case | None:
    return await session.get(Case, case_id)


async def get_for_update(session: AsyncSession, case_id: UUID) -> Case | None:
    q = select(Case).where(Case.id == case_id).with_for_update().execution_options(populate_existing=True)
    return (await session.scalars(q)).first()


def settled_xid() -> ColumnElement[int]:
    """Every transaction with an id below this has ended, so changes stamped below it are final: a
    feed that stops there never skips a change that commits later with an earlier stamp."""
    return cast(cast(func.pg_snapshot_xmin(func.pg_current_snapshot()), Text), BigInteger)


async def listing(
    session: AsyncSession,
    *,
    referral_id: UUID | None,
    statuses: list[str],
    regions: list[str],
    local_authority_codes: list[str],
    worker_id: UUID | None,
    overdue_at: datetime | None,
    after: UUID | None,
    limit: int,
    since: datetime | None = None,
    after_change: tuple[int, UUID] | None = None,
    feed: bool = False,
) -> list[Case]:
    """Cases in `regions` (narrowed by the other filters) in id order, or with `feed` in change order
    (`change_xid`, id) up to the settled changes, from `since` and after `after_change`."""
    q = select(Case).limit(limit).where(Case.region.in_(regions))
    if feed:
        q = q.where(Case.change_xid < settled_xid()).order_by(Case.change_xid, Case.id)
        if since is not None:
            q = q.where(Case.changed_at >= since)
        if after_change is not None:
            q = q.where(tuple_(Case.change_xid, Case.id) > tuple_(*after_change))
    else:
        q = q.order_by(Case.id)
    if local_authority_codes:
        q = q.where(Case.local_authority_code.in_(local_authority_codes))
    if referral_id is not None:
        q = q.where(Case.referral_id == referral_id)
    if statuses:
        q = q.where(Case.status.in_(statuses))
    if worker_id is not None:
        q = q.where(Case.worker_id == worker_id)
    if overdue_at is not None:
        q = q.where(deadlines.overdue_sql(Case, now=overdue_at))
    if after is not None:
        q = q.where(Case.id > after)
    return list((await session.scalars(q)).all())


async def add(session: AsyncSession, row: Any) -> None:
    session.add(row)
    await session.flush()


async def records(session: AsyncSession, model: type[T], case_id: UUID, *, order: Any) -> list[T]:
    q = select(model).where(model.case_id == case_id).order_by(order, model.id)  # type: ignore[attr-defined]
    return list((await session.scalars(q)).all())


async def record(
    session: AsyncSession, model: type[T], case_id: UUID, record_id: UUID, *, lock: bool = False
) -> T | None:
    q = select(model).where(model.id == record_id, model.case_id == case_id)  # type: ignore[attr-defined]
    if lock:
        q = q.with_for_update()
    return (await session.scalars(q)).first()


async def add_break_glass(session: AsyncSession, grant: BreakGlass) -> None:
    await add(session, grant)


async def lock_break_glass(session: AsyncSession, *, actor: str, case_id: UUID) -> None:
    """Serialise break-glass grants of one actor on one case until commit, so that two requests at
    once extend one grant rather than open two."""
    key = f"break_glass:{actor}:{case_id}"
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(key, 0))))


async def active_break_glass(session: AsyncSession, *, actor: str, case_id: UUID, now: datetime) -> BreakGlass | None:
    q = (
        select(BreakGlass)
        .where(BreakGlass.actor == actor, BreakGlass.case_id == case_id, BreakGlass.expires_at > now)
        .order_by(BreakGlass.expires_at.desc())
        .limit(1)
    )
    return (await session.scalars(q)).first()


async def caseloads(session: AsyncSession, worker_ids: list[UUID]) -> dict[UUID, int]:
    """Open cases currently allocated to each worker."""
    q = (
        select(Case.worker_id, func.count())
        .where(Case.worker_id.in_(worker_ids), Case.status == ALLOCATED)
        .group_by(Case.worker_id)
    )
    return {wid: n for wid, n in (await session.execute(q)).all() if wid is not None}


async def one_for_case(session: AsyncSession, model: type[T], case_id: UUID) -> T | None:
    q = select(model).where(model.case_id == case_id).limit(1)  # type: ignore[attr-defined]
    return (await session.scalars(q)).first()


async def open_missing_episode(session: AsyncSession, case_id: UUID) -> UUID | None:
    """The case's open missing episode, if the child is missing (at most one: `uq_missing_episode_open`)."""
    q = select(MissingEpisode.id).where(MissingEpisode.case_id == case_id, MissingEpisode.ended_at.is_(None))
    return (await session.scalars(q)).first()
