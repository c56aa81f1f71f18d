"""Assessments, NRM decisions, advocacy, moves and pathway changes (DESIGN.md §4, §7)."""

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

from ..types import Notes, RecordOut, Strict


class AssessmentCreate(Strict):
    assessed_at: IsoDateTime
    living_situation: LivingSituation
    trafficker_contact: TraffickerContact
    education: Education
    cjs_involvement: list[CjsInvolvement] = Field(default_factory=list, max_length=3)

    @field_validator("cjs_involvement")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        return list(dict.fromkeys(v))


class Assessment(RecordOut):
    assessed_at: datetime
    living_situation: LivingSituation
    trafficker_contact: TraffickerContact
    education: Education
    cjs_involvement: list[CjsInvolvement]


class NrmDecisionCreate(Strict):
    stage: NrmStage
    outcome: NrmOutcome
    decided_at: IsoDateTime


class NrmDecision(RecordOut):
    stage: NrmStage
    outcome: NrmOutcome
    decided_at: datetime


class AdvocacyCreate(Strict):
    kind: AdvocacyKind
    area: AdvocacyArea
    occurred_at: IsoDateTime
    notes: Notes | None = None


class Advocacy(RecordOut):
    kind: AdvocacyKind
    area: AdvocacyArea
    occurred_at: datetime
    notes: str | None


class MoveCreate(Strict):
    moved_at: IsoDateTime
    local_authority_code: Annotated[str, Field(max_length=9, examples=["E09000033"])]

    @field_validator("local_authority_code")
    @classmethod
    def _la(cls, v: str) -> str:
        if local_authority(v) is None:
            raise ValueError("not an upper-tier local authority code of England or Wales (ONS, e.g. E08000003)")
        return v.strip().upper()


class Move(RecordOut):
    moved_at: datetime
    from_local_authority_code: str
    local_authority_code: str
    region: str


class PathwayChangeCreate(Strict):
    pathway: Literal["regional_practitioner"] = Field(
        description="A manager may switch a case to regional_practitioner"
    )
    changed_at: IsoDateTime | None = Field(default=None, description="Defaults to now")


class PathwayChange(RecordOut):
    from_pathway: str
    pathway: str
    changed_at: datetime
