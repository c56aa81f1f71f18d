from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response
from ictg_common import audit
from ictg_common.auth import Actor, require
from ictg_common.errors import ValidationFailed
from ictg_common.service import SessionDep

from ..models import SCHEMA
from . import repository, service
from .schemas import Case, CasePage

router = APIRouter(prefix="/v1/cases", tags=["cases"])
Reader = Annotated[Actor, require("cases:read", "cases:write")]


@router.get("", response_model=CasePage)
async def list_cases(
    session: SessionDep,
    actor: Reader,
    referral_id: UUID | None = None,
    status: Literal["awaiting_allocation", "allocated", "exited"] | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> CasePage:
    try:
        after = UUID(cursor) if cursor else None
    except ValueError:
        raise ValidationFailed("Invalid cursor.", errors=[{"pointer": "#query/cursor", "detail": "not a cursor"}]) from None
    rows = await repository.listing(
        session, referral_id=referral_id, status=status, regions=actor.regions, after=after, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    await audit.record(session, schema=SCHEMA, actor=actor, action="case.list", resource="/v1/cases")
    return CasePage(
        items=[Case.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=str(rows[-1].id) if more else None,
    )


@router.get("/{case_id}", response_model=Case)
async def get_case(case_id: UUID, session: SessionDep, actor: Reader, response: Response) -> Case:
    case = await service.read(session, case_id, actor=actor)
    await audit.record(session, schema=SCHEMA, actor=actor, action="case.read", resource=f"/v1/cases/{case_id}")
    response.headers["ETag"] = f'"{case.version}"'
    return Case.model_validate(case, from_attributes=True)
