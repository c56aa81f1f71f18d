"""Tables of schema `metrics`: every event received, and each child's derived facts."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import UUID as PgUUID
from sqlalchemy.orm import Mapped, mapped_column

from ictg_common.audit import audit_table
from ictg_common.consumer import consumer_tables
from ictg_common.db import make_base
from ictg_common.ratelimit import rate_limit_table

SCHEMA = "metrics"
Model = make_base(SCHEMA)
inbox, dead_letter = consumer_tables(Model.metadata)
# Who rebuilt or reconciled, and who read unperturbed figures (true counts: docs/disclosure.md).
audit = audit_table(Model.metadata)
rate_limit = rate_limit_table(Model.metadata)  # the rate limits' buckets, shared by replicas


class Event(Model):  # type: ignore[valid-type, misc]
    """Every event, stored once (by id): the source of truth metrics are derived from."""

    __tablename__ = "event"

    id: Mapped[UUID] = mapped_column(PgUUID(as_uuid=True), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    child_id: Mapped[UUID] = mapped_column(PgUUID(as_uuid=True))  # the referral id: one child per referral
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_event_child", "child_id"), Index("ix_event_stored_at", "stored_at"))


def _dates() -> Mapped[list[date | None]]:
    return mapped_column(ARRAY(Date), server_default=text("'{}'"))


def _texts() -> Mapped[list[str | None]]:
    return mapped_column(ARRAY(Text), server_default=text("'{}'"))


class Child(Model):  # type: ignore[valid-type, misc]
    """A child's facts: a pure function of that child's events, recomputed on each new one.

    Dated facts (London dates, arrays sorted ascending with parallel value arrays) let queries
    evaluate any `as_of` in SQL; see `children/facts.py` and `dimensions/`.
    """

    __tablename__ = "child"

    # Columns in the order queries read them (migration 0009): the record key and fixed-width facts,
    # the codes, the dated arrays, the JSON facts last.
    child_id: Mapped[UUID] = mapped_column(PgUUID(as_uuid=True), primary_key=True)
    referred: Mapped[bool]  # referral.received seen (case events may arrive first)
    received_on: Mapped[date | None] = mapped_column(index=True)  # Europe/London date of received_at
    # 0–255, the cell key method's (docs/disclosure.md); null only for a child stored before it and not refolded
    record_key: Mapped[int | None] = mapped_column(SmallInteger)
    exit_on: Mapped[date | None]
    identified_on: Mapped[date | None]
    allocated_on: Mapped[date | None]
    first_contact_on: Mapped[date | None]
    missing_in_service_on: Mapped[date | None]  # first episode started in service (not the one at referral)
    referral_delay_days: Mapped[int | None]
    referral_delay_working_days: Mapped[int | None]  # England-and-Wales working days (no weekends, no bank holidays)
    age_at_referral: Mapped[int | None] = mapped_column(SmallInteger)
    uasc: Mapped[bool | None]
    missing_at_referral: Mapped[bool | None]
    county_lines: Mapped[bool | None]
    allocation_due_by: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_contact_due_by: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    allocated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # first allocation
    first_contact_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # any outcome, any party
    exited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    gender: Mapped[str | None] = mapped_column(Text)
    age_band: Mapped[str | None] = mapped_column(Text)
    nationality: Mapped[str | None] = mapped_column(Text)
    nationality_group: Mapped[str | None] = mapped_column(Text)
    referrer_type: Mapped[str | None] = mapped_column(Text)
    local_authority_code: Mapped[str | None] = mapped_column(Text)
    region: Mapped[str | None] = mapped_column(Text)
    pathway: Mapped[str | None] = mapped_column(Text)
    living_situation: Mapped[str | None] = mapped_column(Text)
    trafficker_contact: Mapped[str | None] = mapped_column(Text)
    education: Mapped[str | None] = mapped_column(Text)
    primary_exploitation: Mapped[str | None] = mapped_column(Text)
    referral_delay_band: Mapped[str | None] = mapped_column(Text)
    referral_delay_working_days_band: Mapped[str | None] = mapped_column(Text)
    exit_reason: Mapped[str | None] = mapped_column(Text)
    exit_destination: Mapped[str | None] = mapped_column(Text)
    allocation_state_on: Mapped[list[date | None]] = _dates()  # days the case was allocated or released …
    allocation_state: Mapped[list[str | None]] = _texts()  # … and its state from then: allocated / awaiting_allocation
    move_on: Mapped[list[date | None]] = _dates()
    move_la: Mapped[list[str | None]] = _texts()
    move_region: Mapped[list[str | None]] = _texts()
    rg_on: Mapped[list[date | None]] = _dates()  # NRM reasonable-grounds decisions
    rg_outcome: Mapped[list[str | None]] = _texts()
    cg_on: Mapped[list[date | None]] = _dates()  # NRM conclusive-grounds decisions
    cg_outcome: Mapped[list[str | None]] = _texts()
    child_contact_on: Mapped[list[date | None]] = _dates()  # contacts made with the child
    f2f_contact_on: Mapped[list[date | None]] = _dates()  # … face to face
    tp_contact_on: Mapped[list[date | None]] = _dates()  # contacts made with any other party
    main_tp_on: Mapped[list[date | None]] = _dates()  # days the main third party changed …
    main_tp: Mapped[list[str | None]] = _texts()  # … and who it became
    topic_on: Mapped[list[date | None]] = _dates()  # each topic of face-to-face contacts made with the child,
    topic: Mapped[list[str | None]] = _texts()  # by the day it first came up
    legal_on: Mapped[list[date | None]] = _dates()  # each area of legal advice, by the day it was first given
    legal_area: Mapped[list[str | None]] = _texts()
    missing_start_on: Mapped[list[date | None]] = _dates()  # every episode, with its end (NULL: open)
    missing_end_on: Mapped[list[date | None]] = _dates()
    # each return from an episode by the day its interview fell due (72 hours on), and whether one was offered by then
    return_due_on: Mapped[list[date | None]] = _dates()
    return_interview_met: Mapped[list[bool | None]] = mapped_column(ARRAY(Boolean), server_default=text("'{}'"))
    exploitation_type: Mapped[list[str | None]] = _texts()
    cjs_involvement: Mapped[list[str | None]] = _texts()
    facts: Mapped[dict[str, Any]] = mapped_column(JSONB)  # ids and attributes no query groups by

    __table_args__ = (Index("ix_child_exit_on", "exit_on"),)


class ChildFold(Model):  # type: ignore[valid-type, misc]
    """Each child's fold state (`children/facts.py`, `FoldState`: plain JSON) and the (time, id) of the
    last event folded into it: an event sorting after it is applied to the state, with no need to read
    the child's history. No row: the next event about the child refolds its whole history."""

    __tablename__ = "child_fold"

    child_id: Mapped[UUID] = mapped_column(PgUUID(as_uuid=True), primary_key=True)
    last_time: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_id: Mapped[UUID] = mapped_column(PgUUID(as_uuid=True))
    state: Mapped[dict[str, Any]] = mapped_column(JSONB)


