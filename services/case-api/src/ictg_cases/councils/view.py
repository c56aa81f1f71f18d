"""What a council sees of a case, in one place (see docs/security.md).

The child's identity (it is the corporate parent and must match its own records), the referral's coded
facts with their CIN census assessment-factor codes (`coded_facts.py`), the case's status,
pathway, allocation (role and region, never the guardian), missing episodes, NRM decisions, moves and
exit, return interviews; contacts as date, method and party only. Never free-text notes, the referrer's details, the
guardian's name or id, nor who recorded what; never assessments, advocacy or deadline breaches.

Only records dated inside the council's responsibility periods are shown; a missing episode is shown
when it overlaps one (a council taking over a missing child must know), its return only if it fell
inside. The move that ends a period is shown to the council it ends (where the child went).
A council whose period has ended sees the case as it was: status, pathway and allocation are null.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, create_model

from ictg_common.codes import CaseStatus

from ..cases import periods as rule
from ..cases.schemas import TimelineEntry
from ..kinds import KINDS
from ..models import Allocation, Case, LocalIdentifier, ResponsibilityPeriod
from .coded_facts import CodedFacts, coded_facts

# record path → (the column dating it, the fields a council sees)
SHARED: dict[str, tuple[str, tuple[str, ...]]] = {k.path: (k.time, k.council) for k in KINDS if k.council is not None}
# timeline kind → record path
KIND_PATH = {
    entry: k.path for k in KINDS if k.council is not None for entry in (k.entry, *(k.ended[:1] if k.ended else ()))
}
IDENTITY = (
    "given_name", "family_name", "other_names", "date_of_birth", "estimated_age", "age_disputed", "gender",
    "nationality",
)  # fmt: skip


# record table → the columns dating it that a council sees (a write touches the periods they fall in)
DATED = {k.row.__tablename__: k.dated for k in KINDS if k.council is not None}


# writes that change only some of a record's times: the periods of the others saw nothing new
CHANGES = {"missing_episode.return": ("ended_at",)}


def times_of(row: Any, *, action: str | None = None) -> list[datetime]:
    """When what a write (`action`) changed in a record happened, as far as councils see it (none for the
    kinds they are never shown). A child's return recorded after a move changes the episode as the new
    authority sees it, not as the old one does (its view hides a return outside its periods)."""
    names = CHANGES.get(action or "") or DATED.get(getattr(row, "__tablename__", ""), ())
    return [t for n in names if (t := getattr(row, n, None)) is not None]


def shared(path: str) -> bool:
    return path in SHARED


def council_schema(schema: type[BaseModel], path: str) -> type[BaseModel]:
    """The council's version of a record schema: only the fields it may see (same types and texts)."""
    _column, names = SHARED[path]
    fields: dict[str, Any] = {n: (schema.model_fields[n].annotation, schema.model_fields[n]) for n in names}
    if path == "allocations":
        fields["region"] = (str, Field(description="The region of the guardian's team"))
    doc = f"{schema.__name__} as a council sees it (only these fields): {', '.join(fields)}."
    # Extra fields forbidden: a guardian's full record never passes for the council's (responses are
    # validated against the union of both).
    return create_model(f"Council{schema.__name__}", __doc__=doc, __config__=ConfigDict(extra="forbid"), **fields)


def _at(path: str, row: Any) -> datetime:
    return getattr(row, SHARED[path][0])


def _region_at(periods: Sequence[ResponsibilityPeriod], at: datetime) -> str | None:
    return next((p.region for p in periods if p.covers(at)), None)


