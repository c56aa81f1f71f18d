"""Assessments, NRM decisions, advocacy, moves and pathway changes: the codes are the API's lower_snake words, the same in events and metrics."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, field_validator

from ictg_common.codes import (
    AdvocacyArea,
    AdvocacyKind,
    CjsInvolvement,
    Education,
    LivingSituation,
    NrmOutcome,
    NrmStage,
    TraffickerContact,
)  # fmt: skip
from ictg_common.inputs import IsoDateTime
from ictg_common.reference import local_authority

from ..types import CLIENT_TIME, Notes, RecordOut, Strict

LIVING = (
    "Where the child lives: family, foster_care, residential_care, supported_accommodation, independent, other "
    "or unknown."
)
TRAFFICKER = "Contact with the trafficker: none, suspected, known or unknown."
EDUCATION = "Whether the child is in education: attending, not_attending or unknown."
CJS = "Criminal-justice involvement: any of victim, witness, accused (duplicates dropped); empty for none."
STAGE = "The NRM decision's stage: reasonable_grounds or conclusive_grounds."
NRM_OUTCOME = "The decision: positive or negative."
KIND = "What was done: legal_advice, meeting or representation."
AREA = "The area it concerned: immigration, criminal_justice, social_care, education, health or other."


class AssessmentCreate(Strict):
    assessed_at: IsoDateTime = Field(description=f"When the circumstances were assessed: {CLIENT_TIME}")
    living_situation: LivingSituation = Field(description=LIVING)
    trafficker_contact: TraffickerContact = Field(description=TRAFFICKER)
    education: Education = Field(description=EDUCATION)
    cjs_involvement: list[CjsInvolvement] = Field(default_factory=list, max_length=3, description=CJS)

    @field_validator("cjs_involvement")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))


class Assessment(RecordOut):
    """The child's circumstances as assessed at a time. Not shown to councils (403)."""

    assessed_at: datetime = Field(description="When the circumstances were assessed (RFC 3339).")
    living_situation: LivingSituation = Field(description=LIVING)
    trafficker_contact: TraffickerContact = Field(description=TRAFFICKER)
    education: Education = Field(description=EDUCATION)
    cjs_involvement: list[CjsInvolvement] = Field(description=CJS)


class NrmDecisionCreate(Strict):
    stage: NrmStage = Field(description=STAGE)
    outcome: NrmOutcome = Field(description=NRM_OUTCOME)
    decided_at: IsoDateTime = Field(description=f"When the decision was made: {CLIENT_TIME}")


class NrmDecision(RecordOut):
    stage: NrmStage = Field(description=STAGE)
    outcome: NrmOutcome = Field(description=NRM_OUTCOME)
    decided_at: datetime = Field(description="When the decision was made (RFC 3339).")


class AdvocacyCreate(Strict):
    kind: AdvocacyKind = Field(description=KIND)
    area: AdvocacyArea = Field(description=AREA)
    occurred_at: IsoDateTime = Field(description=f"When the advocacy took place: {CLIENT_TIME}")
    notes: Notes | None = Field(default=None, description="Free text, at most 4000 characters.")


class Advocacy(RecordOut):
    """Advocacy done for the child. Not shown to councils (403)."""

    kind: AdvocacyKind = Field(description=KIND)
    area: AdvocacyArea = Field(description=AREA)
    occurred_at: datetime = Field(description="When the advocacy took place (RFC 3339).")
    notes: str | None = Field(description="Free text; null if none.")


class MoveCreate(Strict):
    moved_at: IsoDateTime = Field(description=f"When the child moved: {CLIENT_TIME} Not before the last move.")
    local_authority_code: Annotated[str, Field(max_length=9, examples=["E09000033"])] = Field(
        description="ONS code of the upper-tier local authority (England or Wales) the child moved to; not the "
        "current one. A move into another region needs scope cases:admin."
    )

    @field_validator("local_authority_code")
    @classmethod
    def _la(cls, v: str) -> str:
        if local_authority(v) is None:
            raise ValueError("not an upper-tier local authority code of England or Wales (ONS, e.g. E08000003)")
        return v.strip().upper()


class Move(RecordOut):
    moved_at: datetime = Field(description="When the child moved (RFC 3339).")
    from_local_authority_code: str = Field(description="ONS code of the local authority the child moved from.")
    local_authority_code: str = Field(description="ONS code of the local authority the child moved to.")
    region: str = Field(description="The region of the authority moved to (a slug, e.g. `london`).")


class PathwayChangeCreate(Strict):
    pathway: Literal["regional_practitioner"] = Field(
        description="regional_practitioner: the one pathway a manager may switch a case to."
    )
    changed_at: IsoDateTime | None = Field(
        default=None, description=f"When the pathway changed: {CLIENT_TIME} Defaults to now."
    )


class PathwayChange(RecordOut):
    from_pathway: str = Field(description="The pathway before: direct_worker or regional_practice_coordinator.")
    pathway: str = Field(description="The pathway after: regional_practitioner.")
    changed_at: datetime = Field(description="When the pathway changed (RFC 3339).")
