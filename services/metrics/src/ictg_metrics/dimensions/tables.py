"""Shaping result rows into tables: natural order, names beside codes, every cell listed."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from datetime import date
from typing import Any

from ..disclosure.refusals import MAX_FILLED_CELLS, listed_cells
from .catalogue import DIMENSIONS, NAMED, ORDERED


def in_natural_order(rows: list[dict[str, Any]], group_by: Sequence[str]) -> list[dict[str, Any]]:
    """Result rows with every dimension that has a closed list of values in that list's order; other
    dimensions (months, codes of places, booleans) keep the order the query gave them. No value (null)
    sorts last, as in SQL."""
    if not ORDERED.intersection(group_by):
        return rows

    def key(row: dict[str, Any]) -> tuple[tuple[int, Any], ...]:
        out: list[tuple[int, Any]] = []
        for g in group_by:
            v, values = row.get(g), DIMENSIONS[g].values
            if v is None:
                out.append((2, ""))
            elif g in ORDERED and values is not None and v in values:
                out.append((0, values.index(v)))
            else:
                out.append((1, v))
        return tuple(out)

    return sorted(rows, key=key)  # stable: a group's months stay in order


@functools.cache
def _names(dimension: str) -> dict[Any, str]:
    return dict(DIMENSIONS[dimension].labelled_values() or ())


def with_names(rows: list[dict[str, Any]], group_by: Sequence[str]) -> list[dict[str, Any]]:
    """Rows grouped by a local authority or region carry its name beside its code (`<dimension>_name`)."""
    for g in (g for g in group_by if g in NAMED):
        names = _names(g)
        for row in rows:
            row[f"{g}_name"] = names.get(row.get(g))
    return rows


def columns_with_names(group_by: Sequence[str]) -> list[str]:
    """The CSV columns of `group_by`, each named dimension followed by its name column."""
    return [c for g in group_by for c in ((g, f"{g}_name") if g in NAMED else (g,))]


def with_empty_cells(
    rows: list[dict[str, Any]], group_by: Sequence[str], zero: dict[str, Any], *, per: str | None = None,
    per_values: Sequence[Any] = (), referred_from: date | None = None, referred_to: date | None = None, as_of: date,
    filters: dict[str, tuple[Any, ...]] | None = None, max_cells: int = MAX_FILLED_CELLS,
    values: Sequence[Sequence[Any]] | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """`rows` with every combination of the grouping dimensions' values that has none, as a row of `zero`
    counts (one per value of `per`, e.g. per month: `per_values`, which must not depend on the rows), in
    natural order of every dimension. Ungrouped, a table with no row gets one row of `zero`.

    Perturbed, an empty cell is withheld as a small one is (ONS's package does the same with categorical
    variables): listing only non-empty groups would tell 0 apart from 1–9. For the same reason a row with
    a value outside the listed ones is left out. A dimension also filtered on lists
    the values asked for (a multi-valued one all its values: a child counts under each). A table of more than
    `MAX_FILLED_CELLS` cells, or by a dimension whose values cannot be listed, is refused (422). `values` (one
    list per grouping dimension) replaces the listed values where the caller knows them better."""
    if not group_by:
        return rows or [dict(zero)]
    if values is None:
        values = listed_cells(group_by, referred_from=referred_from, referred_to=referred_to, as_of=as_of,
                              filters=filters, max_cells=max_cells)  # fmt: skip
    return _filled(rows, group_by, zero, [list(v) for v in values], per=per, per_values=per_values)


def _filled(
    rows: list[dict[str, Any]], group_by: Sequence[str], zero: dict[str, Any], values: list[list[Any]], *,
    per: str | None, per_values: Sequence[Any],
) -> list[dict[str, Any]]:  # fmt: skip
    # A value outside the listed ones (a month before the service began, a former authority's code) would
    # be a cell that appears only when a child is in it: such rows are left out (they count in the totals).
    sets = [set(v) for v in values]
    rows = [r for r in rows if all(r[g] in listed for g, listed in zip(group_by, sets, strict=True))]
    present = {tuple(r[g] for g in group_by) for r in rows}
    pers = list(per_values) if per else [None]
    added = []
    for combination in itertools.product(*values):
        if combination not in present:
            for p in pers:
                cell = dict(zip(group_by, combination, strict=True))
                added.append({**cell, **({per: p} if per else {}), **zero})
    if not added:
        return rows
    order = [{v: i for i, v in enumerate(vs)} for vs in values]

    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        return (*((o.get(row[g], len(o)), str(row[g])) for g, o in zip(group_by, order, strict=True)),
                str(row.get(per or "", "")))  # fmt: skip

    return sorted([*rows, *added], key=key)
