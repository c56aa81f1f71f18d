"""Domain rules of a case: pure functions, no I/O (tested without a database)."""

from __future__ import annotations

import calendar
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ictg_common.clock import london_date
from ictg_common.errors import field_error
from ictg_common.preconditions import etag as etag  # re-exported: the case API names it from here
from ictg_common.preconditions import matches
from ictg_common.preconditions import parse_if_match as parse_if_match
from ictg_common.reference import local_authority, region_slug

# Which worker roles may hold a case on each pathway (a manager may hold any).
ROLE_FOR_PATHWAY = {
    "direct_worker": "direct_worker",
    "regional_practice_coordinator": "regional_practice_coordinator",
    "regional_practitioner": "regional_practitioner",
}

err = field_error  # one entry of a problem's errors[] (ictg_common.errors)


def record_time_errors(
    value: datetime, *, pointer: str, received_at: datetime, now: datetime, skew: timedelta = timedelta(0)
) -> list[dict[str, str]]:
    """A record time is never in the future and never before the referral was received."""
    if value > now + skew:
        return [err(pointer, "must not be in the future")]
    if value < received_at:
        return [err(pointer, f"must not be before the referral was received ({received_at.isoformat()})")]
    return []


def changes_region(region: str, local_authority_code: str) -> bool:
    """A move to this local authority takes the child out of `region` (a matter for a manager)."""
    la = local_authority(local_authority_code)
    return la is None or region_slug(la.region) != region


def role_fits(role: str, pathway: str) -> bool:
    return role == "manager" or ROLE_FOR_PATHWAY.get(pathway) == role


def over_capacity(*, caseload: int, capacity: int) -> bool:
    """True when taking one more case would put the worker over their capacity."""
    return caseload + 1 > capacity


@dataclass(frozen=True)
class Episode:
    started_at: datetime
    ended_at: datetime | None


def episode_conflict(episodes: Iterable[Episode], started_at: datetime) -> str | None:
    """Why a new (open) episode starting at `started_at` would overlap a recorded one, or None."""
    for ep in episodes:
        if ep.ended_at is None:
            return f"an episode started at {ep.started_at.isoformat()} is still open: record the return first"
        if ep.ended_at > started_at:
            return f"it would overlap the episode {ep.started_at.isoformat()} – {ep.ended_at.isoformat()}"
    return None


def add_years(day: date, years: int) -> date:
    """Same day `years` later; 29 February becomes 1 March in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 3, 1)


def add_months(day: date, months: int) -> date:
    """Same day `months` later, clamped to the end of a shorter month."""
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def turns_18_on(date_of_birth: date | None) -> date | None:
    """The child's 18th birthday; unknown (None) when only an estimated age was given."""
    return add_years(date_of_birth, 18) if date_of_birth is not None else None


def maximum_duration_on(received_at: datetime, months: int | None) -> date | None:
    return add_months(london_date(received_at), months) if months else None


def long_term_missing(missing_since: datetime | None, *, now: datetime, days: int) -> bool:
    """An open episode that has lasted `days` calendar days (Europe/London) or more."""
    return missing_since is not None and (london_date(now) - london_date(missing_since)).days >= days


# The entity-tag mechanism is the platform's (`ictg_common.preconditions`), shared with intake's corrections.
if_match_ok = matches
