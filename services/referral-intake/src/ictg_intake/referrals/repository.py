"""All SQL of referrals."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, NamedTuple
from uuid import UUID

from sqlalchemy import Select, String, cast, func, insert, literal, or_, select, text, union_all
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Referral, ReferralName

SIMILARITY_THRESHOLD = 0.1  # pg_trgm similarity that makes a stored name a candidate (difflib confirms)


async def add(session: AsyncSession, referral: Referral, *, names: list[str]) -> None:
    """Insert `referral` and its `names` (name keys) in one statement. Core, not `session.add`:
    nothing reads the row back in this transaction, so there is no unit of work to keep."""
    table = Referral.__table__
    stored_names = (
        insert(ReferralName)
        .from_select(
            ["referral_id", "name_key"],
            select(
                literal(referral.id, PgUUID(as_uuid=True)),
                func.unnest(cast(sorted(set(names)), ARRAY(String))),
            ),
        )
        .cte("stored_names")
    )
    values = {c.key: getattr(referral, c.key) for c in table.columns}
    await session.execute(insert(table).values(values).add_cte(stored_names))


async def get(session: AsyncSession, referral_id: UUID) -> Referral | None:
    return await session.get(Referral, referral_id)


async def of_organisation(session: AsyncSession, ids: list[UUID], *, org: tuple[str, str]) -> list[UUID]:
    """Those of `ids` that `org` referred."""
    q = select(Referral.id).where(Referral.id.in_(ids), Referral.org_type == org[0], Referral.org_name == org[1])
    return list((await session.scalars(q)).all())


class Candidate(NamedTuple):
    id: UUID
    name_key: str
    org: tuple[str, str]  # who filed it (whether a first responder may see the link)


async def candidates(
    session: AsyncSession,
    *,
    names: list[str],
    nationality: str,
    date_of_birth: date | None,
    estimated_age: int | None,
    received_on: date,
) -> list[Candidate]:
    """Names of earlier referrals of possibly the same child, in one query and without a cap: the
    same nationality; the same date of birth or age (a date of birth also matches an estimate within
    a year of the age it gives, and the other way round); and a stored name trigram-similar to one of
    `names` (pg_trgm `%` at `SIMILARITY_THRESHOLD`, over the names of that crowd). A loose filter: the caller confirms each name. Oldest referral
    first, a referral once per stored name that passed."""
    if date_of_birth is not None:
        age_then = func.extract("year", func.age(func.date(Referral.received_at), date_of_birth))
        match = or_(Referral.date_of_birth == date_of_birth, func.abs(Referral.estimated_age - age_then) <= 1)
    else:
        age_now = func.extract("year", func.age(received_on, Referral.date_of_birth))
        match = or_(Referral.estimated_age == estimated_age, func.abs(age_now - estimated_age) <= 1)
    same_child = (Referral.nationality == nationality) & match
    # The crowd of the same nationality and age first (materialised), then the names of the crowd: a name as
    # common as "An Nguyen" shares its trigrams with thousands of stored names of every nationality, and
    # the planner then scanned every stored name (131 ms among 100,000 referrals, against 40-50 ms so).
    crowd = (
        select(Referral.id, Referral.received_at, Referral.org_type, Referral.org_name, Referral.name_key)
        .where(same_child)
        .cte("crowd")
        .prefix_with("MATERIALIZED")
    )
    columns = (crowd.c.received_at, crowd.c.id, crowd.c.org_type, crowd.c.org_name)
    branches: list[Select[datetime, UUID, str, str, str]] = []
    if keys := [k for k in dict.fromkeys(names) if k]:
        similar = or_(*(ReferralName.name_key.op("%")(k) for k in keys))
        branches.append(
            select(*columns, ReferralName.name_key)
            .join(ReferralName, ReferralName.referral_id == crowd.c.id)
            .where(similar)
        )
    if "" in names:  # a name with no letter or digit has no trigrams: it is equal to another such name only
        branches.append(select(*columns, crowd.c.name_key).where(crowd.c.name_key == ""))
    found = branches[0] if len(branches) == 1 else union_all(*branches)
    # Lower than pg_trgm's 0.3: a one-word name with a transposition or a dropped letter ("omar" and
    # "omr", "fatima" and "fatmia") is under 0.3 yet a match by the difflib rule that confirms.
    await session.execute(text(f"SET LOCAL pg_trgm.similarity_threshold = {SIMILARITY_THRESHOLD}"))
    rows = (await session.execute(found.order_by("received_at", "id"))).all()
    return [Candidate(r.id, r.name_key, (r.org_type, r.org_name)) for r in rows]


def page_query(*, after: tuple[datetime, UUID] | None, org: tuple[str, str] | None, limit: int) -> Select[Any]:
    q = select(Referral).order_by(Referral.received_at, Referral.id).limit(limit)
    if org is not None:
        q = q.where(Referral.org_type == org[0], Referral.org_name == org[1])
    if after is not None:
        q = q.where(or_(Referral.received_at > after[0], (Referral.received_at == after[0]) & (Referral.id > after[1])))
    return q


async def page(session: AsyncSession, **kwargs: Any) -> list[Referral]:
    return list((await session.scalars(page_query(**kwargs))).all())


async def count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Referral)) or 0)
