"""Tables of schema `cases`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, cast
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    FetchedValue,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column

from ictg_common.audit import audit_table
from ictg_common.codes import CaseStatus
from ictg_common.consumer import consumer_tables
from ictg_common.db import make_base
from ictg_common.idempotency import idempotency_table
from ictg_common.outbox import outbox_table
from ictg_common.ratelimit import rate_limit_table

from .domain.case import CaseLife

SCHEMA = "cases"
Model = make_base(SCHEMA)
outbox = outbox_table(Model.metadata)
inbox, dead_letter = consumer_tables(Model.metadata)
audit = audit_table(Model.metadata)
idempotency = idempotency_table(Model.metadata)
rate_limit = rate_limit_table(Model.metadata)  # the rate limits' buckets, shared by replicas

Id = PgUUID(as_uuid=True)
When = DateTime(timezone=True)


class CaseRecord:
    """What every record of a case carries: its id, its case, who recorded it and when."""

    id: Mapped[UUID] = mapped_column(Id, primary_key=True)
    case_id: Mapped[UUID] = mapped_column(Id, ForeignKey("case.id"), index=True)
    recorded_at: Mapped[datetime] = mapped_column(When)
    recorded_by: Mapped[str] = mapped_column(String(200))


class Case(CaseLife, Model):  # type: ignore[valid-type, misc]
    """A case's row. Its behaviour, and every change of its status, is `CaseLife`'s (`domain/case.py`)."""

    __tablename__ = "case"
    __table_args__ = (Index("ix_case_change", "change_xid", "id"),)

    id: Mapped[UUID] = mapped_column(Id, primary_key=True)
    referral_id: Mapped[UUID] = mapped_column(Id, unique=True)
    _status: Mapped[str] = mapped_column("status", String(30), index=True)
    received_at: Mapped[datetime] = mapped_column(When)
    opened_at: Mapped[datetime] = mapped_column(When)
    # Current region and local authority (moves change them); the referral's stay in `attributes`.
    region: Mapped[str] = mapped_column(String(40), index=True)
    pathway: Mapped[str] = mapped_column(String(40))
    local_authority_code: Mapped[str] = mapped_column(String(9))
    allocation_due_by: Mapped[datetime] = mapped_column(When)
    first_contact_due_by: Mapped[datetime] = mapped_column(When)
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONB)  # coded facts from referral.received
    personal: Mapped[dict[str, Any]] = mapped_column(JSONB)  # child, referrer, notes: from the claim check
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Denormalised facts kept in step by every write (lists and the SLA watcher filter on them).
    worker_id: Mapped[UUID | None] = mapped_column(Id, ForeignKey("worker.id"), index=True, nullable=True)
    allocated_at: Mapped[datetime | None] = mapped_column(When, nullable=True)
    first_allocated_at: Mapped[datetime | None] = mapped_column(When, nullable=True)
    first_contact_at: Mapped[datetime | None] = mapped_column(When, nullable=True)
    missing_since: Mapped[datetime | None] = mapped_column(When, nullable=True)
    turns_18_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    exited_at: Mapped[datetime | None] = mapped_column(When, nullable=True)
    # The referrer withdrew the referral (`referrals/follow.py`): when, and why (`withdrawal_reason`).
    referral_withdrawn_at: Mapped[datetime | None] = mapped_column(When, nullable=True)
    referral_withdrawal_reason: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # Stamped by the database on every insert or update (trigger `stamp_change`, migration 0005): the
    # change feed's position. `change_xid` is the writing transaction's id, so a reader can tell which
    # changes are final (every transaction below its snapshot's xmin has ended).
    change_xid: Mapped[int | None] = mapped_column(BigInteger, FetchedValue(), FetchedValue(for_update=True))
    changed_at: Mapped[datetime | None] = mapped_column(When, FetchedValue(), FetchedValue(for_update=True))

    __mapper_args__: ClassVar[dict[str, Any]] = {
        "eager_defaults": True
    }  # read the stamps back in the write's RETURNING

    @hybrid_property
    def status(self) -> CaseStatus:
        """Read-only (no setter): a case's status changes only through `CaseLife`'s methods."""
        return cast(CaseStatus, self._status)


class Worker(Model):  # type: ignore[valid-type, misc]
    __tablename__ = "worker"

    id: Mapped[UUID] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(40))
    region: Mapped[str] = mapped_column(String(40), index=True)
    capacity: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(When)


class Allocation(CaseRecord, Model):  # type: ignore[valid-type, misc]
    __tablename__ = "allocation"

    worker_id: Mapped[UUID] = mapped_column(Id, ForeignKey("worker.id"), index=True)
    role: Mapped[str] = mapped_column(String(40))
    allocated_at: Mapped[datetime] = mapped_column(When)
    ended_at: Mapped[datetime | None] = mapped_column(When, nullable=True)  # set by the next allocation
    over_capacity: Mapped[bool] = mapped_column(Boolean)
    override_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class Contact(CaseRecord, Model):  # type: ignore[valid-type, misc]
    __tablename__ = "contact"

    occurred_at: Mapped[datetime] = mapped_column(When)
    outcome: Mapped[str] = mapped_column(String(20))
    method: Mapped[str] = mapped_column(String(20))
    party: Mapped[str] = mapped_column(String(40))
    topics: Mapped[list[str]] = mapped_column(ARRAY(String(40)))
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)


class MissingEpisode(CaseRecord, Model):  # type: ignore[valid-type, misc]
    __tablename__ = "missing_episode"
    # The database itself refuses a second open episode, whatever the application does.
    __table_args__ = (
        Index("uq_missing_episode_open", "case_id", unique=True, postgresql_where=text("ended_at IS NULL")),
    )

    started_at: Mapped[datetime] = mapped_column(When)
    ended_at: Mapped[datetime | None] = mapped_column(When, nullable=True)
    at_referral: Mapped[bool] = mapped_column(Boolean)
    whereabouts_known: Mapped[bool] = mapped_column(Boolean)
    reported_to_police: Mapped[bool] = mapped_column(Boolean)
    missing_from_care_meeting: Mapped[bool] = mapped_column(Boolean)
    professional_network_meeting: Mapped[bool] = mapped_column(Boolean)
    return_interview_offered: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # 72 hours after the return, set when the return is recorded: the `return_interview` clock's deadline. Null for
    # returns recorded before the clock existed (they owe no breach).
    return_interview_due_by: Mapped[datetime | None] = mapped_column(When, nullable=True)


class ReturnInterview(CaseRecord, Model):  # type: ignore[valid-type, misc]
    """The return home interview offered (or not) after a missing episode ended: one per episode."""

    __tablename__ = "return_interview"

    episode_id: Mapped[UUID] = mapped_column(Id, ForeignKey("missing_episode.id"), unique=True)
    offered_at: Mapped[datetime] = mapped_column(When)
    outcome: Mapped[str] = mapped_column(String(20))
    completed_at: Mapped[datetime | None] = mapped_column(When, nullable=True)
    conducted_by: Mapped[str | None] = mapped_column(String(30), nullable=True)
    # Copied from the episode when the interview is recorded: the deadline it answered, and its return.
    ended_at: Mapped[datetime] = mapped_column(When)
    due_by: Mapped[datetime] = mapped_column(When)
    within_72h: Mapped[bool] = mapped_column(Boolean)  # offered (accepted or declined) before `due_by`


class Assessment(CaseRecord, Model):  # type: ignore[valid-type, misc]
    __tablename__ = "assessment"

    assessed_at: Mapped[datetime] = mapped_column(When)
    living_situation: Mapped[str] = mapped_column(String(40))
    trafficker_contact: Mapped[str] = mapped_column(String(20))
    education: Mapped[str] = mapped_column(String(20))
    cjs_involvement: Mapped[list[str]] = mapped_column(ARRAY(String(20)))


class NrmDecision(CaseRecord, Model):  # type: ignore[valid-type, misc]
    __tablename__ = "nrm_decision"

    stage: Mapped[str] = mapped_column(String(30))
    outcome: Mapped[str] = mapped_column(String(20))
    decided_at: Mapped[datetime] = mapped_column(When)


class Advocacy(CaseRecord, Model):  # type: ignore[valid-type, misc]
    __tablename__ = "advocacy"

    kind: Mapped[str] = mapped_column(String(30))
    area: Mapped[str] = mapped_column(String(30))
    occurred_at: Mapped[datetime] = mapped_column(When)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)


class Move(CaseRecord, Model):  # type: ignore[valid-type, misc]
    __tablename__ = "move"

    moved_at: Mapped[datetime] = mapped_column(When)
    from_local_authority_code: Mapped[str] = mapped_column(String(9))
    local_authority_code: Mapped[str] = mapped_column(String(9))
    region: Mapped[str] = mapped_column(String(40))


class PathwayChange(CaseRecord, Model):  # type: ignore[valid-type, misc]
    __tablename__ = "pathway_change"

    from_pathway: Mapped[str] = mapped_column(String(40))
    pathway: Mapped[str] = mapped_column(String(40))
    changed_at: Mapped[datetime] = mapped_column(When)


class Exit(Model):  # type: ignore[valid-type, misc]
    __tablename__ = "exit"

    id: Mapped[UUID] = mapped_column(Id, primary_key=True)
    case_id: Mapped[UUID] = mapped_column(Id, ForeignKey("case.id"), unique=True)
    exited_at: Mapped[datetime] = mapped_column(When)
    reason: Mapped[str] = mapped_column(String(40))
    destination: Mapped[str] = mapped_column(String(40))
    recorded_at: Mapped[datetime] = mapped_column(When)
    recorded_by: Mapped[str] = mapped_column(String(200))


class ReferralAmendment(CaseRecord, Model):  # type: ignore[valid-type, misc]
    """The referrer corrected the referral: which fields (names only); the case's `personal` was re-read."""

    __tablename__ = "referral_amendment"

    amended_at: Mapped[datetime] = mapped_column(When)
    fields: Mapped[list[str]] = mapped_column(ARRAY(String(100)))


