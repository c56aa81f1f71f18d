"""Privacy budgets in Postgres (`metrics.privacy_charge`), shared by every replica: SQL only.

Each function runs in the caller's transaction (the request's session commits or rolls back); `lock`
holds until that transaction ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import PrivacyCharge

# A seed of its own: these keys never share a hash with the children's locks (`children/store.py`, seed 0).
_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:principal, 9))")
_CHARGE = PrivacyCharge.__table__


@dataclass(frozen=True)
class Stored:
    """A query already charged: its answer and when it was given."""

    answer: dict[str, Any]
    epsilon: float
    created_at: datetime


async def lock(session: AsyncSession, principal: str) -> None:
    """Serialise the principal's charges until this transaction ends: two replicas answering two of its
    queries at once cannot both spend the last of its budget, nor both charge the same query."""
    await session.execute(_LOCK, {"principal": principal})


async def stored(session: AsyncSession, principal: str, query_key: str) -> Stored | None:
    c = _CHARGE.c
    row = (
        await session.execute(
            select(c.answer, c.epsilon, c.created_at).where(c.principal == principal, c.query_key == query_key)
        )
    ).one_or_none()
    return None if row is None else Stored(answer=row.answer, epsilon=float(row.epsilon), created_at=row.created_at)


async def spent(session: AsyncSession, principal: str, month: date) -> float:
    """The epsilon the principal was charged in `month` (its 1st)."""
    c = _CHARGE.c
    total = await session.scalar(
        select(func.coalesce(func.sum(c.epsilon), 0.0)).where(c.principal == principal, c.charged_month == month)
    )
    return float(total or 0.0)


async def charge(
    session: AsyncSession, *, principal: str, query_key: str, month: date, epsilon: float, query: dict[str, Any],
    answer: dict[str, Any], at: datetime,
) -> None:  # fmt: skip
    await session.execute(
        insert(_CHARGE).values(
            principal=principal, query_key=query_key, charged_month=month, epsilon=epsilon, query=query,
            answer=answer, created_at=at,
        )
    )  # fmt: skip
