"""Tables of schema `intake`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String, false, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.orm import Mapped, mapped_column

from ictg_common.audit import audit_table
from ictg_common.consumer import consumer_tables
from ictg_common.db import make_base
from ictg_common.idempotency import idempotency_table
from ictg_common.outbox import outbox_table
from ictg_common.ratelimit import rate_limit_table

SCHEMA = "intake"
Model = make_base(SCHEMA)
outbox = outbox_table(Model.metadata)
audit = audit_table(Model.metadata)
idempotency = idempotency_table(Model.metadata)
rate_limit = rate_limit_table(Model.metadata)  # the rate limits' buckets, shared by replicas
inbox, dead_letter = consumer_tables(Model.metadata)  # the case events that tell the referrer its status


class Referral(Model):  # type: ignore[valid-type, misc]
    __tablename__ = "referral"

    id: Mapped[UUID] = mapped_column(PgUUID(as_uuid=True), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    identified_on: Mapped[date]
    org_type: Mapped[str] = mapped_column(String(60))
    org_name: Mapped[str] = mapped_column(String(200))
    submitted_by: Mapped[str] = mapped_column(String(200))
    local_authority_code: Mapped[str] = mapped_column(String(9))
    region: Mapped[str] = mapped_column(String(40))
    pathway: Mapped[str] = mapped_column(String(40))
    # Possible-duplicate matching keys (same child: same DOB or age, similar name, same nationality).
    date_of_birth: Mapped[date | None]
    estimated_age: Mapped[int | None] = mapped_column(Integer)
    nationality: Mapped[str] = mapped_column(String(10))
    name_key: Mapped[str] = mapped_column(String(200))  # given and family name; all names: `ReferralName`
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)  # the referral as submitted
    derived: Mapped[dict[str, Any]] = mapped_column(JSONB)  # age, bands, groups, timeliness
    possible_duplicate_of: Mapped[list[UUID]] = mapped_column(ARRAY(PgUUID(as_uuid=True)), default=list)
    referrer_reference: Mapped[str | None] = mapped_column(String(50))  # the referrer's own (crime number…)
    # What the referrer may know of the case (learnt from case events; no personal data).
    case_id: Mapped[UUID | None] = mapped_column(PgUUID(as_uuid=True))
    case_opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    allocated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # the first allocation
    allocated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # a guardian now
    allocation_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # of `allocated`
    exited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The referrer's corrections and withdrawal (`referrals/corrections.py`): every one bumps `version` (the ETag).
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    amended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    withdrawal_reason: Mapped[str | None] = mapped_column(String(20))
    withdrawal_detail: Mapped[str | None] = mapped_column(String(500))  # free text: never in an event

    __table_args__ = (
        Index("ix_referral_match", "nationality", "date_of_birth"),
        Index("ix_referral_org", "org_type", "org_name", "received_at", "id"),
        Index("ix_referral_org_reference", "org_type", "org_name", text("lower(referrer_reference)")),
    )


class ReferralName(Model):  # type: ignore[valid-type, misc]
    """Every name a referral gives the child (given and family, and each of `other_names`) as its
    `name_key`: what duplicate matching compares, through trigram indexes (pg_trgm). The referral's
    nationality, date of birth and estimated age are copied here (a correction replaces the rows) so
    that one index scan narrows by all three and the name at once."""

    __tablename__ = "referral_name"

    referral_id: Mapped[UUID] = mapped_column(
        PgUUID(as_uuid=True), ForeignKey(f"{SCHEMA}.referral.id", ondelete="CASCADE"), primary_key=True
    )
    name_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    nationality: Mapped[str] = mapped_column(String(10))
    date_of_birth: Mapped[date | None]
    estimated_age: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        # GiST, not GIN: short names share common trigrams, so GIN's estimate of a scan exceeds that of a
        # sequential scan computing `similarity` for every row (10x slower, measured), which it then picks.
        # Nationality and date of birth (or age) lead (btree_gist), so a scan reads the similar names of
        # those children only. Among 100,000 referrals (EXPLAIN ANALYZE): 0.1 ms for a date of birth, 5-13 ms
        # for an estimated age (half of them estimated), against 22 ms for (nationality, name) alone.
        Index(
            "ix_referral_name_dob_trgm", "nationality", "date_of_birth", "name_key",
            postgresql_using="gist", postgresql_ops={"name_key": "gist_trgm_ops"},
            postgresql_where=text("date_of_birth IS NOT NULL"),
        ),
        Index(
            "ix_referral_name_age_trgm", "nationality", "estimated_age", "name_key",
            postgresql_using="gist", postgresql_ops={"name_key": "gist_trgm_ops"},
            postgresql_where=text("estimated_age IS NOT NULL"),
        ),
    )  # fmt: skip
