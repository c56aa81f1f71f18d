"""Refusals of a table whose every cell is shown (perturbed): a dimension whose values cannot all be listed,
a table of too many cells. Both are decided before anything is counted."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from typing import Any

from ictg_common.errors import invalid

from ..dimensions.catalogue import DIMENSIONS
from ..dimensions.domains import domain

MAX_FILLED_CELLS = 2000
"""Largest perturbed table: every cell of it is listed, empty ones included (`with_empty_cells`)."""


def listed_cells(
    group_by: Sequence[str], *, referred_from: date | None, referred_to: date | None, as_of: date,
    filters: dict[str, tuple[Any, ...]] | None, max_cells: int = MAX_FILLED_CELLS, disclosure: str = "perturb",
) -> list[list[Any]]:  # fmt: skip
    """The values listed for each grouping dimension of a table whose every cell is shown (a dimension also
    filtered on: the values asked for); refuses (422), before anything is counted, a dimension whose values
    cannot all be listed (a cell that appeared only when a child is in it would disclose that child) and a
    table of more than `max_cells` cells."""
    listed_values: list[list[Any]] = []
    for g in group_by:
        listed = domain(g, referred_from=referred_from, referred_to=referred_to, as_of=as_of)
        if filters and g in filters and not DIMENSIONS[g].multi:  # grouped by what it is filtered on: those values
            listed = [v for v in listed or filters[g] if v in filters[g]]
        if listed is None:
            raise invalid("#query/group_by", f"with disclosure={disclosure}, {g} cannot be grouped by: its values "
                          "cannot all be listed")  # fmt: skip
        listed_values.append(listed)
    cells = math.prod(len(v) for v in listed_values)
    if cells > max_cells:
        raise invalid(
            "#query/group_by",
            f"with disclosure={disclosure}, a table has at most {max_cells:,} cells; "
            f"grouped by {', '.join(group_by)} it would have {cells:,}: group by fewer dimensions or filter",
        )
    return listed_values
