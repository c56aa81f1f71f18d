"""The rules of a return home interview, with no I/O: when it may be recorded and what it says."""

from __future__ import annotations

from datetime import datetime, timedelta

from ..rules import err
from .schemas import ReturnInterviewCreate

DUE_AFTER = timedelta(hours=72)  # statutory guidance: offered within 72 hours of the child's return


def due_by(ended_at: datetime) -> datetime:
    """The `return_interview` deadline of an episode that ended at `ended_at`."""
    return ended_at + DUE_AFTER


def problems(
    body: ReturnInterviewCreate, *, ended_at: datetime, now: datetime, skew: timedelta
) -> list[dict[str, str]]:
    """What is wrong with `body` for an episode that ended at `ended_at` (empty: nothing)."""
    errors = []
    if body.offered_at > now + skew:
        errors.append(err("/offered_at", "must not be in the future"))
    elif body.offered_at < ended_at:
        errors.append(err("/offered_at", f"must not be before the child's return ({ended_at.isoformat()})"))
    if body.completed_at is not None:
        if body.outcome != "accepted":
            errors.append(err("/completed_at", "only an accepted interview is held: leave it out"))
        elif body.completed_at > now + skew:
            errors.append(err("/completed_at", "must not be in the future"))
        elif body.completed_at < body.offered_at:
            errors.append(err("/completed_at", "must not be before offered_at"))
    if body.conducted_by is None and body.outcome != "not_offered":
        errors.append(err("/conducted_by", "say who offered it: local_authority, commissioned_service, ictg or other"))
    return errors


def within(offered_at: datetime, outcome: str, due: datetime) -> bool:
    """The deadline met: an interview offered (accepted or declined) strictly before `due`."""
    return outcome != "not_offered" and offered_at < due
