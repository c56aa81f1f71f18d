from __future__ import annotations

from datetime import datetime

from pydantic import AwareDatetime

from ictg_common.codes import ExitDestination, ExitReason

from ..types import RecordOut, Strict


class ExitCreate(Strict):
    exited_at: AwareDatetime
    reason: ExitReason
    destination: ExitDestination


class Exit(RecordOut):
    exited_at: datetime
    reason: ExitReason
    destination: ExitDestination