def record(path: str, row: Any, periods: Sequence[ResponsibilityPeriod]) -> dict[str, Any] | None:
    """The row as the council sees it, or None if it is not the council's to see."""
    at = _at(path, row)
    if path == "missing-episodes":
        if not rule.overlaps(periods, at, row.ended_at):
            return None
    elif not rule.covers(periods, at, or_ends=path == "moves"):
        return None
    seen = {n: getattr(row, n, None) for n in SHARED[path][1]}
    if path == "missing-episodes" and row.ended_at is not None and not rule.covers(periods, row.ended_at):
        seen["ended_at"] = seen["return_interview_offered"] = None  # the return fell outside its periods
    if path == "allocations":
        seen["region"] = _region_at(periods, at)
        if row.ended_at is not None and not rule.covers(periods, row.ended_at, or_ends=True):
            seen["ended_at"] = None  # ended after its periods: not its to know
    return seen


def records(path: str, rows: Sequence[Any], periods: Sequence[ResponsibilityPeriod]) -> list[dict[str, Any]]:
    return [seen for row in rows if (seen := record(path, row, periods)) is not None]


def timeline(entries: Sequence[TimelineEntry], periods: Sequence[ResponsibilityPeriod]) -> list[TimelineEntry]:
    shown = []
    for e in entries:
        if e.kind == "case.opened":
            if rule.covers(periods, e.at):
                shown.append(e)
            continue
        path = KIND_PATH.get(e.kind)
        if path is None:
            continue
        if e.kind == "missing.ended" and not rule.covers(periods, e.at):
            continue
        row = _Row(e.record)
        seen = record(path, row, periods)
        if seen is not None:
            seen.pop("case_id", None)
            shown.append(e.model_copy(update={"record": seen}))
    return shown


class _Row:
    """A timeline entry's record read like a row."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


class Period(BaseModel):
    local_authority_code: str = Field(
        description="ONS code of your authority that answers for the child in this period."
    )
    region: str = Field(description="That authority's region (a slug, e.g. `north_west`).")
    starts_at: datetime = Field(
        description="When the period began (RFC 3339): the referral's `received_at`, or the `moved_at` of the move "
        "that brought the child to you."
    )
    ends_at: datetime | None = Field(description="The move that ended it; null while the child is yours")


class Identifiers(BaseModel):
    local_authority_code: str = Field(description="ONS code of your authority that filed them.")
    la_child_id: str = Field(description="Your own child id (as in your SSDA903 returns)")
    upn: str | None = Field(description="Unique Pupil Number; null if you filed none.")
    nhs_number: str | None = Field(description="NHS number (10 digits); null if you filed none.")
    looked_after: bool = Field(description="Whether you look after the child, as you filed it.")
    date_of_birth: date | None = Field(
        description="The date of birth you record (ISO date); null if you filed none. Never the service's record."
    )
    updated_at: datetime = Field(description="When you last filed them (RFC 3339).")


class CurrentAllocation(BaseModel):
    role: str = Field(
        description="The guardian's role: direct_worker, regional_practice_coordinator, regional_practitioner or "
        "manager."
    )
    region: str = Field(
        description="Where the guardian's team is (a region slug): after a move to another region, the old one "
        "until the case is allocated again."
    )
    allocated_at: datetime | None = Field(
        description="When the current allocation began (RFC 3339); null when that was before your periods."
    )


class Child(BaseModel):
    """The child's identity as the referral gave it; a field is null (or empty) when the referral did not give it."""

    given_name: str | None = Field(default=None, description="Given name.")
    family_name: str | None = Field(default=None, description="Family name.")
    other_names: list[str] = Field(default_factory=list, description="Other names the child is known by.")
    date_of_birth: date | None = Field(
        default=None, description="Date of birth (ISO date); null when only an estimated age was given."
    )
    estimated_age: int | None = Field(
        default=None, description="Estimated age in whole years at referral; null when the date of birth is known."
    )
    age_disputed: bool | None = Field(
        default=None, description="The child's age is disputed (treated as a child until assessed)."
    )
    gender: str | None = Field(default=None, description="The child's gender: female, male, other or unknown.")
    nationality: str | None = Field(
        default=None, description="ISO 3166-1 alpha-2 country code (GB for the UK), `stateless` or `unknown`."
    )


