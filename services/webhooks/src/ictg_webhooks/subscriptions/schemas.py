from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field, field_validator

from ictg_common import pagination
from ictg_common.contracts import REGISTRY, WebhookPing
from ictg_common.inputs import STORABLE, StrictModel, text
from ictg_common.reference import local_authority

# A ping goes to the one subscription whose owner asks for it: no one subscribes to it.
EVENT_TYPES = sorted(t for t in REGISTRY if t != WebhookPing.TYPE)
URL = (
    "The receiving URL events are POSTed to, at most 2000 characters: https in production, never resolving to a "
    "link-local address (nor, in production, a private one)."
)
TYPES = f"Event types to receive (empty: all): {', '.join(EVENT_TYPES)}."
CODES = (
    "ONS codes of the local authorities whose children's events to receive (empty: all); a council's token may name "
    "only its own `la_codes`, which are also the default."
)
DESCRIPTION = "Your own note about the subscription, at most 500 characters."
Url = Annotated[str, Field(max_length=2000, examples=["https://children.example.gov.uk/ictg/webhooks"])]
Types = Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=len(EVENT_TYPES), description=TYPES)]
Codes = Annotated[list[Annotated[str, Field(max_length=9)]], Field(max_length=200, description=CODES)]
Description = Annotated[str, text(500), STORABLE]


def _types(v: list[str] | None) -> list[str] | None:
    if v is None:
        return v
    unknown = [t for t in v if t not in EVENT_TYPES]
    if unknown:
        raise ValueError(f"unknown event types {unknown}: use {', '.join(EVENT_TYPES)}")
    return sorted(set(v))


def _codes(v: list[str] | None) -> list[str] | None:
    if v is None:
        return v
    codes = [c.strip().upper() for c in v]
    unknown = [c for c in codes if local_authority(c) is None]
    if unknown:
        raise ValueError(f"not upper-tier local authority codes of England or Wales (ONS): {unknown}")
    return sorted(set(codes))


class SubscriptionCreate(StrictModel):
    url: Url = Field(description=URL)
    event_types: Types = Field(default_factory=list)
    local_authority_codes: Codes = Field(default_factory=list)
    description: Description = Field(default="", description=DESCRIPTION)

    _t = field_validator("event_types")(_types)
    _c = field_validator("local_authority_codes")(_codes)


class SubscriptionUpdate(StrictModel):
    url: Url | None = Field(default=None, description=f"{URL} Null or absent: unchanged.")
    event_types: Types | None = Field(default=None, description=f"{TYPES} Null or absent: unchanged.")
    local_authority_codes: Codes | None = Field(default=None, description=f"{CODES} Null or absent: unchanged.")
    description: Description | None = Field(default=None, description=f"{DESCRIPTION} Null or absent: unchanged.")
    enabled: bool | None = Field(
        default=None,
        description="true re-enables a disabled subscription; false disables it and cancels its pending deliveries.",
    )

    _t = field_validator("event_types")(_types)
    _c = field_validator("local_authority_codes")(_codes)


class Subscription(BaseModel):
    id: UUID = Field(description="The subscription's id.")
    url: str = Field(description="The receiving URL events are POSTed to.")
    event_types: list[str] = Field(description="Event types it receives, sorted; empty: all.")
    local_authority_codes: list[str] = Field(
        description="ONS codes of the local authorities whose children's events it receives, sorted; empty: all."
    )
    description: str = Field(description="The owner's note about it; empty when none was given.")
    enabled: bool = Field(
        description="Whether events are delivered to it; false once disabled (see `disabled_reason`)."
    )
    disabled_reason: str | None = Field(
        description="`gone` (the receiver answered 410), `failing` (5 days of failed attempts) or `by_owner` "
        "(PATCH `enabled: false`); null while enabled."
    )
    disabled_at: datetime | None = Field(description="When it was disabled (RFC 3339, UTC); null while enabled.")
    failing_since: datetime | None = Field(
        description="Start of the current run of failed attempts (RFC 3339, UTC); null when not failing."
    )
    created_at: datetime = Field(description="When it was created (RFC 3339, UTC).")
    updated_at: datetime = Field(description="When its owner last changed it or rotated its secret (RFC 3339, UTC).")
    previous_secret_valid_until: datetime | None = Field(
        default=None,
        description="After a rotation, until when the previous secret also signs (RFC 3339, UTC); null when only "
        "the current secret signs.",
    )


class SubscriptionCreated(Subscription):
    secret: str = Field(description="The signing secret (`whsec_…`): shown only now, keep it.")


class SubscriptionPage(BaseModel):
    items: list[Subscription] = Field(description="Your organisation's subscriptions, oldest first.")
    next_cursor: str | None = Field(default=None, description=pagination.NEXT_CURSOR)


class Rotated(BaseModel):
    secret: str = Field(description="The new signing secret (`whsec_…`): shown only now, keep it.")
    previous_secret_valid_until: datetime = Field(
        description="Until when the previous secret also signs, beside the new one (RFC 3339, UTC)."
    )


class _Answer(BaseModel):
    """What a receiver answered to one attempt (an attempt of a delivery, or a ping)."""

    status_code: int | None = Field(
        description="The HTTP status the receiver answered; null when no response came (see `error`)."
    )
    latency_ms: int = Field(description="How long the attempt took, in milliseconds (DNS, connect, send and read).")
    error: str | None = Field(
        description="Why no response came (timeout, connection failure, refused address), or a redirect not "
        "followed; null otherwise."
    )


class AttemptOut(_Answer):
    at: datetime = Field(description="When the attempt started (RFC 3339, UTC).")


class DeliveryOut(BaseModel):
    id: UUID = Field(description="The delivery's id (for `POST /v1/webhooks/deliveries/{id}/retry`).")
    event_id: UUID = Field(description="The event's id, sent as the `webhook-id` header.")
    event_type: str = Field(description="The event's type, e.g. `ictg.case.opened.v1`.")
    status: str = Field(
        description="pending, delivered, failed (schedule spent, or 410) or cancelled (subscription disabled)."
    )
    attempts: list[AttemptOut] = Field(description="Every attempt so far, oldest first.")
    next_attempt_at: datetime | None = Field(
        description="When the next attempt is due (RFC 3339, UTC); null unless the delivery is pending."
    )
    created_at: datetime = Field(description="When the event was first queued for this subscription (RFC 3339, UTC).")
    delivered_at: datetime | None = Field(
        description="When the receiver last accepted it with a 2xx (RFC 3339, UTC); null if it never has."
    )


class DeliveryPage(BaseModel):
    items: list[DeliveryOut] = Field(description="Deliveries of this page, newest first.")
    next_cursor: str | None = Field(default=None, description=pagination.NEXT_CURSOR)


class PingOut(_Answer):
    delivery_id: UUID = Field(description="The ping's delivery, also in the delivery log.")
    ok: bool = Field(description="Whether the receiver answered 2xx.")


class Queued(BaseModel):
    queued: int = Field(description="How many deliveries were queued.")
