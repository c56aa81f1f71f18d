"""What an answer under `disclosure=dp` releases, from the true rows of a query: pure, no I/O.

The cells released are fixed by the query alone (every combination of the grouping dimensions' listed
values, in their listed order, empty ones included): a cell that appeared only when a child is in it would
say so whatever its noise. Every count of every cell goes through the discrete Laplace mechanism at once;
each timeliness quantile through OpenDP's quantile mechanism; shares are computed from the noisy counts
(post-processing). A noisy value under `SMALL` is shown, and listed in its row's `small`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..children.caseload import COUNTS as CASELOAD_COUNTS
from ..children.query import ChildQuery
from ..children.timeliness import DEADLINES, QUANTILES, STATS, TIMELINESS_COUNTS, share
from ..disclosure.refusals import listed_cells
from . import mechanism as m
from .mechanism import Calibration


def cell_values(q: ChildQuery) -> list[list[Any]]:
    """The values listed for each grouping dimension, as `with_empty_cells` lists them; refuses (422), before
    anything is counted or charged, a dimension whose values cannot all be listed and a table of too many
    cells."""
    return listed_cells(q.group_by, referred_from=q.referred_from, referred_to=q.referred_to, as_of=q.as_of,
                        filters=q.filters, disclosure="dp")  # fmt: skip


def in_cell_order(
    rows: list[dict[str, Any]], group_by: Sequence[str], values: list[list[Any]], *, per: str | None = None,
    per_values: Sequence[Any] = (),
) -> list[dict[str, Any]]:  # fmt: skip
    """Exactly one row per cell (and per `per` value), in the listed order: rows of values outside the
    listed ones are dropped, a missing cell is an error (`with_empty_cells` adds them)."""
    by_key = {(*(r[g] for g in group_by), r.get(per) if per else None): r for r in rows}
    out = []
    for combination in itertools.product(*values, list(per_values) if per else [None]):
        row = by_key.get(combination)
        assert row is not None, f"no row for the cell {combination}"
        out.append(row)
    return out


@dataclass
class Table:
    """True rows (one per cell, in cell order) and the counts released of each, plus answer-level counts
    (`extra`: the children's total)."""

    rows: list[dict[str, Any]]
    fields: Sequence[str]
    extra: dict[str, int] = field(default_factory=dict)

    def vector(self) -> list[int]:
        """Every count released, in one order: each row's fields, then `extra`."""
        return [int(r[f]) for r in self.rows for f in self.fields] + [int(v) for v in self.extra.values()]


def _noised(table: Table, calibration: Calibration) -> tuple[list[dict[str, Any]], dict[str, int]]:
    noisy = iter(m.noisy_counts(table.vector(), calibration))
    rows = []
    for r in table.rows:
        row = {k: v for k, v in r.items() if not k.startswith("_")}
        row.update({f: next(noisy) for f in table.fields})
        rows.append(row)
    extra = {k: next(noisy) for k in table.extra}
    return rows, extra


def _flag(row: dict[str, Any], fields: Sequence[str]) -> None:
    small = [f for f in fields if row.get(f) is not None and row[f] < m.SMALL]
    if small:
        row["small"] = small


def children(table: Table, *, group_by: Sequence[str], epsilon: float) -> dict[str, Any]:
    """`/children` under dp: rows of the cells and the total (ungrouped: the total as the one row)."""
    calibration = m.calibrate(epsilon, m.children_sensitivity(group_by))
    rows, extra = _noised(table, calibration)
    for row in rows:
        _flag(row, ["children"])
    total = extra["total"]
    if not group_by:
        rows = [{"children": total}]
        _flag(rows[0], ["children"])
    answer: dict[str, Any] = {"rows": rows, "total": total, "privacy": calibration.describe()}
    if total < m.SMALL:
        answer["total_small"] = True
    return answer


def caseload(table: Table, *, group_by: Sequence[str], months: int, epsilon: float) -> dict[str, Any]:
    """`/caseload` under dp: every count of every group and month."""
    calibration = m.calibrate(epsilon, m.caseload_sensitivity(group_by, months))
    rows, _ = _noised(table, calibration)
    for row in rows:
        _flag(row, CASELOAD_COUNTS)
    return {"rows": rows, "privacy": calibration.describe()}


def timeliness(table: Table, *, group_by: Sequence[str], epsilon: float) -> dict[str, Any]:
    """`/timeliness` under dp: counts with `1 - QUANTILE_SHARE` of `epsilon`, the quantiles with the rest
    (each of them an equal part: `quantile_releases` of them can change with one child), the shares from
    the noisy counts. Rows of `table` carry `<stat>_values` (each child's value of the statistic)."""
    counts_epsilon = epsilon * (1 - m.QUANTILE_SHARE)
    releases = m.quantile_releases(group_by)
    each = epsilon * m.QUANTILE_SHARE / releases
    calibration = m.calibrate(counts_epsilon, m.timeliness_sensitivity(group_by))
    rows, _ = _noised(table, calibration)
    for row, raw in zip(rows, table.rows, strict=True):
        small = [f for f in TIMELINESS_COUNTS if row[f] < m.SMALL]
        for s in STATS:
            for name, alpha in m.QUANTILE_ALPHAS.items():
                row[f"{s}_{name}"] = m.private_quantile(s, raw[f"{s}_values"], alpha=alpha, epsilon=each)
            if f"{s}_count" in small:
                small += [f"{s}_{q}" for q in QUANTILES]
        for x in DEADLINES:
            met, decided = row[f"{x}_deadline_met"], row[f"{x}_deadline_decided"]
            row[f"met_{x}_deadline"] = share(met, decided)
            if f"{x}_deadline_decided" in small:
                small.append(f"met_{x}_deadline")
        if small:
            row["small"] = small
    privacy = calibration.describe() | {"epsilon": epsilon, "counts_epsilon": counts_epsilon}
    privacy["quantiles"] = {
        "mechanism": "exponential_quantile", "epsilon": epsilon * m.QUANTILE_SHARE,
        "epsilon_each": each, "releases": releases,
        "candidates": f"days {m.grid_text(m.DAY_STEPS)}; hours {m.grid_text(m.HOUR_STEPS)}",
    }  # fmt: skip
    return {"rows": rows, "privacy": privacy}
