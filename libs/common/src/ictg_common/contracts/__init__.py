"""The event contract: one pydantic model per event type's `data`, shared by producers,
consumers, the synthetic generator and the tests.

Producers build events only with `make_event(data=SomeModel(...), subject=..., time=...)`: the type,
the source and the `dataschema` come from the model's class, so an event cannot name one type and
carry another's payload. Consumers parse `data` with `parse_data(type, data)` (the `REGISTRY` model of
that type), never with `dict.get`.

Compatibility: a model only ever gains fields with a default (an event stored before the field
existed still parses); renaming or removing a field, or changing its meaning, is a new `…v2` type.
Unknown fields are ignored, so a consumer on an older model accepts a newer producer's events.

`python -m ictg_common.contracts` regenerates the JSON Schema of every type (`docs/schemas/`), the
AsyncAPI document of the stream (`docs/asyncapi.yaml`) and the catalogue (`docs/events.md`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from ..codes import (
    AdvocacyArea,
    AdvocacyKind,
    AgeBand,
    CaseStatus,
    CjsInvolvement,
    ContactMethod,
    ContactOutcome,
    Education,
    ExitDestination,
    ExitReason,
    ExploitationType,
    Gender,
    LivingSituation,
    NationalityGroup,
    NrmOutcome,
    NrmStage,
    OrganisationType,
    Party,
    Pathway,
    ReferralStatus,
    ReturnInterviewBy,
    ReturnInterviewOutcome,
    Topic,
    TraffickerContact,
    WithdrawalReason,
    WorkerRole,
)
from ..events import SOURCES, CloudEvent, event_name
from ..tracing import current_traceparent

SCHEMA_BASE = "https://ictg.example/schemas/"
"""Where the generated schemas are published; an event's `dataschema` is `SCHEMA_BASE + <type>.json`
(the files are checked in under `docs/schemas/` with the same names)."""

SlaClock = Literal["allocation", "first_contact", "return_interview"]


class EventData(BaseModel):
    """Base of every event's `data`. Subclasses set `TYPE` (`ictg.<name>.v<n>`) and `SOURCE`."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    TYPE: ClassVar[str]
    SOURCE: ClassVar[str]  # a key of `ictg_common.events.SOURCES`
    # Published on the stream (through its producer's outbox). False: a webhook-only payload, sent straight to
    # one subscriber's URL and never on the bus (no subject, no channel in `docs/asyncapi.yaml`).
    ON_STREAM: ClassVar[bool] = True

    @classmethod
    def name(cls) -> str:
        return event_name(cls.TYPE)

    @classmethod
    def dataschema(cls) -> str:
        return f"{SCHEMA_BASE}{cls.TYPE}.json"


# ---- intake ----


class Exploitation(BaseModel):
    model_config = ConfigDict(frozen=True)

    primary: ExploitationType
    others: list[ExploitationType] = Field(default_factory=list)
    county_lines: bool = False


class Timeliness(BaseModel):
    model_config = ConfigDict(frozen=True)

    referral_delay_days: int = Field(description="London date received minus identified_on, in days.")
    late_referral: bool
    allocation_due_by: datetime
    first_contact_due_by: datetime


class ReferralReceived(EventData):
    """A first responder's referral, as the stream may know it: no names, contacts, DOB or notes.
    Subject: the referral id. Time: `received_at`."""

    TYPE = "ictg.referral.received.v1"
    SOURCE = "intake"

    referral_id: UUID
    received_at: datetime
    identified_on: date
    referrer_type: OrganisationType
    local_authority_code: str
    region: str
    pathway: Pathway
    gender: Gender
    age_at_referral: int | None = Field(description="Whole years on the London day received; null if unknown.")
    age_band: AgeBand
    age_disputed: bool
    nationality: str = Field(description="ISO 3166-1 alpha-2, 'stateless' or 'unknown'.")
    nationality_group: NationalityGroup
    interpreter_required: bool
    uasc: bool
    exploitation: Exploitation
    missing_at_referral: bool
    nrm_referred: bool
    living_situation: LivingSituation
    trafficker_contact: TraffickerContact
    education: Education
    cjs_involvement: list[CjsInvolvement] = Field(default_factory=list)
    timeliness: Timeliness
    possible_duplicate_of: list[UUID] = Field(default_factory=list)


