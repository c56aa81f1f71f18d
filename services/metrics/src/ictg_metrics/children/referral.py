"""The facts a referral fixes: copied into typed columns, derived from it, or kept as JSON."""

from __future__ import annotations

from typing import Any

from ictg_common import clock
from ictg_common.contracts import ReferralReceived

# Copied from referral.received into typed columns of the same name (what queries group by).
AT_REFERRAL = (
    "gender", "age_band", "age_at_referral", "nationality", "nationality_group", "uasc", "referrer_type",
    "local_authority_code", "region", "pathway", "missing_at_referral", "living_situation", "trafficker_contact",
    "education",
)  # fmt: skip
DERIVED = (
    "primary_exploitation", "exploitation_type", "county_lines", "cjs_involvement", "referral_delay_days",
    "referral_delay_band", "referral_delay_working_days", "referral_delay_working_days_band", "allocation_due_by",
    "first_contact_due_by",
)  # fmt: skip
FACTS = ("referral_id", "age_disputed", "interpreter_required", "nrm_referred")  # kept as JSON, not queried


def referral_delay_band(days: int | None) -> str | None:
    """Referral delay in calendar or in working days: 0-1, 2, 3-15, 16-39, 40+."""
    if days is None:
        return None
    if days <= 1:
        return "0-1"
    if days == 2:
        return "2"
    if days <= 15:
        return "3-15"
    if days <= 39:
        return "16-39"
    return "40+"


def referral_columns(d: ReferralReceived) -> dict[str, Any]:
    """The columns a referral fixes: copied (`AT_REFERRAL`), derived (`DERIVED`) and kept as JSON (`facts`)."""
    received_on = clock.london_date(d.received_at)
    delay = (received_on - d.identified_on).days
    # England-and-Wales working days after the day identified, up to and including the day received
    working = clock.working_days_between(d.identified_on, received_on)
    exploitation = d.exploitation
    out: dict[str, Any] = {k: getattr(d, k) for k in AT_REFERRAL}
    out.update(
        facts=d.model_dump(mode="json", include=set(FACTS)),
        received_at=d.received_at, received_on=received_on, identified_on=d.identified_on,
        primary_exploitation=exploitation.primary,
        exploitation_type=sorted({exploitation.primary, *exploitation.others}),
        county_lines=exploitation.county_lines,
        cjs_involvement=sorted(set(d.cjs_involvement)),
        referral_delay_days=delay, referral_delay_band=referral_delay_band(delay),
        referral_delay_working_days=working, referral_delay_working_days_band=referral_delay_band(working),
        allocation_due_by=d.timeliness.allocation_due_by, first_contact_due_by=d.timeliness.first_contact_due_by,
    )  # fmt: skip
    return out
