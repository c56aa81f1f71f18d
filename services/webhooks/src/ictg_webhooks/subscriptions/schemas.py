from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field, field_validator

from ictg_common.contracts import REGISTRY
from ictg_common.inputs import STORABLE, StrictModel, text
from ictg_common.reference import local_authority

EVENT_TYPES = sorted(REGISTRY)
Url = Annotated[str, Field(max_length=2000, examples=["https://children.example.gov.uk/ictg/webhooks"])]
Types = Annotated[
    list[Annotated[str, Field(max_length=100)]],
    Field(max_length=len(EVENT_TYPES), description=f"Event types to receive (empty: all): {', '.join(EVENT_TYPES)}"),
]
Codes = Annotated[
    list[Annotated[str, Field(max_length=9)]],
    Field(max_length=200, description="Local authorities whose children's events to receive (empty: all; a council's "
          "token: its own la_codes, which is also the default)"),
]  # fmt: skip
Description = Annotated[str, text(500), STORABLE]


def _types(v: list[str] | None) -> list[str] | None:
    if v is None:
        return v
    unknown = [t for t in v if t not in REGISTRY]
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
    url: Url
    event_types: Types = Field(default_factory=list)
    local_authority_codes: Codes = Field(default_factory=list)
    description: Description = ""

    _t = field_validator("event_types")(_types)
    _c = field_validator("local_authority_codes")(_codes)


class SubscriptionUpdate(StrictModel):
    url: Url | None = None
    event_types: Types | None = None
    local_authority_codes: Codes | None = None
    description: Description | None = None
    enabled: bool | None = Field(default=None, description="true re-enables a disabled subscription")

    _t = field_validator("event_types")(_types)
    _c = field_validator("local_authority_codes")(_codes)


class Subscription(BaseModel):
    id: UUID
    url: str
    event_types: list[str]
    local_authority_codes: list[str]
    description: str
    enabled: bool
    disabled_reason: str | None = Field(
        description="`gone` (the receiver answered 410) or `failing` (5 days of failures)"
    )
    disabled_at: datetime | None
    failing_since: datetime | None = Field(description="Start of the current run of failed attempts")
    created_at: datetime
    updated_at: datetime
    previous_secret_valid_until: datetime | None = Field(
        default=None, description="Until then the previous secret also signs (after a rotation)"
    )


class SubscriptionCreated(Subscription):
    secret: str = Field(description="The signing secret (`whsec_…`): shown only now, keep it")


class SubscriptionPage(BaseModel):
    items: list[Subscription]
    next_cursor: str | None = None


class Rotated(BaseModel):
    secret: str = Field(description="The new signing secret, shown only now")
    previous_secret_valid_until: datetime


class AttemptOut(BaseModel):
    at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None


class DeliveryOut(BaseModel):
    id: UUID
    event_id: UUID
    event_type: str
    status: str = Field(
        description="pending, delivered, failed (schedule spent, or 410) or cancelled (subscription disabled)"
    )
    attempts: list[AttemptOut]
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None = None


class PingOut(BaseModel):
    delivery_id: UUID
    ok: bool
    status_code: int | None
    latency_ms: int
    error: str | None


class Queued(BaseModel):
    queued: int = Field(description="Deliveries queued")
