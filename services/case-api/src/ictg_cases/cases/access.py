"""Who may see or change a case: region scoping, break-glass, ETag preconditions, closed cases.

Every case read goes through `open_for_read` and ends with `finish_read`, so its audit row is never
forgotten; every write goes through the unit of work (`unit_of_work.py`), which opens the case with
`open_for_write` and ends with the version bump, the audit row and the case's events in the outbox.

A council's token (`org_type` `local_authority`; see docs/security.md) reads with scope `la:read` the cases
that have a responsibility period of one of its `la_codes`, and only what its view shows
(`councils/view.py`); it never writes a case (its own identifiers have their own endpoint), and
break-glass is never open to it, whatever scopes the token carries. Refusals are audited.

Break-glass (scope `cases:break_glass` and a reason of 10–500 printable characters) opens a case
outside the actor's regions for reading only, for `ICTG_CASES_BREAK_GLASS_MINUTES`: a write needs
the case in the actor's regions whatever grant they hold, so break-glass can never be turned into
ordinary access (for instance by moving the child into one's own region). Each grant, and each
renewal of it, is an audit row of action `break_glass`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ictg_common import audit, clock
from ictg_common.auth import Actor, CurrentActor, require
from ictg_common.errors import Forbidden, NotFound, ValidationFailed, field_error
from ictg_common.events import new_id
from ictg_common.runtime import runtime_of

from ..errors import CouncilRefused, OutsideRegion, StaleETag
from ..models import SCHEMA, BreakGlass, Case, ResponsibilityPeriod
from ..rules import etag, if_match_ok
from ..settings import CasesSettings, settings_of
from . import periods as council_periods
from . import repository

BREAK_GLASS = "X-Break-Glass-Reason"
BREAK_GLASS_SCOPE = "cases:break_glass"
REASON_MIN, REASON_MAX = 10, 500
BreakGlassHeader = Annotated[
    str | None,
    Header(
        alias=BREAK_GLASS, max_length=REASON_MAX,
        description="Reason (10–500 printable characters) for reading a case outside your regions: scope "
        "cases:break_glass, read-only, audited, lasts a limited time.",
    ),
]  # fmt: skip
IfMatchHeader = Annotated[
    str | None, Header(alias="If-Match", max_length=200, description="The case's ETag; 412 if it changed since.")
]

CASE_RESPONSES: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "Case outside your regions (reads: X-Break-Glass-Reason with scope cases:break_glass); "
        "for a council's token, a child who has never been its responsibility"
    },
    404: {"description": "No such case"},
}
WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **CASE_RESPONSES,
    409: {"description": "Case closed, or the record conflicts with the case's state"},
    412: {"description": "If-Match does not match the case's ETag"},
    422: {"description": "Validation failed (times, codes, roles, capacity)"},
}


# After a case write's change, before its version moves on: (session, case, the record written, action).
AfterWrite = Callable[[AsyncSession, Case, Any, str], Awaitable[None]]


@dataclass(frozen=True)
class Context:
    """Who asks, and what of the app a case read or write needs: no HTTP in it, so a unit of work runs
    the same from an endpoint, a consumer or a test."""

    actor: Actor
    break_glass: str | None
    settings: CasesSettings
    # Refusals are audited in a transaction of their own (the request's rolls back with the refusal).
    sessionmaker: async_sessionmaker[AsyncSession]
    if_match: str | None = None
    after_write: tuple[AfterWrite, ...] = ()


def context(request: Request, actor: Actor, *, break_glass: str | None = None, if_match: str | None = None) -> Context:
    """The `Context` of a request: the app's settings and sessionmaker (its runtime's) and write hooks."""
    return Context(
        actor=actor, break_glass=break_glass, settings=settings_of(request.app),
        sessionmaker=runtime_of(request.app).sessionmaker, if_match=if_match,
        after_write=request.app.state.after_case_write,
    )  # fmt: skip


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


def _text(raw: str) -> str:
    # Header values arrive as latin-1; a client sending UTF-8 (as browsers and httpx do) meant that.
    try:
        return raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return raw


async def _reason(request: Request, actor: Actor, raw: str | None) -> str | None:
    """The break-glass reason, checked: 422 unless 10–500 printable characters, 403 without the scope."""
    if raw is None:
        return None
    reason = _text(raw).strip()
    if not REASON_MIN <= len(reason) <= REASON_MAX or not reason.isprintable():
        raise ValidationFailed(
            f"The break-glass reason must be {REASON_MIN}–{REASON_MAX} printable characters (no control characters).",
            errors=[field_error(f"#header/{BREAK_GLASS}", "give a reason of 10–500 printable characters")],
        )
    if not actor.has(BREAK_GLASS_SCOPE):
        # An attempt to reach past one's regions is worth knowing about even when refused.
        await audit.record_refusal(
            runtime_of(request.app).sessionmaker, schema=SCHEMA, actor=actor, action="break_glass",
            resource=request.url.path[:200], reason=reason,
        )  # fmt: skip
        raise Forbidden(f"Break-glass access needs scope {BREAK_GLASS_SCOPE}.")
    return reason


async def refuse_council(
    request: Request, actor: Actor, *, action: str, detail: str, reason: str | None = None
) -> None:
    """403, audited: what a council's token may never do (write a case, break the glass)."""
    await audit.record_refusal(
        runtime_of(request.app).sessionmaker, schema=SCHEMA, actor=actor, action=action, resource=request.url.path[:200],
        reason=reason,
    )  # fmt: skip
    raise CouncilRefused(detail)


