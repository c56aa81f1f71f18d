from __future__ import annotations

from datetime import datetime

from ictg_common.codes import ExitDestination, ExitReason
from ictg_common.inputs import IsoDateTime

from ..types import RecordOut, Strict


class ExitCreate(Strict):
    exited_at: IsoDateTime
    reason: ExitReason
    destination: ExitDestination


class Exit(RecordOut):
    exited_at: datetime
    reason: ExitReason
    destination: ExitDestination
