"""Releases in Postgres (all SQL of `releases/` lives here): stored once, read unchanged."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Release, ReleaseTable

RELEASE_LOCK = 0x1C7A_0E1E  # pg_advisory_xact_lock key: one replica computes a release at a time


async def lock(session: AsyncSession) -> None:
    """Serialise release computation across replicas (for the transaction)."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": RELEASE_LOCK})


async def exists(session: AsyncSession, release: str) -> bool:
    return (await session.get(Release, release)) is not None


async def save(
    session: AsyncSession, *, release: str, as_at: date, published_at: datetime, disclosure: dict[str, Any],
    previous: str | None, revisions: list[dict[str, Any]], tables: dict[str, dict[str, Any]],
) -> None:  # fmt: skip
    """Store a release and its tables; a release already stored is left as it was (never recomputed)."""
    inserted = await session.execute(
        insert(Release)
        .values(
            release=release,
            as_at=as_at,
            published_at=published_at,
            disclosure=disclosure,
            previous=previous,
            revisions=revisions,
        )
        .on_conflict_do_nothing()
        .returning(Release.release)
    )
    if inserted.scalar_one_or_none() is None:
        return
    await session.execute(
        insert(ReleaseTable), [{"release": release, "table_id": t, "body": body} for t, body in tables.items()]
    )


async def previous_release(session: AsyncSession, before: str) -> str | None:
    """The latest release stored before `before` (YYYY-MM sorts as text)."""
    found = await session.execute(select(func.max(Release.release)).where(Release.release < before))
    return found.scalar_one_or_none()


async def tables_of(session: AsyncSession, release: str) -> dict[str, dict[str, Any]]:
    rows = await session.execute(
        select(ReleaseTable.table_id, ReleaseTable.body).where(ReleaseTable.release == release)
    )
    return {table_id: body for table_id, body in rows.all()}


async def releases(session: AsyncSession) -> list[Release]:
    """Every release, newest first."""
    return list((await session.scalars(select(Release).order_by(Release.release.desc()))).all())


async def release(session: AsyncSession, name: str) -> Release | None:
    if name == "latest":
        name = (await session.execute(select(func.max(Release.release)))).scalar_one_or_none() or ""
    return await session.get(Release, name) if name else None


async def table_ids(session: AsyncSession, release: str) -> list[str]:
    found = await session.scalars(select(ReleaseTable.table_id).where(ReleaseTable.release == release))
    return list(found.all())


async def table(session: AsyncSession, release: str, table_id: str) -> dict[str, Any] | None:
    row = await session.get(ReleaseTable, (release, table_id))
    return None if row is None else row.body
