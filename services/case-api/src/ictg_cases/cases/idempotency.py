"""`Idempotency-Key` on every case write (the same semantics as intake's), by the shared mechanism.

A write asks `replayed` first, before `open_for_write`: a finished key's answer is given again even
if the case has changed or closed since (no `If-Match`, no 409), as long as the case is still in
the actor's regions. Otherwise the write runs and ends with `idem.save(...)`.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common.errors import NotFound
from ictg_common.idempotency import Idempotency, documented, idempotent

from ..models import idempotency
from . import repository
from .access import WRITE_RESPONSES, Context, authorise

Idempotent = Annotated[Idempotency, idempotent(idempotency)]
IDEMPOTENT_WRITE_RESPONSES: dict[int | str, dict[str, Any]] = documented(WRITE_RESPONSES)


async def replayed(
    session: AsyncSession, ctx: Context, idem: Idempotency, case_id: UUID, *, action: str
) -> JSONResponse | None:
    """The first answer of this key's finished write to `case_id`, or None to go ahead and write."""

    async def still_in_regions() -> None:
        case = await repository.get(session, case_id)
        if case is None:
            raise NotFound("No such case.")
        await authorise(session, ctx, case, action=action, write=True)

    return await idem.replay(session, action=action, allowed=still_in_regions)
