"""Tables of schema `cases`."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from ictg_common.audit import audit_table
from ictg_common.consumer import consumer_tables
from ictg_common.db import make_base
from ictg_common.outbox import outbox_table
from sqlalchemy import DateTime, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.orm import Mapped, mapped_column

SCHEMA = "cases"
Model = make_base(SCHEMA)
outbox = outbox_table(Model.metadata)
inbox, dead_letter = consumer_tables(Model.metadata)
audit = audit_table(Model.metadata)


class Case(Model):  # type: ignore[valid-type, misc]
    __tablename__ = "case"

    id: Mapped[UUID] = mapped_column(PgUUID(as_uuid=True), primary_key=True)
    referral_id: Mapped[UUID] = mapped_column(PgUUID(as_uuid=True), unique=True)
    status: Mapped[str] = mapped_column(String(30), index=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    region: Mapped[str] = mapped_column(String(40), index=True)
    pathway: Mapped[str] = mapped_column(String(40))
    local_authority_code: Mapped[str] = mapped_column(String(9))
    allocation_due_by: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    first_contact_due_by: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB)  # coded facts from referral.received
    personal: Mapped[dict[str, Any]] = mapped_column(JSONB)  # child, referrer, notes: from the claim check
    version: Mapped[int] = mapped_column(Integer, default=1)
