"""Subscriptions of the caller's organisation (scope `webhooks:manage`): another's are 404."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request, Response
from sqlalchemy import delete, select, update

from ictg_common import clock, pagination, policy
from ictg_common.auth import FIRST_RESPONDERS, Actor, require
from ictg_common.contracts import ReferralStatusChanged
from ictg_common.errors import Conflict, Forbidden, NotFound, ValidationFailed, field_error
from ictg_common.events import CloudEvent, new_id
from ictg_common.inputs import query_time
from ictg_common.service import SessionDep

from .. import sender, signing, targets
from ..models import PENDING, Attempt, Delivery, StoredEvent, Subscription
from ..routing import replay_since
from ..settings import WebhooksSettings
from ..worker import Job, record, signing_secrets
from . import schemas

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
Manager = Annotated[Actor, require("webhooks:manage")]
RESPONSES: dict[int | str, dict[str, Any]] = {404: {"description": "No such subscription of your organisation"}}
SubId = Annotated[UUID, Path(description="The subscription's id.")]
Cursor = Annotated[str | None, Query(max_length=100, description=pagination.CURSOR)]
Limit = Annotated[int, Query(ge=1, le=500, description=pagination.LIMIT)]


def _settings(request: Request) -> WebhooksSettings:
    settings: WebhooksSettings = request.app.state.settings
    return settings


async def _target_ok(request: Request, url: str) -> None:
    """The URL's shape, and where it resolves now (checked again at every delivery)."""
    settings = _settings(request)
    problem = targets.url_problem(url, https_required=settings.https_required)
    if problem is None:
        try:
            await targets.resolve_target(url, allow_private=settings.allow_private_targets)
        except targets.TargetRefused as exc:
            problem = str(exc)
    if problem is not None:
        raise ValidationFailed(f"The url cannot be delivered to: {problem}.", errors=[field_error("/url", problem)])


STATUS = ReferralStatusChanged.TYPE


def _types_for(actor: Actor, asked: list[str]) -> list[str]:
    """The event types an organisation may subscribe to (`ictg_common.policy`): the service's staff any,
    a council those the council API shows of its children, anyone else no child-level event (so none
    but its own subscriptions' `webhook.*` events, which it gets without asking)."""
    receivable = policy.receivable(actor.org_type)
    if receivable is None:
        return asked
    council = policy.audience(actor.org_type) == "council"
    if not council and actor.org_type not in FIRST_RESPONDERS:
        raise Forbidden(
            f"An organisation of type {actor.org_type!r} receives no events about children by webhook: they go to "
            "councils (their own children), to first responders (how the referrals they filed stand) and to the "
            "ICTG service."
        )
    refused = sorted(set(asked) - receivable)
    if refused:
        why = "the service's own records" if council else f"a first responder gets {STATUS} of its own referrals"
        detail = f"not for your organisation: {', '.join(refused)} ({why})"
        raise ValidationFailed(f"These event types are {detail}.", errors=[field_error("/event_types", detail)])
    return asked


def _codes_for(actor: Actor, asked: list[str]) -> list[str]:
    """A council subscribes to its own authorities only (all of them when it names none); a first responder's
    subscription follows the referrals it filed, not authorities."""
    if not actor.council:
        if asked and policy.audience(actor.org_type) != "staff":
            detail = "a first responder's subscription follows the referrals it filed, wherever the child is"
            raise ValidationFailed(f"local_authority_codes: {detail}.",
                                   errors=[field_error("/local_authority_codes", detail)])  # fmt: skip
        return asked
    if not actor.la_codes:
        raise Forbidden("A council's token names the authorities it answers for (claim la_codes): this one names none.")
    codes, foreign = actor.authorities(asked)
    if foreign:
        raise Forbidden(actor.not_held(foreign))
    return sorted(codes)


def _org(actor: Actor) -> tuple[str, str]:
    org_type, org_name = actor.organisation
    if not org_type or not org_name:
        raise Forbidden("Webhooks belong to an organisation: the token needs org_type and org_name.")
    return org_type, org_name