class ReferralAmended(EventData):
    """The referring organisation corrected its referral (`PATCH /v1/referrals/{id}`): which fields it
    changed, by name (`child.date_of_birth`, `local_authority_code`, `referrer.reference`…), never their
    values, old or new (the case API re-reads the referral through its claim check). Subject: the referral
    id. Time: `amended_at`."""

    TYPE = "ictg.referral.amended.v1"
    SOURCE = "intake"

    referral_id: UUID
    amended_at: datetime
    fields: list[str] = Field(
        description="The names of the fields the correction changed, as dotted paths of the referral's body "
        "(`child.family_name`, `circumstances.uasc`), sorted; never their values."
    )


class ReferralWithdrawn(EventData):
    """The referring organisation withdrew its referral (`POST /v1/referrals/{id}/withdraw`): before a
    guardian is allocated the case exits (`referral_withdrawn`), after it the guardian is told. The reason's
    free-text `detail` stays in intake (it may name the child): the case API reads it through its claim
    check. Subject: the referral id. Time: `withdrawn_at`."""

    TYPE = "ictg.referral.withdrawn.v1"
    SOURCE = "intake"

    referral_id: UUID
    withdrawn_at: datetime
    reason: WithdrawalReason


# ---- cases ----


class CaseEventData(EventData):
    """Every case event carries both ids: metrics keys a child by its referral id, so it needs no
    ordering between `case.opened` and later events. Subject: the case id.

    It also carries the child's current local authority and region, and the authority responsible for the
    child at the event's own time, so a subscriber routes it without a lookup and without relying on the
    stream's order (a contact dated before a move but recorded after it names the authority the child
    left). The case API always fills them (its outbox refuses a case event without them); they default to
    None only so that events stored before they were added still parse."""

    SOURCE = "cases"

    case_id: UUID
    referral_id: UUID
    local_authority_code: str | None = Field(
        default=None,
        description="ONS code of the child's local authority when the event was recorded (after a move, the new "
        "one). Always present in events the case API writes; absent only from events stored before it was added.",
    )
    region: str | None = Field(
        default=None,
        description="Region of that local authority. Always present in events the case API writes; absent only "
        "from events stored before it was added.",
    )
    responsible_local_authority_code: str | None = Field(
        default=None,
        description="ONS code of the local authority responsible for the child at the event's own time (the "
        "event's `time`; for a move, the authority it is to): the council whose view of the case shows the "
        "record. It differs from "
        "`local_authority_code` for a record dated before a move but written after it. Always present in events "
        "the case API writes; absent only from events stored before it was added.",
    )

    def located(self) -> bool:
        """Whether the event names the child's local authority and region (every new case event must)."""
        return self.local_authority_code is not None and self.region is not None


class CaseOpened(CaseEventData):
    """A case opened for a referral (one per referral). Time: the referral's `received_at`."""

    TYPE = "ictg.case.opened.v1"

    status: CaseStatus
    region: str
    pathway: Pathway
    opened_at: datetime


class CaseAllocated(CaseEventData):
    """The case allocated (or reallocated) to a worker. Time: `allocated_at`."""

    TYPE = "ictg.case.allocated.v1"

    allocation_id: UUID
    worker_id: UUID
    role: WorkerRole
    region: str
    allocated_at: datetime
    reallocation: bool
    over_capacity: bool


class ContactRecorded(CaseEventData):
    """A contact, attempted or made, with the child or someone around them. Time: `occurred_at`."""

    TYPE = "ictg.contact.recorded.v1"

    contact_id: UUID
    occurred_at: datetime
    outcome: ContactOutcome
    method: ContactMethod
    party: Party
    topics: list[Topic] = Field(default_factory=list)


class MissingStarted(CaseEventData):
    """The child went missing (`at_referral`: missing when referred). Time: `started_at`."""

    TYPE = "ictg.missing.started.v1"

    episode_id: UUID
    started_at: datetime
    at_referral: bool
    whereabouts_known: bool
    reported_to_police: bool
    missing_from_care_meeting: bool
    professional_network_meeting: bool


