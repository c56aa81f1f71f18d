"""A council's own endpoints: its identifiers for a child, its SSDA903 export and Annex A List 8.

All are for council tokens only (`org_type` `local_authority`): `la:write` to file identifiers on
a child that has been the council's responsibility, `la:read` to export its children's episodes."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from ictg_common import audit, clock
from ictg_common.auth import Actor, require
from ictg_common.errors import Forbidden, ValidationFailed, field_error
from ictg_common.service import SessionDep

from ..cases.access import Context, context, finish_read, is_council, open_for_read
from ..models import SCHEMA
from ..types import CaseId
from . import annex_a, export, service
from .identifiers import LocalIdentifiersIn
from .view import Identifiers

router = APIRouter(tags=["councils"])
EARLIEST, LATEST = date(1990, 1, 1), date(2999, 12, 31)
COUNCIL_RESPONSES: dict[int | str, dict[str, str]] = {
    403: {"description": "Not a council's token, or not one of your children / authorities"},
    404: {"description": "No such case"},
    422: {"description": "Validation failed (identifiers, dates, local_authority_code)"},
}
EXPORT_RESPONSES = {status: r for status, r in COUNCIL_RESPONSES.items() if status != 404}  # no case in the path


def _council(request: Request, actor: Actor) -> Context:
    if not is_council(actor):
        raise Forbidden("This is for a council's token (org_type local_authority, claim la_codes).")
    return context(request, actor)


async def _writer(request: Request, actor: Annotated[Actor, require(council=("la:write",))]) -> Context:
    return _council(request, actor)


async def _reader(request: Request, actor: Annotated[Actor, require(council=("la:read",))]) -> Context:
    return _council(request, actor)


CouncilWriter = Annotated[Context, Depends(_writer)]
CouncilReader = Annotated[Context, Depends(_reader)]


@router.put(
    "/v1/cases/{case_id}/local-identifiers", response_model=Identifiers,
    responses={**COUNCIL_RESPONSES, 409: {"description": "Your child id, or an NHS number, already filed for another of your cases"}},
)  # fmt: skip
async def put_local_identifiers(
    case_id: CaseId, body: LocalIdentifiersIn, session: SessionDep, ctx: CouncilWriter
) -> Identifiers:
    """File (or replace) your own identifiers for a child who has been your responsibility: your child
    id (as in your SSDA903 returns), UPN (check letter validated), NHS number (modulus 11 validated),
    whether you look after the child, and the date of birth you record (used in your exports only when the
    service has just an estimated age). They are yours: no other council ever sees them. A closed case still
    takes them (returns are made after the child has left). Your child id is refused on a second child of the
    same authority, an NHS number on a second case: 409 naming the other case (`other_case_id`) when it is
    one of yours. Filing moves the case in your change feed."""
    resource = f"/v1/cases/{case_id}/local-identifiers"
    case, access = await open_for_read(session, ctx, case_id, action="local_identifiers.put")
    assert access.periods is not None
    row = await service.file_identifiers(
        session, ctx, case, access.periods, la_child_id=body.la_child_id, upn=body.upn, nhs_number=body.nhs_number,
        code=body.local_authority_code, looked_after=body.looked_after, date_of_birth=body.date_of_birth,
    )  # fmt: skip
    await finish_read(session, ctx, access, action="local_identifiers.put", resource=resource)
    return Identifiers.model_validate(row, from_attributes=True)


async def _export(
    session: SessionDep, ctx: Context, code: str | None, start: date | None, end: date | None, *, action: str,
    everyone: bool = False,
) -> tuple[str, date, date, export.Export]:  # fmt: skip
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
    found = await export.missing(session, code=held[0], start=start, end=end, everyone=everyone)
    shown = [u.case_id for u in found.unidentified] if action.endswith("unidentified") else found.case_ids
    await audit.record_many(
        session, schema=SCHEMA, actor=ctx.actor, action=action, resources=[f"/v1/cases/{c}" for c in shown]
    )
    return held[0], start, end, found


From = Annotated[date | None, Query(alias="from", description="First day (default: 1 April of this collection year)")]
To = Annotated[date | None, Query(alias="to", description="Last day, inclusive (default: today)")]
Code = Annotated[str | None, Query(max_length=9, description="One of your la_codes (needed if you hold several)")]
Everyone = Annotated[
    bool,
    Query(
        alias="all",
        description="true: every child you have identified; false (default): only the children you look after "
        "(`looked_after` filed with your identifiers)",
    ),
]


@router.get(
    "/v1/exports/ssda903/missing",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}, "description": "The SSDA903 Missing table (CHILD,DOB,MISSING,MIS_START,MIS_END)"},
        **EXPORT_RESPONSES,
    },
)  # fmt: skip
async def missing_export(
    session: SessionDep, ctx: CouncilReader, local_authority_code: Code = None, start: From = None, end: To = None,
    everyone: Everyone = False,
) -> Response:  # fmt: skip
    """Your children's missing episodes as the SSDA903 `Missing` table: `CHILD` is your `la_child_id`,
    dates `dd/mm/yyyy`, `MISSING` `M` (whereabouts unknown) or `A` (known), `DOB` the service's date of
    birth or, when it has only an estimated age, the one you filed. Which children: those you look after
    (`looked_after` filed with your identifiers), as your SSDA903 Header holds; `all=true` for every child
    you have identified (`X-Not-Looked-After-Episodes` counts the episodes the default leaves out).
    Episodes of children you have not identified, or whose date of birth neither the service nor you
    have, are left out: `X-Unidentified-Episodes` counts them and
    `/v1/exports/ssda903/missing/unidentified` lists them by case."""
    code, start, end, found = await _export(
        session, ctx, local_authority_code, start, end, action="export.ssda903_missing", everyone=everyone
    )
    name = f"ssda903-missing-{code}-{start.isoformat()}-{end.isoformat()}.csv"
    return Response(
        found.csv(), media_type="text/csv; charset=utf-8",
        headers={"X-Unidentified-Episodes": str(found.left_out),
                 "X-Not-Looked-After-Episodes": str(found.not_looked_after),
                 "Content-Disposition": f'attachment; filename="{name}"'},
    )  # fmt: skip


@router.get(
    "/v1/exports/ssda903/missing/unidentified", response_model=export.UnidentifiedPage, responses=EXPORT_RESPONSES
)
async def missing_unidentified(
    session: SessionDep, ctx: CouncilReader, local_authority_code: Code = None, start: From = None, end: To = None,
    everyone: Everyone = False,
) -> export.UnidentifiedPage:  # fmt: skip
    """The children whose episodes the export (with the same `all`) left out, by case: file their `la_child_id`,
    or the `date_of_birth` you record."""
    _code, _start, _end, found = await _export(
        session, ctx, local_authority_code, start, end, action="export.ssda903_unidentified", everyone=everyone
    )
    return export.unidentified_page(found)


AsAt = Annotated[date | None, Query(description="The last day of the 12 months (default: today)")]
Format = Annotated[
    Literal["json", "csv"] | None, Query(alias="format", description="`csv` for CSV (or send `Accept: text/csv`).")
]


@router.get(
    "/v1/exports/annex-a/list-8",
    response_model=annex_a.List8,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}},
              "description": "Annex A List 8's missing columns (CSV: Ofsted's headings)"},
        403: COUNCIL_RESPONSES[403],
        422: {"description": "Validation failed (as_at, format, local_authority_code)"},
    },
)  # fmt: skip
async def annex_a_list_8(
    request: Request, session: SessionDep, ctx: CouncilReader, local_authority_code: Code = None, as_at: AsAt = None,
    fmt: Format = None,
) -> Response | annex_a.List8:  # fmt: skip
    """Ofsted's Annex A List 8 (children in care), its missing columns, for the children you look after
    (`looked_after` filed with your identifiers): in the 12 months up to `as_at`, the number of episodes each
    was missing (whereabouts unknown) and absent (whereabouts known) while yours, and whether a return home
    interview was offered and accepted after the last missing episode (from its return interview record, or,
    when none is recorded, offered as the return said and accepted blank). JSON, or CSV under Ofsted's column
    headings (`format=csv` or
    `Accept: text/csv`), one row per child by your `Child Unique ID` (`la_child_id`)."""
    action = "export.annex_a_list_8"
    held = await service.codes_held(ctx, [local_authority_code] if local_authority_code else [], action=action)
    if len(held) != 1:
        raise ValidationFailed(
            f"Your token answers for {', '.join(held)}: say which in local_authority_code.",
            errors=[field_error("#query/local_authority_code", f"one of {', '.join(held)}")],
        )
    today = clock.london_date(clock.utcnow())
    as_at = as_at or today
    if not EARLIEST <= as_at <= today:
        raise ValidationFailed(
            f"as_at must be a date from {EARLIEST.isoformat()} to today ({today.isoformat()}).",
            errors=[field_error("#query/as_at", f"a date from {EARLIEST.isoformat()} to {today.isoformat()}")],
        )
    answer = await annex_a.list_8(session, code=held[0], as_at=as_at)
    await audit.record_many(
        session,
        schema=SCHEMA,
        actor=ctx.actor,
        action=action,
        resources=[f"/v1/cases/{r.case_id}" for r in answer.items],
    )
    if fmt == "csv" or (fmt is None and "text/csv" in request.headers.get("accept", "")):
        name = f"annex-a-list-8-{held[0]}-{as_at.isoformat()}.csv"
        return Response(
            annex_a.to_csv(answer), media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )  # fmt: skip
    return answer
