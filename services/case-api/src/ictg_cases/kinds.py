"""Every kind of case record, declared once.

A `RecordKind` says where the kind lives in the API, which table holds it, which schemas read and
write it, which event a new one publishes, which field is its time, what a council sees of it and
how its writes are audited. The read routes (`cases/reads.py`), the routes of the facts
(`records/endpoints.py`), the case's timeline (`cases/timeline.py`), the council's view
(`councils/view.py`) and the time of a fact's event are all derived from `KINDS`.

A *fact* (`event` and `create` set) changes nothing on the case but its history: it is recorded by
the generic service and routes, so a new fact kind needs its table, its schemas, its event and one
entry here. The other kinds change the case's state and have their own services and write routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ictg_common.contracts import AdvocacyRecorded, AssessmentRecorded, CaseEventData, NrmDecisionRecorded

from . import models
from .allocations.schemas import Allocation
from .contacts.schemas import Contact
from .exits.schemas import Exit
from .missing.schemas import Episode
from .records.schemas import (
    Advocacy,
    AdvocacyCreate,
    Assessment,
    AssessmentCreate,
    Move,
    NrmDecision,
    NrmDecisionCreate,
    PathwayChange,
)  # fmt: skip


@dataclass(frozen=True)
class RecordKind:
    """One kind of case record. `time` names the field holding when it happened: the same name in its
    table, its schemas and its event."""

    path: str  # under /v1/cases/{case_id}/
    noun: str  # audit actions `<noun>.read`, and `<noun>.create` for a fact
    row: Any  # the ORM class (a CaseRecord)
    out: type[BaseModel] | None  # the read schema (None: not read on its own)
    entry: str  # its kind in the case's timeline
    time: str
    council: tuple[str, ...] | None = None  # the fields a council sees; None: never shown to councils
    ended: tuple[str, str] | None = None  # (timeline kind, field) of a second instant the record may gain
    listed: bool = True  # has the list and one-record read routes
    create: type[BaseModel] | None = None  # a fact's request body
    event: type[CaseEventData] | None = None  # a fact's event
    event_id: str | None = None  # the field of that event naming the record
    doc: str | None = None  # a fact's create route: what it records

    @property
    def fact(self) -> bool:
        return self.event is not None

    @property
    def create_action(self) -> str:
        return f"{self.noun}.create"

    @property
    def dated(self) -> tuple[str, ...]:
        """The fields of the record that are instants."""
        return (self.time, self.ended[1]) if self.ended else (self.time,)

    def event_of(self, row: Any, *, case_id: Any, referral_id: Any) -> CaseEventData:
        """A fact's event for its new `row` (the event's fields are the row's, by name)."""
        assert self.event is not None and self.event_id is not None
        values = {c.key: getattr(row, c.key) for c in row.__table__.columns}
        return self.event.model_validate(
            {**values, "case_id": case_id, "referral_id": referral_id, self.event_id: row.id}
        )


ALLOCATIONS = RecordKind(
    path="allocations", noun="allocation", row=models.Allocation, out=Allocation, entry="case.allocated",
    time="allocated_at", council=("id", "case_id", "role", "allocated_at", "ended_at"),
)  # fmt: skip
CONTACTS = RecordKind(
    path="contacts", noun="contact", row=models.Contact, out=Contact, entry="contact.recorded", time="occurred_at",
    council=("id", "case_id", "occurred_at", "method", "party"),
)  # fmt: skip
MISSING_EPISODES = RecordKind(
    path="missing-episodes", noun="missing_episode", row=models.MissingEpisode, out=Episode, entry="missing.started",
    time="started_at", ended=("missing.ended", "ended_at"),
    council=(
        "id", "case_id", "started_at", "ended_at", "at_referral", "whereabouts_known", "reported_to_police",
        "missing_from_care_meeting", "professional_network_meeting", "return_interview_offered",
    ),
)  # fmt: skip
ASSESSMENTS = RecordKind(
    path="assessments", noun="assessment", row=models.Assessment, out=Assessment, entry="assessment.recorded",
    time="assessed_at", create=AssessmentCreate, event=AssessmentRecorded, event_id="assessment_id",
    doc="The child's circumstances as assessed at a time (status over time).",
)  # fmt: skip
NRM_DECISIONS = RecordKind(
    path="nrm-decisions", noun="nrm_decision", row=models.NrmDecision, out=NrmDecision,
    entry="nrm_decision.recorded", time="decided_at", council=("id", "case_id", "stage", "outcome", "decided_at"),
    create=NrmDecisionCreate, event=NrmDecisionRecorded, event_id="decision_id",
)  # fmt: skip
ADVOCACY = RecordKind(
    path="advocacy", noun="advocacy", row=models.Advocacy, out=Advocacy, entry="advocacy.recorded",
    time="occurred_at", create=AdvocacyCreate, event=AdvocacyRecorded, event_id="advocacy_id",
)  # fmt: skip
MOVES = RecordKind(
    path="moves", noun="move", row=models.Move, out=Move, entry="case.moved", time="moved_at",
    council=("id", "case_id", "moved_at", "from_local_authority_code", "local_authority_code", "region"),
)  # fmt: skip
PATHWAY_CHANGES = RecordKind(
    path="pathway-changes", noun="pathway_change", row=models.PathwayChange, out=PathwayChange,
    entry="case.pathway_changed", time="changed_at", council=("id", "case_id", "from_pathway", "pathway", "changed_at"),
)  # fmt: skip
SLA_BREACHES = RecordKind(
    path="sla-breaches", noun="sla_breach", row=models.SlaBreach, out=None, entry="sla.breached", time="due_by",
    listed=False,
)  # fmt: skip
EXIT = RecordKind(
    path="exit", noun="exit", row=models.Exit, out=Exit, entry="case.exited", time="exited_at",
    council=("id", "case_id", "exited_at", "reason", "destination"), listed=False,
)  # fmt: skip

# In timeline order: among records sharing one instant, an earlier kind comes first (the exit last).
KINDS: tuple[RecordKind, ...] = (
    ALLOCATIONS, CONTACTS, MISSING_EPISODES, ASSESSMENTS, NRM_DECISIONS, ADVOCACY, MOVES, PATHWAY_CHANGES,
    SLA_BREACHES, EXIT,
)  # fmt: skip
BY_PATH = {k.path: k for k in KINDS}
FACTS = tuple(k for k in KINDS if k.fact)
