"""Reconciliation on a schedule: report, log at ERROR, and repair by replay.

Every `reconcile_seconds`, one replica (whichever takes the advisory lock; the others skip that
round) compares intake with the cases. Referrals still without a case after the grace period are
logged at ERROR (ids only, never personal data) and replayed from the stream; a second log line
says whether the replay repaired them. Cases whose referral intake does not know are logged at
ERROR: nothing here can repair those.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ictg_common.background import Loop
from ictg_common.telemetry import Telemetry

from ..cases.claimcheck import IntakeClient
from ..settings import CasesSettings
from . import repository
from .reconcile import LISTED, Report, reconcile
from .replay import ReplayUnavailable, replay_referrals

log = logging.getLogger(__name__)

# The stream stores an event after its referral's `received_at`; this margin covers clock skew
# between intake's host and the NATS servers when the replay starts from a time.
SKEW_MARGIN = timedelta(hours=1)


async def repair(
    sessionmaker: async_sessionmaker[AsyncSession], report: Report, *, intake: IntakeClient, settings: CasesSettings
) -> dict[str, Any]:
    """Replay the stream for the referrals `report` found without a case beyond the grace period."""
    overdue = report.overdue
    if not overdue:
        return {"replayed": 0}
    ids = [m.referral_id for m in overdue]
    log.error(
        "referrals without a case beyond the grace period; replaying them from the stream",
        extra={"count": len(ids), "referral_ids": [str(i) for i in ids[:LISTED]]},
    )
    since = min(m.received_at for m in overdue) - SKEW_MARGIN
    out: dict[str, Any] = {"replayed": len(ids)}
    try:
        result = await replay_referrals(sessionmaker, intake=intake, settings=settings, only=ids, since=since)
        out |= result.as_dict() | {"not_in_stream": [str(i) for i in result.not_in_stream[:LISTED]]}
    except ReplayUnavailable as exc:
        out |= exc.result.as_dict() | {"error": str(exc)}
    async with sessionmaker() as session:
        still = sorted(set(ids) - await repository.with_case(session, ids))
    out["still_missing"] = [str(i) for i in still[:LISTED]]
    if still:
        log.error(
            "referrals still without a case after the replay",
            extra={"count": len(still), "referral_ids": out["still_missing"], "error": out.get("error")},
        )
    else:
        log.warning(
            "missing cases repaired by replay",
            extra={"count": len(ids), "opened": out.get("opened"), "referral_ids": [str(i) for i in ids[:LISTED]]},
        )
    return out


class Reconciler:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        intake: IntakeClient,
        settings: CasesSettings,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.intake = intake
        self.settings = settings
        self.telemetry = telemetry  # each round's findings go to GET /metrics (ictg_reconcile_mismatches)
        self._loop: Loop | None = None

    async def run_once(self) -> dict[str, Any] | None:
        """One round: the report (with what the repair did), or None if another replica holds the round."""
        # The lock lives as long as this transaction, which only holds it: a replica that dies
        # mid-round releases it with its connection.
        async with self.sessionmaker() as lock, lock.begin():
            if not await repository.try_reconcile_lock(lock):
                log.debug("reconciliation skipped: another replica is running it")
                return None
            report = await reconcile(self.sessionmaker, intake=self.intake, settings=self.settings)
            out = report.as_dict()
            if self.telemetry is not None:
                self.telemetry.reconciled("referrals_without_case", len(report.overdue))
                self.telemetry.reconciled("cases_without_referral", len(report.unexpected))
            if report.unexpected:
                log.error(
                    "cases whose referral intake does not know",
                    extra={"count": len(report.unexpected),
                           "case_ids": [str(c) for c, _ in report.unexpected[:LISTED]]},
                )  # fmt: skip
            if report.overdue:
                out["repair"] = await repair(self.sessionmaker, report, intake=self.intake, settings=self.settings)
            else:
                log.info(
                    "reconciled with intake",
                    extra={"referrals": report.referrals_in_intake, "cases": report.cases,
                           "pending": len(report.missing), "unexpected": len(report.unexpected)},
                )  # fmt: skip
            return out

    def start(self) -> None:
        """A round every `reconcile_seconds` (0: never), on `ictg_common.background.Loop`: a failed
        round (intake, NATS or the database down) is logged and retried with backoff."""
        if self.settings.reconcile_seconds > 0:
            self._loop = Loop("reconciler", self._round)
            self._loop.start()

    async def stop(self) -> None:
        if self._loop is not None:
            await self._loop.stop()

    async def _round(self) -> None:
        await asyncio.sleep(self.settings.reconcile_seconds)
        await self.run_once()
