"""Caseload per month: referrals in, exits out, children in service at the month's end (SQL)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from ..disclosure.cellkey import RECORD_KEY_MODULUS as MOD
from .query import PARAMS_CTE, ChildQuery, grouped, where_clause

FLOWS = ("referrals_in", "exits_out")
"""Counts of a month's events: a child is in at most one month's."""
STOCKS = ("in_service_end",)
"""Counts at a month's end: a child is in every month's while in service."""
COUNTS = (*FLOWS, *STOCKS)


def months(first: date, last: date) -> list[str]:
    out, y, m = [], first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


Flows = dict[tuple[Any, ...], dict[str, tuple[int, int]]]


async def _flows(session: AsyncSession, q: ChildQuery) -> tuple[Flows, Flows]:
    """`({group: {month: (children, sum of their record keys)}}` received, the same exited on or before
    `as_of`): sums, not cell keys, so that a month's stock can be keyed from the flows before it (the
    children in service are those received minus those exited, and their keys' sum is the difference of
    the sums). One scan: the two are grouping sets of the same rows."""
    params: dict[str, Any] = {}
    where = where_clause(q, params)
    selects, joins = grouped(q)
    keys = [f"g{i}" for i in range(len(q.group_by))]
    received = "to_char(c.received_on, 'YYYY-MM')"
    exited = "(CASE WHEN c.exit_on <= p.as_of THEN to_char(c.exit_on, 'YYYY-MM') END)"
    # aliases no column of metrics.child has: GROUP BY resolves a bare name to an input column first
    sets = ", ".join(f"({', '.join([*keys, m])})" for m in ("_month_in", "_month_out"))
    sql = (
        f"{PARAMS_CTE} SELECT {', '.join([*selects, f'{received} AS _month_in', f'{exited} AS _month_out'])}, "
        f"count(*) AS n, coalesce(sum(c.record_key), 0) AS k, GROUPING({received}) AS is_exit "  # GROUPING() takes expressions
        f"FROM metrics.child c CROSS JOIN p {' '.join(joins)} WHERE {where} GROUP BY GROUPING SETS ({sets})"
    )
    ins: Flows = defaultdict(dict)
    outs: Flows = defaultdict(dict)
    for row in (await session.execute(text(sql), params)).all():
        if not row.is_exit:
            ins[tuple(row[: len(keys)])][row._month_in] = (int(row.n), int(row.k))
        elif row._month_out is not None:  # null: not exited by as_of
            outs[tuple(row[: len(keys)])][row._month_out] = (int(row.n), int(row.k))
    return ins, outs


async def caseload(session: AsyncSession, q: ChildQuery, *, first: date, last: date) -> list[dict[str, Any]]:
    """One row per group and month from `first` to `last`; exits count only on or before `as_of`.

    In service at a month's end = received by then and not exited by then (nor by `as_of`). Each count
    comes with its cell key (`_ck_<count>`, the cell key method: docs/disclosure.md).
    """
    received, exited = await _flows(session, q)
    wanted = months(first, last)
    groups = sorted(set(received) | set(exited), key=lambda k: tuple((v is None, str(v)) for v in k))
    if not groups and not q.group_by:
        groups = [()]  # the ungrouped table has its months even with no child (grouped, it has no rows)
    rows = []
    for key in groups:
        ins, outs = received.get(key, {}), exited.get(key, {})
        before = wanted[0]
        stock = [0, 0]  # children in service and the sum of their keys
        for flows, sign in ((ins, 1), (outs, -1)):
            for m, (n, k) in flows.items():
                if m < before:
                    stock[0] += sign * n
                    stock[1] += sign * k
        for month in wanted:
            (n_in, k_in), (n_out, k_out) = ins.get(month, (0, 0)), outs.get(month, (0, 0))
            stock[0] += n_in - n_out
            stock[1] += k_in - k_out
            row = {name: key[i] for i, name in enumerate(q.group_by)} if q.group_by else {}
            row.update(month=month, referrals_in=n_in, exits_out=n_out, in_service_end=stock[0])
            row.update(_ck_referrals_in=k_in % MOD, _ck_exits_out=k_out % MOD, _ck_in_service_end=stock[1] % MOD)
            rows.append(row)
    return rows
