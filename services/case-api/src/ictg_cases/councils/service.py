"""A council's reads and its one write: its children, change feed, identifiers, export."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, NoReturn
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common import audit, clock, pagination
from ictg_common.auth import Actor
from ictg_common.errors import ValidationFailed, field_error

from ..cases import periods
from ..cases.access import Context
from ..errors import IdentifierTaken, NotYourChild
from ..models import SCHEMA, Case, LocalIdentifier, ResponsibilityPeriod
from . import repository, view
from .view import CouncilCase, CouncilCasePage

log = logging.getLogger(__name__)

timeline = view.timeline


async def codes_held(ctx: Context, asked: Sequence[str], *, action: str) -> list[str]:
    """The codes asked for (all the token's when none), each one the token holds; else 403, audited."""
    codes, foreign = ctx.actor.authorities(asked)
    if foreign:
        await audit.record_refusal(
            ctx.sessionmaker, schema=SCHEMA, actor=ctx.actor, action=action,
            resource=f"/v1/local-authorities/{','.join(foreign)}"[:200],
        )  # fmt: skip
        raise NotYourChild(ctx.actor.not_held(foreign))
    return codes


async def view_cases(
    session: AsyncSession, actor: Actor, rows: Sequence[Case], changed: dict[UUID, datetime] | None = None
) -> list[CouncilCase]:
    """The council's view of each case (rows it may see: each has a period of its codes). `changed`:
    the change each case was listed at in the feed (newer changes may be visible but not yet settled;
    the feed will list them again at their own place)."""
    ids = [r.id for r in rows]
    found = await periods.of_cases(session, ids, actor.la_codes)
    allocations = await repository.current_allocations(session, ids)
    identifiers = await repository.identifiers(session, ids, actor.la_codes)
    shown = [
        view.case(r, found.get(r.id, []), allocation=allocations.get(r.id), identifiers=identifiers.get(r.id, []))
        for r in rows
    ]
    return [c.model_copy(update={"changed_at": changed[c.id]}) if changed else c for c in shown]


async def view_case(
    session: AsyncSession, ctx: Context, case: Case, own: Sequence[ResponsibilityPeriod]
) -> CouncilCase:
    allocations = await repository.current_allocations(session, [case.id])
    identifiers = await repository.identifiers(session, [case.id], ctx.actor.la_codes)
    return view.case(case, own, allocation=allocations.get(case.id), identifiers=identifiers.get(case.id, []))


async def list_cases(
    session: AsyncSession,
    ctx: Context,
    *,
    codes: Sequence[str],
    statuses: list[str],
    la_child_id: str | None = None,
    others: dict[str, Any],
    since: datetime | None,
    after: UUID | None,
    position: tuple[int, UUID] | None,
    feed: bool,
    limit: int,
) -> CouncilCasePage:
    given = [name for name, value in others.items() if value not in (None, [])]
    if given:
        raise ValidationFailed(
            f"A council's token lists its children by local_authority_code, status and changed_since; "
            f"{', '.join(given)} is for the ICTG service's staff.",
            errors=[field_error(f"#query/{name}", "not available to a council's token") for name in given],
        )
    mine = await codes_held(ctx, codes, action="case.list")
    if feed:
        changed = await repository.feed(
            session,
            codes=mine,
            statuses=statuses,
            since=since,
            after=position,
            limit=limit + 1,
            la_child_id=la_child_id,
        )
        page_of, next_cursor = pagination.split(changed, limit, lambda r: pagination.encode_position_key(r[0], r[2].id))
        rows = [case for _xid, _at, case in page_of]
        at = {case.id: when for _xid, when, case in page_of}
        last = page_of[-1] if page_of else None
        poll = pagination.encode_position_key(last[0], last[2].id) if last is not None else (
            pagination.encode_position_key(*position) if position is not None else None
        )  # fmt: skip
    else:
        at = None
        rows = await repository.listing(
            session, codes=mine, statuses=statuses, after=after, limit=limit + 1, la_child_id=la_child_id
        )
        rows, next_cursor = pagination.split(rows, limit, lambda r: str(r.id))
        poll = None
    await audit.record_many(
        session, schema=SCHEMA, actor=ctx.actor, action="case.list", resources=[f"/v1/cases/{c.id}" for c in rows]
    )
    return CouncilCasePage(
        items=await view_cases(session, ctx.actor, rows, at), next_cursor=next_cursor, poll_cursor=poll
    )


async def file_identifiers(
    session: AsyncSession, ctx: Context, case: Case, own: Sequence[ResponsibilityPeriod], *,
    la_child_id: str, upn: str | None, nhs_number: str | None, code: str | None, looked_after: bool = False,
    date_of_birth: date | None = None,
) -> LocalIdentifier:  # fmt: skip
    """File (or replace) the council's own identifiers for the child, under the authority it answered
    for it as (`code`, needed only when it answered under more than one of its codes). Filing is a change in
    the council's feed. Checked under a lock of the values:

    - its child id on another of its children is refused (409 naming that case, which it can see), and the
      database's unique index keeps it so;
    - an NHS number the council itself filed on another case is refused the same way; one filed by other
      councils only (on children this one cannot see, or once could) is filed as asked, and the ICTG service
      is told to review the cases (audit action `identifiers.nhs_number_shared`, naming them): a refusal
      would tell the council that child is known to the service, or what another council filed, for any
      number it tries."""
    answered = sorted({p.local_authority_code for p in own})
    if code is None:
        if len(answered) > 1:
            raise ValidationFailed(
                f"You answered for this child as {' and '.join(answered)}: say which in local_authority_code.",
                errors=[field_error("/local_authority_code", f"one of {', '.join(answered)}")],
            )
        code = answered[0]
    code = code.strip().upper()
    if code not in answered:
        raise ValidationFailed(
            f"This child was never the responsibility of {code} under your token.",
            errors=[field_error("/local_authority_code", f"one of {', '.join(answered)}")],
        )
    await repository.lock_values(session, code=code, la_child_id=la_child_id, nhs_number=nhs_number)
    if other := await repository.child_id_holder(session, case_id=case.id, code=code, la_child_id=la_child_id):
        _taken("la_child_id", other, bool(await _seen(session, ctx, [other])), la_child_id=la_child_id)
    if nhs_number:
        await _check_nhs_number(session, ctx, case, nhs_number)
    row = LocalIdentifier(
        case_id=case.id, local_authority_code=code, la_child_id=la_child_id, upn=upn, nhs_number=nhs_number,
        looked_after=looked_after, date_of_birth=date_of_birth, updated_at=clock.utcnow(), updated_by=ctx.actor.sub,
    )  # fmt: skip
    if await repository.put_identifiers(session, row) is not None:  # filed between the check and the write
        again = await repository.child_id_holder(session, case_id=case.id, code=code, la_child_id=la_child_id)
        _taken("la_child_id", again, bool(again and await _seen(session, ctx, [again])), la_child_id=la_child_id)
    await repository.touch_own_periods(session, case_id=case.id, code=code)
    return row


async def _check_nhs_number(session: AsyncSession, ctx: Context, case: Case, nhs_number: str) -> None:
    """Refuse an NHS number the council filed on another of its cases; tell the service of one other councils
    filed (whether this one can see that case or not: what another council filed is not its to learn)."""
    holders = await repository.nhs_number_holders(session, case_id=case.id, nhs_number=nhs_number)
    if not holders:
        return
    if own := [c for c, filed_by in holders if filed_by in ctx.actor.la_codes]:
        _taken("nhs_number", own[0], True, nhs_number=nhs_number)
    others = ", ".join(sorted({str(c) for c, _ in holders}))
    await audit.record(session, schema=SCHEMA, actor=ctx.actor, action="identifiers.nhs_number_shared",
                       resource=f"/v1/cases/{case.id}", reason=f"the same NHS number is filed for case {others}")  # fmt: skip
    log.warning("an NHS number is filed for more than one case: for the service to review",
                extra={"case_id": str(case.id), "other_case_ids": others})  # fmt: skip


async def _seen(session: AsyncSession, ctx: Context, cases: list[UUID]) -> list[UUID]:
    """Those of `cases` the council can see (it answered for the child at some time)."""
    own = await periods.of_cases(session, cases, ctx.actor.la_codes)
    return [c for c in cases if own.get(c)]


def _taken(field: str, other: UUID | None, named: bool, *, la_child_id: str = "", nhs_number: str = "") -> NoReturn:
    """409: `field` is already filed for case `other`, named (in the text and as `other_case_id`) when the
    council can see that case."""
    what = {"la_child_id": f"Your child id {la_child_id} is", "nhs_number": f"NHS number {nhs_number} is"}[field]
    where = f"case {other}" if named else "another child's case (tell the ICTG service)"
    raise IdentifierTaken(
        f"{what} already filed for {where}: one child, one case. If both are the same child, the ICTG service "
        "merges the referrals; otherwise correct the identifier.",
        errors=[field_error(f"/{field}", "already filed for another case")],
        extensions={"other_case_id": str(other)} if named else None,
    )
