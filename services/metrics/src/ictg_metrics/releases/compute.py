"""A release's tables: every table of the catalogue counted as at the end of the release's month, each
count perturbed by the cell key method, and nothing but the published values kept.

Each table lists every cell of its grid, empty ones too (withheld like a small one, so 0 and 1-9 look
alike), beside its margin per period and its grand total, each perturbed with its own cell key
(independently of the cells: a margin minus its cells leaves the cells' noise, not a withheld count).
Quantiles are rounded to whole days (referral delay, days to first contact) or whole hours (allocation
and first contact) and published only beside a count of at least 10 published children.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from ..children.caseload import caseload, months
from ..children.query import ChildQuery, count_children
from ..children.timeliness import DEADLINES, QUANTILES, STATS, share, timeliness
from ..dimensions import SERVICE_START, domain
from ..dimensions.tables import columns_with_names, in_natural_order, with_empty_cells, with_names
from ..disclosure.cellkey import Ptable
from ..disclosure.discloser import Discloser
from .catalogue import CATALOGUE, Table

MAX_CELLS = 20_000  # the largest table of the catalogue by far (authorities × financial years) is under 3,000
CASELOAD = ("referrals_in", "exits_out", "in_service_end")
TIMELINESS = ("children", *(f"{s}_count" for s in STATS),
              *(f"{x}_deadline_{p}" for x in DEADLINES for p in ("met", "decided")))  # fmt: skip


def counts_of(table: Table) -> tuple[str, ...]:
    """The published counts of each row of a table."""
    return {"children": ("children",), "caseload": CASELOAD, "timeliness": TIMELINESS}[table.measure]


def _values(table: Table, group_by: tuple[str, ...], as_of: date) -> list[list[Any]]:
    """Every value of each grouping dimension in this release (a table of exits lists no 'not exited')."""
    out = []
    for g in group_by:
        listed = domain(g, referred_from=None, referred_to=None, as_of=as_of) or []
        if table.filters.get("exited") == (True,):
            listed = [v for v in listed if v is not None]
        out.append(listed)
    return out


def _rounded(value: float | None) -> int | None:
    """A published quantile: whole hours or whole days, half up."""
    return None if value is None else math.floor(float(value) + 0.5)


def _timeliness_row(d: Discloser, raw: dict[str, Any]) -> dict[str, Any]:
    statistics = [(f"{s}_count", [f"{s}_{k}" for k in QUANTILES]) for s in STATS]
    row = d.row(raw, TIMELINESS, statistics=statistics)
    for s in STATS:
        for k in QUANTILES:
            row[f"{s}_{k}"] = _rounded(row[f"{s}_{k}"])
    for x in DEADLINES:
        met, decided = f"{x}_deadline_met", f"{x}_deadline_decided"
        row[f"met_{x}_deadline"] = share(row[met], row[decided])
        if row[f"met_{x}_deadline"] is None and {met, decided} & set(row.get("withheld_fields", ())):
            row["withheld_fields"].append(f"met_{x}_deadline")
    return row


def _zero(table: Table) -> dict[str, Any]:
    zero: dict[str, Any] = {k: 0 for c in counts_of(table) for k in (c, f"_ck_{c}")}
    if table.measure == "timeliness":
        zero.update({f"{s}_{k}": None for s in STATS for k in QUANTILES})
    return zero


async def _grid(
    session: AsyncSession, table: Table, d: Discloser, q: ChildQuery, group_by: tuple[str, ...]
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The published rows of `table` grouped by `group_by` (every cell listed), and for the children measure
    the published grand total."""
    grouped_q = replace(q, group_by=group_by)
    total = None
    if table.measure == "children":
        raw, n, key = await count_children(session, grouped_q)
        total = d.row({"children": n, "_ck_children": key}, ["children"])
    else:
        raw = await timeliness(session, grouped_q)
    raw = with_empty_cells(raw, group_by, _zero(table), as_of=q.as_of, values=_values(table, group_by, q.as_of),
                           max_cells=MAX_CELLS)  # fmt: skip
    if table.measure == "children":
        rows = [d.row(r, ["children"]) for r in raw]
    else:
        rows = [_timeliness_row(d, r) for r in raw]
    return in_natural_order(rows, group_by), total


async def compute_table(
    session: AsyncSession, table: Table, *, as_of: date, ptable: Ptable, long_term_missing_days: int
) -> dict[str, Any]:
    """One table as published: its rows (every cell), its margins per period and its grand total."""
    d = Discloser("perturb", ptable)
    q = ChildQuery(referred_from=None, referred_to=None, as_of=as_of, group_by=table.group_by,
                   filters=dict(table.filters), long_term_missing_days=long_term_missing_days)  # fmt: skip
    body: dict[str, Any] = {**table.describe(), "as_at": as_of.isoformat()}
    counts = list(counts_of(table))
    if table.measure == "caseload":
        wanted = months(SERVICE_START, as_of)
        raw = await caseload(session, q, first=SERVICE_START, last=as_of.replace(day=1))
        zero = _zero(table)
        raw = with_empty_cells(raw, q.group_by, zero, per="month", per_values=wanted, as_of=as_of,
                               values=_values(table, q.group_by, as_of), max_cells=MAX_CELLS)  # fmt: skip
        rows = in_natural_order([d.row(r, counts) for r in raw], q.group_by)
        group_columns = [*columns_with_names(q.group_by), "month"]
        body.update(columns=[*group_columns, *counts], rows=with_names(rows, q.group_by))
        return body
    rows, total = await _grid(session, table, d, q, table.group_by)
    if table.measure == "timeliness":
        counts = [*TIMELINESS[:1], *(f"{s}_{k}" for s in STATS for k in ("count", *QUANTILES)),
                  *TIMELINESS[1 + len(STATS):], *(f"met_{x}_deadline" for x in DEADLINES)]  # fmt: skip
    body.update(columns=[*columns_with_names(table.group_by), *counts], rows=with_names(rows, table.group_by))
    if len(table.group_by) > 1:  # the margin of each period, perturbed on its own
        period = (table.group_by[0],)
        margins, _ = await _grid(session, table, d, q, period)
        body["margins"] = with_names(margins, period)
    if total is not None:
        body["total"] = total
    return body


async def compute_release(
    session: AsyncSession, *, as_of: date, ptable: Ptable, long_term_missing_days: int
) -> dict[str, dict[str, Any]]:
    """Every table of the catalogue as at the end of `as_of`, by id."""
    return {
        t.id: await compute_table(session, t, as_of=as_of, ptable=ptable, long_term_missing_days=long_term_missing_days)
        for t in CATALOGUE
    }
