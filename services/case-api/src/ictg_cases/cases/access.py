"""Who may see or change a case, from an HTTP request: the dependencies `ReadCtx`, `WriteCtx` and
`AdminCtx` check the token's scopes and the break-glass reason and give the `Context` of the request.

Every case read goes through `open_for_read` and ends with `finish_read` (`opening.py`), so its audit row
is never forgotten; every write goes through the unit of work (`unit_of_work.py`), which opens the case with
`open_for_write` and ends with the version bump, the audit row and the case's events in the outbox. Whether
the actor may reach a given case (regions, a council's periods, break-glass grants) is `authorisation.py`'s.
The names other modules import from here are re-exported below.

A council's token (`org_type` `local_authority`; see docs/security.md) reads with scope `la:read` the cases
that have a responsibility period of one of its `la_codes`, and only what its view shows
(`councils/view.py`); it writes no case record but one: with scope `la:write`, the return home interview
after a missing episode of a child that came back while in its care (`CouncilWriteCtx`; its own identifiers
have their own endpoint). Break-glass is never open to it, whatever scopes the token carries. Refusals are
audited.

Break-glass (scope `cases:break_glass` and a reason of 10–500 printable characters) opens a case
outside the actor's regions for reading only, for `ICTG_CASES_BREAK_GLASS_MINUTES`: a write needs
the case in the actor's regions whatever grant they hold, so break-glass can never be turned into
ordinary access (for instance by moving the child into one's own region). Each grant, and each
renewal of it, is an audit row of action `break_glass`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request

from ictg_common import audit
from ictg_common.auth import Actor, CurrentActor, Scopes, enforces, require
from ictg_common.errors import Forbidden, ValidationFailed, field_error
from ictg_common.runtime import runtime_of

from ..errors import CouncilRefused
from ..models import SCHEMA
from ..runtime import cases_runtime
from .authorisation import BREAK_GLASS, BREAK_GLASS_SCOPE, Access, authorise, is_council, refuse, refuse_unless
from .context import AfterWrite, Context
from .opening import finish_read, open_for_read, open_for_write

__all__ = [
    "BREAK_GLASS", "BREAK_GLASS_SCOPE", "CASE_RESPONSES", "WRITE_RESPONSES", "Access", "AdminCtx", "AfterWrite",
    "Context", "CouncilWriteCtx", "ReadCtx", "WriteCtx", "authorise", "context", "finish_read", "is_council", "open_for_read",
    "open_for_write", "refuse", "refuse_council", "refuse_unless", "staff_only", "staff_router",
]  # fmt: skip

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


def context(request: Request, actor: Actor, *, break_glass: str | None = None, if_match: str | None = None) -> Context:
    """The `Context` of a request: the app's settings, sessionmaker and write hooks (its runtime's)."""
    runtime = cases_runtime(request.app)
    return Context(
        actor=actor, break_glass=break_glass, settings=runtime.settings, sessionmaker=runtime.sessionmaker,
        if_match=if_match, after_write=runtime.extras.after_case_write,
    )  # fmt: skip


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


# What admits a token to a case's reads and writes: a council's token reads with `la:read`, writes nothing on a
# case but what a council may record for its own children (`la:write`, `CouncilWriteCtx`); its identifiers have
# their own endpoint. The checks below and /docs (`apidocs`) both read these.
READ = Scopes(("cases:read", "cases:write"), council=("la:read",))
WRITE = Scopes(("cases:write",), council=())
COUNCIL_WRITE = Scopes(("cases:write",), council=("la:write",))
ADMIN = Scopes(("cases:admin",), council=())


async def _council_context(
    request: Request, actor: Actor, reason: str | None, *, if_match: str | None = None
) -> Context:
    if reason is not None:
        await refuse_council(
            request, actor, action="break_glass", reason=_text(reason)[:REASON_MAX],
            detail="Break-glass is not available to council tokens: a council sees its own children only.",
        )  # fmt: skip
    return context(request, actor, if_match=if_match)


async def _reader(
    request: Request,
    actor: Annotated[Actor, require(*READ.others, council=READ.council)],
    reason: BreakGlassHeader = None,
) -> Context:
    if is_council(actor):
        return await _council_context(request, actor, reason)
    return context(request, actor, break_glass=await _reason(request, actor, reason))


async def _changer(request: Request, actor: Actor, reason: str | None, if_match: str | None, rule: Scopes) -> Context:
    if not rule.admits(actor):
        if is_council(actor):  # whatever scopes it carries: worth an audit row
            await refuse_council(
                request, actor, action="case.write",
                detail="A council's token changes nothing on a case but its own identifiers "
                "(PUT /v1/cases/{id}/local-identifiers).",
            )  # fmt: skip
        raise Forbidden(rule.refusal(actor))
    return context(request, actor, break_glass=await _reason(request, actor, reason), if_match=if_match)


@enforces(WRITE)
async def _writer(
    request: Request, actor: CurrentActor, reason: BreakGlassHeader = None, if_match: IfMatchHeader = None
) -> Context:
    return await _changer(request, actor, reason, if_match, WRITE)


async def _writer_or_council(
    request: Request,
    actor: Annotated[Actor, require(*COUNCIL_WRITE.others, council=COUNCIL_WRITE.council)],
    reason: BreakGlassHeader = None,
    if_match: IfMatchHeader = None,
) -> Context:
    if is_council(actor):
        return await _council_context(request, actor, reason, if_match=if_match)
    return await _changer(request, actor, reason, if_match, COUNCIL_WRITE)


@enforces(ADMIN)
async def _admin(
    request: Request, actor: CurrentActor, reason: BreakGlassHeader = None, if_match: IfMatchHeader = None
) -> Context:
    return await _changer(request, actor, reason, if_match, ADMIN)


ReadCtx = Annotated[Context, Depends(_reader)]
WriteCtx = Annotated[Context, Depends(_writer)]
# A write a council may also make (scope la:write), for its own children: the unit of work opens the case with its
# periods (`Access.periods`), and the feature checks the record falls inside them.
CouncilWriteCtx = Annotated[Context, Depends(_writer_or_council)]
AdminCtx = Annotated[Context, Depends(_admin)]
