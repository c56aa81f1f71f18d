"""Caseload per month: referrals in, exits out, children in service at the month's end (SQL)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from .query import PARAMS_CTE, ChildQuery, grouped, where_clause


def months(first: date, last: date) -> list[str]:
    out, y, m = [], first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


async def _per_month(
    session: AsyncSession, q: ChildQuery, month_sql: str, extra: str
) -> dict[tuple[Any, ...], dict[str, int]]:
    params: dict[str, Any] = {}
    where = where_clause(q, params)
    selects, joins = grouped(q)
    keys = [f"g{i}" for i in range(len(q.group_by))]
    sql = (
        f"{PARAMS_CTE} SELECT {', '.join([*selects, f'{month_sql} AS month'])}, count(*) AS n "
        f"FROM metrics.child c CROSS JOIN p {' '.join(joins)} WHERE {where} {extra} GROUP BY {', '.join([*keys, 'month'])}"
    )
    out: dict[tuple[Any, ...], dict[str, int]] = defaultdict(dict)
    for row in (await session.execute(text(sql), params)).all():
        out[tuple(row[: len(keys)])][row.month] = int(row.n)
    return out


async def caseload(session: AsyncSession, q: ChildQuery, *, first: date, last: date) -> list[dict[str, Any]]:
    """One row per group and month from `first` to `last`; exits count only on or before `as_of`.

    In service at a month's end = received by then and not exited by then (nor by `as_of`).
    """
    received = await _per_month(session, q, "to_char(c.received_on, 'YYYY-MM')", "")
    exited = await _per_month(session, q, "to_char(c.exit_on, 'YYYY-MM')", "AND c.exit_on <= p.as_of")
    wanted = months(first, last)
    groups = sorted(set(received) | set(exited), key=lambda k: tuple((v is None, str(v)) for v in k))
    if not groups and not q.group_by:
        groups = [()]  # the ungrouped table has its months even with no child (grouped, it has no rows)
    rows = []
    for key in groups:
        ins, outs = received.get(key, {}), exited.get(key, {})
        before = wanted[0]
        in_service = sum(n for m, n in ins.items() if m < before) - sum(n for m, n in outs.items() if m < before)
        for month in wanted:
            in_service += ins.get(month, 0) - outs.get(month, 0)
            row = {name: key[i] for i, name in enumerate(q.group_by)} if q.group_by else {}
            row.update(
                month=month, referrals_in=ins.get(month, 0), exits_out=outs.get(month, 0), in_service_end=in_service
            )
            rows.append(row)
    return rows
