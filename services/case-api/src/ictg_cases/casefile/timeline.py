"""A case's whole story in time order: every record of every kind, as one list."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common.codes import AWAITING_ALLOCATION

from ..cases import repository
from ..cases.schemas import TimelineEntry
from ..kinds import KINDS
from ..models import Case

_HIDDEN = {"case_id"}


def _plain(row: Any) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in _HIDDEN}


async def timeline(session: AsyncSession, case: Case) -> list[TimelineEntry]:
    entries = [
        TimelineEntry(at=case.received_at, kind="case.opened", id=case.id, record={"status": AWAITING_ALLOCATION})
    ]
    for kind in KINDS:
        for row in await repository.records(session, kind.row, case.id, order=getattr(kind.row, kind.time)):
            entries.append(TimelineEntry(at=getattr(row, kind.time), kind=kind.entry, id=row.id, record=_plain(row)))
            if kind.ended is not None and (ended_at := getattr(row, kind.ended[1])) is not None:
                entries.append(TimelineEntry(at=ended_at, kind=kind.ended[0], id=row.id, record=_plain(row)))
    order = {k.entry: i for i, k in enumerate(KINDS)}

    def key(e: TimelineEntry) -> tuple[datetime, int, str]:
        # The opening comes first and the exit last among records sharing one instant.
        rank = -1 if e.kind == "case.opened" else order.get(e.kind, len(order))
        return (e.at, rank, str(e.id))

    return sorted(entries, key=key)
