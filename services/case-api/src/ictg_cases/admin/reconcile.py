"""Reconciliation of intake against the case API: every referral has exactly one case.

Both sides are read up to one cut-off (`received_before`, when the round starts), cases first and
intake second: a case exists only once its referral has committed, so a case read first always
finds its referral in intake's later list, and a referral received during the round is never
reported as an unexpected case. A referral with no case yet is a mismatch only once it has waited
longer than the grace period (the live consumer needs a moment to open it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ictg_common import clock

from ..cases.claimcheck import IntakeClient
from ..settings import CasesSettings
from . import repository

LISTED = 1000  # ids listed per kind in a report; the counts are always exact


def stored_at(referral_id: UUID, received_at: datetime) -> datetime:
    """When intake stored the referral: the time in its UUIDv7 id, never before `received_at`.

    A historical import sets `received_at` in the past but is stored now: its case is not late yet.
    """
    if referral_id.version == 7:
        return max(received_at, datetime.fromtimestamp((referral_id.int >> 80) / 1000, UTC))
    return received_at


@dataclass(frozen=True)
class Missing:
    referral_id: UUID
    received_at: datetime
    overdue: bool


@dataclass(frozen=True)
class Report:
    checked_at: datetime
    grace: timedelta
    referrals_in_intake: int
    cases: int
    missing: list[Missing]
    unexpected: list[tuple[UUID, UUID]]  # (case id, referral id) of cases intake does not know

    @property
    def overdue(self) -> list[Missing]:
        return [m for m in self.missing if m.overdue]

    @property
    def consistent(self) -> bool:
        return not self.overdue and not self.unexpected

    def as_dict(self) -> dict[str, Any]:
        now = self.checked_at
        return {
            "consistent": self.consistent,
            "checked_at": now.isoformat(),
            "grace_seconds": self.grace.total_seconds(),
            "referrals_in_intake": self.referrals_in_intake,
            "cases": self.cases,
            "missing_count": len(self.missing),
            "overdue_count": len(self.overdue),
            "unexpected_count": len(self.unexpected),
            "missing": [
                {"referral_id": str(m.referral_id), "received_at": m.received_at.isoformat(),
                 "age_seconds": int((now - m.received_at).total_seconds()), "overdue": m.overdue}
                for m in self.missing[:LISTED]
            ],
            "unexpected": [{"case_id": str(c), "referral_id": str(r)} for c, r in self.unexpected[:LISTED]],
        }  # fmt: skip


def compare(referrals: dict[UUID, datetime], cases: dict[UUID, UUID], *, now: datetime, grace: timedelta) -> Report:
    """`referrals` (id → received_at, from intake) against `cases` (referral id → case id)."""
    missing = [
        Missing(rid, at, overdue=now - stored_at(rid, at) > grace)
        for rid, at in sorted(referrals.items(), key=lambda item: (item[1], item[0]))
        if rid not in cases
    ]
    unexpected = sorted((cid, rid) for rid, cid in cases.items() if rid not in referrals)
    return Report(
        checked_at=now, grace=grace, referrals_in_intake=len(referrals), cases=len(cases),
        missing=missing, unexpected=unexpected,
    )  # fmt: skip


async def intake_referrals(intake: IntakeClient, *, received_before: datetime) -> dict[UUID, datetime]:
    """Every referral intake holds that was received before `received_before` (raises IntakeUnavailable)."""
    out: dict[UUID, datetime] = {}
    cursor: str | None = None
    while True:
        page = await intake.referral_ids(received_before=received_before, cursor=cursor)
        for item in page["items"]:
            out[UUID(item["id"])] = datetime.fromisoformat(item["received_at"])
        cursor = page.get("next_cursor")
        if not cursor:
            return out


async def reconcile(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    intake: IntakeClient,
    settings: CasesSettings,
    grace: timedelta | None = None,
    now: datetime | None = None,
) -> Report:
    """Compare intake's referrals with this API's cases, as of now (raises IntakeUnavailable)."""
    now = now or clock.utcnow()
    async with sessionmaker() as session:
        cases = await repository.cases_by_referral(session, received_before=now)
    referrals = await intake_referrals(intake, received_before=now)
    grace = timedelta(seconds=settings.reconcile_grace_seconds) if grace is None else grace
    return compare(referrals, cases, now=now, grace=grace)
