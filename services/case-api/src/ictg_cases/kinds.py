"""Every kind of case record, declared once.

A `RecordKind` says where the kind lives in the API, which table holds it, which schemas read and
write it, which event a new one publishes, which field is its time, what a council sees of it and
how its writes are audited (`cases/record_kind.py`). The read routes and the facts' routes
(`casefile/records.py`), the case's timeline (`casefile/timeline.py`), the council's view
(`councils/view.py`) and the time of a fact's event are all derived from `KINDS`.

This module sits above the features whose schemas it names and below what is derived from it: a
feature's package never imports it (the exit, which needs every kind's times, is read by its own
route and so is declared here without its schema).

A *fact* (`event` and `create` set) changes nothing on the case but its history: it is recorded by
the generic service and routes, so a new fact kind needs its table, its schemas, its event and one
entry here. The other kinds change the case's state and have their own services and write routes.
"""

from __future__ import annotations

from ictg_common.contracts import AdvocacyRecorded, AssessmentRecorded, NrmDecisionRecorded

from . import models
from .allocations.schemas import Allocation
from .cases.record_kind import RecordKind
from .contacts.schemas import Contact
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
from .return_interviews.schemas import ReturnInterview

ALLOCATIONS = RecordKind(
    path="allocations", noun="allocation", row=models.Allocation, out=Allocation, entry="case.allocated",
    time="allocated_at", tag="allocations", council=("id", "case_id", "role", "allocated_at", "ended_at"),
)  # fmt: skip
CONTACTS = RecordKind(
    path="contacts", noun="contact", row=models.Contact, out=Contact, entry="contact.recorded", time="occurred_at", tag="contacts",
    council=("id", "case_id", "occurred_at", "method", "party"),
)  # fmt: skip
MISSING_EPISODES = RecordKind(
    path="missing-episodes", noun="missing_episode", row=models.MissingEpisode, out=Episode, entry="missing.started",
    time="started_at", ended=("missing.ended", "ended_at"), tag="missing episodes",
    council=(
        "id", "case_id", "started_at", "ended_at", "at_referral", "whereabouts_known", "reported_to_police",
        "missing_from_care_meeting", "professional_network_meeting", "return_interview_offered",
    ),
)  # fmt: skip
RETURN_INTERVIEWS = RecordKind(
    # Written at its own route under its episode (return_interviews/endpoints.py), which checks the episode.
    path="return-interviews", noun="return_interview", row=models.ReturnInterview, out=ReturnInterview,
    entry="return_interview.recorded", time="offered_at", tag="missing episodes",
    council=(
        "id", "case_id", "episode_id", "ended_at", "due_by", "offered_at", "outcome", "completed_at", "conducted_by",
        "within_72h",
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
REFERRAL_AMENDMENTS = RecordKind(
    # The referrer's corrections and withdrawal (`referrals/follow.py`): on the timeline only, never a council's.
    path="referral-amendments", noun="referral_amendment", row=models.ReferralAmendment, out=None,
    entry="referral.amended", time="amended_at", listed=False,
)  # fmt: skip
REFERRAL_WITHDRAWALS = RecordKind(
    path="referral-withdrawals", noun="referral_withdrawal", row=models.ReferralWithdrawal, out=None,
    entry="referral.withdrawn", time="withdrawn_at", listed=False,
)  # fmt: skip
SLA_BREACHES = RecordKind(
    path="sla-breaches", noun="sla_breach", row=models.SlaBreach, out=None, entry="sla.breached", time="due_by",
    listed=False,
)  # fmt: skip
EXIT = RecordKind(
    # Read at its own route (exits/endpoints.py): one per case, not a list.
    path="exit", noun="exit", row=models.Exit, out=None, entry="case.exited", time="exited_at", tag="exits",
    council=("id", "case_id", "exited_at", "reason", "destination"), listed=False,
)  # fmt: skip

# In timeline order: among records sharing one instant, an earlier kind comes first (the exit last).
KINDS: tuple[RecordKind, ...] = (
    ALLOCATIONS, CONTACTS, MISSING_EPISODES, RETURN_INTERVIEWS, ASSESSMENTS, NRM_DECISIONS, ADVOCACY, MOVES,
    PATHWAY_CHANGES, REFERRAL_AMENDMENTS, REFERRAL_WITHDRAWALS, SLA_BREACHES, EXIT,
)  # fmt: skip
