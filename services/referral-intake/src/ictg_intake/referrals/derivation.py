"""What is checked and derived from a referral as it is received, beyond what its schema checks:
rules across fields (most need the clock) and the attributes derived from it. Pure: tested without a
database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from ictg_common import clock
from ictg_common.codes import age_band, age_on, nationality_group, pathway
from ictg_common.errors import field_error
from ictg_common.reference import local_authority, region_slug

from ..settings import IntakeSettings
from .schemas import ReferralCreate


def check_dates(body: ReferralCreate, *, received_at: datetime, now: datetime) -> list[dict[str, str]]:
    """Rules across fields, most of them needing the clock (pure: tested without a database)."""
    errors = []
    today = clock.london_date(now)
    received_on = clock.london_date(received_at)
    child = body.child
    if received_at > now + timedelta(minutes=5):
        errors.append(field_error("/received_at", "must not be in the future"))
    if body.identified_on > today:
        errors.append(field_error("/identified_on", "must not be in the future"))
    elif body.identified_on > received_on:
        errors.append(field_error("/identified_on", "must not be after the referral was received"))
    if child.date_of_birth is not None:
        if child.date_of_birth > today:
            errors.append(field_error("/child/date_of_birth", "must not be in the future"))
        elif body.identified_on < child.date_of_birth:
            errors.append(field_error("/identified_on", "must not be before the child's date of birth"))
    age = age_at(body, received_on)
    if age is not None and age >= 18 and not child.age_disputed:
        field = "/child/date_of_birth" if child.date_of_birth else "/child/estimated_age"
        errors.append(field_error(field, "the child must be under 18 (set age_disputed if the age is disputed)"))
    if child.nationality == "GB" and body.circumstances.uasc:
        errors.append(
            field_error(
                "/circumstances/uasc",
                "a British national (nationality GB) cannot be an unaccompanied asylum-seeking child: "
                "set uasc to false, or correct the nationality",
            )
        )
    return errors


def age_at(body: ReferralCreate, on: date) -> int | None:
    if body.child.date_of_birth is not None:
        return age_on(body.child.date_of_birth, on) if body.child.date_of_birth <= on else None
    return body.child.estimated_age


@dataclass(frozen=True)
class Derived:
    """What intake derives from a referral when it is received (stored with it, shown with it)."""

    local_authority_name: str
    region: str
    pathway: str
    age_at_referral: int | None
    age_band: str
    nationality_group: str
    timeliness: clock.Timeliness

    def stored(self) -> dict[str, Any]:
        """As the referral's `derived` column holds it (JSON: times as RFC 3339 text)."""
        return {
            "local_authority_name": self.local_authority_name,
            "region": self.region,
            "pathway": self.pathway,
            "age_at_referral": self.age_at_referral,
            "age_band": self.age_band,
            "nationality_group": self.nationality_group,
            "timeliness": self.timeliness.as_dict(),
        }


def derive(body: ReferralCreate, *, received_at: datetime, settings: IntakeSettings) -> Derived:
    la = local_authority(body.local_authority_code)
    assert la is not None  # validated by the schema
    age = age_at(body, clock.london_date(received_at))
    t = clock.timeliness(
        received_at=received_at,
        identified_on=body.identified_on,
        allocation_working_days=settings.allocation_working_days,
        first_contact_working_days=settings.first_contact_working_days,
        late_after_days=settings.late_referral_after_days,
    )
    return Derived(
        local_authority_name=la.name,
        region=region_slug(la.region),
        pathway=pathway(body.parental_responsibility_in_uk),
        age_at_referral=age,
        age_band=age_band(age),
        nationality_group=nationality_group(body.child.nationality),
        timeliness=t,
    )