class ReferralWithdrawal(CaseRecord, Model):  # type: ignore[valid-type, misc]
    """The referrer withdrew the referral: why, and whether the case exited for it (before any allocation)."""

    __tablename__ = "referral_withdrawal"

    withdrawn_at: Mapped[datetime] = mapped_column(When)
    reason: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(String(500), nullable=True)  # the referrer's words, from intake
    case_exited: Mapped[bool] = mapped_column(Boolean)


class SlaBreach(Model):  # type: ignore[valid-type, misc]
    """One row per (case, clock), and per episode for the `return_interview` clock: the unique key (nulls not
    distinct) makes `sla.breached` exactly once across replicas."""

    __tablename__ = "sla_breach"
    __table_args__ = (UniqueConstraint("case_id", "clock", "episode_id", postgresql_nulls_not_distinct=True),)

    id: Mapped[UUID] = mapped_column(Id, primary_key=True)
    case_id: Mapped[UUID] = mapped_column(Id, ForeignKey("case.id"))
    clock: Mapped[str] = mapped_column(String(20))
    due_by: Mapped[datetime] = mapped_column(When)
    detected_at: Mapped[datetime] = mapped_column(When)
    episode_id: Mapped[UUID | None] = mapped_column(Id, ForeignKey("missing_episode.id"), nullable=True)


