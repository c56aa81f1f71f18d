"""The true tables an answer under dp is computed from: every cell the query lists (`release.cell_values`),
in order, with each count (and, for timeliness, each child's value of each statistic), through the
children queries. Never sent: `release` turns them into noisy answers."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..children.caseload import COUNTS as CASELOAD_COUNTS
from ..children.caseload import caseload, months
from ..children.query import ChildQuery, count_children
from ..children.timeliness import STATS, TIMELINESS_COUNTS, timeliness
from ..dimensions.tables import with_empty_cells
from .release import Table, cell_values, in_cell_order


def _period(q: ChildQuery) -> dict[str, Any]:
    return {"referred_from": q.referred_from, "referred_to": q.referred_to, "as_of": q.as_of, "filters": q.filters}


async def children_table(session: AsyncSession, q: ChildQuery) -> Table:
    """Cells (none ungrouped) and the total of distinct children."""
    raw, total, _ = await count_children(session, q)
    cells = []
    if q.group_by:
        cells = in_cell_order(with_empty_cells(raw, q.group_by, {"children": 0}, **_period(q)), q.group_by,
                              cell_values(q))  # fmt: skip
    return Table(cells, ["children"], {"total": total})


async def caseload_table(session: AsyncSession, q: ChildQuery, *, first: date, last: date) -> Table:
    """Every group's flows and stocks in every month from `first` to `last`."""
    listed = months(first, last)
    raw = await caseload(session, q, first=first, last=last)
    raw = with_empty_cells(raw, q.group_by, dict.fromkeys(CASELOAD_COUNTS, 0), per="month", per_values=listed,
                           **_period(q))  # fmt: skip
    return Table(in_cell_order(raw, q.group_by, cell_values(q), per="month", per_values=listed), CASELOAD_COUNTS)


async def timeliness_table(session: AsyncSession, q: ChildQuery) -> Table:
    """Every group's counts and each statistic's values (`<stat>_values`)."""
    zero: dict[str, Any] = {**dict.fromkeys(TIMELINESS_COUNTS, 0), **{f"{s}_values": [] for s in STATS}}
    raw = with_empty_cells(await timeliness(session, q, values=True), q.group_by, zero, **_period(q))
    return Table(in_cell_order(raw, q.group_by, cell_values(q)), TIMELINESS_COUNTS)