async def _own(session: SessionDep, actor: Actor, sub_id: UUID, *, lock: bool = False) -> Subscription:
    org_type, org_name = _org(actor)
    q = select(Subscription).where(
        Subscription.id == sub_id, Subscription.org_type == org_type, Subscription.org_name == org_name
    )
    if lock:
        q = q.with_for_update()
    sub = (await session.scalars(q)).first()
    if sub is None:
        raise NotFound("No such subscription of your organisation.")
    return sub


def _out(sub: Subscription, model: type[schemas.Subscription] = schemas.Subscription, **extra: Any) -> Any:
    until = sub.previous_secret_until if sub.previous_secret and sub.previous_secret_until else None
    values = {k: getattr(sub, k) for k in schemas.Subscription.model_fields if hasattr(sub, k)}
    return model.model_validate({**values, "previous_secret_valid_until": until, **extra})


@router.post("/subscriptions", status_code=201, response_model=schemas.SubscriptionCreated, responses=RESPONSES)
async def create_subscription(
    body: schemas.SubscriptionCreate, session: SessionDep, actor: Manager, request: Request, response: Response
) -> schemas.SubscriptionCreated:
    """Subscribe a receiving URL. The answer carries the signing secret (`whsec_…`), once."""
    org_type, org_name = _org(actor)
    types = _types_for(actor, body.event_types)
    codes = _codes_for(actor, body.local_authority_codes)
    await _target_ok(request, body.url)
    now = clock.utcnow()
    sub = Subscription(
        id=new_id(), org_type=org_type, org_name=org_name, created_by=actor.sub, url=body.url,
        event_types=types, local_authority_codes=codes, description=body.description, enabled=True,
        secret=signing.new_secret(), created_at=now, updated_at=now,
    )  # fmt: skip
    session.add(sub)
    await session.flush()
    response.headers["Location"] = f"/v1/webhooks/subscriptions/{sub.id}"
    out: schemas.SubscriptionCreated = _out(sub, schemas.SubscriptionCreated, secret=sub.secret)
    return out


