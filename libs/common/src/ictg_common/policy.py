"""What an organisation may learn of each kind of record, when it arrives as an event: one table, used by
every door that hands events to an organisation outside the ICTG service (webhook deliveries, their
replays and their retries).

Three audiences, by the token's (or the subscription's) `org_type`:

- **staff** (`ictg`: the ICTG service's own staff and services) learn every field of every event;
- **council** (`local_authority`) learns of the children in its responsibility periods (the routing
  decides which events are a council's) exactly what the council API shows of the same record: the
  case's status, pathway, allocation as role and region (never the guardian), contacts as date, method
  and party (never outcomes or topics), missing episodes and their return interviews, NRM decisions, moves, exit; of a referral,
  the child's identity facts the council view carries (gender, nationality, age), never the referrer, the
  living situation, the trafficker contact or anything else the referral records. Assessments, advocacy
  and SLA breaches are the service's own: never a council's.
- **other** (police, Border Force, NGOs, partners, anyone else) learns no child-level event but those
  addressed to it: how the referrals it filed stand (`referral.status_changed`: ids, its own reference,
  status and dates) and `webhook.*` events about its own subscriptions.

`project` returns the event's `data` as the audience may see it, or None when the event is not for it;
the projection is computed at delivery time from the stored event, so a delivery queued, retried or
replayed under an older rule still goes out under this one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from .contracts import (
    AdvocacyRecorded,
    AssessmentRecorded,
    CaseAllocated,
    CaseExited,
    CaseMoved,
    CaseOpened,
    CasePathwayChanged,
    ContactRecorded,
    MissingEnded,
    MissingStarted,
    NrmDecisionRecorded,
    ReferralReceived,
    ReferralStatusChanged,
    ReturnInterviewRecorded,
    SlaBreached,
    WebhookDisabled,
)

Audience = Literal["staff", "council", "other"]
STAFF_ORG_TYPE = "ictg"
COUNCIL_ORG_TYPE = "local_authority"

# A case event names the child's authority and region as they stand when it is recorded: a record dated
# inside a council's period but written after the child moved on would tell that council where the child
# went. So a council learns them only from the events that are about them (the referral, the opening, a move).
# The authority responsible at the event's time (`responsible_local_authority_code`) routes the event; the
# council it goes to is that authority, so it is not passed on.
_CASE = ("case_id", "referral_id")
_WHERE = ("local_authority_code", "region")

# event type -> the fields of its `data` a council may learn (the council API's view of the same record)
COUNCIL_FIELDS: dict[str, frozenset[str]] = {
    ReferralReceived.TYPE: frozenset({"referral_id", "received_at", "local_authority_code", "region", "pathway",
                                      "gender", "age_at_referral", "age_band", "age_disputed", "nationality"}),
    CaseOpened.TYPE: frozenset({*_CASE, *_WHERE, "status", "pathway", "opened_at"}),
    CaseAllocated.TYPE: frozenset({*_CASE, "allocation_id", "role", "allocated_at"}),
    ContactRecorded.TYPE: frozenset({*_CASE, "contact_id", "occurred_at", "method", "party"}),
    MissingStarted.TYPE: frozenset({*_CASE, "episode_id", "started_at", "at_referral", "whereabouts_known",
                                    "reported_to_police", "missing_from_care_meeting",
                                    "professional_network_meeting"}),
    MissingEnded.TYPE: frozenset({*_CASE, "episode_id", "started_at", "ended_at", "return_interview_offered"}),
    ReturnInterviewRecorded.TYPE: frozenset({*_CASE, "interview_id", "episode_id", "ended_at", "due_by", "offered_at",
                                             "outcome", "completed_at", "conducted_by", "within_72h"}),
    NrmDecisionRecorded.TYPE: frozenset({*_CASE, "decision_id", "stage", "outcome", "decided_at"}),
    CaseMoved.TYPE: frozenset({*_CASE, *_WHERE, "move_id", "moved_at", "from_local_authority_code",
                               "missing_episode_id", "missing_since"}),
    CasePathwayChanged.TYPE: frozenset({*_CASE, "pathway", "changed_at"}),
    CaseExited.TYPE: frozenset({*_CASE, "exited_at", "reason", "destination"}),
}  # fmt: skip
STAFF_ONLY = frozenset({AssessmentRecorded.TYPE, AdvocacyRecorded.TYPE, SlaBreached.TYPE})
# Events addressed to one organisation (the routing delivers them to it alone): its own subscriptions' state,
# and how the referrals it filed stand (ids, its own reference, status and dates: nothing else of the child).
ABOUT_THE_RECIPIENT = frozenset({WebhookDisabled.TYPE, ReferralStatusChanged.TYPE})


def audience(org_type: str | None) -> Audience:
    if org_type == STAFF_ORG_TYPE:
        return "staff"
    if org_type == COUNCIL_ORG_TYPE:
        return "council"
    return "other"


def may_receive(org_type: str | None, event_type: str) -> bool:
    """Whether an organisation of `org_type` may receive events of `event_type` at all."""
    who = audience(org_type)
    if event_type in ABOUT_THE_RECIPIENT or who == "staff":
        return True
    return who == "council" and event_type in COUNCIL_FIELDS


def receivable(org_type: str | None) -> frozenset[str] | None:
    """The event types an organisation of `org_type` may receive (None: every type)."""
    who = audience(org_type)
    if who == "staff":
        return None
    return ABOUT_THE_RECIPIENT | (frozenset(COUNCIL_FIELDS) if who == "council" else frozenset())


def project(org_type: str | None, event_type: str, data: Mapping[str, Any]) -> dict[str, Any] | None:
    """`data` of an event of `event_type` as an organisation of `org_type` may learn it; None when the event
    is not for it. A field the table does not list is never passed on (a new field of an event stays with
    the service until someone places it here)."""
    if not may_receive(org_type, event_type):
        return None
    if audience(org_type) == "staff" or event_type in ABOUT_THE_RECIPIENT:
        return dict(data)
    allowed = COUNCIL_FIELDS[event_type]
    return {k: v for k, v in data.items() if k in allowed}
