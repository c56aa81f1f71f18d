"""`POST /v1/admin/replay-referrals` and `GET /v1/admin/reconcile` (scope cases:admin): every referral
has one case, and a lost one is opened again."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from ictg_common import audit
from ictg_common.auth import Actor, require
from ictg_common.errors import ServiceUnavailable
from ictg_common.service import SessionDep

from ..cases.claimcheck import IntakeUnavailable
from ..models import SCHEMA
from ..runtime import CasesRuntimeDep
from . import repository
from .reconcile import reconcile
from .replay import ReplayUnavailable, replay_referrals
from .schemas import CaseCounts, Reconciliation, ReplayReport

router = APIRouter(prefix="/v1/admin", tags=["admin"])
Admin = Annotated[Actor, require("cases:admin")]
Reader = Annotated[Actor, require("cases:read")]
log = logging.getLogger(__name__)


@router.post("/replay-referrals", response_model=ReplayReport)
async def replay(runtime: CasesRuntimeDep, actor: Admin) -> ReplayReport:
    """Re-read `referral.received` from the stream's start and open every case missing here.

    Answers when done, with counts: events read, cases opened, already present, failed. Safe to
    run while the consumer runs, and again: a second run opens nothing.
    """
    sessions, intake = runtime.sessionmaker, runtime.extras.intake
    try:
        result = await replay_referrals(sessions, intake=intake, settings=runtime.settings)
    except ReplayUnavailable as exc:
        log.warning(
            "referral replay stopped", extra={"requested_by": actor.sub, "error": str(exc), **exc.result.as_dict()}
        )
        raise ServiceUnavailable(
            f"The replay stopped ({exc}); done so far: {exc.result.as_dict()}. Run it again.",
            headers={"Retry-After": "10"},
        ) from None
    # Its own short transaction: the request holds no transaction open for the length of the replay.
    async with sessions() as session, session.begin():
        await audit.record(
            session, schema=SCHEMA, actor=actor, action="referrals.replay", resource="/v1/admin/replay-referrals"
        )
    log.info("referral replay done", extra={"requested_by": actor.sub, **result.as_dict()})
    return ReplayReport.model_validate(result.as_dict())


MAX_GRACE_SECONDS = 30 * 24 * 3600  # a longer grace would check nothing (and a huge one overflows a timedelta)


@router.get("/reconcile", response_model=Reconciliation)
async def reconciliation(
    runtime: CasesRuntimeDep,
    actor: Admin,
    grace_seconds: Annotated[
        float | None,
        Query(
            ge=0,
            le=MAX_GRACE_SECONDS,
            allow_inf_nan=False,
            description="Seconds (at most 30 days) a referral may wait for its case before it counts as overdue; "
            "default the "
            "configured grace (ICTG_CASES_RECONCILE_GRACE_SECONDS, 120 unless set).",
        ),
    ] = None,
) -> Reconciliation:
    """Intake's referrals against the cases here: `consistent` when every referral older than the
    grace period (default ICTG_CASES_RECONCILE_GRACE_SECONDS) has its case and every case its referral."""
    sessions, intake = runtime.sessionmaker, runtime.extras.intake
    try:
        report = await reconcile(
            sessions, intake=intake, settings=runtime.settings,
            grace=None if grace_seconds is None else timedelta(seconds=grace_seconds),
        )  # fmt: skip
    except IntakeUnavailable as exc:
        raise ServiceUnavailable(f"Intake did not answer: {exc}", headers={"Retry-After": "10"}) from None
    # One audit row per run (the round read ids only, no personal data): its own short transaction.
    async with sessions() as session, session.begin():
        await audit.record(session, schema=SCHEMA, actor=actor, action="reconcile.run", resource="/v1/admin/reconcile")
    return Reconciliation.model_validate(report.as_dict())


@router.get("/case-counts", response_model=CaseCounts)
async def case_counts(session: SessionDep, actor: Reader) -> CaseCounts:
    """Cases per status in your regions (scope cases:read): counts only, so one audit row per call,
    not one per case as a list would write; metrics' reconciliation asks this on every run."""
    counts = await repository.counts_by_status(session, regions=list(actor.regions))
    await audit.record(session, schema=SCHEMA, actor=actor, action="case.count", resource="/v1/admin/case-counts")
    return CaseCounts(**{s: counts.get(s, 0) for s in CaseCounts.model_fields})
