"""All SQL of councils' reads: their cases, change feed, identifiers and missing episodes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import Select, and_, func, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..cases.periods import by_case, lasted
from ..cases.periods import of_cases as periods_of
from ..cases.repository import settled_xid
from ..models import (
    Allocation,
    Case,
    LocalIdentifier,
    MissingEpisode,
    ResponsibilityPeriod,
    ReturnInterview,
    Worker,
)

P = ResponsibilityPeriod


def responsible_now(codes: Sequence[str]) -> Select[UUID]:
    """Cases one of `codes` answers for now: only their status is the council's to filter on (a child
    who moved away has a status the council does not see)."""
    return select(P.case_id).where(P.local_authority_code.in_(list(codes)), P.ends_at.is_(None))


def filed_as(codes: Sequence[str], la_child_id: str) -> Select[UUID]:
    """Cases a council filed under its own child id `la_child_id` (for one of `codes`)."""
    i = LocalIdentifier
    return select(i.case_id).where(i.local_authority_code.in_(list(codes)), i.la_child_id == la_child_id)


async def listing(
    session: AsyncSession,
    *,
    codes: Sequence[str],
    statuses: Sequence[str],
    after: UUID | None,
    limit: int,
    la_child_id: str | None = None,
) -> list[Case]:
    """Cases with a period of one of `codes`, in id order."""
    mine = select(P.case_id).where(P.local_authority_code.in_(list(codes)), lasted())
    q = select(Case).where(Case.id.in_(mine)).order_by(Case.id).limit(limit)
    if la_child_id is not None:
        q = q.where(Case.id.in_(filed_as(codes, la_child_id)))
    if statuses:
        q = q.where(Case._status.in_(list(statuses)), Case.id.in_(responsible_now(codes)))
    if after is not None:
        q = q.where(Case.id > after)
    return list((await session.scalars(q)).all())


async def feed(
    session: AsyncSession,
    *,
    codes: Sequence[str],
    statuses: Sequence[str],
    since: datetime | None,
    after: tuple[int, UUID] | None,
    limit: int,
    la_child_id: str | None = None,
) -> list[tuple[int, datetime, Case]]:
    """The council's change feed: each case once, at its latest change while one of `codes` answered
    for the child, in (change, id) order, up to the settled changes only."""
    latest = (
        select(P.case_id, func.max(P.change_xid).label("xid"), func.max(P.changed_at).label("at"))
        .where(P.local_authority_code.in_(list(codes)), lasted())
        .group_by(P.case_id)
        .subquery()
    )
    q = (
        select(latest.c.xid, latest.c.at, Case)
        .join(Case, Case.id == latest.c.case_id)
        .where(latest.c.xid < settled_xid())
        .order_by(latest.c.xid, Case.id)
        .limit(limit)
    )
    if statuses:
        q = q.where(Case._status.in_(list(statuses)), Case.id.in_(responsible_now(codes)))
    if la_child_id is not None:
        q = q.where(Case.id.in_(filed_as(codes, la_child_id)))
    if since is not None:
        q = q.where(latest.c.at >= since)
    if after is not None:
        q = q.where(tuple_(latest.c.xid, Case.id) > tuple_(*after))
    return [(xid, at, case) for xid, at, case in (await session.execute(q)).all()]


async def identifiers(
    session: AsyncSession, case_ids: Sequence[UUID], codes: Sequence[str]
) -> dict[UUID, list[LocalIdentifier]]:
    q = (
        select(LocalIdentifier)
        .where(LocalIdentifier.case_id.in_(list(case_ids)), LocalIdentifier.local_authority_code.in_(list(codes)))
        .order_by(LocalIdentifier.case_id, LocalIdentifier.local_authority_code)
    )
    return by_case((await session.scalars(q)).all())


async def lock_values(session: AsyncSession, *, code: str, la_child_id: str, nhs_number: str | None) -> None:
    """Lock these identifiers' values for the transaction, so two requests filing one at once are decided one
    after the other (the second sees the first's row)."""
    keys = [f"la_child_id:{code}:{la_child_id.upper()}", *([f"nhs_number:{nhs_number}"] if nhs_number else [])]
    for key in sorted(keys):
        await session.execute(select(func.pg_advisory_xact_lock(func.hashtext(key))))


async def child_id_holder(session: AsyncSession, *, case_id: UUID, code: str, la_child_id: str) -> UUID | None:
    """Another case holding the same authority's child id (as SSDA903 reads it: upper-cased)."""
    L = LocalIdentifier
    same_id = select(L.case_id).where(
        L.local_authority_code == code, func.upper(L.la_child_id) == la_child_id.upper(), L.case_id != case_id
    )
    return (await session.scalars(same_id.limit(1))).first()


async def nhs_number_holders(session: AsyncSession, *, case_id: UUID, nhs_number: str) -> list[tuple[UUID, str]]:
    """The other cases on which a council filed this NHS number (one person's, whoever filed it): (case, the
    authority that filed it), by case."""
    L = LocalIdentifier
    q = (
        select(L.case_id, L.local_authority_code)
        .where(L.nhs_number == nhs_number, L.case_id != case_id)
        .order_by(L.case_id, L.local_authority_code)
    )
    return list((await session.execute(q)).tuples().all())


# The database's own guards (models.LocalIdentifier): which identifier each one keeps unique.
GUARDS = {"uq_local_identifier_la_child_id": "la_child_id"}


async def put_identifiers(session: AsyncSession, row: LocalIdentifier) -> str | None:
    """Insert or replace the council's identifiers; the name of the identifier the database refused as another
    case's (`la_child_id`), or None when filed. The write runs in a savepoint, so a refusal leaves
    the request's transaction usable."""
    values = {c.key: getattr(row, c.key) for c in LocalIdentifier.__table__.columns}
    keep = {k: v for k, v in values.items() if k not in ("case_id", "local_authority_code")}
    stmt = insert(LocalIdentifier).values(**values)
    try:
        async with session.begin_nested():
            await session.execute(
                stmt.on_conflict_do_update(index_elements=["case_id", "local_authority_code"], set_=keep)
            )
    except IntegrityError as error:
        name = getattr(getattr(error.orig, "__cause__", None), "constraint_name", None)
        if name not in GUARDS:
            raise
        return GUARDS[name]
    return None


async def touch_own_periods(session: AsyncSession, *, case_id: UUID, code: str) -> None:
    """Filing identifiers is a change for the council: its periods of the child move in its feed (the stamp
    trigger dates them now)."""
    await session.execute(
        update(P).where(P.case_id == case_id, P.local_authority_code == code, lasted()).values(changed_at=None)
    )


async def current_allocations(session: AsyncSession, case_ids: Sequence[UUID]) -> dict[UUID, tuple[Allocation, str]]:
    """Each case's current allocation, with its guardian's team's region (after a move to another region, the
    old one until the case is allocated again)."""
    q = (
        select(Allocation, Worker.region)
        .join(Worker, Worker.id == Allocation.worker_id)
        .where(Allocation.case_id.in_(list(case_ids)), Allocation.ended_at.is_(None))
    )
    return {a.case_id: (a, region) for a, region in (await session.execute(q)).tuples().all()}


async def missing_in(
    session: AsyncSession, *, code: str, start: datetime, end: datetime
) -> tuple[list[tuple[MissingEpisode, Case, LocalIdentifier | None]], dict[UUID, list[ResponsibilityPeriod]]]:
    """Missing episodes that overlap both `[start, end)` and one of `code`'s periods, each once, with
    its case and the council's identifiers (if filed), in (start, episode id) order; and `code`'s
    periods of those cases."""
    ep = MissingEpisode
    overlapping = select(P.id).where(
        P.case_id == ep.case_id, P.local_authority_code == code, lasted(),
        or_(P.ends_at.is_(None), ep.started_at < P.ends_at),
        or_(ep.ended_at.is_(None), ep.ended_at > P.starts_at, ep.started_at == P.starts_at),
    )  # fmt: skip
    q = (
        select(ep, Case, LocalIdentifier)
        .join(Case, Case.id == ep.case_id)
        .outerjoin(
            LocalIdentifier,
            and_(LocalIdentifier.case_id == ep.case_id, LocalIdentifier.local_authority_code == code),
        )
        .where(ep.started_at < end, or_(ep.ended_at.is_(None), ep.ended_at >= start), overlapping.exists())
        .order_by(ep.started_at, ep.id)
    )
    rows: list[tuple[MissingEpisode, Case, LocalIdentifier | None]] = [
        (e, c, i) for e, c, i in (await session.execute(q)).all()
    ]
    found = await periods_of(session, sorted({c.id for _e, c, _i in rows}), [code])
    return rows, found


async def looked_after_in(
    session: AsyncSession, *, code: str, start: datetime, end: datetime
) -> list[tuple[Case, LocalIdentifier]]:
    """The children `code` looks after (its identifiers say so) with one of its periods meeting `[start, end)`,
    with those identifiers."""
    overlapping = select(P.id).where(
        P.case_id == Case.id, P.local_authority_code == code, lasted(), P.starts_at < end,
        or_(P.ends_at.is_(None), P.ends_at > start),
    )  # fmt: skip
    q = (
        select(Case, LocalIdentifier)
        .join(LocalIdentifier, and_(LocalIdentifier.case_id == Case.id, LocalIdentifier.local_authority_code == code))
        .where(LocalIdentifier.looked_after.is_(True), overlapping.exists())
        .order_by(Case.id)
    )
    return [(c, i) for c, i in (await session.execute(q)).all()]


async def interviews_after(session: AsyncSession, episode_ids: Sequence[UUID]) -> dict[UUID, ReturnInterview]:
    """The return home interview recorded after each of these episodes (one at most per episode)."""
    if not episode_ids:
        return {}
    q = select(ReturnInterview).where(ReturnInterview.episode_id.in_(list(episode_ids)))
    return {i.episode_id: i for i in (await session.scalars(q)).all()}
