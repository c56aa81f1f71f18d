"""Opening a case for every referral, and what a case shows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common import clock
from ictg_common.auth import Actor
from ictg_common.contracts import ReferralReceived
from ictg_common.events import CloudEvent, new_id
from ictg_common.reference import local_authority

from .. import rules
from ..domain import deadlines
from ..errors import RecordInvalid
from ..models import Case, CaseRecord, MissingEpisode
from ..settings import CasesSettings
from . import periods, repository
from .claimcheck import IntakeClient
from .events import add_recorded_to_outbox
from .schemas import Case as CaseOut

R = TypeVar("R", bound=CaseRecord)  # a record model (CaseRecord + Model)

PERSONAL = ("child", "referrer", "notes")


def _date_of_birth(referral: dict[str, object]) -> date | None:
    child = referral.get("child")
    raw = child.get("date_of_birth") if isinstance(child, dict) else None
    return date.fromisoformat(raw) if isinstance(raw, str) else None


async def open_case(
    session: AsyncSession, event: CloudEvent, *, intake: IntakeClient, settings: CasesSettings
) -> Case | None:
    """Handle `referral.received`: one case per referral, whatever the redeliveries."""
    data = ReferralReceived.model_validate(event.data)
    referral_id = data.referral_id
    referral = await intake.referral(referral_id)
    received_at = data.received_at
    case = Case(
        id=new_id(),
        referral_id=referral_id,
        received_at=received_at,
        opened_at=clock.utcnow(),
        region=data.region,
        pathway=data.pathway,
        local_authority_code=data.local_authority_code,
        allocation_due_by=data.timeliness.allocation_due_by,
        first_contact_due_by=data.timeliness.first_contact_due_by,
        attributes=event.data,
        personal={k: referral.get(k) for k in PERSONAL},
        version=1,
        turns_18_on=rules.turns_18_on(_date_of_birth(referral)),
    )
    episode_id = new_id() if data.missing_at_referral else None
    case.open(missing_episode_id=episode_id)
    if not await repository.insert_if_new(session, case):
        return None
    await periods.open_first(session, case)
    if episode_id is not None:
        episode = MissingEpisode(
            id=episode_id, case_id=case.id, started_at=case.received_at, ended_at=None, at_referral=True,
            whereabouts_known=False, reported_to_police=False, missing_from_care_meeting=False,
            professional_network_meeting=False, recorded_at=clock.utcnow(), recorded_by="referral",
        )  # fmt: skip
        await repository.add(session, episode)
    await add_recorded_to_outbox(session, case, settings=settings)
    return case


def to_out(case: Case, *, settings: CasesSettings, now: datetime) -> CaseOut:
    la = local_authority(case.local_authority_code)
    overdue = deadlines.overdue(case, now=now)
    return CaseOut.model_validate(
        {
            **{c.key: getattr(case, c.key) for c in Case.__table__.columns},
            "local_authority_name": la.name if la else None,
            "maximum_duration_on": rules.maximum_duration_on(case.received_at, settings.maximum_duration_months),
            "missing": case.missing_since is not None,
            "long_term_missing": rules.long_term_missing(
                case.missing_since, now=now, days=settings.long_term_missing_days
            ),
            "overdue": overdue,
        }
    )


def time_errors(
    case: Case, value: datetime, *, pointer: str, now: datetime, settings: CasesSettings
) -> list[dict[str, str]]:
    """The record-time rule applied to this case (not in the future, not before the referral)."""
    return rules.record_time_errors(
        value,
        pointer=pointer,
        received_at=case.received_at,
        now=now,
        skew=timedelta(seconds=settings.clock_skew_seconds),
    )


async def add_record(
    session: AsyncSession,
    case: Case,
    model: Callable[..., R],
    body: BaseModel,
    *,
    when: str,
    actor: Actor,
    settings: CasesSettings,
) -> R:
    """Check the body's record time (`when` names its field) and add the row, recorded now by `actor`."""
    now = clock.utcnow()
    errors = time_errors(case, getattr(body, when), pointer=f"/{when}", now=now, settings=settings)
    if errors:
        raise RecordInvalid(errors)
    row = model(id=new_id(), case_id=case.id, recorded_at=now, recorded_by=actor.sub, **body.model_dump())
    await repository.add(session, row)
    return row