class MissingEnded(CaseEventData):
    """The child returned from a missing episode. Time: `ended_at`."""

    TYPE = "ictg.missing.ended.v1"

    episode_id: UUID
    started_at: datetime
    ended_at: datetime
    return_interview_offered: bool


class AssessmentRecorded(CaseEventData):
    """An assessment of the child's circumstances. Time: `assessed_at`."""

    TYPE = "ictg.assessment.recorded.v1"

    assessment_id: UUID
    assessed_at: datetime
    living_situation: LivingSituation
    trafficker_contact: TraffickerContact
    education: Education
    cjs_involvement: list[CjsInvolvement] = Field(default_factory=list)


class ReturnInterviewRecorded(CaseEventData):
    """A return home interview after a missing episode: offered (and accepted or declined) or not offered.
    `within_72h`: offered before `due_by`, 72 hours after the child's return. Time: `offered_at`."""

    TYPE = "ictg.return_interview.recorded.v1"

    interview_id: UUID
    episode_id: UUID
    ended_at: datetime = Field(description="When the child came back from the episode (the episode's `ended_at`).")
    due_by: datetime = Field(description="72 hours after the return: an interview offered before then is on time.")
    offered_at: datetime = Field(
        description="When the interview was offered; for `not_offered`, when it was settled that none would be."
    )
    outcome: ReturnInterviewOutcome
    completed_at: datetime | None = Field(default=None, description="When an accepted interview was held, if it was.")
    conducted_by: ReturnInterviewBy | None = Field(
        default=None, description="Who offered (and, if accepted, conducts) it; null only for `not_offered`."
    )
    within_72h: bool = Field(description="Offered (accepted or declined) before `due_by`.")


class NrmDecisionRecorded(CaseEventData):
    """A National Referral Mechanism decision. Time: `decided_at`."""

    TYPE = "ictg.nrm_decision.recorded.v1"

    decision_id: UUID
    stage: NrmStage
    outcome: NrmOutcome
    decided_at: datetime


class AdvocacyRecorded(CaseEventData):
    """Advocacy for the child (legal advice, a meeting, representation). Time: `occurred_at`."""

    TYPE = "ictg.advocacy.recorded.v1"

    advocacy_id: UUID
    kind: AdvocacyKind
    area: AdvocacyArea
    occurred_at: datetime


class CaseMoved(CaseEventData):
    """The child moved to another local authority (and perhaps region). Time: `moved_at`."""

    TYPE = "ictg.case.moved.v1"

    move_id: UUID
    moved_at: datetime
    from_local_authority_code: str
    local_authority_code: str
    region: str
    missing_episode_id: UUID | None = Field(
        default=None,
        description="The missing episode still open when the move is recorded (the authority taking over must "
        "know: its view of the case shows the episode); null if none.",
    )
    missing_since: datetime | None = Field(default=None, description="When that episode began; null if none.")


class CasePathwayChanged(CaseEventData):
    """The case moved to another pathway. Time: `changed_at`."""

    TYPE = "ictg.case.pathway_changed.v1"

    pathway: Pathway
    changed_at: datetime
    unallocated: bool = Field(
        default=False,
        description="The guardian's role no longer fitted: the case awaits allocation again. "
        "Absent from events stored before it was added (read as false).",
    )


class SlaBreached(CaseEventData):
    """A deadline (`clock`) passed unmet; emitted once per case and clock (`return_interview`: once per missing
    episode, named by `episode_id`). Time: `due_by`."""

    TYPE = "ictg.sla.breached.v1"

    clock: SlaClock
    due_by: datetime
    detected_at: datetime
    episode_id: UUID | None = Field(
        default=None, description="The missing episode whose return interview was due (clock `return_interview` only)."
    )


class CaseExited(CaseEventData):
    """The child left the service; the case takes no more records. Time: `exited_at`."""

    TYPE = "ictg.case.exited.v1"

    exited_at: datetime
    reason: ExitReason
    destination: ExitDestination


