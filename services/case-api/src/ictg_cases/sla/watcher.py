"""The SLA watcher: emits `sla.breached` once per (case, clock) when a deadline passes unmet, and once per
missing episode whose return interview was not offered within 72 hours (clock `return_interview`).

Exactly once even with several replicas: the breach row's unique key (case, clock) is inserted
with ON CONFLICT DO NOTHING in the same transaction as the event, so only the replica whose
insert wins writes the event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
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

Missed = tuple[Case, datetime, UUID | None]  # a case, the deadline it missed, the episode of an episode's clock


def _due(at: datetime | None) -> datetime:
    assert at is not None  # the interviews' query takes only episodes with a due time
    return at


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

            async def cases(session: AsyncSession, deadline: deadlines.Clock = deadline) -> list[Missed]:
                found = await repository.missed(session, deadline, now=now, limit=self.batch)
                return [(case, deadlines.due_by(case, deadline), None) for case in found]

            emitted += await self._drain(deadline, cases, now)

        async def interviews(session: AsyncSession) -> list[Missed]:  # one breach per episode
            found = await repository.missed_interviews(session, now=now, limit=self.batch)
            return [(case, _due(episode.return_interview_due_by), episode.id) for episode, case in found]

        return emitted + await self._drain(deadlines.EPISODE_CLOCK, interviews, now)

    async def _drain(
        self, deadline: deadlines.Clock, missed: Callable[[AsyncSession], Awaitable[list[Missed]]], now: datetime
    ) -> int:
        """Breach, a batch a transaction, everything `missed` finds for `deadline`. Every row it returns is
        breached here (its query excludes breached ones), so each batch shrinks what is left and this ends."""
        emitted = 0
        while True:
            recorded = 0
            async with self.sessionmaker() as session, session.begin():
                found = await missed(session)
                for case, due, episode_id in found:
                    recorded += await self._breach(session, case, deadline, due, now, episode_id=episode_id)
            emitted += recorded
            if recorded and self.on_breach is not None:
                self.on_breach(deadline, recorded)
            if len(found) < self.batch:
                return emitted

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
