"""Read routes every kind of case record has: the list (`…/contacts`) and one (`…/contacts/{id}`)."""

from __future__ import annotations

from typing import Any, Generic, TypeVar
from uuid import UUID

from fastapi import APIRouter, Response
from pydantic import BaseModel

from ictg_common.errors import NotFound
from ictg_common.service import SessionDep

from ..rules import etag
from . import repository
from .access import CASE_RESPONSES, ReadCtx, finish_read, open_for_read

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def add_record_reads(
    router: APIRouter, *, path: str, model: Any, schema: type[BaseModel], order: str, noun: str
) -> None:
    """Register `GET /v1/cases/{case_id}/<path>` and `GET /v1/cases/{case_id}/<path>/{record_id}`."""
    action = f"{noun}.read"

    async def list_records(case_id: UUID, session: SessionDep, ctx: ReadCtx, response: Response) -> Any:
        case, access = await open_for_read(session, ctx, case_id, action=action)
        rows = await repository.records(session, model, case_id, order=getattr(model, order))
        await finish_read(session, ctx, access, action=action, resource=f"/v1/cases/{case_id}/{path}")
        response.headers["ETag"] = etag(case.version)
        return {"items": [schema.model_validate(r, from_attributes=True) for r in rows], "next_cursor": None}

    async def get_record(case_id: UUID, record_id: UUID, session: SessionDep, ctx: ReadCtx) -> Any:
        _case, access = await open_for_read(session, ctx, case_id, action=action)
        row = await repository.record(session, model, case_id, record_id)
        if row is None:
            raise NotFound(f"No such {noun.replace('_', ' ')} in this case.")
        await finish_read(session, ctx, access, action=action, resource=f"/v1/cases/{case_id}/{path}/{record_id}")
        return schema.model_validate(row, from_attributes=True)

    router.add_api_route(
        f"/v1/cases/{{case_id}}/{path}", list_records, methods=["GET"], response_model=Page[schema],  # type: ignore[valid-type]
        responses=CASE_RESPONSES, name=f"list_{path.replace('-', '_')}", summary=f"List the case's {path.replace('-', ' ')}",
    )  # fmt: skip
    router.add_api_route(
        f"/v1/cases/{{case_id}}/{path}/{{record_id}}", get_record, methods=["GET"], response_model=schema,
        responses=CASE_RESPONSES, name=f"get_{noun}", summary=f"One {noun.replace('_', ' ')} of the case",
    )  # fmt: skip
