"""SQL of replay and reconciliation."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Case

# The durable consumer that opens cases; its inbox rows make a redelivery after a replay a no-op.
CONSUMER = "cases-referrals"
# One reconciliation round at a time across replicas (an arbitrary, fixed advisory-lock key).
RECONCILE_LOCK = 0x1C7C_0005


async def counts_by_status(session: AsyncSession, *, regions: list[str]) -> dict[str, int]:
    """Cases per status in `regions` (one query: reconciliation counts, it does not list)."""
    q = select(Case.status, func.count()).where(Case.region.in_(regions)).group_by(Case.status)
    return {status: int(n) for status, n in (await session.execute(q)).all()}


async def with_case(session: AsyncSession, referral_ids: list[UUID]) -> set[UUID]:
    """Those of `referral_ids` that have a case."""
    q = select(Case.referral_id).where(Case.referral_id.in_(referral_ids))
    return set((await session.scalars(q)).all())


async def mark_handled(session: AsyncSession, event_id: UUID) -> None:
    """The consumer's inbox row for `event_id` (kept if there already is one)."""
    await session.execute(
        text("INSERT INTO cases.inbox (consumer, event_id) VALUES (:c, :e) ON CONFLICT DO NOTHING"),
        {"c": CONSUMER, "e": event_id},
    )


async def cases_by_referral(session: AsyncSession, *, received_before: datetime) -> dict[UUID, UUID]:
    """referral id → case id of every case whose referral was received before `received_before`."""
    q = select(Case.referral_id, Case.id).where(Case.received_at < received_before)
    return {referral_id: case_id for referral_id, case_id in (await session.execute(q)).all()}


async def try_reconcile_lock(session: AsyncSession) -> bool:
    """Take the reconciliation lock for the session's transaction; False if another replica holds it."""
    got = await session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": RECONCILE_LOCK})
    return bool(got.scalar())
