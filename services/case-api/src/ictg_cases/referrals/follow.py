"""The case follows its referral: the referrer's corrections (`referral.amended`) and withdrawal
(`referral.withdrawn`), handled by the consumer of intake's events after `referral.received` (one consumer,
so a case is always open before its referral's later events are handled).

- A correction re-reads the referral from intake (the claim check, as when the case opened: the event names
  the fields changed, never their values), refreshes the case's copy of the child's details (`personal`,
  `turns_18_on`) and records a `referral.amended` entry on the case's timeline, so the guardian sees what
  changed. The case's coded facts, region and pathway stay as they are: a corrected local authority or
  pathway is for the guardian's team to act on (a move, a pathway change), with the child's history intact.
- A withdrawal marks the case (`referral_withdrawn_at`, `referral_withdrawal_reason`) and records a
  `referral.withdrawn` entry with the referrer's detail (read from intake: never in an event). Before any
  allocation, the case exits (`referral_withdrawn`, `CaseLife.referral_withdrawn`); after, it stays open
  and the guardian decides.

Each is one transaction with the consumer's inbox row, so a redelivered event changes nothing twice; each
bumps the case's version (a guardian's stale `If-Match` is refused) and is audited as the referrer's act.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common import audit, clock
from ictg_common.auth import Actor
from ictg_common.contracts import ReferralAmended, ReferralWithdrawn, parse_data
from ictg_common.events import CloudEvent, new_id

from .. import rules
from ..casefile.timeline import timeline
from ..cases import repository
from ..cases.claimcheck import IntakeClient
from ..cases.events import add_recorded_to_outbox
from ..cases.service import PERSONAL
from ..councils.follow import periods_follow
from ..exits.service import NOT_RECORDS
from ..models import SCHEMA, Case, Exit, ReferralAmendment, ReferralWithdrawal
from ..settings import CasesSettings

RECORDED_BY = "referrer"  # `recorded_by` of what the referrer's changes record on the case


class CaseNotOpen(Exception):
    """No case for the referral yet: a handler failure, retried (the case opens from `referral.received`)."""


async def _case(session: AsyncSession, referral_id: UUID) -> Case:
    q = select(Case).where(Case.referral_id == referral_id).with_for_update().execution_options(populate_existing=True)
    case = (await session.scalars(q)).first()
    if case is None:
        raise CaseNotOpen(f"no case for referral {referral_id} yet")
    return case


def _referrer(referral: dict[str, Any]) -> Actor:
    """The filing organisation, as the audit row names who acted (through intake)."""
    referrer = referral.get("referrer") or {}
    return Actor(
        sub=RECORDED_BY, scopes=frozenset(), org_type=referrer.get("organisation_type"),
        org_name=referrer.get("organisation_name"),
    )  # fmt: skip


def _date_of_birth(referral: dict[str, Any]) -> date | None:
    raw = (referral.get("child") or {}).get("date_of_birth")
    return date.fromisoformat(raw) if isinstance(raw, str) else None


async def _told(session: AsyncSession, *, case_id: UUID, amended_at: datetime) -> bool:
    q = select(ReferralAmendment.id).where(
        ReferralAmendment.case_id == case_id, ReferralAmendment.amended_at == amended_at
    )
    return (await session.scalars(q.limit(1))).first() is not None


async def _finish(session: AsyncSession, case: Case, *, actor: Actor, action: str, settings: CasesSettings) -> None:
    case.version += 1
    await session.flush()
    await audit.record(session, schema=SCHEMA, actor=actor, action=action, resource=f"/v1/cases/{case.id}")
    await add_recorded_to_outbox(session, case, settings=settings)


async def amended(
    session: AsyncSession, data: ReferralAmended, *, intake: IntakeClient, settings: CasesSettings
) -> None:
    referral = await intake.referral(data.referral_id)
    case = await _case(session, data.referral_id)
    if await _told(session, case_id=case.id, amended_at=data.amended_at):
        return  # the same correction under another event id (a replay from the stream): told once
    case.personal = {k: referral.get(k) for k in PERSONAL}
    case.turns_18_on = rules.turns_18_on(_date_of_birth(referral))
    row = ReferralAmendment(
        id=new_id(), case_id=case.id, recorded_at=clock.utcnow(), recorded_by=RECORDED_BY,
        amended_at=data.amended_at, fields=list(data.fields),
    )  # fmt: skip
    await repository.add(session, row)
    await _finish(session, case, actor=_referrer(referral), action="referral.amended", settings=settings)


async def withdrawn(
    session: AsyncSession, data: ReferralWithdrawn, *, intake: IntakeClient, settings: CasesSettings
) -> None:
    referral = await intake.referral(data.referral_id)
    case = await _case(session, data.referral_id)
    if case.referral_withdrawn_at is not None:
        return  # a referral is withdrawn once (intake refuses a second): this is the same withdrawal again
    recorded = [e.at for e in await timeline(session, case) if e.kind not in NOT_RECORDS]
    now = clock.utcnow()
    exited = case.referral_withdrawn(
        withdrawn_at=data.withdrawn_at, reason=data.reason, last_recorded_at=max(recorded, default=None)
    )
    withdrawal = referral.get("withdrawal") or {}
    row = ReferralWithdrawal(
        id=new_id(), case_id=case.id, recorded_at=now, recorded_by=RECORDED_BY, withdrawn_at=data.withdrawn_at,
        reason=data.reason, detail=withdrawal.get("detail"), case_exited=exited,
    )  # fmt: skip
    await repository.add(session, row)
    if exited:
        assert case.exited_at is not None
        exit_row = Exit(
            id=new_id(), case_id=case.id, exited_at=case.exited_at, reason="referral_withdrawn", destination="none",
            recorded_at=now, recorded_by=RECORDED_BY,
        )  # fmt: skip
        await repository.add(session, exit_row)
        await periods_follow(session, case, exit_row, "exit.create")  # the council's feed shows the exit
    await _finish(session, case, actor=_referrer(referral), action="referral.withdrawn", settings=settings)


async def on_referral_event(
    session: AsyncSession, event: CloudEvent, *, intake: IntakeClient, settings: CasesSettings
) -> None:
    """Handle `referral.amended` or `referral.withdrawn` (any other type is not this module's)."""
    data = parse_data(event.type, event.data)
    if isinstance(data, ReferralAmended):
        await amended(session, data, intake=intake, settings=settings)
    elif isinstance(data, ReferralWithdrawn):
        await withdrawn(session, data, intake=intake, settings=settings)
