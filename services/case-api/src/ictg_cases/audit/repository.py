"""All SQL of the audit trail reads (rows are written by ictg_common.audit.record)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import audit


def _like_prefix(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%"


async def page(
    session: AsyncSession, *, resource: str | None, actor: str | None, before: int | None, limit: int
) -> list[Any]:
    """Newest first; `resource` matches itself and everything under it (a case and its records)."""
    q = select(audit).order_by(audit.c.id.desc()).limit(limit)
    if resource is not None:
        q = q.where(or_(audit.c.resource == resource, audit.c.resource.like(_like_prefix(resource), escape="\\")))
    if actor is not None:
        q = q.where(audit.c.actor == actor)
    if before is not None:
        q = q.where(audit.c.id < before)
    return list((await session.execute(q)).all())
