"""Subscriptions of the caller's organisation (scope `webhooks:manage`): another's are 404."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ictg_common import pagination
from ictg_common.auth import Actor, require
from ictg_common.service import SessionDep

from ..models import Subscription
from ..runtime import WebhooksRuntimeDep
from ..sender import Pool
from ..settings import WebhooksSettings
from . import schemas, service

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
Manager = Annotated[Actor, require("webhooks:manage")]
RESPONSES: dict[int | str, dict[str, Any]] = {404: {"description": "No such subscription of your organisation"}}
SubId = Annotated[UUID, Path(description="The subscription's id.")]
Cursor = Annotated[str | None, Query(max_length=100, description=pagination.CURSOR)]
Limit = Annotated[int, Query(ge=1, le=500, description=pagination.LIMIT)]


def _settings(runtime: WebhooksRuntimeDep) -> WebhooksSettings:
    return runtime.settings


def _sessions(runtime: WebhooksRuntimeDep) -> async_sessionmaker[AsyncSession]:
    return runtime.sessionmaker


def _client(runtime: WebhooksRuntimeDep) -> Pool:
    return runtime.extras.client


SettingsDep = Annotated[WebhooksSettings, Depends(_settings)]
SessionsDep = Annotated[async_sessionmaker[AsyncSession], Depends(_sessions)]
ClientDep = Annotated[Pool, Depends(_client)]


S = TypeVar("S", bound=schemas.Subscription)


def _out(sub: Subscription, model: type[S], **extra: Any) -> S:
    until = sub.previous_secret_until if sub.previous_secret and sub.previous_secret_until else None
    values = {k: getattr(sub, k) for k in schemas.Subscription.model_fields if hasattr(sub, k)}
    return model.model_validate({**values, "previous_secret_valid_until": until, **extra})


@router.post("/subscriptions", status_code=201, response_model=schemas.SubscriptionCreated)
async def create_subscription(
    body: schemas.SubscriptionCreate, session: SessionDep, actor: Manager, settings: SettingsDep, response: Response
) -> schemas.SubscriptionCreated:
    """Subscribe a receiving URL. The answer carries the signing secret (`whsec_…`), once."""
    sub = await service.create(session, body, actor=actor, settings=settings)
    response.headers["Location"] = f"/v1/webhooks/subscriptions/{sub.id}"
    return _out(sub, schemas.SubscriptionCreated, secret=sub.secret)


@router.get("/subscriptions", response_model=schemas.SubscriptionPage)
async def list_subscriptions(
    session: SessionDep,
    actor: Manager,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> schemas.SubscriptionPage:
    rows, next_cursor = await service.page(session, actor=actor, cursor=cursor, limit=limit)
    return schemas.SubscriptionPage(items=[_out(s, schemas.Subscription) for s in rows], next_cursor=next_cursor)


@router.get("/subscriptions/{sub_id}", response_model=schemas.Subscription, responses=RESPONSES)
async def get_subscription(sub_id: SubId, session: SessionDep, actor: Manager) -> schemas.Subscription:
    return _out(await service.own(session, actor, sub_id), schemas.Subscription)


@router.patch("/subscriptions/{sub_id}", response_model=schemas.Subscription, responses=RESPONSES)
async def update_subscription(
    sub_id: SubId, body: schemas.SubscriptionUpdate, session: SessionDep, actor: Manager, settings: SettingsDep
) -> schemas.Subscription:
    """Change the url, types, authorities or description; `enabled: true` re-enables a disabled one."""
    return _out(await service.update(session, sub_id, body, actor=actor, settings=settings), schemas.Subscription)


@router.delete("/subscriptions/{sub_id}", status_code=204, responses=RESPONSES)
async def delete_subscription(sub_id: SubId, session: SessionDep, actor: Manager) -> Response:
    await service.delete(session, sub_id, actor=actor)
    return Response(status_code=204)


@router.post("/subscriptions/{sub_id}/rotate-secret", response_model=schemas.Rotated, responses=RESPONSES)
async def rotate_secret(sub_id: SubId, session: SessionDep, actor: Manager, settings: SettingsDep) -> schemas.Rotated:
    """A new signing secret; the old one keeps signing beside it (two signatures in the header) for
    `ICTG_WEBHOOKS_ROTATION_OVERLAP_SECONDS` (24 h), so receivers can switch without a gap."""
    sub = await service.rotate_secret(session, sub_id, actor=actor, settings=settings)
    assert sub.previous_secret_until is not None  # set by the rotation
    return schemas.Rotated(secret=sub.secret, previous_secret_valid_until=sub.previous_secret_until)


@router.post("/subscriptions/{sub_id}/ping", response_model=schemas.PingOut, responses=RESPONSES)
async def ping(
    sub_id: SubId, sessions: SessionsDep, actor: Manager, settings: SettingsDep, client: ClientDep
) -> schemas.PingOut:
    """Send a signed `ictg.webhook.ping.v1` now and answer how the receiver took it (it is in the
    delivery log too, and never retried)."""
    done = await service.ping(sessions, sub_id, actor=actor, settings=settings, client=client)
    outcome = done.outcome
    return schemas.PingOut(
        delivery_id=done.delivery_id,
        ok=outcome.ok,
        status_code=outcome.status_code,
        latency_ms=outcome.latency_ms,
        error=outcome.error,
    )
