from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from ictg_common import pagination
from ictg_common.auth import Actor, require
from ictg_common.service import SessionDep

from ..types import NO_NUL
from . import repository

router = APIRouter(prefix="/v1/audit", tags=["audit"])
Auditor = Annotated[Actor, require("audit:read")]


class AuditEntry(BaseModel):
    id: int
    time: datetime
    actor: str
    org: str | None
    action: str
    resource: str
    outcome: str
    request_id: str | None
    reason: str | None


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: str | None


@router.get("", response_model=AuditPage)
async def list_audit(
    session: SessionDep,
    _actor: Auditor,
    resource: Annotated[str | None, Query(max_length=200, pattern=NO_NUL, examples=["/v1/cases/0190…"])] = None,
    actor: Annotated[str | None, Query(max_length=200, pattern=NO_NUL)] = None,
    cursor: Annotated[str | None, Query(max_length=20)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditPage:
    """Who read or changed what, newest first (scope audit:read). `resource` includes what lies under it."""
    rows = await repository.page(
        session, resource=resource, actor=actor, before=pagination.int_key(cursor), limit=limit + 1
    )
    page, next_cursor = pagination.split(rows, limit, lambda r: str(r.id))
    return AuditPage(items=[AuditEntry.model_validate(r._mapping) for r in page], next_cursor=next_cursor)
