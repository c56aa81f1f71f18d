"""Tables of schema `webhooks`: subscriptions, the events they are fed, deliveries and attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.orm import Mapped, mapped_column

from ictg_common.audit import audit_table
from ictg_common.consumer import consumer_tables
from ictg_common.db import make_base
from ictg_common.outbox import outbox_table
from ictg_common.ratelimit import rate_limit_table

SCHEMA = "webhooks"
Model = make_base(SCHEMA)
outbox = outbox_table(Model.metadata)  # webhook.disabled
inbox, dead_letter = consumer_tables(Model.metadata)
audit = audit_table(Model.metadata)
rate_limit = rate_limit_table(Model.metadata)  # the rate limits' buckets, shared by replicas

Id = PgUUID(as_uuid=True)
When = DateTime(timezone=True)

# Delivery statuses: waiting for an attempt (or between attempts), done, given up, or dropped because
# its subscription was disabled or deleted.
PENDING, DELIVERED, FAILED, CANCELLED = "pending", "delivered", "failed", "cancelled"


class Subscription(Model):  # type: ignore[valid-type, misc]
    """One organisation's endpoint and what it wants pushed to it."""

    __tablename__ = "subscription"
    __table_args__ = (Index("ix_subscription_org", "org_type", "org_name"),)

    id: Mapped[UUID] = mapped_column(Id, primary_key=True)
    org_type: Mapped[str] = mapped_column(String(40))
    org_name: Mapped[str] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(ARRAY(String(100)))  # empty: every type
    local_authority_codes: Mapped[list[str]] = mapped_column(ARRAY(String(9)))  # empty: every authority
    description: Mapped[str] = mapped_column(String(500))
    enabled: Mapped[bool] = mapped_column(Boolean)
    disabled_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(When, nullable=True)
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100), nullable=True)
    previous_secret_until: Mapped[datetime | None] = mapped_column(When, nullable=True)
    failing_since: Mapped[datetime | None] = mapped_column(When, nullable=True)  # first failure of a streak
    # Deliveries to it in flight at once, across replicas: grows by one an answer while the receiver keeps up, halves
    # when it slows or fails, never under ICTG_WEBHOOKS_PER_SUBSCRIPTION_CONCURRENCY (`worker.py`).
    in_flight_window: Mapped[int] = mapped_column(SmallInteger, server_default=text("4"))
    created_at: Mapped[datetime] = mapped_column(When)
    updated_at: Mapped[datetime] = mapped_column(When)


class StoredEvent(Model):  # type: ignore[valid-type, misc]
    """Every event the service was fed, as published (the thin CloudEvent): the body of its
    deliveries, and what a replay re-sends."""

    __tablename__ = "event"
    __table_args__ = (Index("ix_event_received_at", "received_at"),)

    id: Mapped[UUID] = mapped_column(Id, primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(200))
    time: Mapped[datetime] = mapped_column(When)
    local_authority_codes: Mapped[list[str]] = mapped_column(ARRAY(String(9)))  # whose it is (routing)
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    received_at: Mapped[datetime] = mapped_column(When, server_default=text("now()"))


class CasePeriod(Model):  # type: ignore[valid-type, misc]
    """Which local authority answered for a case from when, learnt from case.opened and case.moved:
    an event is routed to the authority responsible at the event's own time."""

    __tablename__ = "case_period"

    case_id: Mapped[UUID] = mapped_column(Id, primary_key=True)
    starts_at: Mapped[datetime] = mapped_column(When, primary_key=True)
    local_authority_code: Mapped[str] = mapped_column(String(9))


class Delivery(Model):  # type: ignore[valid-type, misc]
    """One event to one subscription, until delivered or given up; `lease_until`: a worker holds it."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id"),
        Index("ix_delivery_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
        Index("ix_delivery_subscription", "subscription_id", "created_at"),
        Index(
            "ix_delivery_leased",
            "subscription_id",
            postgresql_where=text("status = 'pending' AND lease_until IS NOT NULL"),
        ),
    )

    id: Mapped[UUID] = mapped_column(Id, primary_key=True)
    subscription_id: Mapped[UUID] = mapped_column(Id, ForeignKey("subscription.id", ondelete="CASCADE"))
    event_id: Mapped[UUID] = mapped_column(Id, ForeignKey("event.id"))
    status: Mapped[str] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer)
    step: Mapped[int] = mapped_column(Integer)  # place in the retry schedule (a manual retry resets it)
    next_attempt_at: Mapped[datetime] = mapped_column(When)
    lease_until: Mapped[datetime | None] = mapped_column(When, nullable=True)
    last_status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(When)
    delivered_at: Mapped[datetime | None] = mapped_column(When, nullable=True)


class Attempt(Model):  # type: ignore[valid-type, misc]
    __tablename__ = "attempt"

    id: Mapped[UUID] = mapped_column(Id, primary_key=True)
    delivery_id: Mapped[UUID] = mapped_column(Id, ForeignKey("delivery.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(When)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(500), nullable=True)
