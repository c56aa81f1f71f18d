"""The SLA watcher: emits `sla.breached` once per (case, clock) when a deadline passes unmet, and once per
missing episode whose return interview was not offered within 72 hours (clock `return_interview`).

Exactly once even with several replicas: the breach row's unique key (case, clock) is inserted
with ON CONFLICT DO NOTHING in the same transaction as the event, so only the replica whose
insert wins writes the event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ictg_common import clock
from ictg_common.background import Loop
from ictg_common.contracts import SlaBreached
from ictg_common.events import new_id

from ..cases.events import add_to_outbox
from ..domain import deadlines
from ..models import Case, SlaBreach
from ..settings import CasesSettings
from . import repository

log = logging.getLogger(__name__)


class SlaWatcher:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: CasesSettings,
        *,
        batch: int = 500,
        on_breach: Callable[[str, int], None] | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.batch = batch
        # Told (clock, how many) once breaches are committed: GET /metrics counts them (observability.py).
        self.on_breach = on_breach
        self._loop: Loop | None = None

    async def check_once(self, now: datetime | None = None) -> int:
        """Look for missed deadlines now (or at `now`); returns how many breaches this call emitted."""
        now = now or clock.utcnow()
        emitted = 0
        for deadline in deadlines.CLOCKS:  # "allocation", "first_contact": each deadline's own clock
            while True:
                recorded = 0
                # Every case the query returns is breached here (the query is `deadlines.missed`), so
                # each batch shrinks what is left and the loop ends.
                async with self.sessionmaker() as session, session.begin():
                    cases = await repository.missed(session, deadline, now=now, limit=self.batch)
                    for case in cases:
                        due = deadlines.due_by(case, deadline)
                        recorded += await self._breach(session, case, deadline, due, now)
                emitted += recorded
                if recorded and self.on_breach is not None:
                    self.on_breach(deadline, recorded)
                if len(cases) < self.batch:
                    break
        return emitted + await self._interviews(now)

    async def _breach(
        self, session: AsyncSession, case: Case, deadline: deadlines.Clock, due: datetime, now: datetime,
        *, episode_id: UUID | None = None,
    ) -> int:  # fmt: skip
        """Record one breach and its `sla.breached` event, unless another replica already did (1 if this one did)."""
        breach = SlaBreach(
            id=new_id(), case_id=case.id, clock=deadline, due_by=due, detected_at=now, episode_id=episode_id
        )
        if not await repository.record_breach(session, breach):
            return 0
        data = SlaBreached(
            case_id=case.id, referral_id=case.referral_id, local_authority_code=case.local_authority_code,
            region=case.region, clock=deadline, due_by=due, detected_at=now, episode_id=episode_id,
        )  # fmt: skip
        await add_to_outbox(session, data, time=due, settings=self.settings)
        return 1

    async def _interviews(self, now: datetime) -> int:
        """The `return_interview` clock: one breach per episode (the same exactly-once insert)."""
        deadline, emitted = deadlines.EPISODE_CLOCK, 0
        while True:
            recorded = 0
            async with self.sessionmaker() as session, session.begin():
                missed = await repository.missed_interviews(session, now=now, limit=self.batch)
                for episode, case in missed:
                    due = episode.return_interview_due_by
                    assert due is not None  # the query's
                    recorded += await self._breach(session, case, deadline, due, now, episode_id=episode.id)
            emitted += recorded
            if recorded and self.on_breach is not None:
                self.on_breach(deadline, recorded)
            if len(missed) < self.batch:
                return emitted

    def start(self) -> None:
        """A round every `sla_check_seconds` (0: never), on `ictg_common.background.Loop`: a failed
        round (database down) is logged and retried with backoff."""
        if self.settings.sla_check_seconds > 0:
            self._loop = Loop("sla-watcher", self._round)
            self._loop.start()

    async def stop(self) -> None:
        if self._loop is not None:
            await self._loop.stop()

    async def _round(self) -> None:
        await asyncio.sleep(self.settings.sla_check_seconds)
        if emitted := await self.check_once():
            log.info("sla breaches emitted", extra={"count": emitted})
