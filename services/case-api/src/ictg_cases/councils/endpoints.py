"""A council's own endpoints: its identifiers for a child, and its SSDA903 export.

Both are for council tokens only (`org_type` `local_authority`): `la:write` to file identifiers on
a child that has been the council's responsibility, `la:read` to export its children's episodes."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from ictg_common import audit, clock
from ictg_common.auth import Actor, require
from ictg_common.errors import Forbidden, ValidationFailed, field_error
from ictg_common.service import SessionDep

from ..cases.access import Context, context, finish_read, is_council, open_for_read
from ..models import SCHEMA
from ..types import CaseId
from . import export, service
from .identifiers import LocalIdentifiersIn
from .view import Identifiers

router = APIRouter(tags=["councils"])
EARLIEST, LATEST = date(1990, 1, 1), date(2999, 12, 31)
COUNCIL_RESPONSES: dict[int | str, dict[str, str]] = {
    403: {"description": "Not a council's token, or not one of your children / authorities"},
    404: {"description": "No such case"},
    422: {"description": "Validation failed (identifiers, dates, local_authority_code)"},
}


def _council(request: Request, actor: Actor) -> Context:
    if not is_council(actor):
        raise Forbidden("This is for a council's token (org_type local_authority, claim la_codes).")
    return context(request, actor)


async def _writer(request: Request, actor: Annotated[Actor, require("la:write")]) -> Context:
    return _council(request, actor)


async def _reader(request: Request, actor: Annotated[Actor, require("la:read")]) -> Context:
    return _council(request, actor)


CouncilWriter = Annotated[Context, Depends(_writer)]
CouncilReader = Annotated[Context, Depends(_reader)]


@router.put("/v1/cases/{case_id}/local-identifiers", response_model=Identifiers, responses=COUNCIL_RESPONSES)
async def put_local_identifiers(
    case_id: CaseId, body: LocalIdentifiersIn, session: SessionDep, ctx: CouncilWriter
) -> Identifiers:
    """File (or replace) your own identifiers for a child who has been your responsibility: your child
    id (as in your SSDA903 returns), UPN (check letter validated), NHS number (modulus 11 validated).
    They are yours: no other council ever sees them. A closed case still takes them (returns are
    made after the child has left)."""
    resource = f"/v1/cases/{case_id}/local-identifiers"
    case, access = await open_for_read(session, ctx, case_id, action="local_identifiers.put")
    assert access.periods is not None
    row = await service.file_identifiers(
        session, ctx, case, access.periods, la_child_id=body.la_child_id, upn=body.upn, nhs_number=body.nhs_number,
        code=body.local_authority_code,
    )  # fmt: skip
    await finish_read(session, ctx, access, action="local_identifiers.put", resource=resource)
    return Identifiers.model_validate(row, from_attributes=True)


async def _export(
    session: SessionDep, ctx: Context, code: str | None, start: date | None, end: date | None, *, action: str
) -> tuple[str, date, date, export.Export]:
    held = await service.codes_held(ctx, [code] if code else [], action=action)
    if len(held) != 1:
        raise ValidationFailed(
            f"Your token answers for {', '.join(held)}: say which in local_authority_code.",
            errors=[field_error("#query/local_authority_code", f"one of {', '.join(held)}")],
        )
    today = clock.london_date(clock.utcnow())
    start = start or export.collection_year_start(today)
    end = end or today
    for name, day in (("from", start), ("to", end)):
        if not EARLIEST <= day <= LATEST:
            raise ValidationFailed(
                f"{name} must be a date from {EARLIEST.isoformat()} to {LATEST.isoformat()}.",
                errors=[field_error(f"#query/{name}", f"a date from {EARLIEST.isoformat()} to {LATEST.isoformat()}")],
            )
    if end < start:
        raise ValidationFailed(
            "to is before from.", errors=[field_error("#query/to", f"must not be before from ({start.isoformat()})")]
        )
    found = await export.missing(session, code=held[0], start=start, end=end)
    shown = [u.case_id for u in found.unidentified] if action.endswith("unidentified") else found.case_ids
    await audit.record_many(
        session, schema=SCHEMA, actor=ctx.actor, action=action, resources=[f"/v1/cases/{c}" for c in shown]
    )
    return held[0], start, end, found


From = Annotated[date | None, Query(alias="from", description="First day (default: 1 April of this collection year)")]
To = Annotated[date | None, Query(alias="to", description="Last day, inclusive (default: today)")]
Code = Annotated[str | None, Query(max_length=9, description="One of your la_codes (needed if you hold several)")]


@router.get(
    "/v1/exports/ssda903/missing",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}, "description": "The SSDA903 Missing table (CHILD,DOB,MISSING,MIS_START,MIS_END)"},
        **COUNCIL_RESPONSES,
    },
)  # fmt: skip
async def missing_export(
    session: SessionDep, ctx: CouncilReader, local_authority_code: Code = None, start: From = None, end: To = None
) -> Response:
    """Your children's missing episodes as the SSDA903 `Missing` table: `CHILD` is your `la_child_id`,
    dates `dd/mm/yyyy`, `MISSING` `M` (whereabouts unknown) or `A` (known). Episodes of children you
    have not identified are left out: `X-Unidentified-Episodes` counts them and
    `/v1/exports/ssda903/missing/unidentified` lists them by case."""
    code, start, end, found = await _export(
        session, ctx, local_authority_code, start, end, action="export.ssda903_missing"
    )
    name = f"ssda903-missing-{code}-{start.isoformat()}-{end.isoformat()}.csv"
    return Response(
        found.csv(), media_type="text/csv; charset=utf-8",
        headers={"X-Unidentified-Episodes": str(found.left_out), "Content-Disposition": f'attachment; filename="{name}"'},
    )  # fmt: skip


@router.get(
    "/v1/exports/ssda903/missing/unidentified", response_model=export.UnidentifiedPage, responses=COUNCIL_RESPONSES
)
async def missing_unidentified(
    session: SessionDep, ctx: CouncilReader, local_authority_code: Code = None, start: From = None, end: To = None
) -> export.UnidentifiedPage:
    """The children whose episodes the export left out, by case: file their `la_child_id`."""
    _code, _start, _end, found = await _export(
        session, ctx, local_authority_code, start, end, action="export.ssda903_unidentified"
    )
    return export.unidentified_page(found)
