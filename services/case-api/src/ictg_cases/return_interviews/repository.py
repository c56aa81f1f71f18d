"""All SQL of return interviews beyond the generic record reads (`cases.repository`)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..models import ReturnInterview


async def of_episode(session: AsyncSession, episode_id: UUID) -> UUID | None:
    """The id of the interview recorded for the episode, if any."""
    return await session.scalar(select(ReturnInterview.id).where(ReturnInterview.episode_id == episode_id))