class ReferralStatusChanged(EventData):
    """How a referral's case stands changed (the case opened, a guardian was allocated or taken off, the
    child left): what the referring organisation may know of it, for its own systems. Emitted by intake
    from the case API's events; delivered by webhook only to the organisation that filed the referral.
    Subject: the referral id. Time: when the status changed. No personal data."""

    TYPE = "ictg.referral.status_changed.v1"
    SOURCE = "intake"

    referral_id: UUID
    org_type: str = Field(description="The filing organisation's type (the only recipient).")
    org_name: str = Field(description="The filing organisation's name.")
    referrer_reference: str | None = Field(default=None, description="The referrer's own reference, if it gave one.")
    status: ReferralStatus
    case_opened_at: datetime | None = None
    allocated_at: datetime | None = None
    exited_at: datetime | None = None
    withdrawn_at: datetime | None = Field(default=None, description="When the referrer withdrew it; else null.")


# ---- webhooks ----


class WebhookDisabled(EventData):
    """A subscription stopped being delivered to: its receiver answered 410 Gone, or failed for the
    configured time straight (5 days). Tells the owning organisation (through its other subscriptions
    of this type). Subject: the subscription id. Time: `disabled_at`. No personal data."""

    TYPE = "ictg.webhook.disabled.v1"
    SOURCE = "webhooks"

    subscription_id: UUID
    org_type: str
    org_name: str
    url: str
    reason: Literal["gone", "failing"]
    disabled_at: datetime
    failing_since: datetime | None = None


class WebhookPing(EventData):
    """A test delivery its owner asked for (`POST /v1/webhooks/subscriptions/{id}/ping`), sent at once to
    that subscription alone, never retried and never on the stream. Subject: the subscription id. Time:
    when it was sent. No personal data."""

    TYPE = "ictg.webhook.ping.v1"
    SOURCE = "webhooks"
    ON_STREAM = False

    subscription_id: UUID


MODELS: tuple[type[EventData], ...] = (
    ReferralReceived, ReferralAmended, ReferralWithdrawn, CaseOpened, CaseAllocated, ContactRecorded, MissingStarted, MissingEnded, ReturnInterviewRecorded, AssessmentRecorded,
    NrmDecisionRecorded, AdvocacyRecorded, CaseMoved, CasePathwayChanged, SlaBreached, CaseExited, ReferralStatusChanged,
    WebhookDisabled, WebhookPing,
)  # fmt: skip
REGISTRY: dict[str, type[EventData]] = {m.TYPE: m for m in MODELS}
"""Event type (`ictg.case.allocated.v1`) -> the model of its `data`."""


def make_event(*, data: EventData, subject: object, time: datetime) -> CloudEvent:
    """The only way an event of this platform is built: type, source and `dataschema` follow `data`'s
    model. `subject` is the case id (the referral id before a case exists); `time` is when it
    happened in the world."""
    model = type(data)
    return CloudEvent(
        source=SOURCES[model.SOURCE],
        type=model.TYPE,
        subject=str(subject),
        time=time,
        dataschema=model.dataschema(),
        data=data.model_dump(mode="json"),
        traceparent=current_traceparent(),  # the request or handler that caused it (CloudEvents distributed tracing)
    )


def parse_data(type_: str, data: dict[str, Any]) -> EventData | None:
    """`data` of an event of type `type_` as its model; None for a type this platform does not know
    (a newer version, say). Raises `pydantic.ValidationError` for a payload that breaks the contract."""
    model = REGISTRY.get(type_)
    return model.model_validate(data) if model is not None else None


__all__ = [
    "MODELS", "REGISTRY", "SCHEMA_BASE", "AdvocacyRecorded", "AssessmentRecorded", "CaseAllocated", "CaseEventData",
    "CaseExited", "CaseMoved", "CaseOpened", "CasePathwayChanged", "ContactRecorded", "EventData", "Exploitation",
    "MissingEnded", "MissingStarted", "NrmDecisionRecorded", "ReferralAmended", "ReferralReceived", "ReferralWithdrawn", "ReturnInterviewRecorded", "SlaBreached", "SlaClock", "Timeliness",
    "WebhookDisabled", "WebhookPing", "make_event", "parse_data",
]  # fmt: skip
