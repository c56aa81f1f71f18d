"""Tables of schema `metrics`: every event received, and each child's derived facts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from ictg_common.consumer import consumer_tables
from ictg_common.db import make_base
from sqlalchemy import DateTime, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.orm import Mapped, mapped_column

SCHEMA = "metrics"
Model = make_base(SCHEMA)
inbox, dead_letter = consumer_tables(Model.metadata)


class Event(Model):  # type: ignore[valid-type, misc]
    """Every event, stored once (by id): the source of truth metrics are derived from."""

    __tablename__ = "event"

    id: Mapped[UUID] = mapped_column(PgUUID(as_uuid=True), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    child_id: Mapped[UUID] = mapped_column(PgUUID(as_uuid=True))  # the referral id: one child per referral
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_event_child", "child_id"),)


class Child(Model):  # type: ignore[valid-type, misc]
    """A child's facts: a pure function of that child's events, recomputed on each new one."""

    __tablename__ = "child"

    child_id: Mapped[UUID] = mapped_column(PgUUID(as_uuid=True), primary_key=True)
    referred: Mapped[bool]  # referral.received seen (case events may arrive first)
    received_on: Mapped[date | None] = mapped_column(index=True)  # Europe/London date of received_at
    facts: Mapped[dict[str, Any]] = mapped_column(JSONB)
