"""A case's whole story in time order: every record of every kind, as one list."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common.codes import AWAITING_ALLOCATION

from ..models import (
    Advocacy,
    Allocation,
    Assessment,
    Case,
    Contact,
    Exit,
    MissingEpisode,
    Move,
    NrmDecision,
    PathwayChange,
    SlaBreach,
)
from . import repository
from .schemas import TimelineEntry

# kind of entry → (table, the column holding when it happened)
KINDS: list[tuple[str, Any, str]] = [
    ("case.allocated", Allocation, "allocated_at"),
    ("contact.recorded", Contact, "occurred_at"),
    ("missing.started", MissingEpisode, "started_at"),
    ("assessment.recorded", Assessment, "assessed_at"),
    ("nrm_decision.recorded", NrmDecision, "decided_at"),
    ("advocacy.recorded", Advocacy, "occurred_at"),
    ("case.moved", Move, "moved_at"),
    ("case.pathway_changed", PathwayChange, "changed_at"),
    ("sla.breached", SlaBreach, "due_by"),
    ("case.exited", Exit, "exited_at"),
]
_HIDDEN = {"case_id"}


def _plain(row: Any) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in _HIDDEN}


async def timeline(session: AsyncSession, case: Case) -> list[TimelineEntry]:
    entries = [
        TimelineEntry(at=case.received_at, kind="case.opened", id=case.id, record={"status": AWAITING_ALLOCATION})
    ]
    for kind, model, column in KINDS:
        for row in await repository.records(session, model, case.id, order=getattr(model, column)):
            entries.append(TimelineEntry(at=getattr(row, column), kind=kind, id=row.id, record=_plain(row)))
            if kind == "missing.started" and row.ended_at is not None:
                entries.append(TimelineEntry(at=row.ended_at, kind="missing.ended", id=row.id, record=_plain(row)))
    order = {k: i for i, (k, _, _) in enumerate(KINDS)}

    def key(e: TimelineEntry) -> tuple[datetime, int, str]:
        # The opening comes first and the exit last among records sharing one instant.
        rank = -1 if e.kind == "case.opened" else order.get(e.kind, len(order))
        return (e.at, rank, str(e.id))

    return sorted(entries, key=key)
