"""The SQL of corrections and withdrawals (`corrections.py`)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Referral, ReferralName


async def lock(session: AsyncSession, referral_id: UUID) -> Referral | None:
    """The referral, locked until the transaction ends: two corrections of one referral at once serialise
    here, and the second then finds the first's version (412)."""
    q = select(Referral).where(Referral.id == referral_id).with_for_update().execution_options(populate_existing=True)
    return (await session.scalars(q)).first()


async def replace_names(session: AsyncSession, r: Referral, *, names: list[str]) -> None:
    """The referral's names (what duplicate matching compares) as corrected, with its corrected nationality,
    date of birth and estimated age."""
    await session.execute(delete(ReferralName).where(ReferralName.referral_id == r.id))
    rows = [
        {"referral_id": r.id, "name_key": k, "nationality": r.nationality, "date_of_birth": r.date_of_birth,
         "estimated_age": r.estimated_age}
        for k in sorted(set(names))
    ]  # fmt: skip
    await session.execute(insert(ReferralName), rows)
