"""Counting children per group, with filters (all SQL of the children measure lives here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ictg_common.settings import LONG_TERM_MISSING_DAYS

from ..dimensions import DIMENSIONS


@dataclass(frozen=True)
class ChildQuery:
    referred_from: date | None
    referred_to: date | None
    as_of: date
    group_by: tuple[str, ...]
    filters: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    long_term_missing_days: int = LONG_TERM_MISSING_DAYS


PARAMS_CTE = "WITH p AS (SELECT CAST(:as_of AS date) AS as_of, CAST(:ltm AS int) AS ltm) "


def where_clause(q: ChildQuery, params: dict[str, Any]) -> str:
    """The children in scope: referred by `as_of`, in the referral period, matching every filter."""
    where = ["c.referred", "c.received_on <= p.as_of"]
    params.update(as_of=q.as_of, ltm=q.long_term_missing_days)
    if q.referred_from:
        where.append("c.received_on >= :referred_from")
        params["referred_from"] = q.referred_from
    if q.referred_to:
        where.append("c.received_on <= :referred_to")
        params["referred_to"] = q.referred_to
    for i, (name, wanted) in enumerate(sorted(q.filters.items())):
        dim = DIMENSIONS[name]
        params[f"f{i}"] = list(wanted)
        if dim.multi:
            where.append(f"({dim.sql}) && CAST(:f{i} AS text[])")
        else:
            where.append(f"{dim.sql} = ANY(:f{i})")
    return " AND ".join(where)


def grouped(q: ChildQuery, *, group_by: tuple[str, ...] | None = None) -> tuple[list[str], list[str]]:
    """SELECT expressions `g0..` and lateral joins for the grouping dimensions."""
    selects: list[str] = []
    joins: list[str] = []
    for i, name in enumerate(q.group_by if group_by is None else group_by):
        dim = DIMENSIONS[name]
        if dim.multi:
            joins.append(f"CROSS JOIN LATERAL unnest({dim.sql}) AS m{i}(v)")
            selects.append(f"m{i}.v AS g{i}")
        else:
            selects.append(f"{dim.sql} AS g{i}")
    return selects, joins


CELL_KEY = "coalesce(sum(c.record_key), 0) % 256"  # the cell key method's (docs/disclosure.md), beside count(*)


async def count_children(session: AsyncSession, q: ChildQuery) -> tuple[list[dict[str, Any]], int, int]:
    """Rows `{<dimension>: value, …, "children": n, "_ck_children": cell key}`, the total of distinct
    children and its cell key."""
    params: dict[str, Any] = {}
    where = where_clause(q, params)
    multi = any(DIMENSIONS[g].multi for g in q.group_by)
    total = total_key = 0
    if not q.group_by or multi:  # a child counts once per value in a multi group: the total is counted apart
        total_sql = f"{PARAMS_CTE} SELECT count(*), {CELL_KEY} FROM metrics.child c CROSS JOIN p WHERE {where}"
        found = (await session.execute(text(total_sql), params)).one()
        total, total_key = int(found[0] or 0), int(found[1] or 0)
        if not q.group_by:
            return [], total, total_key
    selects, joins = grouped(q)
    groups = ", ".join(f"g{i}" for i in range(len(q.group_by)))
    # Multi-valued arrays hold distinct values, so count(*) counts each child once per value; otherwise
    # the total comes with the groups in the same scan (the empty grouping set).
    exprs = ", ".join(DIMENSIONS[g].sql for g in q.group_by)  # GROUPING() takes expressions, not aliases
    grouping = f"GROUP BY {groups}" if multi else f"GROUP BY GROUPING SETS (({exprs}), ())"
    total_row = "0" if multi else f"GROUPING({exprs})"
    sql = (
        f"{PARAMS_CTE} SELECT {', '.join(selects)}, count(*) AS n, {CELL_KEY} AS ck, {total_row} AS total_row "
        f"FROM metrics.child c CROSS JOIN p {' '.join(joins)} WHERE {where} {grouping} ORDER BY {groups}"
    )
    rows = (await session.execute(text(sql), params)).all()
    out = []
    for row in rows:
        if row.total_row:
            total, total_key = int(row.n), int(row.ck)
            continue
        item: dict[str, Any] = {name: row[i] for i, name in enumerate(q.group_by)}
        item["children"] = int(row.n)
        item["_ck_children"] = int(row.ck)
        out.append(item)
    return out, total, total_key