@router.get("/subscriptions", response_model=schemas.SubscriptionPage)
async def list_subscriptions(
    session: SessionDep,
    actor: Manager,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> schemas.SubscriptionPage:
    org_type, org_name = _org(actor)
    after = pagination.uuid_key(cursor)
    q = (
        select(Subscription)
        .where(Subscription.org_type == org_type, Subscription.org_name == org_name)
        .order_by(Subscription.id)
        .limit(limit + 1)
    )
    if after is not None:
        q = q.where(Subscription.id > after)
    rows, next_cursor = pagination.split(list((await session.scalars(q)).all()), limit, lambda s: str(s.id))
    return schemas.SubscriptionPage(items=[_out(s) for s in rows], next_cursor=next_cursor)


@router.get("/subscriptions/{sub_id}", response_model=schemas.Subscription, responses=RESPONSES)
async def get_subscription(sub_id: SubId, session: SessionDep, actor: Manager) -> schemas.Subscription:
    out: schemas.Subscription = _out(await _own(session, actor, sub_id))
    return out


@router.patch("/subscriptions/{sub_id}", response_model=schemas.Subscription, responses=RESPONSES)
async def update_subscription(
    sub_id: SubId, body: schemas.SubscriptionUpdate, session: SessionDep, actor: Manager, request: Request
) -> schemas.Subscription:
    """Change the url, types, authorities or description; `enabled: true` re-enables a disabled one."""
    sub = await _own(session, actor, sub_id, lock=True)
    if body.url is not None:
        await _target_ok(request, body.url)
        sub.url = body.url
    if body.event_types is not None:
        sub.event_types = _types_for(actor, body.event_types)
    if body.local_authority_codes is not None:
        sub.local_authority_codes = _codes_for(actor, body.local_authority_codes)
    if body.description is not None:
        sub.description = body.description
    if body.enabled is True and not sub.enabled:
        sub.enabled, sub.disabled_reason, sub.disabled_at, sub.failing_since = True, None, None, None
    elif body.enabled is False and sub.enabled:
        sub.enabled, sub.disabled_reason, sub.disabled_at = False, "by_owner", clock.utcnow()
        await session.execute(
            update(Delivery).where(Delivery.subscription_id == sub.id, Delivery.status == PENDING)
            .values(status="cancelled", lease_until=None)
        )  # fmt: skip
    sub.updated_at = clock.utcnow()
    await session.flush()
    out: schemas.Subscription = _out(sub)
    return out


@router.delete("/subscriptions/{sub_id}", status_code=204, responses=RESPONSES)
async def delete_subscription(sub_id: SubId, session: SessionDep, actor: Manager) -> Response:
    sub = await _own(session, actor, sub_id, lock=True)
    await session.execute(delete(Subscription).where(Subscription.id == sub.id))
    return Response(status_code=204)


@router.post("/subscriptions/{sub_id}/rotate-secret", response_model=schemas.Rotated, responses=RESPONSES)
async def rotate_secret(sub_id: SubId, session: SessionDep, actor: Manager, request: Request) -> schemas.Rotated:
    """A new signing secret; the old one keeps signing beside it (two signatures in the header) for
    `ICTG_WEBHOOKS_ROTATION_OVERLAP_SECONDS` (24 h), so receivers can switch without a gap."""
    sub = await _own(session, actor, sub_id, lock=True)
    now = clock.utcnow()
    sub.previous_secret, sub.secret = sub.secret, signing.new_secret()
    sub.previous_secret_until = now + timedelta(seconds=_settings(request).rotation_overlap_seconds)
    sub.updated_at = now
    await session.flush()
    return schemas.Rotated(secret=sub.secret, previous_secret_valid_until=sub.previous_secret_until)


@router.post("/subscriptions/{sub_id}/ping", response_model=schemas.PingOut, responses=RESPONSES)
async def ping(sub_id: SubId, session: SessionDep, actor: Manager, request: Request) -> schemas.PingOut:
    """Send a signed `ictg.webhook.ping.v1` now and answer how the receiver took it (it is in the
    delivery log too, and never retried)."""
    sub = await _own(session, actor, sub_id)
    await session.commit()  # no transaction stays open while the receiver takes its time
    settings = _settings(request)
    now = clock.utcnow()
    event = CloudEvent(
        id=new_id(), source="/ictg/webhooks", type="ictg.webhook.ping.v1", subject=str(sub.id), time=now,
        data={"subscription_id": str(sub.id)},
    )  # fmt: skip
    delivery_id = new_id()
    sessionmaker = request.app.state.sessionmaker
    async with sessionmaker() as own, own.begin():
        own.add(StoredEvent(id=event.id, type=event.type, subject=event.subject, time=now, local_authority_codes=[],
                            body=event.model_dump(mode="json"), received_at=now))  # fmt: skip
        await own.flush()  # the event before the delivery that names it
        own.add(Delivery(id=delivery_id, subscription_id=sub.id, event_id=event.id, status=PENDING, attempts=0,
                         step=len(settings.retry_schedule_seconds), next_attempt_at=now, created_at=now,
                         lease_until=now + timedelta(seconds=settings.lease_seconds)))  # fmt: skip
    body = event.to_json()
    secrets = signing_secrets(sub.secret, sub.previous_secret, sub.previous_secret_until, now=now)
    outcome = await sender.send(
        request.app.state.webhooks_client, url=sub.url, body=body,
        headers=signing.headers(secrets, msg_id=str(event.id), timestamp=now, body=body),
        allow_private=settings.allow_private_targets, timeout=settings.timeout_seconds,
    )  # fmt: skip
    job = Job(
        delivery_id=delivery_id, subscription_id=sub.id, event_id=event.id, url=sub.url, secrets=secrets, body=body
    )
    async with sessionmaker() as own, own.begin():
        await record(own, job, outcome, settings=settings, at=now)
    return schemas.PingOut(
        delivery_id=delivery_id,
        ok=outcome.ok,
        status_code=outcome.status_code,
        latency_ms=outcome.latency_ms,
        error=outcome.error,
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
    bad = [s for s in status if s not in ("pending", "delivered", "failed", "cancelled")]
    if bad:
        raise ValidationFailed(
            f"Unknown status {bad}: pending, delivered, failed or cancelled.",
            errors=[field_error("#query/status", "pending, delivered, failed or cancelled")],
        )
    sub = await _own(session, actor, sub_id)
    before = pagination.uuid_key(cursor)
    q = (
        select(Delivery, StoredEvent.type)
        .join(StoredEvent, StoredEvent.id == Delivery.event_id)
        .where(Delivery.subscription_id == sub.id)
        .order_by(Delivery.id.desc())
        .limit(limit + 1)
    )
    if status:
        q = q.where(Delivery.status.in_(status))
    if before is not None:
        q = q.where(Delivery.id < before)
    rows, next_cursor = pagination.split(list((await session.execute(q)).all()), limit, lambda r: str(r[0].id))
    ids = [d.id for d, _t in rows]
    attempts: dict[UUID, list[Attempt]] = {}
    if ids:
        for a in (
            await session.scalars(select(Attempt).where(Attempt.delivery_id.in_(ids)).order_by(Attempt.at))
        ).all():
            attempts.setdefault(a.delivery_id, []).append(a)
    items = [
        schemas.DeliveryOut(
            id=d.id,
            event_id=d.event_id,
            event_type=t,
            status=d.status,
            attempts=[schemas.AttemptOut.model_validate(a, from_attributes=True) for a in attempts.get(d.id, [])],
            next_attempt_at=d.next_attempt_at if d.status == PENDING else None,
            created_at=d.created_at,
            delivered_at=d.delivered_at,
        )
        for d, t in rows
    ]
    return schemas.DeliveryPage(items=items, next_cursor=next_cursor)


@router.post("/deliveries/{delivery_id}/retry", status_code=202, response_model=schemas.Queued, responses=RESPONSES)
async def retry_delivery(
    delivery_id: Annotated[UUID, Path(description="The delivery's id, from the delivery log.")],
    session: SessionDep,
    actor: Manager,
) -> schemas.Queued:
    """Send a delivery again now (the retry schedule starts over)."""
    org_type, org_name = _org(actor)
    found = (
        await session.execute(
            select(Delivery, Subscription)
            .join(Subscription, Subscription.id == Delivery.subscription_id)
            .where(Delivery.id == delivery_id, Subscription.org_type == org_type, Subscription.org_name == org_name)
        )
    ).first()
    if found is None:
        raise NotFound("No such delivery of your organisation.")
    sub = await _own(session, actor, found[1].id, lock=True)  # lock order: subscription, then delivery
    delivery = (await session.scalars(select(Delivery).where(Delivery.id == delivery_id).with_for_update())).first()
    if delivery is None:
        raise NotFound("No such delivery of your organisation.")
    _enabled(sub)
    now = clock.utcnow()
    if delivery.status == PENDING and delivery.lease_until is not None and delivery.lease_until > now:
        raise Conflict("The delivery is being sent right now: see its outcome in the delivery log, then retry.")
    delivery.status, delivery.step, delivery.next_attempt_at, delivery.lease_until = PENDING, 0, now, None
    return schemas.Queued(queued=1)


def _enabled(sub: Subscription) -> None:
    if not sub.enabled:
        raise Conflict("The subscription is disabled: enable it first (PATCH enabled: true).")


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
    sub = await _own(session, actor, sub_id, lock=True)
    _enabled(sub)
    queued = await replay_since(session, sub, since)
    return schemas.Queued(queued=queued)
