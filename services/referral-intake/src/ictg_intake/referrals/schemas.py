"""The referral contract of DESIGN.md §6: what a first responder sends, and what they get back."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ictg_common.codes import (
    CjsInvolvement,
    Education,
    ExploitationType,
    Gender,
    LivingSituation,
    OrganisationType,
    TraffickerContact,
    is_nationality,
)  # fmt: skip
from ictg_common.inputs import STORABLE, IsoDate, IsoDateTime, StrictModel, text
from ictg_common.reference import local_authority

Name = Annotated[str, text(100, min_length=1), STORABLE]
ShortText = Annotated[str, text(200, min_length=1), STORABLE]
Email = Annotated[str, text(254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"), STORABLE]
Phone = Annotated[str, text(40, pattern=r"^[0-9+() \-]{6,40}$"), STORABLE]
Language = Annotated[str, text(40), STORABLE]
Reference = Annotated[str, text(50), STORABLE]
Notes = Annotated[str, text(4000), STORABLE]


class Strict(StrictModel):
    pass


class Referrer(Strict):
    organisation_type: OrganisationType
    organisation_name: ShortText
    contact_name: ShortText
    contact_email: Email
    contact_phone: Phone | None = None


class Child(Strict):
    given_name: Name
    family_name: Name | None = None
    other_names: list[Name] = Field(default_factory=list, max_length=20)
    date_of_birth: IsoDate | None = None
    estimated_age: int | None = Field(default=None, ge=0, le=25)
    age_disputed: bool = False
    gender: Gender
    nationality: Annotated[str, Field(max_length=9, examples=["VN", "GB", "stateless", "unknown"])]
    first_language: Language | None = None
    interpreter_required: bool = False

    @field_validator("nationality")
    @classmethod
    def _nationality(cls, v: str) -> str:
        if not is_nationality(v):
            raise ValueError("must be an ISO 3166-1 alpha-2 code (e.g. GB, VN), 'stateless' or 'unknown'")
        return v

    @model_validator(mode="after")
    def _one_age(self) -> Child:
        if (self.date_of_birth is None) == (self.estimated_age is None):
            raise ValueError("give exactly one of date_of_birth and estimated_age")
        return self


class Exploitation(Strict):
    primary: ExploitationType
    others: list[ExploitationType] = Field(default_factory=list, max_length=7)
    county_lines: bool = False


class Nrm(Strict):
    referred: bool
    reference: Reference | None = None


class Circumstances(Strict):
    living_situation: LivingSituation
    trafficker_contact: TraffickerContact
    education: Education
    cjs_involvement: list[CjsInvolvement] = Field(default_factory=list, max_length=3)
    uasc: bool = False


class ReferralCreate(Strict):
    """A referral as a first responder's system sends it."""

    identified_on: IsoDate
    referrer: Referrer
    local_authority_code: Annotated[str, Field(examples=["E08000003"], max_length=12)]
    child: Child
    parental_responsibility_in_uk: bool
    exploitation: Exploitation
    missing_at_referral: bool = False
    nrm: Nrm
    circumstances: Circumstances
    notes: Notes | None = None
    received_at: IsoDateTime | None = Field(
        default=None, description="Historical import only (scope referrals:import)."
    )

    @field_validator("local_authority_code")
    @classmethod
    def _la(cls, v: str) -> str:
        if not v.isascii() or local_authority(v) is None:
            raise ValueError("not an upper-tier local authority code of England or Wales (ONS, e.g. E08000003)")
        return v.strip().upper()

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "identified_on": "2026-11-20",
                    "referrer": {"organisation_type": "police", "organisation_name": "Greater Manchester Police",
                                 "contact_name": "DC Jane Smith", "contact_email": "j.smith@example.police.uk",
                                 "contact_phone": "0161 000 0000"},
                    "local_authority_code": "E08000003",
                    "child": {"given_name": "An", "family_name": "Nguyen", "other_names": [],
                              "date_of_birth": "2010-03-04", "estimated_age": None, "age_disputed": False,
                              "gender": "male", "nationality": "VN", "first_language": "vi",
                              "interpreter_required": True},
                    "parental_responsibility_in_uk": False,
                    "exploitation": {"primary": "criminal", "others": ["labour"], "county_lines": False},
                    "missing_at_referral": False,
                    "nrm": {"referred": True, "reference": None},
                    "circumstances": {"living_situation": "foster_care", "trafficker_contact": "suspected",
                                      "education": "not_attending", "cjs_involvement": [], "uasc": True},
                    "notes": "",
                }
            ]
        },
    )  # fmt: skip


class Timeliness(BaseModel):
    referral_delay_days: int
    late_referral: bool
    allocation_due_by: datetime
    first_contact_due_by: datetime


class Referral(BaseModel):
    """A stored referral: what was sent, plus what the service derived at receipt."""

    id: UUID
    received_at: datetime
    identified_on: date
    referrer: dict[str, Any]
    local_authority_code: str
    local_authority_name: str
    region: str
    pathway: str
    child: dict[str, Any]
    age_at_referral: int
    age_band: str
    nationality_group: str
    parental_responsibility_in_uk: bool
    exploitation: dict[str, Any]
    missing_at_referral: bool
    nrm: dict[str, Any]
    circumstances: dict[str, Any]
    notes: str | None
    possible_duplicate_of: list[UUID]
    timeliness: Timeliness


class ReferralPage(BaseModel):
    items: list[Referral]
    next_cursor: str | None
