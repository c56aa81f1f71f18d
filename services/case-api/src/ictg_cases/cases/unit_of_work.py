"""A write to one case, start to finish, with no HTTP in it (as cosmicpython's unit of work).

`CaseWrite.open` locks the case row (concurrent writers to one case serialise there), checks the
actor's access (refusals audited), the `If-Match` precondition and that the case is open. The
feature's service then changes the case and adds its record; it only flushes (the caller's session
commits) and publishes nothing itself. `finish` runs the `after_write` hooks (a council's periods
follow the record's times), bumps the case's version, audits the write and moves every event the
case recorded into the outbox, in this transaction. The caller maps `Written` to its answer (an
endpoint: `Location` and `ETag`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from ..models import Case
from .access import Access, Context, finish_read, open_for_write
from .events import add_recorded_to_outbox

R = TypeVar("R")


@dataclass(frozen=True)
class Written(Generic[R]):
    """What a case write made: its record, where that is, and the case's new version (its ETag)."""

    row: R
    location: str
    version: int


class CaseWrite:
    """One write `action` to one case, opened with `open` and ended once with `finish`."""

    def __init__(self, session: AsyncSession, ctx: Context, case: Case, access: Access, *, action: str) -> None:
        self.session, self.ctx, self.case, self.access, self.action = session, ctx, case, access, action

    @classmethod
    async def open(cls, session: AsyncSession, ctx: Context, case_id: UUID, *, action: str) -> CaseWrite:
        case, access = await open_for_write(session, ctx, case_id, action=action)
        return cls(session, ctx, case, access, action=action)

    async def finish(self, row: R, *, location: str) -> Written[R]:
        """End the write of `row` (at `location`): hooks, version, audit, outbox."""
        for hook in self.ctx.after_write:
            await hook(self.session, self.case, row, self.action)
        self.case.version += 1
        await self.session.flush()
        await finish_read(self.session, self.ctx, self.access, action=self.action, resource=location)
        await add_recorded_to_outbox(self.session, self.case, settings=self.ctx.settings)
        return Written(row=row, location=location, version=self.case.version)


async def write(
    session: AsyncSession,
    ctx: Context,
    case_id: UUID,
    *,
    action: str,
    change: Callable[[Case], Awaitable[Any]],
    location: str,
) -> Written[Any]:
    """Run `change(case)` as the write `action` on case `case_id`. `location` is a template of the new
    record's path: `{case_id}` and `{id}` (the record's) are filled in."""
    work = await CaseWrite.open(session, ctx, case_id, action=action)
    row = await change(work.case)
    return await work.finish(row, location=location.format(case_id=case_id, id=row.id))