async def staff_only(request: Request, actor: CurrentActor) -> None:
    """Dependency of the routes that are the ICTG service's own (workers, audit, admin): never a
    council's, whatever scopes its token carries (a council reads its own children only)."""
    if is_council(actor):
        await refuse_council(
            request, actor, action="staff_route",
            detail="This is the ICTG service's own: a council's token reads its children at /v1/cases.",
        )  # fmt: skip


def staff_router(*routers: APIRouter) -> APIRouter:
    """`routers` behind `staff_only`."""
    wrapper = APIRouter(dependencies=[Depends(staff_only)])
    for r in routers:
        wrapper.include_router(r)
    return wrapper


def _needs(actor: Actor, *scopes: str) -> None:
    if not any(actor.has(s) for s in scopes):
        raise Forbidden(f"This needs scope {' or '.join(scopes)}.")


async def _reader(
    request: Request,
    actor: Annotated[Actor, require("cases:read", "cases:write", "la:read")],
    reason: BreakGlassHeader = None,
) -> Context:
    if is_council(actor):
        _needs(actor, "la:read")
        if reason is not None:
            await refuse_council(
                request, actor, action="break_glass", reason=_text(reason)[:REASON_MAX],
                detail="Break-glass is not available to council tokens: a council sees its own children only.",
            )  # fmt: skip
        return context(request, actor)
    _needs(actor, "cases:read", "cases:write")
    return context(request, actor, break_glass=await _reason(request, actor, reason))


async def _changer(request: Request, actor: Actor, reason: str | None, if_match: str | None, *scopes: str) -> Context:
    if is_council(actor):
        await refuse_council(
            request, actor, action="case.write",
            detail="A council's token changes nothing on a case but its own identifiers "
            "(PUT /v1/cases/{id}/local-identifiers).",
        )  # fmt: skip
    _needs(actor, *scopes)
    return context(request, actor, break_glass=await _reason(request, actor, reason), if_match=if_match)


async def _writer(
    request: Request,
    actor: Annotated[Actor, require("cases:write", "la:read", "la:write")],
    reason: BreakGlassHeader = None,
    if_match: IfMatchHeader = None,
) -> Context:
    return await _changer(request, actor, reason, if_match, "cases:write")


async def _admin(
    request: Request,
    actor: Annotated[Actor, require("cases:admin", "la:read", "la:write")],
    reason: BreakGlassHeader = None,
    if_match: IfMatchHeader = None,
) -> Context:
    return await _changer(request, actor, reason, if_match, "cases:admin")


ReadCtx = Annotated[Context, Depends(_reader)]
WriteCtx = Annotated[Context, Depends(_writer)]
AdminCtx = Annotated[Context, Depends(_admin)]


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
    access = await authorise(session, ctx, case, action=action, write=True)
    if not if_match_ok(ctx.if_match, case.version):
        raise StaleETag(
            f"The case has changed (its ETag is now {etag(case.version)}); reload it and try again.",
            headers={"ETag": etag(case.version)},
        )
    case.ensure_open()
    return case, access


async def finish_read(session: AsyncSession, ctx: Context, access: Access, *, action: str, resource: str) -> None:
    await audit.record(
        session, schema=SCHEMA, actor=ctx.actor, action=action, resource=resource, outcome=access.outcome,
        reason=access.reason,
    )  # fmt: skip
