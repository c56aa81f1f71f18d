"""Read routes every kind of case record has: the list (`…/contacts`) and one (`…/contacts/{id}`)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from ictg_common.errors import NotFound
from ictg_common.service import SessionDep

from ..cases import repository
from ..cases.access import CASE_RESPONSES, Access, ReadCtx, finish_read, open_for_read, refuse
from ..cases.record_kind import RecordKind
from ..councils import view as council
from ..rules import etag
from ..types import CaseId, RecordId

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T] = Field(
        description="The case's records of this kind, oldest first; a council sees only those dated inside its periods."
    )
    next_cursor: str | None = Field(default=None, description="Always null: one case's records come in one page.")


def add_record_reads(router: APIRouter, kind: RecordKind) -> None:
    """Register `GET /v1/cases/{case_id}/<path>` and `GET /v1/cases/{case_id}/<path>/{record_id}`, oldest first.

    A council's token sees the records its view shares (`councils/view.py`), dated inside its periods,
    with only the fields it may see; the kinds it is not shared are 403."""
    path, noun, model, order = kind.path, kind.noun, kind.row, kind.time
    schema = kind.out
    assert schema is not None
    action = f"{noun}.read"
    shared = council.shared(path)
    council_schema = council.council_schema(schema, path) if shared else None
    out: Any = schema if council_schema is None else schema | council_schema
    page: Any = Page[schema] if council_schema is None else Page[schema] | Page[council_schema]  # type: ignore[valid-type]
    refused = f"{path.replace('-', ' ').capitalize()} are not shared with councils: a council sees only what it needs as the child's corporate parent."

    async def opened(session: SessionDep, ctx: Any, case_id: UUID) -> tuple[Any, Access]:
        if ctx.actor.council and not shared:
            await refuse(ctx, action=action, resource=f"/v1/cases/{case_id}/{path}", detail=refused)
        return await open_for_read(session, ctx, case_id, action=action)

    def shown(rows: list[Any], access: Access) -> list[Any]:
        if access.periods is None:
            return [schema.model_validate(r, from_attributes=True) for r in rows]
        assert council_schema is not None
        return [council_schema.model_validate(seen) for seen in council.records(path, rows, access.periods)]

    async def list_records(case_id: CaseId, session: SessionDep, ctx: ReadCtx, response: Response) -> Any:
        case, access = await opened(session, ctx, case_id)
        rows = await repository.records(session, model, case_id, order=getattr(model, order))
        await finish_read(session, ctx, access, action=action, resource=f"/v1/cases/{case_id}/{path}")
        if access.periods is None:  # a council must not watch the version move after its period
            response.headers["ETag"] = etag(case.version)
        # A page of the exact class, so the response's union of both pages never mistakes one for the other.
        shape = Page[schema] if access.periods is None else Page[council_schema]  # type: ignore[valid-type]
        return shape(items=shown(rows, access), next_cursor=None)

    async def get_record(case_id: CaseId, record_id: RecordId, session: SessionDep, ctx: ReadCtx) -> Any:
        _case, access = await opened(session, ctx, case_id)
        row = await repository.record(session, model, case_id, record_id)
        found = shown([row], access) if row is not None else []
        if not found:
            raise NotFound(f"No such {noun.replace('_', ' ')} in this case.")
        await finish_read(session, ctx, access, action=action, resource=f"/v1/cases/{case_id}/{path}/{record_id}")
        return found[0]

    router.add_api_route(
        f"/v1/cases/{{case_id}}/{path}", list_records, methods=["GET"], response_model=page,
        responses=CASE_RESPONSES, tags=[kind.tag], name=f"list_{path.replace('-', '_')}", summary=f"List the case's {path.replace('-', ' ')}",
    )  # fmt: skip
    router.add_api_route(
        f"/v1/cases/{{case_id}}/{path}/{{record_id}}", get_record, methods=["GET"], response_model=out,
        responses=CASE_RESPONSES, tags=[kind.tag], name=f"get_{noun}", summary=f"One {noun.replace('_', ' ')} of the case",
    )  # fmt: skip
