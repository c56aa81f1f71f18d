"""Allocating a case to a worker whose role fits the pathway, within capacity unless overridden."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common import clock
from ictg_common.auth import Actor
from ictg_common.events import new_id

from .. import rules
from ..cases import repository as cases_repo
from ..cases.service import time_errors
from ..errors import RecordInvalid
from ..models import Allocation, Case
from ..settings import CasesSettings
from ..workers import repository as workers_repo
from . import repository
from .schemas import AllocationCreate


async def allocate(
    session: AsyncSession, case: Case, body: AllocationCreate, *, actor: Actor, settings: CasesSettings
) -> Allocation:
    now = clock.utcnow()
    allocated_at = body.allocated_at or now
    errors = time_errors(case, allocated_at, pointer="/allocated_at", now=now, settings=settings)
    worker = await workers_repo.get(session, body.worker_id, lock=True)
    if worker is None:
        errors.append(rules.err("/worker_id", "no such worker"))
    if errors:
        raise RecordInvalid(errors)
    assert worker is not None
    load = (await cases_repo.caseloads(session, [worker.id])).get(worker.id, 0)
    allocated = case.allocate(
        allocation_id=new_id(), worker_id=worker.id, role=worker.role, worker_region=worker.region,
        capacity=worker.capacity, caseload=load, override_reason=body.override_reason, allocated_at=allocated_at,
    )  # fmt: skip
    if (previous := await repository.current(session, case.id)) is not None:
        previous.ended_at = allocated_at
    row = Allocation(
        id=allocated.allocation_id, case_id=case.id, worker_id=worker.id, role=worker.role, allocated_at=allocated_at,
        over_capacity=allocated.over_capacity, override_reason=body.override_reason, recorded_at=now,
        recorded_by=actor.sub,
    )  # fmt: skip
    await cases_repo.add(session, row)
    return row
