"""May this actor reach this case: region scoping, a council's responsibility periods, break-glass grants,
and the audited refusals.

Break-glass (scope `cases:break_glass` and a reason, checked in `access.py`) opens a case outside the
actor's regions for reading only, for `ICTG_CASES_BREAK_GLASS_MINUTES`: a write needs the case in the
actor's regions whatever grant they hold. Each grant, and each renewal of it, is an audit row of action
`break_glass`. A council reaches only the cases with a responsibility period of one of its `la_codes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common import audit, clock
from ictg_common.auth import Actor
from ictg_common.errors import Forbidden, NotFound
from ictg_common.events import new_id

from ..errors import OutsideRegion
from ..models import SCHEMA, BreakGlass, Case, ResponsibilityPeriod
from . import periods as council_periods
from . import repository
from .context import Context

BREAK_GLASS = "X-Break-Glass-Reason"
BREAK_GLASS_SCOPE = "cases:break_glass"


@dataclass(frozen=True)
class Access:
    """How the actor reached the case: `ok` (their region) or `break_glass` (with the reason)."""

    outcome: str
    reason: str | None = None
    # A council's own responsibility periods of the case (None: not a council).
    periods: tuple[ResponsibilityPeriod, ...] | None = None

    @property
    def council(self) -> bool:
        return self.periods is not None


def is_council(actor: Actor) -> bool:
    return actor.council


async def _audit_refusal(ctx: Context, *, action: str, resource: str, outcome: str) -> None:
    # The request's own transaction rolls back with the refusal, so the refusal is kept in its own.
    await audit.record_refusal(
        ctx.sessionmaker, schema=SCHEMA, actor=ctx.actor, action=action, resource=resource,
        outcome=outcome, reason=ctx.break_glass,
    )  # fmt: skip


async def refuse(ctx: Context, *, action: str, resource: str, detail: str) -> None:
    """403, audited."""
    await _audit_refusal(ctx, action=action, resource=resource, outcome="denied")
    raise Forbidden(detail)


async def refuse_unless(ctx: Context, scope: str, *, action: str, resource: str, detail: str) -> None:
    """403 (audited) unless the actor holds `scope`: for writes that need more than `cases:write`."""
    if not ctx.actor.has(scope):
        await _audit_refusal(ctx, action=action, resource=resource, outcome="denied")
        raise Forbidden(detail)


async def _grant(session: AsyncSession, ctx: Context, case: Case, *, now: datetime) -> None:
    """Open a break-glass grant, or extend the actor's active one on this case (one row per grant)."""
    await repository.lock_break_glass(session, actor=ctx.actor.principal_key, case_id=case.id)
    until = now + timedelta(minutes=ctx.settings.break_glass_minutes)
    grant = await repository.active_break_glass(session, actor=ctx.actor.principal_key, case_id=case.id, now=now)
    if grant is not None:
        grant.expires_at = max(grant.expires_at, until)
        await session.flush()
    else:
        await repository.add_break_glass(
            session,
            BreakGlass(id=new_id(), actor=ctx.actor.principal_key, case_id=case.id, reason=ctx.break_glass,
                       granted_at=now, expires_at=until),
        )  # fmt: skip
    await audit.record(
        session, schema=SCHEMA, actor=ctx.actor, action="break_glass", resource=f"/v1/cases/{case.id}",
        outcome="extended" if grant is not None else "granted", reason=ctx.break_glass,
    )  # fmt: skip


async def authorise(session: AsyncSession, ctx: Context, case: Case, *, action: str, write: bool = False) -> Access:
    """Region scoping with break-glass: a reason opens the case to this actor, for reading only,
    for a limited time. A write outside the actor's regions is refused, grant or no grant. A council
    reaches the cases with a responsibility period of one of its codes (`Access.periods`)."""
    if is_council(ctx.actor):
        return await _council(session, ctx, case, action=action)
    if case.region in ctx.actor.regions:
        return Access("ok")
    resource = f"/v1/cases/{case.id}"
    if write:
        await _audit_refusal(ctx, action=action, resource=resource, outcome="denied")
        raise OutsideRegion("This case is outside your regions: break-glass access is read-only.")
    now = clock.utcnow()
    if ctx.break_glass is not None:
        await _grant(session, ctx, case, now=now)
        return Access("break_glass", ctx.break_glass)
    grant = await repository.active_break_glass(session, actor=ctx.actor.principal_key, case_id=case.id, now=now)
    if grant is not None:
        return Access("break_glass", grant.reason)
    await _audit_refusal(ctx, action=action, resource=resource, outcome="denied")
    raise OutsideRegion(
        f"This case is outside your regions; with scope {BREAK_GLASS_SCOPE}, send {BREAK_GLASS} with a reason "
        "to read it (audited)."
    )


async def _council(session: AsyncSession, ctx: Context, case: Case, *, action: str) -> Access:
    found = (await council_periods.of_cases(session, [case.id], ctx.actor.la_codes)).get(case.id)
    if not found:
        await _audit_refusal(ctx, action=action, resource=f"/v1/cases/{case.id}", outcome="denied")
        # The same answer as for a case that does not exist: a 403 would tell a council that this id is a child.
        raise NotFound("No such case.")
    return Access("ok", periods=tuple(found))
