"""The referral contract: what a first responder sends, and what they get back."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from ictg_common.codes import (
    CjsInvolvement,
    Education,
    ExploitationType,
    Gender,
    LivingSituation,
    OrganisationType,
    ReferralStatus,
    TraffickerContact,
    is_nationality,
)  # fmt: skip
from ictg_common.inputs import STORABLE, IsoDate, IsoDateTime, StrictModel, text
from ictg_common.reference import local_authority

from ..reference.lookup import not_an_authority
from .correction_schemas import Withdrawal

CODES = "GET /v1/reference/codes"


def _email(v: str) -> str:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", v):
        raise ValueError("must be an e-mail address, e.g. j.smith@example.police.uk")
    return v


def _phone(v: str) -> str:
    if not re.fullmatch(r"[0-9+() \-]{6,40}", v):
        raise ValueError("must be a telephone number: 6 to 40 digits, spaces and + ( ) -, e.g. 0161 000 0000")
    return v


Name = Annotated[str, text(100, min_length=1), STORABLE]
ShortText = Annotated[str, text(200, min_length=1), STORABLE]
Email = Annotated[str, text(254), AfterValidator(_email), STORABLE, Field(json_schema_extra={"format": "email"})]
Phone = Annotated[str, text(40), AfterValidator(_phone), STORABLE]
Language = Annotated[str, text(40), STORABLE]
Reference = Annotated[str, text(50), STORABLE]
Notes = Annotated[str, text(4000), STORABLE]


class Strict(StrictModel):
    pass


class Referrer(Strict):
    """Who refers: your organisation (the one your token names) and the person to contact."""

    organisation_type: OrganisationType = Field(
        description=f"The kind of first responder (list `organisation_type` of {CODES}); your token's `org_type`."
    )
    organisation_name: ShortText = Field(
        description="Your organisation's name as your token names it (`org_name`; case and spacing aside)."
    )
    contact_name: ShortText = Field(description="The person the service contacts about this referral.")
    contact_email: Email = Field(description="Their e-mail address.")
    contact_phone: Phone | None = Field(default=None, description="Their telephone number, if any.")
    reference: Reference | None = Field(
        default=None,
        description="Your own reference for this referral (a crime or case number, up to 50 characters): "
        "shown back to you, and searchable with `GET /v1/referrals?reference=`.",
    )


class Child(Strict):
    """The child referred. Exactly one of `date_of_birth` and `estimated_age`."""

    given_name: Name = Field(description="Given name(s), as the child gives them (1 to 100 characters).")
    family_name: Name | None = Field(default=None, description="Family name, if known.")
    other_names: list[Name] = Field(
        default_factory=list, max_length=20,
        description="Other names or spellings the child is known by (up to 20); used to find earlier referrals.",
    )  # fmt: skip
    date_of_birth: IsoDate | None = Field(
        default=None, description="Date of birth (YYYY-MM-DD), if known; otherwise give `estimated_age`."
    )
    estimated_age: int | None = Field(
        default=None, ge=0, le=25, description="Age in whole years, estimated, when the date of birth is not known."
    )
    age_disputed: bool = Field(
        default=False, description="The age is disputed: admits an age of 18 or more (a child until assessed)."
    )
    gender: Gender = Field(description=f"List `gender` of {CODES}.")
    nationality: str = Field(
        examples=["VN", "GB", "stateless", "unknown"],
        description="ISO 3166-1 alpha-2 country code in capitals (GB for the UK, VN for Viet Nam), or "
        f"`stateless` or `unknown` (list `nationality` of {CODES}).",
    )
    first_language: Language | None = Field(
        default=None, description="The child's first language, as a code (e.g. `vi`) or a name (up to 40)."
    )
    interpreter_required: bool = Field(default=False, description="The child needs an interpreter.")

    @field_validator("nationality")
    @classmethod
    def _nationality(cls, v: str) -> str:
        if not is_nationality(v):
            raise ValueError(
                "must be an ISO 3166-1 alpha-2 country code in capitals, e.g. VN for Vietnamese, AL for Albanian, "
                "GB for British; or 'stateless' or 'unknown'"
            )
        return v

    @model_validator(mode="after")
    def _one_age(self) -> Child:
        if (self.date_of_birth is None) == (self.estimated_age is None):
            raise ValueError("give exactly one of date_of_birth and estimated_age")
        return self


class Exploitation(Strict):
    """The exploitation suspected."""

    primary: ExploitationType = Field(description=f"The main kind (list `exploitation_type` of {CODES}).")
    others: list[ExploitationType] = Field(
        default_factory=list, max_length=7,
        description="Any other kinds. Stored once each, without the primary kind.",
    )  # fmt: skip
    county_lines: bool = Field(default=False, description="County lines exploitation is suspected.")

    @model_validator(mode="after")
    def _others_once(self) -> Exploitation:
        self.others = [o for o in dict.fromkeys(self.others) if o != self.primary]
        return self


class Nrm(Strict):
    """The National Referral Mechanism."""

    referred: bool = Field(description="The child has been referred to the NRM.")
    reference: Reference | None = Field(default=None, description="The NRM's reference, if known (up to 50).")


class Circumstances(Strict):
    """The child's circumstances at referral."""

    living_situation: LivingSituation = Field(description=f"List `living_situation` of {CODES}.")
    trafficker_contact: TraffickerContact = Field(
        description=f"Whether the child is in contact with the trafficker (list `trafficker_contact` of {CODES})."
    )
    education: Education = Field(description=f"List `education` of {CODES}.")
    cjs_involvement: list[CjsInvolvement] = Field(
        default_factory=list, max_length=3,
        description=f"Criminal justice involvement (list `cjs_involvement` of {CODES}); empty for none.",
    )  # fmt: skip
    uasc: bool = Field(
        default=False,
        description="An unaccompanied asylum-seeking child (never a British national: GB with true is refused).",
    )


