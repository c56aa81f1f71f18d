"""Every write to a case, one way: the ten write endpoints each make this one call.

1. A finished `Idempotency-Key` answers its first response again (`idempotency.replayed`).
2. `open_for_write`: the case row locked, region checked (refusals audited), `If-Match` and state.
3. The feature's service writes (it only flushes; the request's session commits).
4. `finish_write`: version bumped, change audited, `Location` and the new `ETag` set.
5. The answer remembered under the key, in the same transaction.
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

from ..councils import periods
from ..councils import view as council_view
from ..models import Case
from .access import Context, finish_write, open_for_write
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
    case, access = await open_for_write(session, ctx, case_id, action=action)
    row = await write(case)
    await periods.touch(session, case_id, council_view.times_of(row, action=action))
    where = location.format(case_id=case_id, id=row.id)
    await finish_write(session, ctx, case, access, response, action=action, location=where)
    return await idem.save(session, out.model_validate(row, from_attributes=True), response)