class RebuildStatus(Model):  # type: ignore[valid-type, misc]
    """The last rebuild, whichever replica ran it (one row): `GET /v1/admin/rebuild` reads it."""

    __tablename__ = "rebuild_status"

    id: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(20))  # running, done, failed
    requested_by: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(String(500))

    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)


class Release(Model):  # type: ignore[valid-type, misc]
    """A monthly release of the published tables (`releases/`): computed once as at the end of its month,
    then served unchanged. Only published (perturbed) values are stored, never a true count."""

    __tablename__ = "release"

    release: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    as_at: Mapped[date] = mapped_column(Date)  # the last day of the month
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    disclosure: Mapped[dict[str, Any]] = mapped_column(JSONB)  # the method and the ptable's parameters
    previous: Mapped[str | None] = mapped_column(String(7))  # the release its revisions are against
    revisions: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)


class ReleaseTable(Model):  # type: ignore[valid-type, misc]
    """One table of a release, as published (JSON; its CSV is written from it)."""

    __tablename__ = "release_table"

    release: Mapped[str] = mapped_column(String(7), ForeignKey("metrics.release.release"), primary_key=True)
    table_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)


class PrivacyCharge(Model):  # type: ignore[valid-type, misc]
    """A distinct query a principal asked under `disclosure=dp` (`privacy/`): the privacy loss it was charged
    in its month (Europe/London), and its answer, replayed at no cost when the same query is asked again."""

    __tablename__ = "privacy_charge"

    principal: Mapped[str] = mapped_column(Text, primary_key=True)  # `Actor.principal`, never `sub` alone
    query_key: Mapped[str] = mapped_column(Text, primary_key=True)  # sha256 of the canonical query
    charged_month: Mapped[date] = mapped_column(Date)  # the 1st of the month charged
    epsilon: Mapped[float] = mapped_column(Double)
    query: Mapped[dict[str, Any]] = mapped_column(JSONB)  # the canonical query, for a reader
    answer: Mapped[dict[str, Any]] = mapped_column(JSONB)  # noisy values only, never a true count
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (Index("ix_privacy_charge_principal_month", "principal", "charged_month"),)
