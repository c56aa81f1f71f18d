"""Who may see or change a case: region scoping, break-glass, ETag preconditions, closed cases.

Every case endpoint goes through `open_for_read` / `open_for_write` and ends with `finish_read` /
`finish_write`, so the audit row, the version bump and the ETag header are never forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import Depends, Header, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common import audit, clock
from ictg_common.auth import Actor, require
from ictg_common.errors import NotFound, ValidationFailed
from ictg_common.events import new_id

from ..errors import CaseClosed, OutsideRegion, StaleETag
from ..models import SCHEMA, BreakGlass, Case
from ..rules import etag, if_match_ok
from ..settings import CasesSettings
from . import repository

BREAK_GLASS = "X-Break-Glass-Reason"
BreakGlassHeader = Annotated[
    str | None,
    Header(
        alias=BREAK_GLASS, max_length=500,
        description="Reason for reaching a case outside your regions (audited; access lasts a limited time).",
    ),
]  # fmt: skip
IfMatchHeader = Annotated[
    str | None, Header(alias="If-Match", max_length=200, description="The case's ETag; 412 if it changed since.")
]

CASE_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {"description": "Case outside your regions (use X-Break-Glass-Reason)"},
    404: {"description": "No such case"},
}
WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **CASE_RESPONSES,
    409: {"description": "Case closed, or the record conflicts with the case's state"},
    412: {"description": "If-Match does not match the case's ETag"},
    422: {"description": "Validation failed (times, codes, roles, capacity)"},
}


@dataclass(frozen=True)
class Context:
    request: Request
    actor: Actor
    break_glass: str | None
    if_match: str | None = None

    @property
    def settings(self) -> CasesSettings:
        settings: CasesSettings = self.request.app.state.settings
        return settings


@dataclass(frozen=True)
class Access:
    """How the actor reached the case: `ok` (their region) or `break_glass` (with the reason)."""

    outcome: str
    reason: str | None = None


def _reason(raw: str | None) -> str | None:
    if raw is None:
        return None
    reason = raw.strip()
    if not reason:
        raise ValidationFailed(
            "The break-glass reason is empty.",
            errors=[{"pointer": f"#header/{BREAK_GLASS}", "detail": "give a reason"}],
        )
    return reason


def _reader(
    request: Request, actor: Annotated[Actor, require("cases:read", "cases:write")], reason: BreakGlassHeader = None
) -> Context:
    return Context(request=request, actor=actor, break_glass=_reason(reason))


def _writer(
    request: Request,
    actor: Annotated[Actor, require("cases:write")],
    reason: BreakGlassHeader = None,
    if_match: IfMatchHeader = None,
) -> Context:
    return Context(request=request, actor=actor, break_glass=_reason(reason), if_match=if_match)


def _admin(
    request: Request,
    actor: Annotated[Actor, require("cases:admin")],
    reason: BreakGlassHeader = None,
    if_match: IfMatchHeader = None,
) -> Context:
    return Context(request=request, actor=actor, break_glass=_reason(reason), if_match=if_match)


ReadCtx = Annotated[Context, Depends(_reader)]
WriteCtx = Annotated[Context, Depends(_writer)]
AdminCtx = Annotated[Context, Depends(_admin)]


async def _audit_refusal(ctx: Context, *, action: str, resource: str, outcome: str) -> None:
    # The request's own transaction rolls back with the refusal, so the refusal is kept in its own.
    async with ctx.request.app.state.sessionmaker() as session, session.begin():
        await audit.record(session, schema=SCHEMA, actor=ctx.actor, action=action, resource=resource, outcome=outcome)


async def authorise(session: AsyncSession, ctx: Context, case: Case, *, action: str) -> Access:
    """Region scoping with break-glass: a reason opens the case to this actor for a limited time."""
    if case.region in ctx.actor.regions:
        return Access("ok")
    now = clock.utcnow()
    if ctx.break_glass is not None:
        await repository.add_break_glass(
            session,
            BreakGlass(
                id=new_id(), actor=ctx.actor.sub, case_id=case.id, reason=ctx.break_glass, granted_at=now,
                expires_at=now + timedelta(minutes=ctx.settings.break_glass_minutes),
            ),
        )  # fmt: skip
        return Access("break_glass", ctx.break_glass)
    grant = await repository.active_break_glass(session, actor=ctx.actor.sub, case_id=case.id, now=now)
    if grant is not None:
        return Access("break_glass", grant.reason)
    await _audit_refusal(ctx, action=action, resource=f"/v1/cases/{case.id}", outcome="denied")
    raise OutsideRegion(f"This case is outside your regions; send {BREAK_GLASS} with a reason to access it (audited).")


async def open_for_read(session: AsyncSession, ctx: Context, case_id: UUID, *, action: str) -> tuple[Case, Access]:
    case = await repository.get(session, case_id)
    if case is None:
        raise NotFound("No such case.")
    return case, await authorise(session, ctx, case, action=action)


async def open_for_write(session: AsyncSession, ctx: Context, case_id: UUID, *, action: str) -> tuple[Case, Access]:
    """Lock the case row (concurrent writers to one case serialise here), then check access, ETag, state."""
    case = await repository.get_for_update(session, case_id)
    if case is None:
        raise NotFound("No such case.")
    access = await authorise(session, ctx, case, action=action)
    if not if_match_ok(ctx.if_match, case.version):
        raise StaleETag(
            f"The case has changed (its ETag is now {etag(case.version)}); reload it and try again.",
            headers={"ETag": etag(case.version)},
        )
    if case.status == "exited":
        raise CaseClosed("The child has left the service: this case accepts no new records.")
    return case, access


async def finish_read(session: AsyncSession, ctx: Context, access: Access, *, action: str, resource: str) -> None:
    await audit.record(
        session, schema=SCHEMA, actor=ctx.actor, action=action, resource=resource, outcome=access.outcome,
        reason=access.reason,
    )  # fmt: skip


async def finish_write(
    session: AsyncSession, ctx: Context, case: Case, access: Access, response: Response, *, action: str, location: str
) -> None:
    """Bump the case's version, audit the change, and answer with `Location` and the new `ETag`."""
    case.version += 1
    await session.flush()
    await finish_read(session, ctx, access, action=action, resource=location)
    response.headers["Location"] = location
    response.headers["ETag"] = etag(case.version)