class CouncilCase(BaseModel):
    """A case as a council sees it. While the child is the council's (`responsible_now`),
    the current status, pathway, allocation and missing flag; once the child has moved away, those
    are null and only the council's own periods' records remain visible."""

    id: UUID = Field(description="The case's id.")
    referral_id: UUID = Field(description="Intake's id of the referral the case was opened for.")
    received_at: datetime = Field(description="When intake received the referral (RFC 3339).")
    child: Child = Field(description="The child's identity (you are the corporate parent).")
    responsible_now: bool = Field(
        description="True while the child is your responsibility (a period of yours is open)."
    )
    periods: list[Period] = Field(description="Your responsibility periods for this child")
    status: CaseStatus | None = Field(
        description="awaiting_allocation, allocated or exited; null once the child is no longer yours."
    )
    pathway: str | None = Field(
        description="direct_worker, regional_practice_coordinator or regional_practitioner; null once the child "
        "is no longer yours."
    )
    local_authority_code: str | None = Field(description="The child's current authority, while it is yours")
    allocation: CurrentAllocation | None = Field(
        description="The current guardian's role and region (never the name); null when unallocated or the child is "
        "no longer yours."
    )
    missing: bool | None = Field(description="A missing episode is open; null once the child is no longer yours.")
    exited_at: datetime | None = Field(
        description="When the child left the service (RFC 3339), if it fell inside your periods; null otherwise."
    )
    turns_18_on: date | None = Field(
        description="The child's 18th birthday (ISO date); null when only an estimated age is known."
    )
    coded_facts: CodedFacts = Field(
        description="The referral's exploitation types, county lines, UASC and missing at referral, each with the CIN "
        "census assessment-factor code beside the service's code (12A, 24A, 11A, 10A, 9A)."
    )
    local_identifiers: list[Identifiers] = Field(description="Your own identifiers for the child")
    changed_at: datetime | None = Field(description="When the case last changed while it was yours")


class CouncilCasePage(BaseModel):
    items: list[CouncilCase] = Field(
        description="Your children on this page: in id order, or in change order in the change feed."
    )
    next_cursor: str | None = Field(
        default=None, description="Give as `cursor` for the next page; null on the last page."
    )
    poll_cursor: str | None = Field(
        default=None,
        description="Change feed only (`changed_since` given): poll again with this cursor for changes after this page",
    )


def case(
    row: Case,
    periods: Sequence[ResponsibilityPeriod],
    *,
    allocation: tuple[Allocation, str] | None,
    identifiers: Sequence[LocalIdentifier],
) -> CouncilCase:
    now = rule.responsible_now(periods)
    child = row.personal.get("child") if isinstance(row.personal, dict) else None
    exit_seen = row.exited_at is not None and rule.covers(periods, row.exited_at)
    return CouncilCase(
        id=row.id,
        referral_id=row.referral_id,
        received_at=row.received_at,
        child=Child.model_validate({k: v for k, v in (child or {}).items() if k in IDENTITY}),
        responsible_now=now,
        periods=[Period.model_validate(p, from_attributes=True) for p in periods],
        status=row.status if now else None,
        pathway=row.pathway if now else None,
        local_authority_code=row.local_authority_code if now else None,
        allocation=(
            CurrentAllocation(
                role=allocation[0].role,
                region=allocation[1],
                allocated_at=allocation[0].allocated_at if rule.covers(periods, allocation[0].allocated_at) else None,
            )
            if now and allocation is not None
            else None
        ),
        missing=row.missing_since is not None if now else None,
        exited_at=row.exited_at if exit_seen else None,
        turns_18_on=row.turns_18_on,
        coded_facts=coded_facts(row.attributes if isinstance(row.attributes, dict) else {}),
        local_identifiers=[Identifiers.model_validate(i, from_attributes=True) for i in identifiers],
        changed_at=max((p.changed_at for p in periods if p.changed_at is not None), default=None),
    )
