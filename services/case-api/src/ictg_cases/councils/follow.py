"""How a council's responsibility periods follow the writes to a case: the unit of work's hook."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..cases import periods
from ..models import Case
from . import view


async def periods_follow(session: AsyncSession, case: Case, row: Any, action: str) -> None:
    """The record `row` was written by `action`: the periods its times (as councils see them) fall in
    have changed, so each council's change feed lists the case again."""
    await periods.touch(session, case.id, view.times_of(row, action=action))
