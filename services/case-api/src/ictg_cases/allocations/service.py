"""Allocating a case to a worker whose role fits the pathway, within capacity unless overridden."""

from __future__ import annotations

from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common import clock
from ictg_common.auth import Actor
from ictg_common.codes import WorkerRole
from ictg_common.contracts import CaseAllocated
from ictg_common.events import new_id

from .. import rules
from ..cases import repository as cases_repo
from ..cases.events import publish
from ..cases.service import time_errors
from ..errors import AllocationConflict, RecordInvalid
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
    if not errors and case.allocated_at is not None and allocated_at < case.allocated_at:
        errors.append(
            rules.err("/allocated_at", f"must not be before the current allocation ({case.allocated_at.isoformat()})")
        )
    worker = await workers_repo.get(session, body.worker_id, lock=True)
    if worker is None:
        errors.append(rules.err("/worker_id", "no such worker"))
    elif not rules.role_fits(worker.role, case.pathway):
        errors.append(rules.err("/worker_id", f"a {worker.role} cannot hold a case on the {case.pathway} pathway"))
    elif worker.region != case.region:
        errors.append(rules.err("/worker_id", f"the worker is in {worker.region}; the case is in {case.region}"))
    if errors:
        raise RecordInvalid(errors)
    assert worker is not None
    if case.worker_id == worker.id:
        raise AllocationConflict("The case is already allocated to this worker.")
    load = (await cases_repo.caseloads(session, [worker.id])).get(worker.id, 0)
    over = rules.over_capacity(caseload=load, capacity=worker.capacity)
    if over and body.override_reason is None:
        raise RecordInvalid(
            [
                rules.err(
                    "/override_reason",
                    f"the worker is at capacity ({load} of {worker.capacity}): give an override_reason",
                )
            ]
        )
    previous = await repository.current(session, case.id)
    if previous is not None:
        previous.ended_at = allocated_at
    row = Allocation(
        id=new_id(), case_id=case.id, worker_id=worker.id, role=worker.role, allocated_at=allocated_at,
        over_capacity=over, override_reason=body.override_reason, recorded_at=now, recorded_by=actor.sub,
    )  # fmt: skip
    await cases_repo.add(session, row)
    case.worker_id = worker.id
    case.allocated_at = allocated_at
    case.first_allocated_at = case.first_allocated_at or allocated_at
    case.status = "allocated"
    data = CaseAllocated(
        case_id=case.id, referral_id=case.referral_id, allocation_id=row.id, worker_id=worker.id,
        role=cast(WorkerRole, worker.role),
        region=case.region, allocated_at=allocated_at, reallocation=previous is not None, over_capacity=over,
    )  # fmt: skip
    await publish(session, data, time=allocated_at, settings=settings)
    return row