class ResponsibilityPeriod(Model):  # type: ignore[valid-type, misc]
    """A stretch of time during which one local authority answers for the child: from the
    referral's `received_at`, then from each move's `moved_at`. `ends_at` is the next move's time."""

    __tablename__ = "responsibility_period"
    __table_args__ = (Index("ix_responsibility_period_la_change", "local_authority_code", "change_xid"),)

    id: Mapped[UUID] = mapped_column(Id, primary_key=True)
    case_id: Mapped[UUID] = mapped_column(Id, ForeignKey("case.id", ondelete="CASCADE"), index=True)
    local_authority_code: Mapped[str] = mapped_column(String(9))
    region: Mapped[str] = mapped_column(String(40))
    starts_at: Mapped[datetime] = mapped_column(When)
    ends_at: Mapped[datetime | None] = mapped_column(When, nullable=True)
    # Stamped like the case's: every change to the case while this period is open, and its closing.
    change_xid: Mapped[int | None] = mapped_column(BigInteger, FetchedValue(), FetchedValue(for_update=True))
    changed_at: Mapped[datetime | None] = mapped_column(When, FetchedValue(), FetchedValue(for_update=True))

    __mapper_args__: ClassVar[dict[str, Any]] = {"eager_defaults": True}

    def covers(self, at: datetime) -> bool:
        return self.starts_at <= at and (self.ends_at is None or at < self.ends_at)


class LocalIdentifier(Model):  # type: ignore[valid-type, misc]
    """A council's own identifiers for a child: one row per (case, local authority),
    shown to that authority's tokens only."""

    __tablename__ = "local_identifier"
    # The database itself refuses one authority's child id on two children (as SSDA903 reads it: upper-cased),
    # whatever the application does: two requests at once cannot both pass. An NHS number may stand on two
    # cases (`councils.service.file_identifiers`: refusing a council one it cannot see would tell it that child is
    # known to the service); its holders are found by its index.
    __table_args__ = (
        Index("uq_local_identifier_la_child_id", "local_authority_code", text("upper(la_child_id)"), unique=True),
        Index("ix_local_identifier_nhs_number", "nhs_number", postgresql_where=text("nhs_number IS NOT NULL")),
    )  # fmt: skip

    case_id: Mapped[UUID] = mapped_column(Id, ForeignKey("case.id", ondelete="CASCADE"), primary_key=True)
    local_authority_code: Mapped[str] = mapped_column(String(9), primary_key=True)
    la_child_id: Mapped[str] = mapped_column(String(10))
    upn: Mapped[str | None] = mapped_column(String(13), nullable=True)
    nhs_number: Mapped[str | None] = mapped_column(String(10), nullable=True)
    # Whether this council looks after the child (its SSDA903 returns are of looked-after children only).
    looked_after: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # The council's own record of the date of birth, for its exports when the service has only an estimated
    # age; never the service's record.
    date_of_birth: Mapped[date | None] = mapped_column(Date, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(When)
    updated_by: Mapped[str] = mapped_column(String(200))


class BreakGlass(Model):  # type: ignore[valid-type, misc]
    """Time-limited access of one actor to one case outside their regions, with the reason given."""

    __tablename__ = "break_glass"
    __table_args__ = (Index("ix_break_glass_actor_case", "actor", "case_id", "expires_at"),)

    id: Mapped[UUID] = mapped_column(Id, primary_key=True)
    # The principal's key (`Actor.principal_key`: issuer, organisation and sub), never `sub` alone: two
    # organisations' tokens may share a `sub`, and one must not read through the other's grant.
    actor: Mapped[str] = mapped_column(String(200))
    case_id: Mapped[UUID] = mapped_column(Id, ForeignKey("case.id"))
    reason: Mapped[str] = mapped_column(String(1000))
    granted_at: Mapped[datetime] = mapped_column(When)
    expires_at: Mapped[datetime] = mapped_column(When)