class ReferralCreate(Strict):
    """A referral as a first responder's system sends it."""

    identified_on: IsoDate = Field(
        description="The day the child was identified as possibly trafficked (YYYY-MM-DD): not after today, not "
        "before the date of birth. The referral delay is counted from it."
    )
    referrer: Referrer = Field(description="Who refers.")
    local_authority_code: str = Field(
        examples=["E08000003"],
        description="ONS code of the upper-tier local authority responsible for the child in England or Wales "
        "(look it up by name with `GET /v1/reference/local-authorities?q=`). It decides the region.",
    )
    child: Child = Field(description="The child.")
    parental_responsibility_in_uk: bool = Field(
        description="Someone in the UK has parental responsibility for the child: decides the pathway "
        "(`regional_practice_coordinator` if so, `direct_worker` if not)."
    )
    exploitation: Exploitation = Field(description="The exploitation suspected.")
    missing_at_referral: bool = Field(default=False, description="The child is missing when referred.")
    nrm: Nrm = Field(description="The National Referral Mechanism.")
    circumstances: Circumstances = Field(description="The child's circumstances.")
    notes: Notes | None = Field(default=None, description="Anything else the service should know (up to 4,000).")
    received_at: IsoDateTime | None = Field(
        default=None,
        description="Historical import only (scope `referrals:import`): when the referral was received. Any other "
        "token sending it is refused with 403; the service's clock sets it otherwise.",
    )

    @field_validator("local_authority_code")
    @classmethod
    def _la(cls, v: str) -> str:
        if not v.isascii() or local_authority(v) is None:
            raise ValueError(not_an_authority(v))
        return v.strip().upper()

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "identified_on": "2026-11-20",
                    "referrer": {"organisation_type": "police", "organisation_name": "Greater Manchester Police",
                                 "contact_name": "DC Jane Smith", "contact_email": "j.smith@example.police.uk",
                                 "contact_phone": "0161 000 0000", "reference": "GMP/2026/000123"},
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
    """The timeliness clock, started at `received_at`."""

    referral_delay_days: int = Field(description="Calendar days from `identified_on` to receipt (Europe/London).")
    late_referral: bool = Field(description="The referral delay is over the service's limit for a timely referral.")
    allocation_due_by: datetime = Field(description="When a guardian must be allocated by (working days).")
    first_contact_due_by: datetime = Field(description="When the guardian must first contact the child by.")


class Referral(BaseModel):
    """A stored referral: what was sent, what the service derived at receipt, and how the case stands."""

    id: UUID = Field(description="The referral's id (also in `Location`).")
    received_at: datetime = Field(description="When the service received it: the timeliness clock starts here.")
    identified_on: date = Field(description="As sent.")
    referrer: Referrer = Field(description="As sent; the organisation is the one it was filed under.")
    local_authority_code: str = Field(description="As sent, in capitals.")
    local_authority_name: str = Field(description="That local authority's name.")
    region: str = Field(description=f"Its region (list `region` of {CODES}).")
    pathway: str = Field(description=f"The service pathway (list `pathway` of {CODES}).")
    child: Child = Field(description="As sent.")
    age_at_referral: int | None = Field(description="Age in whole years at receipt; null if born after it.")
    age_band: str = Field(description=f"Band of that age (list `age_band` of {CODES}).")
    nationality_group: str = Field(description=f"Group of the nationality (list `nationality_group` of {CODES}).")
    parental_responsibility_in_uk: bool = Field(description="As sent.")
    exploitation: Exploitation = Field(description="As sent (`others` once each, without the primary).")
    missing_at_referral: bool = Field(description="As sent.")
    nrm: Nrm = Field(description="As sent.")
    circumstances: Circumstances = Field(description="As sent.")
    notes: str | None = Field(description="As sent.")
    possible_duplicate_of: list[UUID] = Field(
        description="Earlier referrals of possibly the same child (same nationality, same date of birth or age, "
        "a similar name), of those you may see: your own organisation's, or all for the ICTG service."
    )
    timeliness: Timeliness = Field(description="The timeliness clock.")
    status: ReferralStatus = Field(
        description="How the case stands: `received` (no case yet, normally for a second at most), "
        "`awaiting_allocation` (a case is open, no guardian now: none yet, or taken off by a change of pathway), "
        "`allocated` (a guardian is allocated), "
        "`exited` (the child has left the service), "
        "`withdrawn` (you withdrew it: see `withdrawal`)."
    )
    case_opened_at: datetime | None = Field(description="When the case opened; null before.")
    allocated_at: datetime | None = Field(description="When a guardian was first allocated; null before.")
    exited_at: datetime | None = Field(description="When the child left the service; null before.")
    version: int = Field(
        default=1,
        description="Bumped by every correction and the withdrawal; the `ETag` is this number in quotes, to send "
        "as `If-Match` with `PATCH /v1/referrals/{id}` and `POST /v1/referrals/{id}/withdraw`.",
    )
    amended_at: datetime | None = Field(default=None, description="When you last corrected it; null if never.")
    withdrawal: Withdrawal | None = Field(default=None, description="Your withdrawal of it; null if not withdrawn.")


class ReferralPage(BaseModel):
    """A page of referrals, oldest first."""

    items: list[Referral] = Field(description="The referrals of this page.")
    next_cursor: str | None = Field(description="Give it as `cursor` for the next page; null on the last page.")
