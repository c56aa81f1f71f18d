"""Publishing each month's release by itself: a check every `ICTG_METRICS_RELEASE_CHECK_SECONDS` (the
first a minute after start) publishes the last month already over if it is not stored yet. Replicas may
all check: `publish` takes a lock and stores a release once."""

from __future__ import annotations

import asyncio
import logging

from fastapi import FastAPI

from ictg_common import clock
from ictg_common.background import Loop
from ictg_common.runtime import settings_of

from ..runtime import metrics_runtime
from ..settings import MetricsSettings
from .service import last_complete, publish

log = logging.getLogger(__name__)
FIRST_CHECK_SECONDS = 60.0


class ReleaseSchedule:
    def __init__(self, app: FastAPI) -> None:
        self.app = app
        # built with the extras, before the runtime holds them: its settings alone are read here
        self.interval = settings_of(app, MetricsSettings).release_check_seconds
        self._loop: Loop | None = None
        self._first = True

    def start(self) -> None:
        if self.interval > 0:
            self._loop = Loop("release-schedule", self._round)
            self._loop.start()

    async def stop(self) -> None:
        if self._loop is not None:
            await self._loop.stop()

    async def _round(self) -> None:
        await asyncio.sleep(min(FIRST_CHECK_SECONDS, self.interval) if self._first else self.interval)
        self._first = False
        due = last_complete(clock.utcnow())
        runtime = metrics_runtime(self.app)
        if await publish(runtime.sessionmaker, due, ptable=runtime.extras.ptable,
                         long_term_missing_days=runtime.settings.long_term_missing_days):  # fmt: skip
            log.info("monthly release published", extra={"release": due})
