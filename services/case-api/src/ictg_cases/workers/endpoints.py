from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse

from ictg_common import audit, pagination
from ictg_common.auth import Actor, require
from ictg_common.codes import WorkerRole
from ictg_common.idempotency import documented
from ictg_common.service import SessionDep

from ..cases.idempotency import Idempotent
from ..models import SCHEMA
from . import service
from .schemas import Region, Worker, WorkerCreate, WorkerPage

router = APIRouter(prefix="/v1/workers", tags=["workers"])
Admin = Annotated[Actor, require("cases:admin")]
Reader = Annotated[Actor, require("cases:read", "cases:write", "cases:admin")]
WorkerId = Annotated[UUID, Path(description="The worker's id (`id` of a worker in GET /v1/workers).")]


@router.post(
    "", status_code=201, response_model=Worker, responses=documented({422: {"description": "Validation failed"}})
)
async def create_worker(
    body: WorkerCreate, session: SessionDep, actor: Admin, response: Response, idem: Idempotent
) -> Worker | JSONResponse:
    """Add a guardian, practice co-ordinator, practitioner or manager (scope cases:admin)."""
    if (replay := await idem.replay(session, action="worker.create")) is not None:
        return replay
    worker = await service.create(session, body)
    location = f"/v1/workers/{worker.id}"
    await audit.record(session, schema=SCHEMA, actor=actor, action="worker.create", resource=location)
    response.headers["Location"] = location
    return await idem.save(session, worker, response)


@router.get("", response_model=WorkerPage)
async def list_workers(
    session: SessionDep,
    actor: Reader,
    region: Annotated[
        list[Region], Query(description="Only workers of these regions (repeat for several); all when omitted.")
    ] = [],  # noqa: B006
    role: Annotated[
        list[WorkerRole], Query(description="Only workers with these roles (repeat for several); all when omitted.")
    ] = [],  # noqa: B006
    cursor: Annotated[
        str | None, Query(max_length=100, description="The `next_cursor` of the previous page; omit for the first.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Page size, 1–500 (default 100).")] = 100,
) -> WorkerPage:
    """Workers with their current caseload (open cases allocated to them)."""
    after = pagination.uuid_key(cursor)
    items, next_cursor = await service.page(session, regions=list(region), roles=list(role), after=after, limit=limit)
    await audit.record(session, schema=SCHEMA, actor=actor, action="worker.list", resource="/v1/workers")
    return WorkerPage(items=items, next_cursor=next_cursor)


@router.get("/{worker_id}", response_model=Worker, responses={404: {"description": "No such worker"}})
async def get_worker(worker_id: WorkerId, session: SessionDep, actor: Reader) -> Worker:
    worker = await service.read(session, worker_id)
    await audit.record(session, schema=SCHEMA, actor=actor, action="worker.read", resource=f"/v1/workers/{worker_id}")
    return worker
