"""Subscriptions: the whole of each endpoint's work, so that a router makes one call. The request's
session owns the transaction (services flush, never commit); the ping alone works in short
transactions of its own, so that none stays open while the receiver takes its time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ictg_common import clock, pagination
from ictg_common.auth import Actor
from ictg_common.contracts import WebhookPing, make_event
from ictg_common.errors import NotFound, ValidationFailed, field_error
from ictg_common.events import new_id

from .. import sender, signing, targets
from ..deliveries import repository as deliveries
from ..models import PENDING, Delivery, StoredEvent, Subscription
from ..settings import WebhooksSettings
from ..worker import Job, record, signing_secrets
from . import repository
from .rules import codes_for, organisation, types_for
from .schemas import SubscriptionCreate, SubscriptionUpdate


async def check_target(url: str, *, settings: WebhooksSettings) -> None:
    """The URL's shape, and where it resolves now (checked again at every delivery)."""
    problem = targets.url_problem(url, https_required=settings.https_required)
    if problem is None:
        try:
            await targets.resolve_target(url, allow_private=settings.allow_private_targets)
        except targets.TargetRefused as exc:
            problem = str(exc)
    if problem is not None:
        raise ValidationFailed(f"The url cannot be delivered to: {problem}.", errors=[field_error("/url", problem)])


async def own(session: AsyncSession, actor: Actor, sub_id: UUID, *, lock: bool = False) -> Subscription:
    """The caller's organisation's subscription `sub_id`; `NotFound` when it has none such."""
    sub = await repository.get(session, organisation(actor), sub_id, lock=lock)
    if sub is None:
        raise NotFound("No such subscription of your organisation.")
    return sub


async def create(
    session: AsyncSession, body: SubscriptionCreate, *, actor: Actor, settings: WebhooksSettings
) -> Subscription:
    """A new subscription of the caller's organisation, with a new signing secret."""
    org_type, org_name = organisation(actor)
    types = types_for(actor, body.event_types)
    codes = codes_for(actor, body.local_authority_codes)
    await check_target(body.url, settings=settings)
    now = clock.utcnow()
    sub = Subscription(
        id=new_id(), org_type=org_type, org_name=org_name, created_by=actor.sub, url=body.url,
        event_types=types, local_authority_codes=codes, description=body.description, enabled=True,
        secret=signing.new_secret(), created_at=now, updated_at=now,
    )  # fmt: skip
    await repository.add(session, sub)
    return sub


async def page(
    session: AsyncSession, *, actor: Actor, cursor: str | None, limit: int
) -> tuple[list[Subscription], str | None]:
    """A page of the caller's organisation's subscriptions by id, and the next page's cursor."""
    org = organisation(actor)
    rows = await repository.page(session, org, after=pagination.uuid_key(cursor), limit=limit + 1)
    return pagination.split(rows, limit, lambda s: str(s.id))


async def update(
    session: AsyncSession, sub_id: UUID, body: SubscriptionUpdate, *, actor: Actor, settings: WebhooksSettings
) -> Subscription:
    """Change what `body` names; disabling cancels what is pending, enabling starts afresh."""
    sub = await own(session, actor, sub_id, lock=True)
    if body.url is not None:
        await check_target(body.url, settings=settings)
        sub.url = body.url
    if body.event_types is not None:
        sub.event_types = types_for(actor, body.event_types)
    if body.local_authority_codes is not None:
        sub.local_authority_codes = codes_for(actor, body.local_authority_codes)
    if body.description is not None:
        sub.description = body.description
    if body.enabled is True and not sub.enabled:
        sub.enabled, sub.disabled_reason, sub.disabled_at, sub.failing_since = True, None, None, None
    elif body.enabled is False and sub.enabled:
        sub.enabled, sub.disabled_reason, sub.disabled_at = False, "by_owner", clock.utcnow()
        await repository.cancel_pending(session, sub.id)
    sub.updated_at = clock.utcnow()
    await repository.save(session)
    return sub


async def delete(session: AsyncSession, sub_id: UUID, *, actor: Actor) -> None:
    sub = await own(session, actor, sub_id, lock=True)
    await repository.remove(session, sub.id)


async def rotate_secret(
    session: AsyncSession, sub_id: UUID, *, actor: Actor, settings: WebhooksSettings
) -> Subscription:
    """A new signing secret; the old one keeps signing beside it for the configured overlap."""
    sub = await own(session, actor, sub_id, lock=True)
    now = clock.utcnow()
    sub.previous_secret, sub.secret = sub.secret, signing.new_secret()
    sub.previous_secret_until = now + timedelta(seconds=settings.rotation_overlap_seconds)
    sub.updated_at = now
    await repository.save(session)
    return sub


@dataclass(frozen=True)
class Pinged:
    delivery_id: UUID
    outcome: sender.Outcome


async def ping(
    sessions: async_sessionmaker[AsyncSession],
    sub_id: UUID,
    *,
    actor: Actor,
    settings: WebhooksSettings,
    client: sender.Pool,
) -> Pinged:
    """Send a signed `webhook.ping` to the subscription now, record it in its delivery log (never
    retried) and return how the receiver took it. No transaction stays open while it is sent."""
    async with sessions() as session, session.begin():
        sub = await own(session, actor, sub_id)
    now = clock.utcnow()
    event = make_event(data=WebhookPing(subscription_id=sub.id), subject=sub.id, time=now)
    event = event.model_copy(update={"traceparent": None})  # a receiver never gets our trace context
    delivery_id = new_id()
    async with sessions() as session, session.begin():
        await deliveries.add_sent_now(
            session,
            StoredEvent(id=event.id, type=event.type, subject=event.subject, time=now, local_authority_codes=[],
                        body=event.model_dump(mode="json"), received_at=now),
            Delivery(id=delivery_id, subscription_id=sub.id, event_id=event.id, status=PENDING, attempts=0,
                     step=len(settings.retry_schedule_seconds), next_attempt_at=now, created_at=now,
                     lease_until=now + timedelta(seconds=settings.lease_seconds)),
        )  # fmt: skip
    body = event.to_json()
    secrets = signing_secrets(sub.secret, sub.previous_secret, sub.previous_secret_until, now=now)
    outcome = await sender.send(
        client, url=sub.url, body=body,
        headers=signing.headers(secrets, msg_id=str(event.id), timestamp=now, body=body),
        allow_private=settings.allow_private_targets, timeout=settings.timeout_seconds,
    )  # fmt: skip
    job = Job(
        delivery_id=delivery_id, subscription_id=sub.id, event_id=event.id, url=sub.url, secrets=secrets, body=body
    )
    async with sessions() as session, session.begin():
        await record(session, job, outcome, settings=settings, at=now)
    return Pinged(delivery_id=delivery_id, outcome=outcome)
