"""The SLA watcher: emits `sla.breached` once per (case, clock) when a deadline passes unmet.

Exactly once even with several replicas: the breach row's unique key (case, clock) is inserted
with ON CONFLICT DO NOTHING in the same transaction as the event, so only the replica whose
insert wins writes the event.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ictg_common import clock as wallclock
from ictg_common.events import new_id

from .. import rules
from ..cases.events import iso, publish
from ..models import SlaBreach
from ..settings import CasesSettings
from . import repository

log = logging.getLogger(__name__)


class SlaWatcher:
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], settings: CasesSettings, *, batch: int = 500
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.batch = batch
        self._task: asyncio.Task[None] | None = None

    async def check_once(self, now: datetime | None = None) -> int:
        """Look for missed deadlines now (or at `now`); returns how many breaches this call emitted."""
        now = now or wallclock.utcnow()
        emitted = 0
        for clock in repository.CLOCKS:
            while True:
                async with self.sessionmaker() as session, session.begin():
                    cases = await repository.missed(session, clock, now=now, limit=self.batch)
                    for case in cases:
                        due, done = (
                            (case.allocation_due_by, case.first_allocated_at) if clock == "allocation"
                            else (case.first_contact_due_by, case.first_contact_at)
                        )  # fmt: skip
                        if not rules.deadline_missed(due, done, now=now, exited_at=case.exited_at):
                            continue
                        breach = SlaBreach(id=new_id(), case_id=case.id, clock=clock, due_by=due, detected_at=now)
                        if await repository.record_breach(session, breach):
                            await publish(
                                session, case, name="sla.breached", time=due, settings=self.settings,
                                data={"clock": clock, "due_by": iso(due), "detected_at": iso(now)},
                            )  # fmt: skip
                            emitted += 1
                if len(cases) < self.batch:
                    break
        return emitted

    def start(self) -> None:
        if self.settings.sla_check_seconds > 0:
            self._task = asyncio.create_task(self._run(), name="sla-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sla_check_seconds)
            try:
                emitted = await self.check_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - database down: try again next round
                log.warning("sla check failed: %r", exc)
                continue
            if emitted:
                log.info("sla breaches emitted", extra={"count": emitted})
