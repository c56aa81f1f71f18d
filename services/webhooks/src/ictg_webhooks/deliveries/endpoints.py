"""The delivery log, retry and replay of the caller's organisation's subscriptions (scope
`webhooks:manage`): another's are 404."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Query

from ictg_common.errors import ValidationFailed, field_error
from ictg_common.inputs import query_time
from ictg_common.service import SessionDep

from ..models import PENDING
from ..subscriptions import schemas
from ..subscriptions.endpoints import RESPONSES, Cursor, Limit, Manager, SubId
from . import service
from .service import STATUSES, Logged

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def _out(logged: Logged) -> schemas.DeliveryOut:
    d = logged.delivery
    return schemas.DeliveryOut(
        id=d.id,
        event_id=d.event_id,
        event_type=logged.event_type,
        status=d.status,
        attempts=[schemas.AttemptOut.model_validate(a, from_attributes=True) for a in logged.attempts],
        next_attempt_at=d.next_attempt_at if d.status == PENDING else None,
        created_at=d.created_at,
        delivered_at=d.delivered_at,
    )


@router.get("/subscriptions/{sub_id}/deliveries", response_model=schemas.DeliveryPage, responses=RESPONSES)
async def list_deliveries(
    sub_id: SubId,
    session: SessionDep,
    actor: Manager,
    status: Annotated[
        list[str],
        Query(
            max_length=4,
            description="Only deliveries of these statuses (repeat it): pending, delivered, failed, cancelled.",
        ),
    ] = [],  # noqa: B006 - FastAPI copies defaults
    cursor: Cursor = None,
    limit: Limit = 100,
) -> schemas.DeliveryPage:
    """The delivery log, newest first: every attempt's time, status code, latency and error."""
    bad = [s for s in status if s not in STATUSES]
    if bad:
        raise ValidationFailed(
            f"Unknown status {bad}: pending, delivered, failed or cancelled.",
            errors=[field_error("#query/status", "pending, delivered, failed or cancelled")],
        )
    rows, next_cursor = await service.log(session, sub_id, actor=actor, statuses=status, cursor=cursor, limit=limit)
    return schemas.DeliveryPage(items=[_out(r) for r in rows], next_cursor=next_cursor)


@router.post(
    "/deliveries/{delivery_id}/retry", status_code=202, response_model=schemas.Queued,
    responses={404: {"description": "No such delivery of your organisation's subscriptions"}},
)  # fmt: skip
async def retry_delivery(
    delivery_id: Annotated[UUID, Path(description="The delivery's id, from the delivery log.")],
    session: SessionDep,
    actor: Manager,
) -> schemas.Queued:
    """Send a delivery again now (the retry schedule starts over)."""
    return schemas.Queued(queued=await service.retry(session, delivery_id, actor=actor))


@router.post("/subscriptions/{sub_id}/replay", status_code=202, response_model=schemas.Queued, responses=RESPONSES)
async def replay(
    sub_id: SubId,
    session: SessionDep,
    actor: Manager,
    since: Annotated[
        datetime,
        Query(description="Re-send every matching event received at or after this time (RFC 3339, with offset)."),
    ],
) -> schemas.Queued:
    """Re-send every event received since `since` that this subscription matches now (from the
    stored events), delivered before or not: each keeps its `webhook-id`."""
    since = query_time(since, "since")
    return schemas.Queued(queued=await service.replay(session, sub_id, actor=actor, since=since))
