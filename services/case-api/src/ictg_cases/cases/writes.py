"""Every write endpoint of a case, one way: each makes this one call.

1. A finished `Idempotency-Key` answers its first response again (`idempotency.replayed`).
2. The unit of work (`unit_of_work.write`) opens the case, runs the feature's service and finishes
   the write: hooks, version, audit, outbox.
3. Its result becomes the answer: the record, `Location` and the new `ETag`.
4. The answer remembered under the key, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from uuid import UUID

from fastapi import Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common.idempotency import Idempotency

from ..models import Case
from ..rules import etag
from . import unit_of_work
from .access import Context
from .idempotency import replayed

M = TypeVar("M", bound=BaseModel)


async def write_case(
    session: AsyncSession,
    ctx: Context,
    idem: Idempotency,
    response: Response,
    case_id: UUID,
    *,
    action: str,
    write: Callable[[Case], Awaitable[Any]],
    out: type[M],
    location: str,
) -> M | JSONResponse:
    """Run `write(case)` as the write `action` on case `case_id`; answer its row as `out`.

    `location` is a template of the new record's path: `{case_id}` and `{id}` (the row's) are filled in.
    """
    if (replay := await replayed(session, ctx, idem, case_id, action=action)) is not None:
        return replay
    done = await unit_of_work.write(session, ctx, case_id, action=action, change=write, location=location)
    response.headers["Location"] = done.location
    response.headers["ETag"] = etag(done.version)
    return await idem.save(session, out.model_validate(done.row, from_attributes=True), response)
